//! The read and write machinery of one table directory, below the public [`crate::Table`]
//! handle: loading verified manifests, reading data files and deletion vectors, computing the
//! live rows of a version, writing rows as data files (cut into parts encoded in parallel), and
//! the exact difference between two versions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{DataType, SchemaRef, SortOptions};
use futures::{StreamExt, TryStreamExt};
use tableshare_core::RowSet;
use tracing::debug;

use crate::datafile::{
    DecodedRows, EncodedFile, FileLimits, decode_data_file, decode_dv, encode_data_file, encode_dv,
    split_rows,
};
use crate::error::{CorruptReason, Result, StorageError};
use crate::io::StoreRoot;
use crate::log::{CommitOutcome, VersionLog};
use crate::manifest::{DataFileEntry, DeletionVectorEntry, Operation, TableManifest};

/// How many data files one read fetches at once.
const READ_CONCURRENCY: usize = 8;

/// A verified manifest and the BLAKE3 of its body.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub(crate) manifest: Arc<TableManifest>,
    pub(crate) hash: String,
}

impl Loaded {
    pub(crate) fn version(&self) -> u64 {
        self.manifest.version
    }
}

/// Live rows of one version: keys ascending and the matching rows.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    pub(crate) keys: Vec<u64>,
    pub(crate) batch: RecordBatch,
}

/// The key-level difference between two versions.
#[derive(Debug, Default)]
pub(crate) struct KeyDiff {
    pub(crate) removed: RowSet,
    pub(crate) added: RowSet,
    /// Keys live at both versions but stored differently (in another file, or deleted from one
    /// file and stored again in another): updated rows, and rows a compaction merely moved.
    /// [`TableStore::value_changes`] tells them apart.
    pub(crate) moved: RowSet,
}

/// What [`TableStore::diff_keys`] found, and where the values of the differing rows live.
#[derive(Debug, Default)]
pub(crate) struct DiffPlan {
    pub(crate) keys: KeyDiff,
    /// Files of the newer side holding its values of added and moved keys.
    pub(crate) new_files: Vec<DataFileEntry>,
    /// Files of the older side that held moved keys (entries as at the older side).
    pub(crate) old_files: Vec<DataFileEntry>,
}

/// The new values of one column of rows whose value in that column changed.
#[derive(Debug)]
pub(crate) struct ColumnValues {
    /// Position of the column in the newer side's schema.
    pub(crate) column: usize,
    /// Keys of the changed rows, ascending.
    pub(crate) keys: Vec<u64>,
    /// Their new values, in key order.
    pub(crate) values: ArrayRef,
}

/// The rows (and per row the columns) whose values differ between two versions.
#[derive(Debug, Default)]
pub(crate) struct ValueChanges {
    /// Keys with at least one changed column.
    pub(crate) keys: RowSet,
    pub(crate) columns: Vec<ColumnValues>,
}

/// One table directory (`tables/<uuid>`) in a store root.
#[derive(Debug, Clone)]
pub(crate) struct TableStore {
    pub(crate) root: StoreRoot,
    pub(crate) dir: String,
    pub(crate) log: VersionLog,
    /// The table's catalog path, for error messages.
    pub(crate) name: String,
}

impl TableStore {
    pub(crate) fn new(root: StoreRoot, dir: String, name: String) -> Self {
        let log = VersionLog::new(root.clone(), dir.clone());
        Self {
            root,
            dir,
            log,
            name,
        }
    }

    pub(crate) fn rel(&self, file: &str) -> String {
        format!("{}/{file}", self.dir)
    }

