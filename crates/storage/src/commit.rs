//! The table side of the commit protocol: building the next manifest on a base version and
//! committing it, with the outcome reported to the handle and its live table.

use std::sync::Arc;

use tracing::info;
use uuid::Uuid;

use crate::error::{Result, StorageError};
use crate::format::log::CommitOutcome;
use crate::format::manifest::{Operation, TableManifest, now_ms};
use crate::format::table_dir::Loaded;
use crate::table::Table;

impl Table {
    pub(crate) fn next_manifest(base: &Loaded, operation: Operation) -> TableManifest {
        let mut m = base.manifest.as_ref().clone();
        m.version = base.version() + 1;
        m.parent_version = Some(base.version());
        m.parent_hash = Some(base.hash.clone());
        m.txn_id = Uuid::new_v4().to_string();
        m.timestamp_ms = now_ms().max(base.manifest.timestamp_ms);
        m.operation = operation;
        m.rows_added = 0;
        m.rows_removed = 0;
        m.rows_updated = 0;
        m
    }

    /// Commits `manifest`; `Ok(None)` if a rival won the version.
    pub(crate) async fn try_commit(
        &self,
        base: &Loaded,
        manifest: TableManifest,
    ) -> Result<Option<u64>> {
        let (outcome, hash) = self.store.commit(&manifest).await?;
        match outcome {
            CommitOutcome::Committed => {
                let v = manifest.version;
                info!(table = %self.path(), version = v, operation = manifest.operation.name(), "committed");
                let loaded = Loaded {
                    manifest: Arc::new(manifest),
                    hash,
                };
                self.set_current(loaded.clone());
                self.hooks.committed(base, &loaded).await;
                Ok(Some(v))
            }
            CommitOutcome::Lost => Ok(None),
        }
    }

    /// Commits a change that cannot be rebased: losing is a [`StorageError::VersionConflict`].
    pub(crate) async fn commit_or_conflict(
        &self,
        base: &Loaded,
        manifest: TableManifest,
    ) -> Result<u64> {
        let attempted = manifest.version;
        match self.try_commit(base, manifest).await? {
            Some(v) => Ok(v),
            None => {
                let current = self.store.log.latest().await?.unwrap_or(attempted);
                Err(StorageError::VersionConflict {
                    table: self.path().to_owned(),
                    attempted,
                    current,
                })
            }
        }
    }
}
