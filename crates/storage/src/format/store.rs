//! Raw object IO under one store root, kept apart from the commit protocol.
//!
//! [`StoreRoot`] is an `Arc<dyn ObjectStore>` plus a prefix. It knows nothing about versions or
//! manifests: it maps store errors to [`StorageError`]s that name the object, and it reads and
//! writes *content-addressed* objects (data files, deletion vectors) whose size and BLAKE3 hash
//! are checked on every read. The commit protocol lives in [`crate::format::log`] and uses this layer
//! only through the few operations it needs (conditional create, get, head, list).

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::capability::Probe;
use crate::error::{CorruptReason, Result, StorageError};

/// The BLAKE3 hash of `bytes` as lowercase hex.
pub fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// What a conditional create found.
#[derive(Debug)]
pub enum CreateOutcome {
    /// The object was created by this request.
    Created,
    /// An object already existed at the path.
    AlreadyExists,
    /// The request failed; the object may or may not have been written.
    Unknown(object_store::Error),
}

/// An object store and the prefix under which one catalog lives.
#[derive(Debug, Clone)]
pub struct StoreRoot {
    /// Visible to the format tier for ranged reads (`format::reader`).
    pub(super) store: Arc<dyn ObjectStore>,
    prefix: String,
    /// The once-per-catalog-handle check that the store can commit at all (shared by clones).
    probe: Arc<Probe>,
}

impl StoreRoot {
    /// The root `prefix` (leading and trailing `/` ignored; `""` for the store's root) of
    /// `store`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/').to_owned();
        let probe = Arc::default();
        Self {
            store,
            prefix,
            probe,
        }
    }

    /// The object store (for naming it in errors).
    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Fails unless the store has atomic conditional create; asks it once per catalog handle
    /// (see docs/format.md, "Stores"). Every write path calls this before its first write.
    pub async fn require_atomic_create(&self) -> Result<()> {
        self.probe.require(self).await
    }

    /// The full store path of an object named relative to the root.
    pub fn path(&self, rel: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rel)
        } else {
            Path::from(format!("{}/{rel}", self.prefix))
        }
    }

    /// The name of a full store path relative to the root.
    fn relative(&self, path: &Path) -> String {
        let s = path.as_ref();
        if self.prefix.is_empty() {
            s.to_owned()
        } else {
            s.strip_prefix(&self.prefix)
                .map(|r| r.trim_start_matches('/').to_owned())
                .unwrap_or_else(|| s.to_owned())
        }
    }

    /// Reads an object; `Ok(None)` when it does not exist.
    pub async fn get_opt(&self, rel: &str) -> Result<Option<Bytes>> {
        let path = self.path(rel);
        match self.store.get(&path).await {
            Ok(r) => match r.bytes().await {
                Ok(b) => Ok(Some(b)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(StorageError::store("get", &rel)(e)),
            },
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::store("get", &rel)(e)),
        }
    }

    /// Whether an object exists (one HEAD request).
    pub async fn exists(&self, rel: &str) -> Result<bool> {
        match self.store.head(&self.path(rel)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StorageError::store("head", &rel)(e)),
        }
    }

    /// Creates an object only if nothing exists at the path (`PutMode::Create`).
    pub async fn put_create(&self, rel: &str, bytes: Bytes) -> CreateOutcome {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.path(rel), PutPayload::from_bytes(bytes), opts)
            .await
        {
            Ok(_) => CreateOutcome::Created,
            Err(object_store::Error::AlreadyExists { .. }) => CreateOutcome::AlreadyExists,
            Err(e) => CreateOutcome::Unknown(e),
        }
    }

    /// Writes an object, replacing what was there. The format uses it only for advisory
    /// hints and side records that are never the truth (a version is committed only by
    /// [`StoreRoot::put_create`]).
    pub async fn put_overwrite(&self, rel: &str, bytes: Bytes) -> Result<()> {
        self.store
            .put(&self.path(rel), PutPayload::from_bytes(bytes))
            .await
            .map(|_| ())
            .map_err(StorageError::store("put", &rel))
    }

    /// Lists every object under a relative prefix; names come back relative to the root.
    pub async fn list(&self, rel_prefix: &str) -> Result<Vec<(String, ObjectMeta)>> {
        let prefix = self.path(rel_prefix);
        let metas: Vec<ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(StorageError::store("list", &rel_prefix))?;
        Ok(metas
            .into_iter()
            .map(|m| (self.relative(&m.location), m))
            .collect())
    }

    /// The immediate sub-folders of a relative prefix (names relative to the root, no trailing
    /// slash), found with one delimited listing per page: the objects inside them are not
    /// listed, so finding the tables of an org costs requests per folder, not per file.
    pub async fn list_dirs(&self, rel_prefix: &str) -> Result<Vec<String>> {
        let prefix = self.path(rel_prefix);
        let listed = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(StorageError::store("list", &rel_prefix))?;
        let mut dirs: Vec<String> = listed
            .common_prefixes
            .iter()
            .map(|p| self.relative(p))
            .collect();
        dirs.sort();
        Ok(dirs)
    }

    /// Deletes an object; a missing object is not an error.
    pub async fn delete(&self, rel: &str) -> Result<()> {
        match self.store.delete(&self.path(rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::store("delete", &rel)(e)),
        }
    }

    /// Stores content-addressed bytes at `rel` (whose name is derived from their hash).
    ///
    /// An object already at the path is checked rather than rewritten: if it holds the same
    /// bytes (same size and hash) the put is a no-op, otherwise the existing object is corrupt.
    pub async fn put_content(&self, rel: &str, bytes: Bytes, hash: &str) -> Result<()> {
        let size = bytes.len() as u64;
        self.require_atomic_create().await?;
        match self.put_create(rel, bytes).await {
            CreateOutcome::Created => Ok(()),
            CreateOutcome::AlreadyExists => self.get_verified(rel, size, hash).await.map(|_| ()),
            CreateOutcome::Unknown(e) => {
                // The write may have landed: a verified read settles it, else report the error.
                match self.get_verified(rel, size, hash).await {
                    Ok(_) => Ok(()),
                    Err(_) => Err(StorageError::store("put", &rel)(e)),
                }
            }
        }
    }

    /// Reads an object and checks it against the size and BLAKE3 hash a manifest recorded.
    pub async fn get_verified(&self, rel: &str, size: u64, hash: &str) -> Result<Bytes> {
        let bytes = self
            .get_opt(rel)
            .await?
            .ok_or_else(|| StorageError::corrupt(rel, CorruptReason::Missing))?;
        verify(rel, &bytes, size, hash)?;
        Ok(bytes)
    }
}

