//! Streaming scans: the live rows of a version as a stream of keyed batches.
//!
//! A scan reads only what it needs: files whose key range misses the wanted keys, or whose
//! statistics show no row can pass the filters, are skipped; of the rest, only the row groups
//! that may hold wanted rows are fetched (verified ranged reads, see `format::reader`), and of
//! those only `_row_key`, the requested columns and the filtered columns are decoded. Deleted
//! rows (deletion vectors), rows outside the key range and rows failing a filter are dropped.
//!
//! Keys ascend across the whole stream: files are grouped into runs of overlapping key ranges
//! (compaction can produce overlaps); runs are disjoint and read in key order, and the files of
//! a run are merged by key (`merge`). Streams are lazy: nothing is fetched until the stream is
//! polled, and a scan with a limit reads one run after another and stops as soon as the limit
//! is reached. A scan without a limit reads the next few runs ahead on their own tasks
//! (`ahead`), a bounded number of batches each, and decodes a few row groups of each file at
//! once, so IO and decoding overlap and use every core. Memory is bounded by the batches in
//! flight (those of each file's row groups being read, plus each run's read-ahead
//! buffer), never by the table.

mod ahead;
#[cfg(test)]
mod equivalence;
mod file;
mod merge;
mod predicate;

use std::fmt;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema, SchemaRef};
use futures::stream::Stream;
use futures::{StreamExt, TryStreamExt};

pub use predicate::{CompareOp, Literal, Predicate};

use self::file::{FilePlan, KeyedStream};
use crate::error::{Result, StorageError};
use crate::format::manifest::{DataFileEntry, column_id, strip_column_id};
use crate::format::table_dir::{Loaded, TableDir};
use crate::table::TableData;

/// Rows per batch unless [`ScanOptions::batch_size`] says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// How many runs of files ahead of the one being consumed an unlimited scan reads concurrently.
const RUNS_AHEAD: usize = 4;

/// How many row groups of one file an unlimited scan decodes concurrently, each on its own
/// task (see `file::open_file`). Runs ahead alone leave the cores idle once their buffers
/// fill: only the run being consumed makes progress, one row group after another.
const ROW_GROUPS_AHEAD: usize = 3;

/// What a streaming scan reads: columns, filters, key range, row limit and batch size.
///
/// The default reads every column of every live row in batches of [`DEFAULT_BATCH_SIZE`].
#[derive(Debug, Clone)]
pub struct ScanOptions {
    columns: Option<Vec<String>>,
    filters: Vec<Predicate>,
    keys: Range<u64>,
    limit: Option<usize>,
    batch_size: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            columns: None,
            filters: Vec::new(),
            keys: 0..u64::MAX,
            limit: None,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

impl ScanOptions {
    /// Reads only these columns, in this order (names in the scanned version's schema).
    #[must_use]
    pub fn columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Keeps only rows matching `predicate` (several filters are ANDed). The filtered column
    /// need not be among the columns read.
    #[must_use]
    pub fn filter(mut self, predicate: Predicate) -> Self {
        self.filters.push(predicate);
        self
    }

    /// Keeps only rows whose key is in `keys`.
    #[must_use]
    pub fn key_range(mut self, keys: Range<u64>) -> Self {
        self.keys = keys;
        self
    }

    /// Stops after this many rows (the first ones in key order); nothing more is read.
    #[must_use]
    pub fn limit(mut self, rows: usize) -> Self {
        self.limit = Some(rows);
        self
    }

    /// At most this many rows per batch (at least 1).
    #[must_use]
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }
}

/// One batch of a streaming scan: rows and their keys.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScanBatch {
    /// Row keys, ascending (and ascending across the batches of one stream).
    pub keys: Vec<u64>,
    /// The rows, in the stream's [`schema`](ScanStream::schema).
    pub batch: RecordBatch,
}

/// The live rows of one version as a stream of [`ScanBatch`]es in ascending key order
/// (see [`Table::scan_stream`](crate::Table::scan_stream)).
///
/// An error ends the stream; a damaged file is [`StorageError::Corrupt`] naming it, and no
/// row of a damaged piece is returned.
pub struct ScanStream {
    version: u64,
    schema: SchemaRef,
    inner: KeyedStream,
}

