//! Delete: removing selected rows by adding their keys to the files' deletion vectors.

use std::collections::{BTreeMap, BTreeSet};

use tableshare_core::RowSet;

use crate::commit::{Built, Footprint};
use crate::error::Result;
use crate::format::manifest::{Operation, TableManifest};
use crate::format::table_dir::Loaded;
use crate::table::{Selection, Table};

impl Table {
    /// Deletes selected rows. Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`](crate::StorageError::ReadOnly), [`StorageError::InvalidArgument`](crate::StorageError::InvalidArgument) for a key that is not live,
    /// [`StorageError::RowConflict`](crate::StorageError::RowConflict) if a rival committed since the handle's version removed or
    /// changed one of the rows (other rivals are rebased onto).
    pub async fn delete(&self, selection: &Selection) -> Result<u64> {
        self.writable("delete")?;
        let base = self.current();
        let keys = self.resolve(&base, selection).await?;
        if keys.is_empty() {
            return Ok(base.version());
        }
        let by_file = self.locate_live(&base, &keys).await?;
        let n = keys.len();
        let footprint = Footprint::Rows {
            keys: keys.clone(),
            schema_sensitive: false,
        };
        let first_version = base.version();
        let by_file = &by_file;
        let keys = &keys;
        self.commit_change(&footprint, |b: Loaded| {
            Box::pin(async move {
                let b = &b;
                let by_file = self.located_on(b, first_version, by_file, keys).await?;
                let mut m = Self::next_manifest(b, Operation::Delete { rows: n });
                self.apply_deletions(&mut m, &by_file).await?;
                m.row_count -= n;
                m.rows_removed = n;
                Ok(Built::Commit(Box::new(m)))
            })
        })
        .await
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
