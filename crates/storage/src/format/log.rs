//! The commit protocol: a versioned log of self-verifying JSON manifests under one prefix.
//!
//! Both a table and the catalog are such a log. Version `v` lives at
//! `<dir>/_versions/<20-digit (u64::MAX - v)>.json` (inverted, so stores that list in
//! lexicographic order return the newest first), and `<dir>/_latest` holds an advisory hint.
//!
//! # Guarantees
//!
//! * **Atomic visibility.** A version becomes visible through one conditional create
//!   (`PutMode::Create`) of its manifest; object stores make a put visible whole or not at all,
//!   so a reader sees complete versions only.
//! * **One winner per version.** Two writers creating version `v` cannot both succeed: the store
//!   refuses the second create with `AlreadyExists`.
//! * **Known outcomes.** A commit whose request fails without a clear answer (timeout, lost
//!   response) is read back: the manifest carries the writer's transaction id, so a manifest with
//!   our id means our commit landed, one with another id means a rival won, and no manifest means
//!   the create is retried. If the store still cannot tell (also when it answers
//!   `AlreadyExists` and then fails to show the manifest), the caller gets
//!   [`StorageError::CommitOutcomeUnknown`] and nothing is deleted.
//! * **Versions are dense.** Each commit creates `parent + 1`, so versions form `0..=latest`
//!   (garbage collection removes only a prefix of old ones). That is what lets [`VersionLog::latest`]
//!   probe forward from the hint with HEAD requests instead of listing.
//! * **Bounded open.** Finding the latest version costs one GET of the hint, one HEAD per version
//!   the hint lags behind plus one, and falls back to a single LIST only if the hint is missing,
//!   wrong, or lags by more than [`MAX_PROBES`]. The hint is never trusted alone: the manifests
//!   are the truth.
//!
//! These guarantees hold only on a store whose conditional create is atomic; the first write
//! through a catalog handle checks that ([`crate::capability`]) and refuses other stores.
//!
//! # Self-verifying manifests
//!
//! A manifest file is the JSON document
//! `{"blake3":"<64 hex>","manifest":<body>}` where the hash covers the exact body bytes. The
//! reader checks the fixed envelope and the hash on the raw bytes (no re-serialization), so one
//! flipped or missing byte anywhere is reported as [`StorageError::Corrupt`].

use bytes::Bytes;
use serde::Deserialize;
use tracing::{debug, warn};

use crate::error::{CorruptReason, Result, StorageError};
use crate::format::store::{CreateOutcome, StoreRoot, blake3_hex};

/// How many versions past the hint are probed with HEAD before falling back to a LIST.
pub(crate) const MAX_PROBES: u64 = 32;

/// How many times a commit whose outcome is unknown is attempted again.
const UNKNOWN_RETRIES: usize = 3;

const ENVELOPE_HEAD: &[u8] = b"{\"blake3\":\"";
const ENVELOPE_MID: &[u8] = b"\",\"manifest\":";
const HASH_LEN: usize = 64;

/// Wraps a manifest body in the self-verifying envelope.
pub fn seal(body: &[u8]) -> Bytes {
    let hash = blake3_hex(body);
    let mut out = Vec::with_capacity(body.len() + 90);
    out.extend_from_slice(ENVELOPE_HEAD);
    out.extend_from_slice(hash.as_bytes());
    out.extend_from_slice(ENVELOPE_MID);
    out.extend_from_slice(body);
    out.push(b'}');
    Bytes::from(out)
}

/// A verified manifest: its body bytes and the body's BLAKE3 (the manifest's identity).
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The manifest body (JSON) as stored.
    pub body: Bytes,
    /// The BLAKE3 of `body`, as lowercase hex.
    pub hash: String,
}

/// Checks the envelope and hash of a manifest file and returns the body.
pub fn unseal(rel: &str, bytes: &Bytes) -> Result<Sealed> {
    let head = ENVELOPE_HEAD.len();
    let body_start = head + HASH_LEN + ENVELOPE_MID.len();
    let bad = |what| StorageError::corrupt(rel, CorruptReason::Inconsistent(what));
    if bytes.len() < body_start + 1
        || !bytes.starts_with(ENVELOPE_HEAD)
        || &bytes[head + HASH_LEN..body_start] != ENVELOPE_MID
        || bytes.last() != Some(&b'}')
    {
        return Err(bad("manifest envelope is damaged or truncated"));
    }
    let recorded = std::str::from_utf8(&bytes[head..head + HASH_LEN])
        .map_err(|_| bad("manifest hash is not hex"))?;
    let body = bytes.slice(body_start..bytes.len() - 1);
    let actual = blake3_hex(&body);
    if actual != recorded {
        return Err(StorageError::corrupt(
            rel,
            CorruptReason::HashMismatch {
                expected: recorded.to_owned(),
                actual,
            },
        ));
    }
    Ok(Sealed { body, hash: actual })
}