    /// Loads and verifies version `version`; says whether a missing one expired or never was.
    pub(crate) async fn load(&self, version: u64) -> Result<Loaded> {
        match self.log.read(version).await? {
            Some(sealed) => {
                let rel = self.log.version_path(version);
                let manifest = TableManifest::decode(&rel, &sealed.body, version)?;
                Ok(Loaded {
                    manifest: Arc::new(manifest),
                    hash: sealed.hash,
                })
            }
            None => {
                let latest = self.log.latest().await?;
                match latest {
                    Some(latest) if version < latest => Err(StorageError::VersionExpired {
                        table: self.name.clone(),
                        version,
                    }),
                    Some(latest) => Err(StorageError::VersionNotFound {
                        table: self.name.clone(),
                        version,
                        latest,
                    }),
                    None => Err(StorageError::NotFound {
                        path: self.name.clone(),
                    }),
                }
            }
        }
    }

    /// Loads the latest version (bounded number of requests, see [`VersionLog::latest`]).
    pub(crate) async fn load_latest(&self) -> Result<Loaded> {
        let latest = self
            .log
            .latest()
            .await?
            .ok_or_else(|| StorageError::NotFound {
                path: self.name.clone(),
            })?;
        self.load(latest).await
    }

    /// Loads the parent of `child` and checks it against the hash `child` recorded.
    pub(crate) async fn load_parent(&self, child: &Loaded) -> Result<Option<Loaded>> {
        let Some(parent_version) = child.manifest.parent_version else {
            return Ok(None);
        };
        let parent = self.load(parent_version).await?;
        if child.manifest.parent_hash.as_deref() != Some(parent.hash.as_str()) {
            return Err(StorageError::corrupt(
                self.log.version_path(parent_version),
                CorruptReason::Inconsistent(
                    "manifest hash differs from the one its child recorded",
                ),
            ));
        }
        Ok(Some(parent))
    }

    /// Commits a manifest; returns the outcome and the BLAKE3 of its body.
    pub(crate) async fn commit(&self, manifest: &TableManifest) -> Result<(CommitOutcome, String)> {
        let body = manifest.encode()?;
        let outcome = self
            .log
            .commit(manifest.version, &body, &manifest.txn_id)
            .await?;
        Ok((outcome, crate::io::blake3_hex(&body)))
    }

    pub(crate) async fn put_file(&self, file: &EncodedFile) -> Result<()> {
        self.root
            .put_content(
                &self.rel(&file.entry.path),
                file.bytes.clone(),
                &file.entry.blake3,
            )
            .await
    }

    /// Writes a deletion vector and returns its entry.
    pub(crate) async fn put_dv(&self, set: &RowSet) -> Result<DeletionVectorEntry> {
        let (bytes, entry) = encode_dv(&self.name, set)?;
        self.root
            .put_content(&self.rel(&entry.path), bytes, &entry.blake3)
            .await?;
        Ok(entry)
    }

    /// Writes rows (`keys[i]` is the key of row `i`, ascending) as data files cut by `limits`:
    /// the parts are encoded in parallel on blocking threads (one per core) and put
    /// concurrently, at most one more part in flight than there are cores. A write within the
    /// limits is one file, encoded inline. Returns the entries in key order.
    pub(crate) async fn write_rows(
        &self,
        keys: &UInt64Array,
        batch: &RecordBatch,
        limits: FileLimits,
    ) -> Result<Vec<DataFileEntry>> {
        let parts = split_rows(batch.num_rows(), batch.get_array_memory_size(), limits);
        if parts.len() <= 1 {
            let file = encode_data_file(&self.name, keys, batch)?;
            self.put_file(&file).await?;
            return Ok(vec![file.entry]);
        }
        let width = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let runtime = tokio::runtime::Handle::try_current().ok();
        debug!(table = %self.name, files = parts.len(), width, "writing rows as several files");
        let jobs = parts.into_iter().map(|(offset, len)| {
            let part_keys = keys.slice(offset, len);
            let part = batch.slice(offset, len);
            let name = self.name.clone();
            let runtime = runtime.clone();
            async move {
                let file = match runtime {
                    Some(rt) => rt
                        .spawn_blocking(move || encode_data_file(&name, &part_keys, &part))
                        .await
                        .map_err(|e| {
                            if e.is_panic() {
                                std::panic::resume_unwind(e.into_panic());
                            }
                            StorageError::NoRuntime {
                                what: "encoding data files (the runtime shut down)",
                            }
                        })??,
                    None => encode_data_file(&name, &part_keys, &part)?,
                };
                self.put_file(&file).await?;
                Ok::<_, StorageError>(file.entry)
            }
        });
        futures::stream::iter(jobs)
            .buffered(width + 1)
            .try_collect()
            .await
    }

