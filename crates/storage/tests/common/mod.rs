//! Helpers shared by the storage integration tests: schemas, batches, and the two stores every
//! behavioural case runs on. (Request counting and fault injection: `tableshare_testkit`.)
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset of these helpers"
)]

use std::sync::Arc;

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use tableshare_core::{Snapshot, TableSchema};
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

/// The snapshot of `path` at `version`, read through a `path:N` handle.
pub async fn snapshot_at(c: &Catalog, path: &str, version: u64) -> Snapshot {
    c.open_table(&format!("{path}:{version}"))
        .await
        .unwrap()
        .snapshot()
        .await
        .unwrap()
}
