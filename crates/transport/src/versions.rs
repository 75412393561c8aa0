//! Moving one version between a table directory and a cloud table: its files (content-addressed,
//! sent only when the other side lacks them, verified on arrival) and its manifest object
//! (signed; sealed when private). Publish, push, replicate and pull are loops over these steps.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use tableshare_storage::format::{
    CreateOutcome, Sealed, StoreRoot, TableManifest, blake3_hex, hash_of_name, unseal, verify,
};
use tableshare_storage::{CorruptReason, StorageError};

use crate::error::{Result, TransportError};
use crate::keys::{self, OrgKeys, SEAL_OVERHEAD};
use crate::layout::{Access, CloudTable, is_object_name, signed_message};
use crate::progress::ProgressEvent;
use crate::transport::Transport;

/// One object a manifest references: its name in the table directory, size and BLAKE3.
#[derive(Debug, Clone)]
pub(crate) struct ObjectRef {
    pub(crate) rel: String,
    pub(crate) size: u64,
    pub(crate) blake3: String,
}

/// Every object `manifest` references, each checked to be a content-addressed name inside the
/// table whose hash matches the recorded one; `Hostile` otherwise.
pub(crate) fn objects_of(address: &str, manifest: &TableManifest) -> Result<Vec<ObjectRef>> {
    let mut out = Vec::with_capacity(manifest.files.len());
    for f in &manifest.files {
        out.push(ObjectRef {
            rel: f.path.clone(),
            size: f.size,
            blake3: f.blake3.clone(),
        });
        if let Some(dv) = &f.deletion_vector {
            out.push(ObjectRef {
                rel: dv.path.clone(),
                size: dv.size,
                blake3: dv.blake3.clone(),
            });
        }
    }
    for o in &out {
        if !is_object_name(&o.rel) || hash_of_name(&o.rel) != Some(o.blake3.as_str()) {
            return Err(TransportError::Hostile {
                address: address.to_owned(),
                version: manifest.version,
                reason: format!(
                    "the manifest names `{}`, which is not a content-addressed object of the \
                     table matching its recorded hash",
                    o.rel.escape_debug()
                ),
            });
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out.dedup_by(|a, b| a.rel == b.rel);
    Ok(out)
}

/// Objects already verified on the receiving side (those of the version it holds): name →
/// (size, BLAKE3). A later manifest may reuse them only with the same size and hash.
pub(crate) type Known = std::collections::HashMap<String, (u64, String)>;

/// The [`Known`] map of a version's objects.
pub(crate) fn known_of(objects: &[ObjectRef]) -> Known {
    objects
        .iter()
        .map(|o| (o.rel.clone(), (o.size, o.blake3.clone())))
        .collect()
}

/// Refuses a manifest that records another size or hash for an object the receiving side
/// already holds (a lie that skipping the download would otherwise let through).
pub(crate) fn check_against_known(
    address: &str,
    version: u64,
    objects: &[ObjectRef],
    known: &Known,
) -> Result<()> {
    for o in objects {
        if let Some((size, hash)) = known.get(&o.rel)
            && (*size != o.size || *hash != o.blake3)
        {
            return Err(TransportError::Hostile {
                address: address.to_owned(),
                version,
                reason: format!(
                    "it records size {} for {}, which the version before it records as {size}",
                    o.size, o.rel
                ),
            });
        }
    }
    Ok(())
}

/// What happened to a manifest object we tried to create.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PutVersion {
    /// We created it.
    Created,
    /// It was there already with our manifest (an earlier run of ours).
    Same,
    /// Another manifest is there.
    Different,
}

/// Signs and creates version `version` of `ct` holding the sealed manifest `sealed` (whose
/// body hash is `hash`).
#[cfg(test)]
pub(crate) async fn put_version(
    ct: &CloudTable,
    version: u64,
    sealed: Bytes,
    hash: &str,
    keys: &OrgKeys,
    access: Access,
) -> Result<PutVersion> {
    let prepared = prepare_version(ct, version, sealed, hash, keys, access)?;
    put_signature(ct, &prepared).await?;
    let outcome = create_version(ct, prepared, keys, access).await?;
    ct.log.write_hint(version).await;
    Ok(outcome)
}

/// A version ready to be created in the cloud: its stored bytes (sealed when private) and its
/// signature.
pub(crate) struct PreparedVersion {
    version: u64,
    rel: String,
    stored: Bytes,
    /// The hash of the manifest body (what an existing version is compared by).
    hash: String,
    signature_path: String,
    signature: Bytes,
}

impl PreparedVersion {
    /// The version number.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }
}

/// Seals (when private) and signs version `version` holding the sealed manifest `sealed`.
pub(crate) fn prepare_version(
    ct: &CloudTable,
    version: u64,
    sealed: Bytes,
    hash: &str,
    keys: &OrgKeys,
    access: Access,
) -> Result<PreparedVersion> {
    let rel = ct.log.version_path(version);
    let stored = match access {
        Access::Public => sealed,
        Access::Private => keys
            .seal(&rel, &sealed)
            .ok_or_else(|| TransportError::config("sealing failed"))?,
    };
    let stored_hash = blake3_hex(&stored);
    let signature = keys.sign(&signed_message(&ct.address, version, &stored_hash));
    Ok(PreparedVersion {
        version,
        signature_path: ct.signature_path(version, &stored_hash),
        rel,
        stored,
        hash: hash.to_owned(),
        signature: Bytes::from(signature),
    })
}

/// Puts a prepared version's signature (harmless alone: it names the exact bytes it signs, so
/// signatures of several versions can go up at once, before their manifests).
pub(crate) async fn put_signature(ct: &CloudTable, p: &PreparedVersion) -> Result<()> {
    ct.root
        .put_overwrite(&p.signature_path, p.signature.clone())
        .await?;
    Ok(())
}

/// Creates a prepared version whose signature is in place (one conditional create). The
/// caller updates the advisory latest-version hint.
pub(crate) async fn create_version(
    ct: &CloudTable,
    p: PreparedVersion,
    keys: &OrgKeys,
    access: Access,
) -> Result<PutVersion> {
    let (version, rel, hash) = (p.version, p.rel, p.hash.as_str());
    match ct.root.put_create(&rel, p.stored).await {
        CreateOutcome::Created => Ok(PutVersion::Created),
        CreateOutcome::AlreadyExists => compare(ct, version, hash, keys, access).await,
        CreateOutcome::Unknown(source) => {
            // The create may have landed: what is there now decides.
            match read_version(ct, version, &keys.public_hex(), Some(keys), access).await {
                Ok(Some(s)) if s.hash == hash => Ok(PutVersion::Same),
                Ok(Some(_)) => Ok(PutVersion::Different),
                _ => Err(StorageError::Store {
                    operation: "put",
                    path: rel,
                    source,
                }
                .into()),
            }
        }
    }
}

async fn compare(
    ct: &CloudTable,
    version: u64,
    hash: &str,
    keys: &OrgKeys,
    access: Access,
) -> Result<PutVersion> {
    match read_version(ct, version, &keys.public_hex(), Some(keys), access).await? {
        Some(s) if s.hash == hash => Ok(PutVersion::Same),
        _ => Ok(PutVersion::Different),
    }
}

/// Reads version `version` of `ct`: checks its signature against the pinned public key, opens
/// it if private, and checks its envelope. `Ok(None)` if it does not exist.
pub(crate) async fn read_version(
    ct: &CloudTable,
    version: u64,
    pinned: &str,
    keys: Option<&OrgKeys>,
    access: Access,
) -> Result<Option<Sealed>> {
    let rel = ct.log.version_path(version);
    let Some(stored) = ct.root.get_opt(&rel).await? else {
        return Ok(None);
    };
    let stored_hash = blake3_hex(&stored);
    let unauthentic = |reason: &str| TransportError::Unauthentic {
        address: ct.address.clone(),
        version,
        reason: reason.to_owned(),
    };
    let signature = ct
        .root
        .get_opt(&ct.signature_path(version, &stored_hash))
        .await?
        .ok_or_else(|| unauthentic("no signature for the manifest stored"))?;
    if !keys::verify(
        pinned,
        &signed_message(&ct.address, version, &stored_hash),
        &signature,
    ) {
        return Err(unauthentic("the signature does not verify"));
    }
    let plain = match access {
        Access::Public => stored,
        Access::Private => {
            let keys = keys.ok_or_else(|| private_denied(&ct.address))?;
            keys.open(&rel, &stored)
                .ok_or_else(|| TransportError::AccessDenied {
                    address: ct.address.clone(),
                    reason: "the key given does not open the table's manifests".into(),
                })?
        }
    };
    Ok(Some(unseal(&rel, &plain)?))
}

pub(crate) fn private_denied(address: &str) -> TransportError {
    TransportError::AccessDenied {
        address: address.to_owned(),
        reason: "the table is private: set TABLESHARE_API_KEY (or `api_key` in config.toml) to \
                 the org's key"
            .into(),
    }
}

/// Counts of one file transfer.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Moved {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
    pub(crate) skipped: u64,
}