    /// Reads one data file (verified) shaped to `schema`, all rows including deleted ones.
    pub(crate) async fn read_file(
        &self,
        entry: &DataFileEntry,
        schema: &SchemaRef,
    ) -> Result<DecodedRows> {
        let rel = self.rel(&entry.path);
        let bytes = self
            .root
            .get_verified(&rel, entry.size, &entry.blake3)
            .await?;
        decode_data_file(&rel, bytes, entry, schema)
    }

    /// Reads a file's deletion vector (empty if none).
    pub(crate) async fn read_dv(&self, entry: &DataFileEntry) -> Result<RowSet> {
        match &entry.deletion_vector {
            None => Ok(RowSet::new()),
            Some(dv) => {
                let rel = self.rel(&dv.path);
                let bytes = self.root.get_verified(&rel, dv.size, &dv.blake3).await?;
                decode_dv(&rel, &bytes, dv)
            }
        }
    }

    /// All keys stored in a file (known from the manifest for dense files).
    pub(crate) async fn file_keys(
        &self,
        entry: &DataFileEntry,
        schema: &SchemaRef,
    ) -> Result<RowSet> {
        if entry.keys_are_dense() {
            return Ok(RowSet::from_range(
                entry.key_min..entry.key_max.saturating_add(1),
            ));
        }
        let rows = self.read_file(entry, schema).await?;
        Ok(rows.keys.into_iter().collect())
    }

    /// Keys of a file that are live at the version the entry belongs to.
    pub(crate) async fn live_keys(
        &self,
        entry: &DataFileEntry,
        schema: &SchemaRef,
    ) -> Result<RowSet> {
        let mut keys = self.file_keys(entry, schema).await?;
        keys.difference_with(&self.read_dv(entry).await?);
        Ok(keys)
    }

