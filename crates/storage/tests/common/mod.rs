//! Helpers shared by the storage integration tests: schemas, batches, a request-counting
//! object store, and the two stores every behavioural case runs on.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset of these helpers"
)]

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use tableshare_core::TableSchema;
use tableshare_storage::Catalog;

/// `id: int64 not null, name: utf8, value: float64` (the seed's sample table).
pub fn sample_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]))
}

pub fn table_schema(arrow: SchemaRef) -> TableSchema {
    TableSchema::unpartitioned(arrow).unwrap()
}

/// Rows of the sample schema.
pub fn sample_rows(rows: &[(i64, &str, f64)]) -> RecordBatch {
    RecordBatch::try_new(
        sample_schema(),
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| Some(r.1)).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

/// The `id` column of a batch.
pub fn ids(batch: &RecordBatch) -> Vec<i64> {
    let (i, _) = batch.schema().column_with_name("id").unwrap();
    let a = batch
        .column(i)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    (0..a.len()).map(|j| a.value(j)).collect()
}

/// A catalog on each store the behavioural suite runs on: memory and local disk.
pub fn catalogs() -> Vec<(&'static str, Catalog, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let local = Catalog::open_local(dir.path()).unwrap();
    vec![
        ("memory", Catalog::in_memory(), None),
        ("local", local, Some(dir)),
    ]
}

/// Request counters of a [`CountingStore`].
#[derive(Debug, Default)]
pub struct Counts {
    pub get: AtomicU64,
    pub head: AtomicU64,
    pub put: AtomicU64,
    pub list: AtomicU64,
    pub delete: AtomicU64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        [&self.get, &self.head, &self.put, &self.list, &self.delete]
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .sum()
    }
    pub fn reset(&self) {
        for c in [&self.get, &self.head, &self.put, &self.list, &self.delete] {
            c.store(0, Ordering::SeqCst);
        }
    }
}

/// An object store wrapper that counts requests (a LIST counts once however long it is).
#[derive(Debug)]
pub struct CountingStore {
    pub inner: Arc<dyn ObjectStore>,
    pub counts: Arc<Counts>,
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.counts.put.fetch_add(1, Ordering::SeqCst);
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.counts.put.fetch_add(1, Ordering::SeqCst);
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if options.head {
            self.counts.head.fetch_add(1, Ordering::SeqCst);
        } else {
            self.counts.get.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.get_opts(location, options).await
    }
    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.counts.get.fetch_add(1, Ordering::SeqCst);
        self.inner.get_ranges(location, ranges).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.counts.delete.fetch_add(1, Ordering::SeqCst);
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.counts.list.fetch_add(1, Ordering::SeqCst);
        self.inner.list(prefix)
    }
    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.counts.list.fetch_add(1, Ordering::SeqCst);
        self.inner.list_with_offset(prefix, offset)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.counts.list.fetch_add(1, Ordering::SeqCst);
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.counts.put.fetch_add(1, Ordering::SeqCst);
        self.inner.copy_opts(from, to, options).await
    }
    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.counts.put.fetch_add(1, Ordering::SeqCst);
        self.inner.rename_opts(from, to, options).await
    }
}