/// The one field the protocol reads from any manifest body.
#[derive(Deserialize)]
struct TxnProbe {
    txn_id: String,
}

/// What a commit attempt ended as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Our manifest is version `v` (possibly through a retry whose first response was lost).
    Committed,
    /// A rival committed this version first.
    Lost,
}

/// A versioned log of manifests under one directory of a [`StoreRoot`].
#[derive(Debug, Clone)]
pub struct VersionLog {
    root: StoreRoot,
    dir: String,
}

impl VersionLog {
    /// The log under `dir` (relative to `root`: `catalog` or `tables/<uuid>`).
    pub fn new(root: StoreRoot, dir: impl Into<String>) -> Self {
        Self {
            root,
            dir: dir.into(),
        }
    }

    /// The manifest path of `version`, relative to the store root.
    pub fn version_path(&self, version: u64) -> String {
        format!("{}/_versions/{:020}.json", self.dir, u64::MAX - version)
    }

    fn hint_path(&self) -> String {
        format!("{}/_latest", self.dir)
    }

    fn parse_version_name(name: &str) -> Option<u64> {
        let stem = name.rsplit('/').next()?.strip_suffix(".json")?;
        if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        stem.parse::<u64>().ok().map(|inv| u64::MAX - inv)
    }

    /// Reads and verifies the manifest of `version`; `Ok(None)` if it does not exist.
    pub async fn read(&self, version: u64) -> Result<Option<Sealed>> {
        let rel = self.version_path(version);
        match self.root.get_opt(&rel).await? {
            None => Ok(None),
            Some(bytes) => unseal(&rel, &bytes).map(Some),
        }
    }

    /// Whether the manifest of `version` exists (one HEAD).
    pub async fn exists(&self, version: u64) -> Result<bool> {
        self.root.exists(&self.version_path(version)).await
    }

    /// Commits `body` as `version` with one conditional create. See the module docs.
    pub async fn commit(&self, version: u64, body: &[u8], txn_id: &str) -> Result<CommitOutcome> {
        let rel = self.version_path(version);
        self.root.require_atomic_create().await?;
        let sealed = seal(body);
        let mut last_error = None;
        for attempt in 0..UNKNOWN_RETRIES {
            match self.root.put_create(&rel, sealed.clone()).await {
                CreateOutcome::Created => {
                    self.write_hint(version).await;
                    return Ok(CommitOutcome::Committed);
                }
                CreateOutcome::AlreadyExists => {
                    // A rival won, or an earlier attempt of ours landed: the txn id decides. If
                    // the store cannot show us the manifest, we cannot know which.
                    return match self.read_back(version, txn_id).await {
                        Ok(Some(outcome)) => Ok(outcome),
                        Ok(None) => Err(StorageError::CommitOutcomeUnknown {
                            source: object_store::Error::NotFound {
                                path: rel.clone(),
                                source: "the conditional create reported AlreadyExists but \
                                         reading the manifest back found nothing"
                                    .into(),
                            },
                            path: rel,
                        }),
                        Err(StorageError::Store { source, .. }) => {
                            Err(StorageError::CommitOutcomeUnknown { path: rel, source })
                        }
                        Err(other) => Err(other),
                    };
                }
                CreateOutcome::Unknown(error) => {
                    warn!(path = %rel, attempt, %error, "commit outcome unknown; reading back");
                    match self.read_back(version, txn_id).await {
                        Ok(Some(outcome)) => {
                            if outcome == CommitOutcome::Committed {
                                self.write_hint(version).await;
                            }
                            return Ok(outcome);
                        }
                        // Not there: nothing landed, so creating again is safe.
                        Ok(None) => {}
                        Err(read_error) => debug!(path = %rel, %read_error, "read-back failed"),
                    }
                    last_error = Some(error);
                }
            }
        }
        match last_error {
            Some(source) => Err(StorageError::CommitOutcomeUnknown { path: rel, source }),
            None => Err(StorageError::corrupt(
                rel,
                CorruptReason::Inconsistent("commit loop ended"),
            )),
        }
    }

    /// Reads `version` back and compares its transaction id with ours.
    async fn read_back(&self, version: u64, txn_id: &str) -> Result<Option<CommitOutcome>> {
        let Some(sealed) = self.read(version).await? else {
            return Ok(None);
        };
        let probe: TxnProbe = serde_json::from_slice(&sealed.body)
            .map_err(|e| StorageError::undecodable(self.version_path(version), e))?;
        Ok(Some(if probe.txn_id == txn_id {
            CommitOutcome::Committed
        } else {
            CommitOutcome::Lost
        }))
    }

    /// Best-effort update of the advisory hint (a failure only makes the next open slower).
    /// Code that commits a version by other means (the transport's copies) calls it after.
    pub async fn write_hint(&self, version: u64) {
        if let Err(error) = self
            .root
            .put_overwrite(&self.hint_path(), Bytes::from(version.to_string()))
            .await
        {
            warn!(%error, "could not update the latest-version hint");
        }
    }

