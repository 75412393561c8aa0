//! Revert: undoing the latest version by committing a new version with its parent's content.

use std::collections::HashMap;

use crate::commit::{Built, Footprint};
use crate::error::{Result, StorageError};
use crate::format::manifest::Operation;
use crate::format::manifest::{DataFileEntry, TableManifest};
use crate::format::table_dir::Loaded;
use crate::table::Table;

impl Table {
    /// The file entries `files` (of an older version) for a new version on `base`: entries
    /// that `base` references as they are stay; any other data file or deletion vector is
    /// copied under a fresh name (`TableDir::copy_fresh`), never re-referenced, so garbage
    /// collection cannot sweep it between this check and the commit.
    async fn take_back(
        &self,
        base: &TableManifest,
        files: &[DataFileEntry],
    ) -> Result<Vec<DataFileEntry>> {
        let in_base: HashMap<&str, &DataFileEntry> =
            base.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            match in_base.get(f.path.as_str()) {
                Some(b) if b.deletion_vector == f.deletion_vector => out.push(f.clone()),
                Some(_) => {
                    let mut entry = f.clone();
                    if let Some(dv) = &f.deletion_vector {
                        entry.deletion_vector = Some(self.store.copy_dv_fresh(dv).await?);
                    }
                    out.push(entry);
                }
                None => out.push(self.store.copy_fresh(f).await?),
            }
        }
        Ok(out)
    }

    /// Undoes the latest version by committing a new version with the content (rows and schema)
    /// of its parent. Row keys are never reused. Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] at version 0,
    /// [`StorageError::VersionExpired`] if the parent was garbage collected,
    /// [`StorageError::VersionConflict`].
    pub async fn revert(&self) -> Result<u64> {
        self.writable("revert")?;
        self.commit_change(&Footprint::Exact, |base: Loaded| {
            Box::pin(async move {
                let base = &base;
                let Some(target) = self.store.load_parent(base).await? else {
                    return Err(StorageError::invalid(
                        self.path(),
                        "version 0 cannot be reverted",
                    ));
                };
                let plan = self
                    .store
                    .diff_keys(&base.manifest, &target.manifest)
                    .await?;
                // Rows a compaction merely moved are not updates: compare the moved rows' values.
                let moved = self
                    .store
                    .read_rows(
                        &plan.new_files,
                        &target.manifest.schema_ref(),
                        Some(&plan.keys.moved),
                    )
                    .await?;
                let changes = self
                    .store
                    .value_changes(&base.manifest, &target.manifest, &plan, &moved)
                    .await?;
                let mut m = Self::next_manifest(
                    base,
                    Operation::Revert {
                        to_version: target.version(),
                        reverted_version: base.version(),
                    },
                );
                let t = &target.manifest;
                m.schema = t.schema.clone();
                m.partition_columns = t.partition_columns.clone();
                m.files = self.take_back(&base.manifest, &t.files).await?;
                m.row_count = t.row_count;
                m.next_row_key = m.next_row_key.max(t.next_row_key);
                m.next_column_id = m.next_column_id.max(t.next_column_id);
                m.rows_added = plan.keys.added.len();
                m.rows_removed = plan.keys.removed.len();
                m.rows_updated = changes.keys.len();
                Ok(Built::Commit(Box::new(m)))
            })
        })
        .await
    }
}