impl fmt::Debug for ScanStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanStream")
            .field("version", &self.version)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl ScanStream {
    /// The version being read.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The schema of every batch: the requested columns as the version names them.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// Reads the rest of the stream into one batch (memory grows with the rows read).
    ///
    /// # Errors
    ///
    /// The stream's first error.
    pub async fn concat(self) -> Result<TableData> {
        let Self {
            version,
            schema,
            inner,
        } = self;
        let parts: Vec<ScanBatch> = inner.try_collect().await?;
        let keys: Vec<u64> = parts.iter().flat_map(|p| p.keys.iter().copied()).collect();
        let batch = if parts.len() == 1 {
            parts
                .into_iter()
                .map(|p| p.batch)
                .next()
                .unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(&schema)))
        } else {
            let batches: Vec<RecordBatch> = parts.into_iter().map(|p| p.batch).collect();
            arrow_select::concat::concat_batches(&schema, &batches)
                .map_err(StorageError::arrow("concatenating scanned rows"))?
        };
        Ok(TableData {
            version,
            keys,
            batch,
        })
    }
}

impl Stream for ScanStream {
    type Item = Result<ScanBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// Starts a streaming scan of `loaded` (a version of the table in `dir`). Options are checked
/// now (unknown columns, filters that do not fit their column); nothing is read until the
/// stream is polled.
pub(crate) fn scan_stream(
    dir: &TableDir,
    loaded: &Loaded,
    options: ScanOptions,
) -> Result<ScanStream> {
    let manifest = &loaded.manifest;
    let stored = &manifest.schema;
    let table = dir.name.as_str();
    let fields: Vec<&Field> = match &options.columns {
        None => stored.fields().iter().map(AsRef::as_ref).collect(),
        Some(names) => {
            let mut fields = Vec::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                if names[..i].contains(name) {
                    return Err(StorageError::invalid(
                        table,
                        format!("column {name} requested twice"),
                    ));
                }
                let field = stored
                    .fields()
                    .iter()
                    .find(|f| f.name() == name)
                    .ok_or_else(|| {
                        StorageError::invalid(table, format!("unknown column {name}"))
                    })?;
                fields.push(field.as_ref());
            }
            fields
        }
    };
    let mut columns = Vec::with_capacity(fields.len());
    for field in fields {
        let id = column_id(field).ok_or_else(|| {
            StorageError::invalid(table, format!("column {} has no id", field.name()))
        })?;
        columns.push((id, Arc::new(strip_column_id(field))));
    }
    let schema = Arc::new(Schema::new_with_metadata(
        columns
            .iter()
            .map(|(_, f)| Arc::clone(f))
            .collect::<Vec<_>>(),
        stored.metadata().clone(),
    ));
    let predicates = options
        .filters
        .iter()
        .map(|p| p.bind(table, stored))
        .collect::<Result<Vec<_>>>()?;
    let plan = Arc::new(FilePlan {
        columns,
        schema: Arc::clone(&schema),
        predicates,
        keys: options.keys.clone(),
        batch_size: options.batch_size,
        row_groups_ahead: if options.limit.is_some() {
            0
        } else {
            ROW_GROUPS_AHEAD
        },
    });
    let runs = if options.limit == Some(0) || options.keys.is_empty() {
        Vec::new()
    } else {
        overlapping_runs(&manifest.files, &options.keys)
    };
    // Without a limit, each run is read on its own task, the next few ahead of the one being
    // consumed. A limited read stays lazy, one run after another, so it reads nothing past the
    // row group that completes it.
    let dir = dir.clone();
    let limited_read = options.limit.is_some();
    let runs = futures::stream::iter(runs).map(move |run| {
        let stream = run_stream(&dir, &plan, run);
        futures::future::ready(if limited_read {
            stream
        } else {
            ahead::read_ahead(stream)
        })
    });
    let stream = if limited_read {
        runs.buffered(1).flatten().boxed()
    } else {
        runs.buffered(RUNS_AHEAD).flatten().boxed()
    };
    let inner = match options.limit {
        Some(limit) => limited(stream, limit),
        None => stream,
    };
    Ok(ScanStream {
        version: loaded.version(),
        schema,
        inner,
    })
}