    /// Live rows of the given files, restricted to `only` if given, sorted by key.
    pub(crate) async fn read_rows<'a>(
        &self,
        files: impl IntoIterator<Item = &'a DataFileEntry>,
        schema: &SchemaRef,
        only: Option<&RowSet>,
    ) -> Result<Rows> {
        let mut reads = Vec::new();
        for entry in files {
            if let Some(only) = only {
                let range = RowSet::from_range(entry.key_min..entry.key_max.saturating_add(1));
                if only.is_disjoint(&range) {
                    continue;
                }
            }
            reads.push(self.read_live(entry, schema, only));
        }
        // Files are fetched concurrently (a store round trip each, often remote); the results
        // keep the files' order.
        let parts: Vec<Option<(Vec<u64>, RecordBatch)>> = futures::stream::iter(reads)
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        concat_sorted(schema, parts.into_iter().flatten().collect())
    }

    /// The live rows of one file (those its deletion vector spares, and only `only` if given):
    /// their keys and values, or `None` when none are left.
    async fn read_live(
        &self,
        entry: &DataFileEntry,
        schema: &SchemaRef,
        only: Option<&RowSet>,
    ) -> Result<Option<(Vec<u64>, RecordBatch)>> {
        let (rows, dv) = futures::try_join!(self.read_file(entry, schema), self.read_dv(entry))?;
        let mut keep = Vec::new();
        let mut keys = Vec::new();
        for (i, k) in rows.keys.iter().enumerate() {
            if !dv.contains(*k) && only.is_none_or(|o| o.contains(*k)) {
                keep.push(i as u32);
                keys.push(*k);
            }
        }
        if keys.is_empty() {
            return Ok(None);
        }
        let batch = if keys.len() == rows.keys.len() {
            rows.batch
        } else {
            take_rows(&rows.batch, &keep)?
        };
        Ok(Some((keys, batch)))
    }

    /// Live rows of a whole version.
    pub(crate) async fn scan(&self, loaded: &Loaded) -> Result<Rows> {
        let schema = loaded.manifest.schema_ref();
        self.read_rows(&loaded.manifest.files, &schema, None).await
    }

    /// The key-level difference from version `a` to version `b`, reading only the files and
    /// deletion vectors that differ between the two manifests.
    pub(crate) async fn diff_keys(&self, a: &TableManifest, b: &TableManifest) -> Result<DiffPlan> {
        let schema_a = Arc::new(a.schema.clone());
        let schema_b = Arc::new(b.schema.clone());
        let in_a: HashMap<&str, &DataFileEntry> =
            a.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let in_b: HashMap<&str, &DataFileEntry> =
            b.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let mut gone = RowSet::new();
        let mut appeared = RowSet::new();
        let mut new_files = Vec::new();
        // Files of a whose keys vanished from them, with the keys that vanished.
        let mut old_candidates: Vec<(DataFileEntry, RowSet)> = Vec::new();
        for fa in &a.files {
            match in_b.get(fa.path.as_str()) {
                None => {
                    let keys = self.live_keys(fa, &schema_a).await?;
                    gone.union_with(&keys);
                    old_candidates.push((fa.clone(), keys));
                }
                Some(fb) => {
                    if fa.deletion_vector != fb.deletion_vector {
                        let dva = self.read_dv(fa).await?;
                        let dvb = self.read_dv(fb).await?;
                        let deleted = dvb.difference(&dva);
                        gone.union_with(&deleted);
                        old_candidates.push((fa.clone(), deleted));
                        let back = dva.difference(&dvb);
                        if !back.is_empty() {
                            appeared.union_with(&back);
                            new_files.push((*fb).clone());
                        }
                    }
                }
            }
        }
        for fb in &b.files {
            if !in_a.contains_key(fb.path.as_str()) {
                appeared.union_with(&self.live_keys(fb, &schema_b).await?);
                new_files.push(fb.clone());
            }
        }
        let moved = gone.intersection(&appeared);
        let removed = gone.difference(&moved);
        let added = appeared.difference(&moved);
        let old_files = old_candidates
            .into_iter()
            .filter(|(_, keys)| !keys.is_disjoint(&moved))
            .map(|(f, _)| f)
            .collect();
        debug!(table = %self.name, from = a.version, to = b.version, removed = removed.len(), added = added.len(), moved = moved.len(), "diff");
        Ok(DiffPlan {
            keys: KeyDiff {
                removed,
                added,
                moved,
            },
            new_files,
            old_files,
        })
    }

    /// Which moved keys of `plan` changed value from `a` to `b`, per column of `b`'s schema.
    /// `new` holds `b`'s rows of exactly the moved keys (in `b`'s schema, ascending).
    ///
    /// One step `a -> a + 1` is decided by the operation: an update changed its named columns
    /// of the rows it rewrote; an insert (possibly compacting), a compaction, a delete or a schema
    /// change never changes a surviving row. Otherwise (several steps, revert) the older values
    /// are read from `plan.old_files` (only the moved keys) and compared column by column with
    /// Arrow kernels; a row that merely moved between files is not a change.
    pub(crate) async fn value_changes(
        &self,
        a: &TableManifest,
        b: &TableManifest,
        plan: &DiffPlan,
        new: &Rows,
    ) -> Result<ValueChanges> {
        let moved = &plan.keys.moved;
        if moved.is_empty() {
            return Ok(ValueChanges::default());
        }
        let one_step = b.version == a.version + 1;
        match &b.operation {
            Operation::Update { columns, .. } if one_step => {
                let mut out = ValueChanges {
                    keys: moved.clone(),
                    columns: Vec::new(),
                };
                for (i, field) in b.schema.fields().iter().enumerate() {
                    if columns.contains(field.name()) {
                        out.columns.push(ColumnValues {
                            column: i,
                            keys: new.keys.clone(),
                            values: Arc::clone(new.batch.column(i)),
                        });
                    }
                }
                return Ok(out);
            }
            Operation::Revert { .. } => {}
            _ if one_step => return Ok(ValueChanges::default()),
            _ => {}
        }
        let schema_b = Arc::new(b.schema.clone());
        let old = self
            .read_rows(&plan.old_files, &schema_b, Some(moved))
            .await?;
        if old.keys != new.keys {
            return Err(StorageError::corrupt(
                self.dir.clone(),
                CorruptReason::Inconsistent("a row live at both versions is missing from one"),
            ));
        }
        let key_array = UInt64Array::from(new.keys.clone());
        let mut out = ValueChanges::default();
        for i in 0..new.batch.num_columns() {
            let (before, after) = (old.batch.column(i), new.batch.column(i));
            let changed = changed_mask(&self.dir, before, after)?;
            if changed.true_count() == 0 {
                continue;
            }
            let filter = |array: &dyn Array| {
                arrow_select::filter::filter(array, &changed)
                    .map_err(StorageError::arrow("selecting changed values"))
            };
            let keys_array = filter(&key_array)?;
            let keys: Vec<u64> = keys_array
                .as_any()
                .downcast_ref::<UInt64Array>()
                .map(|k| k.values().to_vec())
                .unwrap_or_default();
            out.keys.union_with(&keys.iter().copied().collect());
            out.columns.push(ColumnValues {
                column: i,
                keys,
                values: filter(after.as_ref())?,
            });
        }
        debug!(table = %self.name, from = a.version, to = b.version, moved = moved.len(), changed = out.keys.len(), "compared moved rows");
        Ok(out)
    }
}

