//! Helpers of the query tests: the stores every case runs on (memory, local disk, and S3 when
//! `TABLESHARE_TEST_S3_ENDPOINT` names a server, as `cargo xtask ci` does), the sample table,
//! and readers of result columns.

use std::io::Write;
use std::sync::{Arc, Once};

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::SchemaRef;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use tableshare_core::TableSchema;
use tableshare_storage::{Catalog, Table, parse_schema_spec};

/// A catalog on a fresh store of `kind` (`memory`, `local`, `s3`) and the temporary folder a
/// local one lives in; `None` for S3 when no server is configured.
pub(crate) fn catalog(kind: &str) -> Option<(Catalog, Option<tempfile::TempDir>)> {
    let (store, dir): (Arc<dyn ObjectStore>, _) = match kind {
        "memory" => (Arc::new(InMemory::new()), None),
        "local" => {
            let dir = tempfile::tempdir().unwrap();
            let local = LocalFileSystem::new_with_prefix(dir.path())
                .unwrap()
                .with_fsync(true);
            (Arc::new(local), Some(dir))
        }
        "s3" => (s3_store()?, None),
        other => panic!("unknown store kind {other}"),
    };
    Some((Catalog::open(store, "catalog"), dir))
}

/// The store kinds every behavioural case runs on.
pub(crate) const STORES: [&str; 3] = ["memory", "local", "s3"];

fn s3_store() -> Option<Arc<dyn ObjectStore>> {
    static SAID: Once = Once::new();
    let endpoint = match std::env::var("TABLESHARE_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => {
            assert!(
                std::env::var("TABLESHARE_TEST_REQUIRE_S3").as_deref() != Ok("1"),
                "TABLESHARE_TEST_REQUIRE_S3=1 but TABLESHARE_TEST_S3_ENDPOINT is not set"
            );
            SAID.call_once(|| {
                let _unseen = writeln!(
                    std::io::stderr(),
                    "S3 not configured (TABLESHARE_TEST_S3_ENDPOINT unset): S3 cases not run; \
                     `cargo xtask ci` runs them"
                );
            });
            return None;
        }
    };
    let bucket =
        std::env::var("TABLESHARE_TEST_S3_BUCKET").unwrap_or_else(|_| "tableshare-test".into());
    let s3 = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id("tableshare-test")
        .with_secret_access_key("tableshare-test")
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap();
    let prefix = format!("query/{}", uuid::Uuid::new_v4());
    Some(Arc::new(PrefixStore::new(s3, prefix.as_str())))
}

/// `id:int64, name:utf8, value:float64`.
pub(crate) fn sample_schema() -> SchemaRef {
    Arc::new(parse_schema_spec("id:int64,name:utf8,value:float64").unwrap())
}

/// Rows of the sample schema.
pub(crate) fn sample_rows(rows: &[(i64, &str, f64)]) -> RecordBatch {
    RecordBatch::try_new(
        sample_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

/// Creates `path` with the sample schema (its directory too) holding `rows` (one version).
pub(crate) async fn sample_table(
    catalog: &Catalog,
    path: &str,
    rows: &[(i64, &str, f64)],
) -> Table {
    if let Some((dir, _)) = path.rsplit_once('.')
        && catalog.get(dir).await.unwrap().is_none()
    {
        catalog.create_dir(dir).await.unwrap();
    }
    let schema = TableSchema::unpartitioned(sample_schema()).unwrap();
    let table = catalog.create_table(path, &schema).await.unwrap();
    if !rows.is_empty() {
        table.insert(&sample_rows(rows)).await.unwrap();
    }
    table
}

/// Column `name` of the concatenated batches as i64 values (nulls as `None`).
pub(crate) fn ints(batches: &[RecordBatch], name: &str) -> Vec<Option<i64>> {
    let mut out = Vec::new();
    for b in batches {
        let column = b.column_by_name(name).unwrap();
        let column = arrow_cast::cast(column, &arrow_schema::DataType::Int64).unwrap();
        let a = column.as_any().downcast_ref::<Int64Array>().unwrap();
        out.extend((0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))));
    }
    out
}

/// Column `name` as f64 values.
pub(crate) fn floats(batches: &[RecordBatch], name: &str) -> Vec<Option<f64>> {
    let mut out = Vec::new();
    for b in batches {
        let column = b.column_by_name(name).unwrap();
        let column = arrow_cast::cast(column, &arrow_schema::DataType::Float64).unwrap();
        let a = column.as_any().downcast_ref::<Float64Array>().unwrap();
        out.extend((0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))));
    }
    out
}

/// Column `name` as strings.
pub(crate) fn strings(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in batches {
        let column = b.column_by_name(name).unwrap();
        let column = arrow_cast::cast(column, &arrow_schema::DataType::Utf8).unwrap();
        let a = column.as_any().downcast_ref::<StringArray>().unwrap();
        out.extend((0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_owned())));
    }
    out
}