/// The rows of one run of files: opened together (footers and deletion vectors), then merged
/// by key. Lazy: nothing is read until the stream is polled.
fn run_stream(dir: &TableDir, plan: &Arc<FilePlan>, run: Vec<DataFileEntry>) -> KeyedStream {
    let dir = dir.clone();
    let plan = Arc::clone(plan);
    futures::stream::once(async move {
        let opened =
            futures::future::try_join_all(run.iter().map(|f| file::open_file(&dir, f, &plan)))
                .await?;
        let inputs: Vec<KeyedStream> = opened.into_iter().flatten().collect();
        Ok::<_, StorageError>(merge::merge(
            inputs,
            Arc::clone(&plan.schema),
            plan.batch_size,
            dir.dir.clone(),
        ))
    })
    .try_flatten()
    .boxed()
}

/// The files whose key ranges meet `keys`, in runs of overlapping key ranges: runs are
/// disjoint and ascending, so reading them in order (merging within a run) yields keys in
/// ascending order.
fn overlapping_runs(files: &[DataFileEntry], keys: &Range<u64>) -> Vec<Vec<DataFileEntry>> {
    let mut wanted: Vec<&DataFileEntry> = files
        .iter()
        .filter(|f| f.key_max >= keys.start && f.key_min < keys.end)
        .collect();
    wanted.sort_by_key(|f| (f.key_min, f.key_max));
    let mut runs: Vec<(u64, Vec<DataFileEntry>)> = Vec::new();
    for f in wanted {
        match runs.last_mut() {
            Some((max, run)) if f.key_min <= *max => {
                *max = (*max).max(f.key_max);
                run.push(f.clone());
            }
            _ => runs.push((f.key_max, vec![f.clone()])),
        }
    }
    runs.into_iter().map(|(_, run)| run).collect()
}

/// The first `limit` rows of `stream`; the stream is not polled again once they are out.
fn limited(stream: KeyedStream, limit: usize) -> KeyedStream {
    futures::stream::unfold((stream, limit), |(mut stream, remaining)| async move {
        if remaining == 0 {
            return None;
        }
        match stream.next().await? {
            Ok(mut part) => {
                if part.keys.len() > remaining {
                    part.keys.truncate(remaining);
                    part.batch = part.batch.slice(0, remaining);
                }
                let left = remaining - part.keys.len();
                Some((Ok(part), (stream, left)))
            }
            Err(e) => Some((Err(e), (stream, 0))),
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key_min: u64, key_max: u64) -> DataFileEntry {
        DataFileEntry {
            path: format!("data/{key_min}-{key_max}.parquet"),
            size: 100,
            rows: key_max - key_min + 1,
            key_min,
            key_max,
            blake3: String::new(),
            columns: vec![],
            deletion_vector: None,
            tail: None,
        }
    }

    // Guards the ordering plan: overlapping files share a run, runs are disjoint and ascending,
    // and files outside the key range are not read at all.
    #[test]
    fn runs_of_overlapping_files() {
        let files = vec![
            entry(20, 29),
            entry(0, 9),
            entry(5, 12),
            entry(13, 15),
            entry(14, 19),
        ];
        let runs = |keys: Range<u64>| -> Vec<Vec<(u64, u64)>> {
            overlapping_runs(&files, &keys)
                .iter()
                .map(|run| run.iter().map(|f| (f.key_min, f.key_max)).collect())
                .collect()
        };
        assert_eq!(
            runs(0..u64::MAX),
            vec![
                vec![(0, 9), (5, 12)],
                vec![(13, 15), (14, 19)],
                vec![(20, 29)]
            ]
        );
        assert_eq!(runs(10..14), vec![vec![(5, 12)], vec![(13, 15)]]);
        assert_eq!(runs(30..40), Vec::<Vec<(u64, u64)>>::new());
    }
}