/// `true` where two equally long arrays of one type differ (nulls equal each other; floats
/// compare by total order). Flat types use the `distinct` kernel; nested ones (lists, structs)
/// a per-row comparator, which is the only per-row path.
/// `dir` names the table directory in errors.
fn changed_mask(dir: &str, before: &ArrayRef, after: &ArrayRef) -> Result<BooleanArray> {
    if before.len() != after.len() || before.data_type() != after.data_type() {
        return Err(StorageError::corrupt(
            dir,
            CorruptReason::Inconsistent(
                "a column's values differ in length or type between versions",
            ),
        ));
    }
    match before.data_type() {
        DataType::Null => Ok(BooleanArray::from(vec![false; before.len()])),
        dt if dt.is_nested() => {
            let cmp = arrow_ord::ord::make_comparator(
                before.as_ref(),
                after.as_ref(),
                SortOptions::default(),
            )
            .map_err(StorageError::arrow("comparing values"))?;
            Ok((0..before.len())
                .map(|i| Some(cmp(i, i) != std::cmp::Ordering::Equal))
                .collect())
        }
        _ => {
            arrow_ord::cmp::distinct(before, after).map_err(StorageError::arrow("comparing values"))
        }
    }
}

/// The same columns under another schema of the same types (e.g. without column ids).
pub(crate) fn relabel(batch: RecordBatch, schema: SchemaRef) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    RecordBatch::try_new_with_options(
        schema,
        batch.columns().to_vec(),
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(StorageError::arrow("relabelling a batch"))
}

/// Takes rows of a batch by index.
pub(crate) fn take_rows(batch: &RecordBatch, indices: &[u32]) -> Result<RecordBatch> {
    let idx = UInt32Array::from(indices.to_vec());
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
        .collect::<std::result::Result<_, _>>()
        .map_err(StorageError::arrow("selecting rows"))?;
    RecordBatch::try_new_with_options(
        batch.schema(),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(indices.len())),
    )
    .map_err(StorageError::arrow("selecting rows"))
}

