//! Revert: undoing the latest version by committing a new version with its parent's content.

use crate::error::{Result, StorageError};
use crate::format::manifest::Operation;
use crate::table::Table;

impl Table {
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
        let base = self.current();
        let Some(target) = self.store.load_parent(&base).await? else {
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
            &base,
            Operation::Revert {
                to_version: target.version(),
                reverted_version: base.version(),
            },
        );
        let t = &target.manifest;
        m.schema = t.schema.clone();
        m.partition_columns = t.partition_columns.clone();
        m.files = t.files.clone();
        m.row_count = t.row_count;
        m.next_row_key = m.next_row_key.max(t.next_row_key);
        m.next_column_id = m.next_column_id.max(t.next_column_id);
        m.rows_added = plan.keys.added.len();
        m.rows_removed = plan.keys.removed.len();
        m.rows_updated = changes.keys.len();
        self.commit_or_conflict(&base, m).await
    }
}
