//! Compaction: merging small data files into fewer, bigger ones without changing rows, keys or
//! values (docs/format.md, "Compaction").

use arrow_array::UInt64Array;

use tracing::{debug, warn};

use crate::commit::{Built, Footprint};
use crate::error::Result;
use crate::format::manifest::{DataFileEntry, Operation, TableManifest};
use crate::format::table_dir::Loaded;
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
    /// [`StorageError::ReadOnly`](crate::StorageError::ReadOnly),
    /// [`StorageError::Corrupt`](crate::StorageError::Corrupt) for a damaged file. A rival
    /// commit never makes it fail: it re-plans on the new version.
    pub async fn compact(&self) -> Result<u64> {
        self.writable("compact")?;
        self.compact_with(Plan::AllSmall).await
    }

    /// Compacts the files `plan` picks on the latest base, re-planning if a rival commits
    /// first (so a compaction never makes another writer fail; see `crate::commit`).
    pub(crate) async fn compact_with(&self, plan: Plan) -> Result<u64> {
        let options = self.options().clone();
        let options = &options;
        self.commit_change(&Footprint::Replan, |base: Loaded| {
            Box::pin(async move {
                let base = &base;
                let chosen = plan.choose(&base.manifest, options);
                if chosen.is_empty() {
                    return Ok(Built::Done(base.version()));
                }
                let mut m = Self::next_manifest(
                    base,
                    Operation::Compact {
                        files_rewritten: chosen.len() as u64,
                        files_written: 0,
                    },
                );
                let written = self.merge_files(&mut m, &chosen, options).await?;
                m.operation = Operation::Compact {
                    files_rewritten: chosen.len() as u64,
                    files_written: written as u64,
                };
                Ok(Built::Commit(Box::new(m)))
            })
        })
        .await
    }

    /// After an insert: if the table now holds more than
    /// [`CatalogOptions::max_small_files`] small files and background compaction is on, starts
    /// a tiered compaction on the tokio runtime (at most one per table and catalog at a time).
    /// The insert has already committed and does not wait for it.
    pub(crate) fn compact_in_background_if_needed(&self) {
        let options = self.options();
        if !options.background_compaction {
            return;
        }
        let current = self.current();
        if Plan::Tiered.choose(&current.manifest, options).is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Some(guard) = self.hooks.start_compaction() else {
            return;
        };
        let sibling = self.sibling();
        runtime.spawn(async move {
            match sibling.compact_with(Plan::Tiered).await {
                Ok(v) => debug!(table = %sibling.path(), version = v, "background compaction done"),
                Err(error) => {
                    warn!(table = %sibling.path(), %error, "background compaction failed; the next insert retries it");
                }
            }
            drop(guard);
        });
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

/// Which files a compaction merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Every small file (and any small file with deleted rows): `Table::compact`.
    AllSmall,
    /// Only when there are more than `max_small_files` small files: the smallest of them, so
    /// that an eighth of `max_small_files` remain (size-tiered: big merged files are left
    /// alone until they are among the smallest, so a row is rewritten a logarithmic number of
    /// times). What background compaction does.
    Tiered,
}

impl Plan {
    /// Indices (ascending) of the files of `m` to merge; empty when there is nothing to do.
    fn choose(self, m: &TableManifest, options: &CatalogOptions) -> Vec<usize> {
        let mut small: Vec<usize> = (0..m.files.len())
            .filter(|i| m.files[*i].live_bytes() < options.small_file_bytes)
            .collect();
        match self {
            Self::AllSmall => {
                let worth_it =
                    small.len() >= 2 || small.iter().any(|i| m.files[*i].deletion_vector.is_some());
                if worth_it { small } else { Vec::new() }
            }
            Self::Tiered => {
                if small.len() <= options.max_small_files || small.len() < 2 {
                    return Vec::new();
                }
                let keep = (options.max_small_files / 8).max(1);
                let merge = (small.len() + 1).saturating_sub(keep).clamp(2, small.len());
                small.sort_by_key(|i| (m.files[*i].live_bytes(), *i));
                small.truncate(merge);
                small.sort_unstable();
                small
            }
        }
    }
}
