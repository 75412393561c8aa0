//! Copying a content-addressed object from one store root to another as a stream, so that
//! moving a table between stores (publish, push, replicate, pull) holds a few parts of each file
//! in memory instead of the whole file.
//!
//! The bytes are checked as they flow: at most one byte more than the recorded size is read,
//! and the BLAKE3 hash is computed incrementally. The destination is written as a multipart
//! upload that is completed only when size and hash both match, and aborted otherwise, so a
//! damaged or lying source never leaves an object at the destination. Object stores make a
//! multipart upload visible only on completion (the local store stages it in a temporary file
//! and renames it into place, with fsync when enabled), so no reader sees a partial object.
//! Completion is unconditional, which is safe for content-addressed names: a rival writing the
//! same name writes the same bytes.

use futures::StreamExt;
use object_store::{GetOptions, GetRange, ObjectStoreExt, WriteMultipart};

use crate::error::{CorruptReason, Result, StorageError};
use crate::format::store::StoreRoot;

/// The part size of streamed copies (S3 needs at least 5 MiB for every part but the last).
pub const COPY_PART_SIZE: usize = 8 << 20;

/// Parts in flight per copy (besides the one being filled).
const PARTS_IN_FLIGHT: usize = 2;

impl StoreRoot {
    /// Copies the object `rel` of this root to `dest_rel` under `dest`, checking it against the
    /// recorded `size` and BLAKE3 `hash` as it streams (see the module docs). Memory stays
    /// within a few [`COPY_PART_SIZE`] parts whatever the object's size.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] naming the source object when it is missing, longer or
    /// shorter than `size`, or hashes differently (nothing is left at the destination);
    /// store errors from either side.
    pub async fn copy_verified_to(
        &self,
        rel: &str,
        dest: &StoreRoot,
        dest_rel: &str,
        size: u64,
        hash: &str,
    ) -> Result<()> {
        let options = GetOptions {
            range: Some(GetRange::Bounded(0..size.saturating_add(1).max(1))),
            ..GetOptions::default()
        };
        let got = match self.store().get_opts(&self.path(rel), options).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StorageError::corrupt(rel, CorruptReason::Missing));
            }
            Err(e) => return Err(StorageError::store("get", &rel)(e)),
        };
        let write_err = |e| StorageError::store("put_multipart", &dest_rel)(e);
        let upload = dest
            .store()
            .put_multipart(&dest.path(dest_rel))
            .await
            .map_err(write_err)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, COPY_PART_SIZE);
        let mut hasher = blake3::Hasher::new();
        let mut seen: u64 = 0;
        let mut chunks = got.into_stream();
        let outcome: Result<()> = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(StorageError::store("get", &rel))?;
                seen += chunk.len() as u64;
                if seen > size {
                    break;
                }
                hasher.update(&chunk);
                writer
                    .wait_for_capacity(PARTS_IN_FLIGHT)
                    .await
                    .map_err(write_err)?;
                writer.write(&chunk);
            }
            if seen != size {
                return Err(StorageError::corrupt(
                    rel,
                    CorruptReason::SizeMismatch {
                        expected: size,
                        actual: seen,
                    },
                ));
            }
            let actual = hasher.finalize().to_hex().to_string();
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
        .await;
        match outcome {
            Ok(()) => {
                writer.finish().await.map_err(write_err)?;
                Ok(())
            }
            Err(error) => {
                // Nothing of a bad source may become visible; an abort that fails leaves only
                // an incomplete upload, which stores expire and readers never see.
                let _ = writer.abort().await;
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use bytes::Bytes;
    use object_store::ObjectStore;
    use object_store::local::LocalFileSystem;
    use object_store::memory::InMemory;

    use super::*;
    use crate::format::store::blake3_hex;

    /// Bytes that do not compress or repeat: a simple xorshift stream.
    fn noise(len: usize) -> Bytes {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect::<Vec<u8>>()
            .into()
    }

    fn roots() -> Vec<(&'static str, StoreRoot, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let local: Arc<dyn ObjectStore> = Arc::new(
            LocalFileSystem::new_with_prefix(dir.path())
                .unwrap()
                .with_fsync(true),
        );
        vec![
            (
                "memory",
                StoreRoot::new(Arc::new(InMemory::new()), "dst"),
                None,
            ),
            ("local", StoreRoot::new(local, "dst"), Some(dir)),
        ]
    }

    // Guards the streamed copy: an object of several parts arrives byte for byte, and a source
    // that is damaged (a flipped byte), short or long fails naming the source object and leaves
    // nothing at the destination.
    #[tokio::test]
    async fn a_streamed_copy_is_whole_or_absent() {
        let good = noise(2 * COPY_PART_SIZE + 12_345);
        let hash = blake3_hex(&good);
        let size = good.len() as u64;
        let mut flipped = good.to_vec();
        flipped[COPY_PART_SIZE + 7] ^= 0x10;
        let mut longer = good.to_vec();
        longer.push(0);
        let cases: Vec<(&str, Bytes)> = vec![
            ("flipped", flipped.into()),
            ("short", good.slice(..good.len() - 1)),
            ("long", longer.into()),
        ];
        for (kind, dest, _dir) in roots() {
            let source = StoreRoot::new(Arc::new(InMemory::new()), "src");
            source.put_overwrite("obj", good.clone()).await.unwrap();
            source
                .copy_verified_to("obj", &dest, "copied", size, &hash)
                .await
                .unwrap();
            let copied = dest.get_verified("copied", size, &hash).await.unwrap();
            assert_eq!(copied, good, "{kind}");

            for (case, bad) in &cases {
                source.put_overwrite("bad", bad.clone()).await.unwrap();
                let err = source
                    .copy_verified_to("bad", &dest, "not-here", size, &hash)
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, StorageError::Corrupt { ref path, .. } if path == "bad"),
                    "{kind}/{case}: {err}"
                );
                assert!(!dest.exists("not-here").await.unwrap(), "{kind}/{case}");
            }
            let err = source
                .copy_verified_to("missing", &dest, "not-here", size, &hash)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    StorageError::Corrupt {
                        reason: CorruptReason::Missing,
                        ..
                    }
                ),
                "{kind}: {err}"
            );
        }
    }
}
