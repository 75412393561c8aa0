//! Reading Parquet files on an object store: footers by ranged reads (cached per file version),
//! and one column of one row group at a time, decoded once and kept in a small cache, since the
//! service asks for pages far smaller than a row group and would otherwise decode it per page.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use tokio::sync::OnceCell;

use super::listing::FileEntry;
use crate::backend::BackendError;

/// Bytes of footer fetched with the first read (most footers fit; larger ones take a second).
const FOOTER_HINT: usize = 64 * 1024;

/// One file read by ranged GETs.
#[derive(Clone)]
struct StoreFile {
    store: Arc<dyn ObjectStore>,
    path: Path,
    metadata: Option<Arc<ParquetMetaData>>,
}

fn to_parquet(error: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(error))
}

impl AsyncFileReader for StoreFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(to_parquet)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(to_parquet)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            match &self.metadata {
                Some(metadata) => Ok(metadata.clone()),
                None => Err(ParquetError::General("footer not loaded".into())),
            }
        }
        .boxed()
    }
}

/// A file's footer, decoded.
#[derive(Clone, Debug)]
pub(crate) struct FileMeta {
    pub(crate) reader: ArrowReaderMetadata,
    pub(crate) rows: u64,
    /// Rows per row group.
    pub(crate) groups: Vec<u64>,
}

impl FileMeta {
    pub(crate) fn schema(&self) -> &SchemaRef {
        self.reader.schema()
    }
}

/// A row group's column: file, file version (e-tag), row group, column.
type GroupKey = (Path, Option<String>, usize, usize);

/// A file version: path, size, e-tag.
type FooterKey = (Path, u64, Option<String>);

/// Decoded row-group columns (each decoded once, by whoever asks first) and their age order.
type GroupCache = (
    HashMap<GroupKey, Arc<OnceCell<ArrayRef>>>,
    VecDeque<GroupKey>,
);

/// Footers and decoded row-group columns, shared by everything one backend reads.
pub(crate) struct Reader {
    pub(crate) store: Arc<dyn ObjectStore>,
    footers: Mutex<HashMap<FooterKey, FileMeta>>,
    groups: Mutex<GroupCache>,
    group_capacity: usize,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Reader {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, group_capacity: usize) -> Self {
        Self {
            store,
            footers: Mutex::new(HashMap::new()),
            groups: Mutex::new((HashMap::new(), VecDeque::new())),
            group_capacity: group_capacity.max(1),
        }
    }

    /// The footer of `file` (read once per file version).
    pub(crate) async fn footer(&self, file: &FileEntry) -> Result<FileMeta, BackendError> {
        let key = (file.path.clone(), file.size, file.e_tag.clone());
        if let Some(meta) = lock(&self.footers).get(&key) {
            return Ok(meta.clone());
        }
        let mut source = StoreFile {
            store: self.store.clone(),
            path: file.path.clone(),
            metadata: None,
        };
        let metadata = ParquetMetaDataReader::new()
            .with_prefetch_hint(Some(FOOTER_HINT))
            .load_and_finish(&mut source, file.size)
            .await
            .map_err(|error| format!("the footer of {} does not read: {error}", file.path))?;
        let reader = ArrowReaderMetadata::try_new(Arc::new(metadata), ArrowReaderOptions::new())
            .map_err(|error| format!("{} is not readable as Arrow: {error}", file.path))?;
        let groups: Vec<u64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|group| u64::try_from(group.num_rows()).unwrap_or(0))
            .collect();
        let meta = FileMeta {
            rows: groups.iter().sum(),
            groups,
            reader,
        };
        lock(&self.footers).insert(key, meta.clone());
        Ok(meta)
    }

    /// Column `column` (by its index in the file's Arrow schema) of row group `group` of `file`,
    /// decoded once while it stays in the small cache.
    pub(crate) async fn group_column(
        &self,
        file: &FileEntry,
        meta: &FileMeta,
        group: usize,
        column: usize,
    ) -> Result<ArrayRef, BackendError> {
        let key: GroupKey = (file.path.clone(), file.e_tag.clone(), group, column);
        let cell = {
            let mut guard = lock(&self.groups);
            let (cells, order) = &mut *guard;
            match cells.get(&key) {
                Some(cell) => cell.clone(),
                None => {
                    let cell = Arc::new(OnceCell::new());
                    cells.insert(key.clone(), cell.clone());
                    order.push_back(key.clone());
                    while order.len() > self.group_capacity {
                        if let Some(old) = order.pop_front() {
                            cells.remove(&old);
                        }
                    }
                    cell
                }
            }
        };
        let values = cell
            .get_or_try_init(|| {
                let decoding = decode(
                    self.store.clone(),
                    file.clone(),
                    meta.clone(),
                    group,
                    column,
                );
                // Decoding is the bulk of a scan's work: as a task of its own, row groups decode
                // on all the runtime's workers at once, not one after another in the caller's task.
                async move {
                    match tokio::runtime::Handle::try_current() {
                        Ok(runtime) => runtime.spawn(decoding).await.map_err(|error| {
                            BackendError::from(format!("decoding stopped: {error}"))
                        })?,
                        Err(_) => decoding.await,
                    }
                }
            })
            .await?;
        Ok(values.clone())
    }
}

/// Column `column` of row group `group` of `file`, read and decoded.
async fn decode(
    store: Arc<dyn ObjectStore>,
    file: FileEntry,
    meta: FileMeta,
    group: usize,
    column: usize,
) -> Result<ArrayRef, BackendError> {
    let file = &file;
    let source = StoreFile {
        store,
        path: file.path.clone(),
        metadata: Some(meta.reader.metadata().clone()),
    };
    let rows = meta.groups.get(group).copied().unwrap_or(0);
    let mask = ProjectionMask::roots(
        meta.reader.metadata().file_metadata().schema_descr(),
        [column],
    );
    let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(source, meta.reader.clone())
        .with_projection(mask)
        .with_row_groups(vec![group])
        .with_batch_size(usize::try_from(rows).unwrap_or(usize::MAX).max(1))
        .build()
        .map_err(|error| format!("{}: {error}", file.path))?;
    let batches: Vec<RecordBatch> = stream
        .try_collect()
        .await
        .map_err(|error| format!("{}: {error}", file.path))?;
    let parts: Vec<&dyn Array> = batches
        .iter()
        .map(|batch| batch.column(0).as_ref())
        .collect();
    match parts.as_slice() {
        [one] => Ok(arrow_array::make_array(one.to_data())),
        _ => Ok(arrow_select::concat::concat(&parts)?),
    }
}