impl Moved {
    pub(crate) fn add(&mut self, other: Self) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.skipped += other.skipped;
    }
}

/// Sends the objects of `objects` that the cloud table lacks, from the local table directory
/// `local_dir` of `local` (each read verified, sealed when private).
#[allow(
    clippy::too_many_arguments,
    reason = "one transfer step; the arguments are its two sides and what to move"
)]
pub(crate) async fn upload(
    t: &Transport,
    version: u64,
    local: &StoreRoot,
    local_dir: &str,
    ct: &CloudTable,
    objects: &[ObjectRef],
    keys: &OrgKeys,
    access: Access,
) -> Result<Moved> {
    let checks: Vec<bool> = futures::stream::iter(
        objects
            .iter()
            .map(|o| async move { ct.root.exists(&ct.rel(&o.rel)).await }),
    )
    .buffered(t.parallelism)
    .try_collect()
    .await?;
    let (missing, mut moved) = plan(t, version, objects, checks);
    let sent: Vec<u64> = futures::stream::iter(missing.into_iter().map(|o| async move {
        let name = ct.rel(&o.rel);
        if access == Access::Public && o.size >= t.multipart_threshold {
            // A big public file streams across, checked as it flows: a few parts in memory,
            // not the file.
            local
                .copy_verified_to(
                    &format!("{local_dir}/{}", o.rel),
                    &ct.root,
                    &name,
                    o.size,
                    &o.blake3,
                )
                .await?;
            t.emit(ProgressEvent::Transferred { bytes: o.size });
            return Ok::<u64, TransportError>(o.size);
        }
        let bytes = local
            .get_verified(&format!("{local_dir}/{}", o.rel), o.size, &o.blake3)
            .await?;
        let stored = match access {
            Access::Public => bytes,
            Access::Private => keys
                .seal(&name, &bytes)
                .ok_or_else(|| TransportError::config("sealing failed"))?,
        };
        let len = stored.len() as u64;
        if len >= t.multipart_threshold {
            put_multipart(ct, &name, stored).await?;
        } else {
            match ct.root.put_create(&name, stored).await {
                CreateOutcome::Created | CreateOutcome::AlreadyExists => {}
                CreateOutcome::Unknown(source) => {
                    if !ct.root.exists(&name).await? {
                        return Err(StorageError::Store {
                            operation: "put",
                            path: name,
                            source,
                        }
                        .into());
                    }
                }
            }
        }
        t.emit(ProgressEvent::Transferred { bytes: o.size });
        Ok::<u64, TransportError>(len)
    }))
    .buffer_unordered(t.parallelism)
    .try_collect()
    .await?;
    moved.files = sent.len() as u64;
    moved.bytes = sent.iter().sum();
    Ok(moved)
}

