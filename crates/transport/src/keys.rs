//! Access enforced in the bytes: the keys derived from an org's key.
//!
//! The org key (`TABLESHARE_API_KEY`) is never stored. HKDF-SHA256 derives from it, per org:
//!
//! * an Ed25519 signing key: every published version is signed with it; its public half is
//!   stored at the org root (`<org>/_org/signing_key.pub`) and pinned by every replica, so a
//!   writer of the bucket without the key cannot make a replica accept a version;
//! * an AES-256-GCM key: the objects of private tables are sealed with it (a fresh random
//!   nonce per object; the object's name is the associated data, so objects cannot be swapped).

use bytes::Bytes;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// HKDF salt: fixed, so the same org key always derives the same keys.
const SALT: &[u8] = b"tableshare org key v1";

/// The keys derived from an org's key for one org.
pub(crate) struct OrgKeys {
    signing: Ed25519KeyPair,
    sealing: LessSafeKey,
}

impl std::fmt::Debug for OrgKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgKeys")
            .field("public", &hex(self.signing.public_key().as_ref()))
            .finish_non_exhaustive()
    }
}

fn derive(api_key: &str, purpose: &[u8], org: &str) -> Option<[u8; 32]> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(api_key.as_bytes());
    let info = [purpose, b"\0", org.as_bytes()];
    let okm = prk.expand(&info, hkdf::HKDF_SHA256).ok()?;
    let mut out = [0u8; 32];
    okm.fill(&mut out).ok()?;
    Some(out)
}

impl OrgKeys {
    /// Derives the keys of `org` from `api_key`; `None` only if the crypto library refuses.
    pub(crate) fn derive(api_key: &str, org: &str) -> Option<Self> {
        let seed = derive(api_key, b"sign", org)?;
        let signing = Ed25519KeyPair::from_seed_unchecked(&seed).ok()?;
        let aead = derive(api_key, b"seal", org)?;
        let sealing = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &aead).ok()?);
        Some(Self { signing, sealing })
    }

    /// The public half of the signing key, hex.
    pub(crate) fn public_hex(&self) -> String {
        hex(self.signing.public_key().as_ref())
    }

    /// Signs `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.signing.sign(message).as_ref().to_vec()
    }

    /// Seals `plain` under `name`: `nonce || ciphertext || tag`.
    pub(crate) fn seal(&self, name: &str, plain: &[u8]) -> Option<Bytes> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let mut buf = Vec::with_capacity(NONCE_LEN + plain.len() + AES_256_GCM.tag_len());
        buf.extend_from_slice(&nonce);
        buf.extend_from_slice(plain);
        let mut body = buf.split_off(NONCE_LEN);
        self.sealing
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut body,
            )
            .ok()?;
        buf.extend_from_slice(&body);
        Some(Bytes::from(buf))
    }

    /// Opens what [`OrgKeys::seal`] made under `name`; `None` if the key or name is wrong or
    /// the bytes were altered.
    pub(crate) fn open(&self, name: &str, sealed: &[u8]) -> Option<Bytes> {
        let (nonce, body) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .sealing
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut body)
            .ok()?;
        let len = plain.len();
        body.truncate(len);
        Some(Bytes::from(body))
    }
}

/// How many bytes sealing adds to an object.
pub(crate) const SEAL_OVERHEAD: u64 = (NONCE_LEN + 16) as u64;

/// Checks `signature` over `message` against a hex Ed25519 public key.
pub(crate) fn verify(public_hex: &str, message: &[u8], signature: &[u8]) -> bool {
    let Some(public) = unhex(public_hex) else {
        return false;
    };
    UnparsedPublicKey::new(&ED25519, public)
        .verify(message, signature)
        .is_ok()
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Guards: derivation is deterministic per key and org; signatures and seals fail with
    // another key, another name, or one flipped byte.
    #[test]
    fn derive_sign_seal() {
        let a = OrgKeys::derive("key-a", "acme").unwrap();
        let a2 = OrgKeys::derive("key-a", "acme").unwrap();
        let b = OrgKeys::derive("key-b", "acme").unwrap();
        let other_org = OrgKeys::derive("key-a", "other").unwrap();
        assert_eq!(a.public_hex(), a2.public_hex());
        assert_ne!(a.public_hex(), b.public_hex());
        assert_ne!(a.public_hex(), other_org.public_hex());
        let sig = a.sign(b"m");
        assert!(verify(&a.public_hex(), b"m", &sig));
        assert!(!verify(&b.public_hex(), b"m", &sig));
        assert!(!verify(&a.public_hex(), b"n", &sig));
        assert!(!verify("zz", b"m", &sig));
        let sealed = a.seal("n1", b"secret").unwrap();
        assert_eq!(sealed.len() as u64, 6 + SEAL_OVERHEAD);
        assert_eq!(&a2.open("n1", &sealed).unwrap()[..], b"secret");
        assert!(b.open("n1", &sealed).is_none());
        assert!(a.open("n2", &sealed).is_none());
        for i in 0..sealed.len() {
            let mut d = sealed.to_vec();
            d[i] ^= 1;
            assert!(a.open("n1", &d).is_none(), "flip {i}");
        }
        assert!(a.open("n1", &sealed[..5]).is_none());
    }
}