/// Checks bytes against a recorded size and BLAKE3 hash.
pub fn verify(rel: &str, bytes: &[u8], size: u64, hash: &str) -> Result<()> {
    let actual_size = bytes.len() as u64;
    if actual_size != size {
        return Err(StorageError::corrupt(
            rel,
            CorruptReason::SizeMismatch {
                expected: size,
                actual: actual_size,
            },
        ));
    }
    let actual = blake3_hex(bytes);
    if actual != hash {
        return Err(StorageError::corrupt(
            rel,
            CorruptReason::HashMismatch {
                expected: hash.to_owned(),
                actual,
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    fn root(prefix: &str) -> StoreRoot {
        StoreRoot::new(Arc::new(InMemory::new()), prefix)
    }

    // Guards: content-addressed puts are idempotent, detect a different object at the same
    // name, and reads check size and hash.
    #[tokio::test]
    async fn content_addressed_put_and_verified_get() {
        for prefix in ["", "some/prefix", "/slashes/"] {
            let r = root(prefix);
            let bytes = Bytes::from_static(b"hello");
            let hash = blake3_hex(&bytes);
            r.put_content("data/x", bytes.clone(), &hash).await.unwrap();
            r.put_content("data/x", bytes.clone(), &hash).await.unwrap();
            assert_eq!(r.get_verified("data/x", 5, &hash).await.unwrap(), bytes);
            let cases: [(u64, &str, bool); 3] =
                [(5, &hash, true), (4, &hash, false), (5, "00", false)];
            for (size, h, ok) in cases {
                assert_eq!(
                    r.get_verified("data/x", size, h).await.is_ok(),
                    ok,
                    "{size} {h}"
                );
            }
            let err = r.get_verified("data/missing", 1, "00").await.unwrap_err();
            assert!(matches!(
                err,
                StorageError::Corrupt {
                    reason: CorruptReason::Missing,
                    ..
                }
            ));
            // A damaged object already at the name is reported, not silently accepted.
            r.put_overwrite("data/y", Bytes::from_static(b"hellp"))
                .await
                .unwrap();
            let err = r
                .put_content("data/y", bytes.clone(), &hash)
                .await
                .unwrap_err();
            assert!(matches!(err, StorageError::Corrupt { .. }));
            r.delete("data/y").await.unwrap();
            let listed = r.list("data").await.unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].0, "data/x");
        }
    }
}