/// Concatenates (keys, rows) parts and sorts the result by key.
pub(crate) fn concat_sorted(
    schema: &SchemaRef,
    parts: Vec<(Vec<u64>, RecordBatch)>,
) -> Result<Rows> {
    let keys: Vec<u64> = parts.iter().flat_map(|(k, _)| k.iter().copied()).collect();
    let batches: Vec<RecordBatch> = parts.into_iter().map(|(_, b)| b).collect();
    let batch = if batches.is_empty() {
        RecordBatch::new_empty(Arc::clone(schema))
    } else {
        arrow_select::concat::concat_batches(schema, &batches)
            .map_err(StorageError::arrow("concatenating rows"))?
    };
    if keys.windows(2).all(|w| w[0] < w[1]) {
        return Ok(Rows { keys, batch });
    }
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    order.sort_unstable_by_key(|&i| keys[i as usize]);
    let sorted_keys: Vec<u64> = order.iter().map(|&i| keys[i as usize]).collect();
    let batch = take_rows(&batch, &order)?;
    Ok(Rows {
        keys: sorted_keys,
        batch,
    })
}

/// Groups `keys` by the file (index into `files`) that holds them live, reading key sets as
/// needed. Keys found in no file are returned separately.
pub(crate) async fn locate_keys(
    store: &TableStore,
    files: &[DataFileEntry],
    schema: &SchemaRef,
    keys: &RowSet,
) -> Result<(BTreeMap<usize, RowSet>, RowSet)> {
    let mut found = BTreeMap::new();
    let mut rest = keys.clone();
    for (i, f) in files.iter().enumerate() {
        if rest.is_empty() {
            break;
        }
        let range = RowSet::from_range(f.key_min..f.key_max.saturating_add(1));
        if rest.is_disjoint(&range) {
            continue;
        }
        let live = store.live_keys(f, schema).await?;
        let here = rest.intersection(&live);
        if !here.is_empty() {
            rest.difference_with(&here);
            found.insert(i, here);
        }
    }
    Ok((found, rest))
}

#[cfg(test)]
mod tests {
    use arrow_array::types::Int32Type;
    use arrow_array::{Float64Array, Int64Array, ListArray, StringArray};

    use super::*;

    // Guards the value comparison of diffs: nulls equal nulls, NaN equals NaN (total order),
    // and nested columns compare whole values.
    #[test]
    fn changed_mask_cases() {
        fn check(before: ArrayRef, after: ArrayRef, expected: &[bool]) {
            let got = changed_mask("t", &before, &after).unwrap();
            let got: Vec<bool> = (0..got.len()).map(|i| got.value(i)).collect();
            assert_eq!(got, expected, "{before:?} vs {after:?}");
        }
        check(
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3), None])),
            Arc::new(Int64Array::from(vec![Some(1), None, Some(4), Some(0)])),
            &[false, false, true, true],
        );
        check(
            Arc::new(Float64Array::from(vec![f64::NAN, 1.0])),
            Arc::new(Float64Array::from(vec![f64::NAN, 1.5])),
            &[false, true],
        );
        check(
            Arc::new(StringArray::from(vec![Some("a"), None])),
            Arc::new(StringArray::from(vec![Some("a"), Some("b")])),
            &[false, true],
        );
        check(
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                Some(vec![Some(1), Some(2)]),
                None,
                Some(vec![Some(1)]),
            ])),
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                Some(vec![Some(1), Some(2)]),
                None,
                Some(vec![Some(1), None]),
            ])),
            &[false, false, true],
        );
        assert!(
            changed_mask(
                "t",
                &(Arc::new(Int64Array::from(vec![1])) as ArrayRef),
                &(Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef)
            )
            .is_err()
        );
    }
}
