//! Compaction: merging small data files into fewer, bigger ones without changing rows, keys or
//! values (docs/format.md, "Compaction").

use arrow_array::UInt64Array;

use tracing::{debug, warn};

use super::merge_offer::{all_present, all_unchanged};
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
        Ok(self.compact_with(Plan::AllSmall).await?.0)
    }

    /// Runs now, if needed, the compaction an insert would start in the background: when the
    /// table holds more than [`CatalogOptions::max_small_files`] small files, the smallest are
    /// merged (size-tiered) as a `compact` version. Returns that version, or `None` when there
    /// was nothing to do. For programs that exit right after inserting (a command-line tool),
    /// where a background task would not get to finish.
    ///
    /// # Errors
    ///
    /// As [`Table::compact`].
    pub async fn compact_if_needed(&self) -> Result<Option<u64>> {
        self.writable("compact")?;
        let (v, merged) = self.compact_with(Plan::Tiered).await?;
        Ok(merged.then_some(v))
    }

    /// Compacts the files `plan` picks on the latest base, re-planning if a rival commits
    /// first (so a compaction never makes another writer fail; see `crate::commit`).
    /// Returns the version and whether it is a compaction this call committed.
    ///
    /// The merge is done once: when a rival commits first (an append, typically, since appends
    /// commit far more often than a merge takes), the merged files are carried onto the new
    /// version as long as every file they replace is still there unchanged (same object, same
    /// deletion vector); the rival's own files are kept beside them. Only a rival that changed
    /// one of the merged files (a delete or update of their rows, another compaction) makes it
    /// plan and merge again. Once its files are merged, it also offers the merge to the
    /// appends of this process (`operations/merge_offer.rs`): under a steady stream of
    /// appends, the next one commits the merge with its own rows, and this call then finds
    /// its merged files in the latest version and is done.
    pub(crate) async fn compact_with(&self, plan: Plan) -> Result<(u64, bool)> {
        let options = self.options().clone();
        let merged = std::sync::atomic::AtomicBool::new(false);
        // The files merged by the last attempt and the files that replace them.
        let done: std::sync::Mutex<Option<(Vec<DataFileEntry>, Vec<DataFileEntry>)>> =
            std::sync::Mutex::new(None);
        let guard: std::sync::Mutex<Option<super::OfferGuard>> = std::sync::Mutex::new(None);
        let (merged, options, done, guard) = (&merged, &options, &done, &guard);
        let v = self
            .commit_change(&Footprint::Replan, |base: Loaded| {
                Box::pin(async move {
                    let base = &base;
                    let last = done
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .take();
                    if let Some((replaced, written)) = &last
                        && all_present(written, &base.manifest)
                        && !all_unchanged(replaced, &base.manifest)
                    {
                        // An append committed this merge (it took the offer).
                        merged.store(true, std::sync::atomic::Ordering::Relaxed);
                        return Ok(Built::Done(self.version_that_added(base, written).await?));
                    }
                    let carried =
                        last.filter(|(replaced, _)| all_unchanged(replaced, &base.manifest));
                    let (replaced, written) = match carried {
                        Some(pair) => pair,
                        None => {
                            let chosen = plan.choose(&base.manifest, options);
                            if chosen.is_empty() {
                                merged.store(false, std::sync::atomic::Ordering::Relaxed);
                                return Ok(Built::Done(base.version()));
                            }
                            let replaced: Vec<DataFileEntry> = chosen
                                .iter()
                                .map(|i| base.manifest.files[*i].clone())
                                .collect();
                            let written = self
                                .merge_entries(&replaced, &base.manifest.schema_ref(), options)
                                .await?;
                            (replaced, written)
                        }
                    };
                    merged.store(true, std::sync::atomic::Ordering::Relaxed);
                    let mut m = Self::next_manifest(
                        base,
                        Operation::Compact {
                            files_rewritten: replaced.len() as u64,
                            files_written: written.len() as u64,
                        },
                    );
                    let gone: std::collections::HashSet<&str> =
                        replaced.iter().map(|f| f.path.as_str()).collect();
                    m.files.retain(|f| !gone.contains(f.path.as_str()));
                    m.files.extend(written.iter().cloned());
                    // From now on the next append of this process may commit the merge.
                    let offer = self.hooks.offer_merge(replaced.clone(), written.clone());
                    let landed = offer.as_ref().map(super::OfferGuard::landed);
                    *guard
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = offer;
                    *done
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Some((replaced, written));
                    if plan == Plan::Tiered
                        && let Some(landed) = landed
                        && let Some(v) =
                            landed.wait(super::merge_offer::BACKGROUND_OFFER_WAIT).await
                    {
                        return Ok(Built::Done(v));
                    }
                    Ok(Built::Commit(Box::new(m)))
                })
            })
            .await?;
        Ok((v, merged.load(std::sync::atomic::Ordering::Relaxed)))
    }

    /// The version at or below `latest` that added the files `written` (they are in
    /// `latest`): walks down while the parent holds them too. Usually one or two steps: the
    /// append that committed a merge this compaction offered is just below the latest.
    async fn version_that_added(&self, latest: &Loaded, written: &[DataFileEntry]) -> Result<u64> {
        let mut at = latest.clone();
        while let Some(parent) = at.manifest.parent_version {
            let loaded = match self.store.load(parent).await {
                Ok(l) => l,
                Err(crate::error::StorageError::VersionExpired { .. }) => break,
                Err(e) => return Err(e),
            };
            if !all_present(written, &loaded.manifest) {
                break;
            }
            at = loaded;
        }
        Ok(at.version())
    }

    /// After an insert: if the table now holds more than
    /// [`CatalogOptions::max_small_files`] small files and background compaction is on, starts
    /// a tiered compaction on the process's background thread (`crate::background`; at most one
    /// per table and catalog at a time).
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
        let Some(guard) = self.hooks.start_compaction() else {
            return;
        };
        let sibling = self.sibling();
        // On the process's background thread, below the writers' priority (see `background`).
        crate::background::spawn(async move {
            match sibling.compact_with(Plan::Tiered).await {
                Ok((v, merged)) => {
                    debug!(table = %sibling.path(), version = v, merged, "background compaction done")
                }
                Err(error) => {
                    warn!(table = %sibling.path(), %error, "background compaction failed; the next insert retries it");
                }
            }
            drop(guard);
        });
    }

    /// Rewrites the live rows of `files` (keys kept, in `schema`) into new files cut by the
    /// file limits; rows deleted by deletion vectors are dropped. Returns the new entries.
    pub(crate) async fn merge_entries(
        &self,
        files: &[DataFileEntry],
        schema: &arrow_schema::SchemaRef,
        options: &CatalogOptions,
    ) -> Result<Vec<DataFileEntry>> {
        let rows = self.store.read_rows(files, schema, None).await?;
        if rows.keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = UInt64Array::from(rows.keys);
        self.store
            .write_rows(&keys, &rows.batch, options.file_limits())
            .await
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use object_store::memory::InMemory;
    use tableshare_core::TableSchema;

    use crate::{Catalog, CatalogOptions};

    // Guards `compact_if_needed` (what a short-lived program calls instead of waiting for a
    // background compaction): nothing below the threshold, a tiered merge above it, then
    // nothing again; rows unchanged.
    #[tokio::test]
    async fn compact_if_needed_runs_the_tiered_plan_inline() {
        let options = CatalogOptions::default()
            .with_compaction(u64::MAX, 8)
            .with_background_compaction(false);
        let c = Catalog::open_with_options(Arc::new(InMemory::new()), "", options);
        let arrow = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let t = c
            .create_table("t", &TableSchema::unpartitioned(arrow.clone()).unwrap())
            .await
            .unwrap();
        let one = |v: i64| {
            RecordBatch::try_new(arrow.clone(), vec![Arc::new(Int64Array::from(vec![v]))]).unwrap()
        };
        for i in 0..8 {
            t.insert(&one(i)).await.unwrap();
        }
        assert_eq!(
            t.compact_if_needed().await.unwrap(),
            None,
            "8 small files: at the limit"
        );
        t.insert(&one(8)).await.unwrap(); // v9: 9 small files
        assert_eq!(t.compact_if_needed().await.unwrap(), Some(10));
        assert_eq!(t.file_count(), 1, "merged down to max_small_files / 8 = 1");
        assert_eq!(t.compact_if_needed().await.unwrap(), None);
        assert_eq!(t.scan().await.unwrap().keys, (0..9).collect::<Vec<u64>>());
    }
}
