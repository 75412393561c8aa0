//! Compaction: merging small data files into fewer, bigger ones without changing rows, keys or
//! values (docs/format.md, "Compaction").

use arrow_array::UInt64Array;

use crate::error::Result;
use crate::format::manifest::{DataFileEntry, Operation, TableManifest};
use crate::options::CatalogOptions;
use crate::table::Table;

impl Table {
    /// Merges the small data files (live rows below
    /// [`CatalogOptions::small_file_bytes`]) into as few files as the file limits allow, as
    /// its own `compact` version: same rows, keys and values; rows deleted by deletion vectors
    /// are dropped from the rewritten files. Older versions keep reading the old files until
    /// garbage collection expires them. Returns the new version, or the current one if there is
    /// nothing to merge (fewer than two small files, and none with deleted rows).
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`](crate::StorageError::ReadOnly), [`StorageError::Corrupt`](crate::StorageError::Corrupt) for a damaged file,
    /// [`StorageError::VersionConflict`](crate::StorageError::VersionConflict) if another version was committed since the handle's.
    pub async fn compact(&self) -> Result<u64> {
        self.writable("compact")?;
        let base = self.current();
        let options = self.options();
        let small: Vec<usize> = base
            .manifest
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.live_bytes() < options.small_file_bytes)
            .map(|(i, _)| i)
            .collect();
        let worth_it = small.len() >= 2
            || small
                .iter()
                .any(|i| base.manifest.files[*i].deletion_vector.is_some());
        if !worth_it {
            return Ok(base.version());
        }
        let mut m = Self::next_manifest(
            &base,
            Operation::Compact {
                files_rewritten: small.len() as u64,
                files_written: 0,
            },
        );
        let written = self.merge_files(&mut m, &small, options).await?;
        m.operation = Operation::Compact {
            files_rewritten: small.len() as u64,
            files_written: written as u64,
        };
        self.commit_or_conflict(&base, m).await
    }

    /// Rewrites the live rows of `m.files[i]` for `i` in `chosen` (ascending) into new files
    /// (keys kept, current schema), replacing them in `m`. Returns how many files were written.
    pub(crate) async fn merge_files(
        &self,
        m: &mut TableManifest,
        chosen: &[usize],
        options: &CatalogOptions,
    ) -> Result<usize> {
        let files: Vec<DataFileEntry> = chosen.iter().map(|i| m.files[*i].clone()).collect();
        let schema = m.schema_ref();
        let rows = self.store.read_rows(&files, &schema, None).await?;
        let written = if rows.keys.is_empty() {
            Vec::new()
        } else {
            let keys = UInt64Array::from(rows.keys);
            self.store
                .write_rows(&keys, &rows.batch, options.file_limits())
                .await?
        };
        let count = written.len();
        let mut i = 0;
        m.files.retain(|_| {
            let keep = chosen.binary_search(&i).is_err();
            i += 1;
            keep
        });
        m.files.extend(written);
        Ok(count)
    }
}
