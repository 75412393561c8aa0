//! Reading and writing rows of a table directory: live rows of a version (files minus their
//! deletion vectors), rows of chosen keys, and writing rows as data files cut into parts
//! encoded in parallel.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::SchemaRef;
use futures::{StreamExt, TryStreamExt};
use tableshare_core::RowSet;
use tracing::debug;

use crate::error::{Result, StorageError};
use crate::format::datafile::{FileLimits, encode_data_file, split_rows};
use crate::format::manifest::DataFileEntry;
use crate::format::table_dir::{Loaded, TableDir};

/// How many data files one read fetches at once.
const READ_CONCURRENCY: usize = 8;

/// Live rows of one version: keys ascending and the matching rows.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    pub(crate) keys: Vec<u64>,
    pub(crate) batch: RecordBatch,
}

impl TableDir {
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
    store: &TableDir,
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