/// The part size of multipart uploads (S3 needs at least 5 MiB for every part but the last).
const PART_SIZE: usize = 8 << 20;

/// Uploads a big object in parts. Data objects are content-addressed under names unique to
/// their write, so the plain (unconditional) completion of a multipart upload is safe: a rival
/// writing the same name writes the same bytes.
async fn put_multipart(ct: &CloudTable, name: &str, bytes: Bytes) -> Result<()> {
    let store_err = |source| StorageError::Store {
        operation: "put_multipart",
        path: name.to_owned(),
        source,
    };
    let upload = ct
        .store
        .put_multipart(&ct.root.path(name))
        .await
        .map_err(store_err)?;
    let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    for part in bytes.chunks(PART_SIZE) {
        writer.wait_for_capacity(2).await.map_err(store_err)?;
        writer.write(part);
    }
    writer.finish().await.map_err(store_err)?;
    Ok(())
}

/// Splits `objects` by `present` (one answer each, in order) into those to move and a count
/// of those skipped, and reports the plan to the progress callback.
fn plan(
    t: &Transport,
    version: u64,
    objects: &[ObjectRef],
    present: Vec<bool>,
) -> (Vec<ObjectRef>, Moved) {
    let mut missing = Vec::new();
    let mut moved = Moved::default();
    for (o, present) in objects.iter().zip(present) {
        if present {
            moved.skipped += 1;
        } else {
            missing.push(o.clone());
        }
    }
    t.emit(ProgressEvent::Planned {
        version,
        files: missing.len() as u64,
        bytes: missing.iter().map(|o| o.size).sum(),
    });
    (missing, moved)
}

