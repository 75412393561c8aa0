//! Helpers of the transport suite: the three cloud stores every case runs on (memory, local
//! disk, S3 when `TABLESHARE_TEST_S3_ENDPOINT` is set, as in the storage suite), local
//! catalogs, sample rows, and raw access to a cloud store's bytes.

use std::io::Write;
use std::sync::{Arc, Once};

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tableshare_core::TableSchema;
use tableshare_storage::{Catalog, Table};
use tableshare_transport::{CloudConfig, Transport};

pub const KEY: &str = "alice-org-key";

pub fn sample_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]))
}

pub fn rows(rows: &[(i64, &str, f64)]) -> RecordBatch {
    RecordBatch::try_new(
        sample_schema(),
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

/// The sorted ids of a table's rows at its current version.
pub async fn ids(table: &Table) -> Vec<i64> {
    let data = table.scan().await.unwrap();
    let (i, _) = data.batch.schema().column_with_name("id").unwrap();
    let a = data
        .batch
        .column(i)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let mut v: Vec<i64> = (0..a.len()).map(|j| a.value(j)).collect();
    v.sort_unstable();
    v
}

fn s3() -> Option<Arc<dyn ObjectStore>> {
    static SAID: Once = Once::new();
    let endpoint = match std::env::var("TABLESHARE_TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
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
    let prefix = format!("transport/{}", uuid::Uuid::new_v4());
    Some(Arc::new(PrefixStore::new(s3, prefix.as_str())))
}

/// A fresh cloud store of each kind (memory, local disk, S3 when configured).
pub fn clouds() -> Vec<(
    &'static str,
    Arc<dyn ObjectStore>,
    Option<tempfile::TempDir>,
)> {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalFileSystem::new_with_prefix(dir.path())
        .unwrap()
        .with_fsync(true);
    let mut out: Vec<(
        &'static str,
        Arc<dyn ObjectStore>,
        Option<tempfile::TempDir>,
    )> = vec![
        ("memory", Arc::new(InMemory::new()), None),
        ("local", Arc::new(local), Some(dir)),
    ];
    if let Some(s) = s3() {
        out.push(("s3", s, None));
    }
    out
}

/// A transport on a fresh in-memory local catalog; `key` is the org key it holds.
pub fn transport(cloud: &Arc<dyn ObjectStore>, key: Option<&str>) -> Transport {
    transport_on(Catalog::in_memory(), cloud, key)
}

pub fn transport_on(
    catalog: Catalog,
    cloud: &Arc<dyn ObjectStore>,
    key: Option<&str>,
) -> Transport {
    let mut config = CloudConfig::with_store(Arc::clone(cloud), "");
    if let Some(k) = key {
        config = config.with_api_key(k);
    }
    Transport::new(catalog, config)
}

/// Creates `shared_demo.sample_data` with three rows (versions 0 and 1).
pub async fn sample_table(t: &Transport) -> Table {
    let c = t.catalog();
    c.create_dir("shared_demo").await.ok();
    let table = c
        .create_table(
            "shared_demo.sample_data",
            &TableSchema::unpartitioned(sample_schema()).unwrap(),
        )
        .await
        .unwrap();
    table
        .insert(&rows(&[
            (1, "Alice", 42.5),
            (2, "Bob", 37.8),
            (3, "Charlie", 91.2),
        ]))
        .await
        .unwrap();
    table
}

/// Every object of a store with its bytes.
pub async fn all_objects(store: &Arc<dyn ObjectStore>) -> Vec<(Path, bytes::Bytes)> {
    let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
    let mut out = Vec::new();
    for m in metas {
        let b = store.get(&m.location).await.unwrap().bytes().await.unwrap();
        out.push((m.location, b));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Copies every object of `from` into `to` (a clone of a machine's local catalog).
pub async fn copy_store(from: &Arc<dyn ObjectStore>, to: &Arc<dyn ObjectStore>) {
    for (p, b) in all_objects(from).await {
        to.put(&p, PutPayload::from_bytes(b)).await.unwrap();
    }
}

/// Objects whose path contains `part`.
pub async fn objects_named(store: &Arc<dyn ObjectStore>, part: &str) -> Vec<(Path, bytes::Bytes)> {
    all_objects(store)
        .await
        .into_iter()
        .filter(|(p, _)| p.as_ref().contains(part))
        .collect()
}
