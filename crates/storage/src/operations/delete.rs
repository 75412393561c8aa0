//! Delete: removing selected rows by adding their keys to the files' deletion vectors.

use std::collections::{BTreeMap, BTreeSet};

use tableshare_core::RowSet;

use crate::error::{Result, StorageError};
use crate::format::manifest::{Operation, TableManifest};
use crate::read::locate_keys;
use crate::table::{Selection, Table};

impl Table {
    /// Deletes selected rows. Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] for a key that is not live,
    /// [`StorageError::VersionConflict`] if another version was committed since the handle's.
    pub async fn delete(&self, selection: &Selection) -> Result<u64> {
        self.writable("delete")?;
        let base = self.current();
        let keys = self.resolve(&base, selection).await?;
        if keys.is_empty() {
            return Ok(base.version());
        }
        let schema = base.manifest.schema_ref();
        let (by_file, missing) =
            locate_keys(&self.store, &base.manifest.files, &schema, &keys).await?;
        if let Some(k) = missing.min() {
            return Err(StorageError::invalid(
                self.path(),
                format!("row key {k} is not live at version {}", base.version()),
            ));
        }
        let n = keys.len();
        let mut m = Self::next_manifest(&base, Operation::Delete { rows: n });
        self.apply_deletions(&mut m, &by_file).await?;
        m.row_count -= n;
        m.rows_removed = n;
        self.commit_or_conflict(&base, m).await
    }

    /// Adds `keys` (grouped by file index) to the files' deletion vectors in `m`, dropping files
    /// whose rows are all deleted.
    pub(crate) async fn apply_deletions(
        &self,
        m: &mut TableManifest,
        by_file: &BTreeMap<usize, RowSet>,
    ) -> Result<()> {
        let mut drop = BTreeSet::new();
        for (i, keys) in by_file {
            let entry = &m.files[*i];
            let mut dv = self.store.read_dv(entry).await?;
            dv.union_with(keys);
            if dv.len() >= entry.rows {
                drop.insert(*i);
            } else {
                let dv_entry = self.store.put_dv(&dv).await?;
                m.files[*i].deletion_vector = Some(dv_entry);
            }
        }
        let mut i = 0;
        m.files.retain(|_| {
            let keep = !drop.contains(&i);
            i += 1;
            keep
        });
        Ok(())
    }
}