/// Fetches the objects of `objects` that the local table directory lacks from the cloud table,
/// verifying each against its recorded size and hash before it is stored locally.
#[allow(
    clippy::too_many_arguments,
    reason = "one transfer step; the arguments are its two sides and what to move"
)]
pub(crate) async fn download(
    t: &Transport,
    version: u64,
    ct: &CloudTable,
    local: &StoreRoot,
    local_dir: &str,
    objects: &[ObjectRef],
    known: &Known,
    keys: Option<&OrgKeys>,
    access: Access,
) -> Result<Moved> {
    // A file the local side has is skipped if a verified version already references it;
    // otherwise (left by an interrupted run) it is verified against this manifest first.
    let checks: Vec<bool> = futures::stream::iter(objects.iter().map(|o| async move {
        let full = format!("{local_dir}/{}", o.rel);
        if known.contains_key(&o.rel) {
            return Ok(true);
        }
        if local.exists(&full).await? {
            local.get_verified(&full, o.size, &o.blake3).await?;
            return Ok(true);
        }
        Ok::<bool, TransportError>(false)
    }))
    .buffered(t.parallelism)
    .try_collect()
    .await?;
    let (missing, mut moved) = plan(t, version, objects, checks);
    let got: Vec<u64> = futures::stream::iter(missing.into_iter().map(|o| async move {
        let name = ct.rel(&o.rel);
        if access == Access::Public && o.size >= t.multipart_threshold {
            // A big public file streams down, checked as it flows, and appears locally only
            // once size and hash match (see `StoreRoot::copy_verified_to`).
            let full = format!("{local_dir}/{}", o.rel);
            ct.root
                .copy_verified_to(&name, local, &full, o.size, &o.blake3)
                .await?;
            t.emit(ProgressEvent::Transferred { bytes: o.size });
            return Ok::<u64, TransportError>(o.size);
        }
        // Fetch at most one byte more than the manifest promises: a size that lies cannot
        // make us download an object of any size.
        let expected = match access {
            Access::Public => o.size,
            Access::Private => o.size + SEAL_OVERHEAD,
        };
        let stored =
            ct.get_at_most(&name, expected + 1)
                .await?
                .ok_or_else(|| StorageError::Corrupt {
                    path: name.clone(),
                    reason: CorruptReason::Missing,
                    source: None,
                })?;
        let len = stored.len() as u64;
        if len != expected {
            return Err(StorageError::Corrupt {
                path: name.clone(),
                reason: CorruptReason::SizeMismatch {
                    expected,
                    actual: len,
                },
                source: None,
            }
            .into());
        }
        let plain = match access {
            Access::Public => stored,
            Access::Private => {
                let keys = keys.ok_or_else(|| private_denied(&ct.address))?;
                keys.open(&name, &stored)
                    .ok_or_else(|| StorageError::Corrupt {
                        path: name.clone(),
                        reason: CorruptReason::Inconsistent(
                            "the sealed object does not open with the org's key",
                        ),
                        source: None,
                    })?
            }
        };
        verify(&name, &plain, o.size, &o.blake3)?;
        let full = format!("{local_dir}/{}", o.rel);
        local.put_content(&full, plain, &o.blake3).await?;
        t.emit(ProgressEvent::Transferred { bytes: o.size });
        Ok::<u64, TransportError>(len)
    }))
    .buffer_unordered(t.parallelism)
    .try_collect()
    .await?;
    moved.files = got.len() as u64;
    moved.bytes = got.iter().sum();
    Ok(moved)
}
