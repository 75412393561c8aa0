//! Helpers shared by the storage integration tests: schemas, batches, and the four stores every
//! behavioural case runs on: memory, local disk, S3 and Azure blobs. (Request counting and fault
//! injection: `tableshare_testkit`.)
//!
//! S3 is the server `cargo xtask ci` starts (moto), named by environment variables:
//!
//! | variable | meaning |
//! | --- | --- |
//! | `TABLESHARE_TEST_S3_ENDPOINT` | e.g. `http://127.0.0.1:4566`; unset: S3 cases are not run |
//! | `TABLESHARE_TEST_S3_BUCKET` | an existing bucket (default `tableshare-test`) |
//! | `TABLESHARE_TEST_REQUIRE_S3` | `1`: a missing endpoint fails the test instead |
//!
//! Azure is the Azurite server `cargo xtask ci` starts, reached in `object_store`'s emulator mode
//! (the well-known development account):
//!
//! | variable | meaning |
//! | --- | --- |
//! | `AZURITE_BLOB_STORAGE_URL` | e.g. `http://127.0.0.1:10000` (read by `object_store` itself) |
//! | `TABLESHARE_TEST_AZURE_CONTAINER` | an existing container; unset: Azure cases are not run |
//! | `TABLESHARE_TEST_REQUIRE_AZURE` | `1`: a missing container fails the test instead |
//!
//! Plain `cargo test` stays hermetic: without an endpoint each test binary prints one line saying
//! S3 was not configured and runs its cases on memory and local disk only. Every S3 store is a
//! fresh, unique prefix of the shared bucket, so tests never see each other's objects.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different subset of these helpers"
)]

use std::io::Write;
use std::sync::{Arc, Once};

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::prefix::PrefixStore;
use object_store::{local::LocalFileSystem, memory::InMemory};
use tableshare_core::{Snapshot, TableSchema};
use tableshare_storage::{Catalog, CatalogOptions};

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

/// The S3 endpoint to test against, or `None` when S3 is not configured (said once per test
/// binary). Panics when `TABLESHARE_TEST_REQUIRE_S3=1` and no endpoint is set, so CI cannot
/// silently skip S3.
pub fn s3_endpoint() -> Option<String> {
    static SAID: Once = Once::new();
    match std::env::var("TABLESHARE_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ => {
            assert!(
                std::env::var("TABLESHARE_TEST_REQUIRE_S3").as_deref() != Ok("1"),
                "TABLESHARE_TEST_REQUIRE_S3=1 but TABLESHARE_TEST_S3_ENDPOINT is not set: \
                 run the tests through `cargo xtask ci`, which starts an S3 server"
            );
            SAID.call_once(|| {
                // Straight to the process's stderr: libtest captures `eprintln!` inside tests,
                // and this line must be seen by whoever runs plain `cargo test`.
                let _unseen = writeln!(
                    std::io::stderr(),
                    "S3 not configured (TABLESHARE_TEST_S3_ENDPOINT unset): S3 cases not run; \
                     `cargo xtask ci` runs them"
                );
            });
            None
        }
    }
}

/// A builder for the test bucket, or `None` when S3 is not configured. Fixed test credentials;
/// path-style requests over plain HTTP, as a local server needs.
pub fn s3_builder() -> Option<AmazonS3Builder> {
    let endpoint = s3_endpoint()?;
    let bucket =
        std::env::var("TABLESHARE_TEST_S3_BUCKET").unwrap_or_else(|_| "tableshare-test".into());
    Some(
        AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("tableshare-test")
            .with_secret_access_key("tableshare-test")
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false),
    )
}

/// The S3 store at `prefix` of the test bucket, or `None` when S3 is not configured.
pub fn s3_store_at(prefix: &str) -> Option<Arc<dyn ObjectStore>> {
    let s3 = s3_builder()?.build().unwrap();
    Some(Arc::new(PrefixStore::new(s3, prefix)))
}