    /// The latest committed version, or `None` if the log is empty. See the module docs for cost.
    pub async fn latest(&self) -> Result<Option<u64>> {
        let hint = match self.root.get_opt(&self.hint_path()).await? {
            Some(b) => std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok()),
            None => None,
        };
        if let Some(h) = hint {
            if self.exists(h).await? {
                for v in h..h + MAX_PROBES {
                    if !self.exists(v + 1).await? {
                        return Ok(Some(v));
                    }
                }
                debug!(dir = %self.dir, hint = h, "hint lags far behind; listing");
            } else {
                debug!(dir = %self.dir, hint = h, "hint names a missing version; listing");
            }
        }
        self.list_versions().await.map(|vs| vs.last().copied())
    }

    /// Every version whose manifest exists, ascending (one LIST).
    pub async fn list_versions(&self) -> Result<Vec<u64>> {
        let listed = self.root.list(&format!("{}/_versions", self.dir)).await?;
        let mut versions: Vec<u64> = listed
            .iter()
            .filter_map(|(name, _)| Self::parse_version_name(name))
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// Deletes the manifest of an expired version (garbage collection only).
    pub(crate) async fn delete_version(&self, version: u64) -> Result<()> {
        self.root.delete(&self.version_path(version)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::*;

    fn log() -> VersionLog {
        VersionLog::new(
            StoreRoot::new(Arc::new(InMemory::new()), "root"),
            "tables/t",
        )
    }

    fn body(txn: &str) -> Vec<u8> {
        format!("{{\"txn_id\":\"{txn}\",\"x\":1}}").into_bytes()
    }

    // Guards the envelope: every single-byte flip and every truncation is detected.
    #[test]
    fn seal_detects_any_damage() {
        let sealed = seal(&body("a"));
        let ok = unseal("m", &sealed).unwrap();
        assert_eq!(&ok.body[..], &body("a")[..]);
        let parsed: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        assert_eq!(parsed["manifest"]["x"], 1);
        for i in 0..sealed.len() {
            let mut damaged = sealed.to_vec();
            damaged[i] ^= 0x01;
            assert!(unseal("m", &Bytes::from(damaged)).is_err(), "flip at {i}");
            assert!(unseal("m", &sealed.slice(..i)).is_err(), "truncate at {i}");
        }
    }

    // Guards: names are inverted and parse back; non-manifest names are ignored.
    #[test]
    fn version_names() {
        let l = log();
        for v in [0, 1, 42, u64::MAX - 1] {
            let p = l.version_path(v);
            assert_eq!(VersionLog::parse_version_name(&p), Some(v), "{p}");
        }
        assert!(l.version_path(2) < l.version_path(1), "newest sorts first");
        for bad in ["x.json", "tables/t/_versions/1.json", "tables/t/_latest"] {
            assert_eq!(VersionLog::parse_version_name(bad), None);
        }
    }

    // Guards: one winner per version; our own retry counts as committed; latest follows.
    #[tokio::test]
    async fn one_winner_per_version() {
        let l = log();
        assert_eq!(l.latest().await.unwrap(), None);
        assert_eq!(
            l.commit(0, &body("a"), "a").await.unwrap(),
            CommitOutcome::Committed
        );
        assert_eq!(
            l.commit(0, &body("b"), "b").await.unwrap(),
            CommitOutcome::Lost
        );
        assert_eq!(
            l.commit(0, &body("a"), "a").await.unwrap(),
            CommitOutcome::Committed
        );
        assert_eq!(l.latest().await.unwrap(), Some(0));
        assert_eq!(
            l.commit(1, &body("b"), "b").await.unwrap(),
            CommitOutcome::Committed
        );
        assert_eq!(l.latest().await.unwrap(), Some(1));
        assert_eq!(l.list_versions().await.unwrap(), vec![0, 1]);
    }

    // Guards: a stale, missing or bogus hint never yields a wrong latest version.
    #[tokio::test]
    async fn latest_survives_bad_hints() {
        let l = log();
        for v in 0..40 {
            l.commit(v, &body("t"), "t").await.unwrap();
        }
        let hint = l.hint_path();
        let cases: [(Option<&str>, u64); 5] = [
            (None, 39),
            (Some("0"), 39),
            (Some("38"), 39),
            (Some("999"), 39),
            (Some("junk"), 39),
        ];
        for (h, expected) in cases {
            match h {
                Some(h) => l
                    .root
                    .put_overwrite(&hint, Bytes::from(h.to_owned()))
                    .await
                    .unwrap(),
                None => l.root.delete(&hint).await.unwrap(),
            }
            assert_eq!(l.latest().await.unwrap(), Some(expected), "hint {h:?}");
        }
    }
}