/// A fresh S3 store: a unique prefix of the test bucket (`None` when S3 is not configured).
pub fn s3_store() -> Option<Arc<dyn ObjectStore>> {
    s3_store_at(&format!("t/{}", uuid::Uuid::new_v4()))
}

/// The Azurite container to test against, or `None` when Azure is not configured (said once per
/// test binary). Panics when `TABLESHARE_TEST_REQUIRE_AZURE=1` and none is set.
pub fn azure_container() -> Option<String> {
    static SAID: Once = Once::new();
    match std::env::var("TABLESHARE_TEST_AZURE_CONTAINER") {
        Ok(container) if !container.is_empty() => Some(container),
        _ => {
            assert!(
                std::env::var("TABLESHARE_TEST_REQUIRE_AZURE").as_deref() != Ok("1"),
                "TABLESHARE_TEST_REQUIRE_AZURE=1 but TABLESHARE_TEST_AZURE_CONTAINER is not set: \
                 run the tests through `cargo xtask ci`, which starts Azurite"
            );
            SAID.call_once(|| {
                let _unseen = writeln!(
                    std::io::stderr(),
                    "Azure not configured (TABLESHARE_TEST_AZURE_CONTAINER unset): Azure cases \
                     not run; `cargo xtask ci` runs them"
                );
            });
            None
        }
    }
}

/// The Azure store at `prefix` of the test container, or `None` when Azure is not configured.
pub fn azure_store_at(prefix: &str) -> Option<Arc<dyn ObjectStore>> {
    let container = azure_container()?;
    let azure = MicrosoftAzureBuilder::new()
        .with_use_emulator(true)
        .with_container_name(container)
        .build()
        .unwrap();
    Some(Arc::new(PrefixStore::new(azure, prefix)))
}

/// A fresh Azure store: a unique prefix of the test container (`None` when not configured).
pub fn azure_store() -> Option<Arc<dyn ObjectStore>> {
    azure_store_at(&format!("t/{}", uuid::Uuid::new_v4()))
}

/// The kinds of store the suites run on, in order: memory, local disk, S3, Azure.
pub const STORE_KINDS: [&str; 4] = ["memory", "local", "s3", "azure"];

/// A fresh, empty store of `kind` (one of [`STORE_KINDS`]) with the temporary directory that must
/// outlive a local one; `None` for S3 when it is not configured.
pub fn fresh_store(kind: &str) -> Option<(Arc<dyn ObjectStore>, Option<tempfile::TempDir>)> {
    match kind {
        "memory" => Some((Arc::new(InMemory::new()), None)),
        "local" => {
            let dir = tempfile::tempdir().unwrap();
            let local = LocalFileSystem::new_with_prefix(dir.path())
                .unwrap()
                .with_fsync(true);
            Some((Arc::new(local), Some(dir)))
        }
        "s3" => s3_store().map(|s| (s, None)),
        "azure" => azure_store().map(|s| (s, None)),
        other => panic!("unknown store kind {other}"),
    }
}

/// A fresh, empty store of each kind the suites run on (memory, local disk, S3 and Azure when
/// configured), with the temporary directory that must outlive the local one.
pub fn stores() -> Vec<(
    &'static str,
    Arc<dyn ObjectStore>,
    Option<tempfile::TempDir>,
)> {
    STORE_KINDS
        .into_iter()
        .filter_map(|kind| fresh_store(kind).map(|(store, dir)| (kind, store, dir)))
        .collect()
}

/// A catalog on each store the behavioural suite runs on: memory, local disk, S3 and Azure.
pub fn catalogs() -> Vec<(&'static str, Catalog, Option<tempfile::TempDir>)> {
    catalogs_with(&CatalogOptions::default())
}

/// [`catalogs`] with options.
pub fn catalogs_with(
    options: &CatalogOptions,
) -> Vec<(&'static str, Catalog, Option<tempfile::TempDir>)> {
    stores()
        .into_iter()
        .map(|(name, store, dir)| {
            (
                name,
                Catalog::open_with_options(store, "", options.clone()),
                dir,
            )
        })
        .collect()
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
