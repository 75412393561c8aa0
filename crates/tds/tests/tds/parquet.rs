//! The Parquet backend against data that pyarrow writes (hive layout, every column type of seed
//! 002), on local disk and on the S3 server: the seed scenario static and refreshing (new
//! partitions and new files picked up by polling), the conformance suite, ranged reads of only
//! the row groups needed (proved by corrupting all the others), and store faults failing a
//! table with a named error that a retry recovers from.
//!
//! pyarrow comes from `TABLESHARE_TEST_PYTHON` (a python with pyarrow; `cargo xtask ci` installs
//! one and sets `TABLESHARE_TEST_REQUIRE_PYARROW=1`, so CI cannot quietly do without). Plain
//! `cargo test` stays hermetic: without it the same files are written by the parquet crate, and
//! one line says so.

use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use tableshare_tds::conformance::{Capabilities, grower, run_all};
use tableshare_tds::{ParquetBackend, ServiceOptions, TableDataService};
use tableshare_testkit::{Fault, FaultStore, Op};

use crate::common::{expected_rows, location_data, next_step, rows};

/// A python with pyarrow, or `None` (said once) when not configured.
fn pyarrow() -> Option<PathBuf> {
    static SAID: Once = Once::new();
    match std::env::var("TABLESHARE_TEST_PYTHON") {
        Ok(python) if !python.is_empty() => Some(PathBuf::from(python)),
        _ => {
            assert!(
                std::env::var("TABLESHARE_TEST_REQUIRE_PYARROW").as_deref() != Ok("1"),
                "TABLESHARE_TEST_REQUIRE_PYARROW=1 but TABLESHARE_TEST_PYTHON is not set"
            );
            SAID.call_once(|| {
                let _unseen = writeln!(
                    std::io::stderr(),
                    "pyarrow not configured (TABLESHARE_TEST_PYTHON unset): the hive datasets \
                     are written by the parquet crate; `cargo xtask ci` writes them with pyarrow"
                );
            });
            None
        }
    }
}

/// Writes batch `batch` of the seed rows for `locations` (`TICKER:EXCHANGE`) under `dir`: with
/// pyarrow when configured, else the same layout with the parquet crate.
fn write_hive(dir: &FsPath, batch: u32, locations: &[&str]) {
    if let Some(python) = pyarrow() {
        let script = FsPath::new(env!("CARGO_MANIFEST_DIR")).join("tests/tds/hive.py");
        let status = std::process::Command::new(python)
            .arg(script)
            .arg(dir)
            .arg(batch.to_string())
            .args(locations)
            .status()
            .unwrap();
        assert!(status.success(), "hive.py failed: {status}");
        return;
    }
    for location in locations {
        let (ticker, exchange) = location.split_once(':').unwrap();
        let folder = dir.join(format!("Ticker={ticker}/Exchange={exchange}"));
        std::fs::create_dir_all(&folder).unwrap();
        let file = std::fs::File::create(folder.join(format!("part-{batch}-0.parquet"))).unwrap();
        let data = location_data();
        let mut writer = ArrowWriter::try_new(file, data.schema(), None).unwrap();
        writer.write(&data).unwrap();
        writer.close().unwrap();
    }
}

/// Copies the files under `dir` that `store` lacks into it (how a dataset written locally by
/// pyarrow lands on S3).
async fn upload(dir: &FsPath, store: &dyn ObjectStore) {
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(dir)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            let key = Path::from(relative);
            if store.head(&key).await.is_err() {
                let bytes = std::fs::read(&path).unwrap();
                store.put(&key, PutPayload::from(bytes)).await.unwrap();
            }
        }
    }
}

/// The S3 store for these tests (a fresh prefix of the test bucket), or `None` without S3.
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
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id("tableshare-test")
        .with_secret_access_key("tableshare-test")
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap();
    let prefix = format!("tds/{}", std::process::id() as u64 * 1_000_000 + unique());
    Some(Arc::new(object_store::prefix::PrefixStore::new(s3, prefix)))
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// Where the dataset lives: a local folder, optionally mirrored to S3.
struct Site {
    dir: tempfile::TempDir,
    s3: Option<Arc<dyn ObjectStore>>,
}

impl Site {
    fn local() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            s3: None,
        }
    }

    fn s3() -> Option<Self> {
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
            s3: Some(s3_store()?),
        })
    }

    fn store(&self) -> Arc<dyn ObjectStore> {
        match &self.s3 {
            Some(s3) => s3.clone(),
            None => Arc::new(LocalFileSystem::new_with_prefix(self.dir.path()).unwrap()),
        }
    }

    async fn write(&self, batch: u32, locations: &[&str]) {
        write_hive(self.dir.path(), batch, locations);
        if let Some(s3) = &self.s3 {
            upload(self.dir.path(), s3.as_ref()).await;
        }
    }

    fn backend(&self) -> ParquetBackend {
        ParquetBackend::with_poll_interval(self.store(), Path::from(""), Duration::from_millis(50))
    }
}

async fn until_rows(table: &tableshare_core::LiveTable, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while table.snapshot().unwrap().num_rows() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "table stuck below {count} rows"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Seed 002's scenario over a pyarrow hive dataset: 6 rows, then a new partition and new files
/// in two existing ones, 12 rows, exact at each step, whole and partitioned.
async fn seed_scenario(site: Site) {
    site.write(0, &["GOOG:NYSE", "MSFT:BZX", "MSFT:BZY"]).await;
    let service = TableDataService::new(site.backend());
    let first = expected_rows(&[("GOOG", "NYSE", 1), ("MSFT", "BZX", 1), ("MSFT", "BZY", 1)]);
    let fixed = service.make_table(String::new(), false).await.unwrap();
    assert_eq!(rows(&fixed.live()), first);
    let table = service.make_table(String::new(), true).await.unwrap();
    let parts = service
        .make_partitioned_table(String::new(), true)
        .await
        .unwrap();
    let live = table.live();
    assert_eq!(live.schema().partition_columns(), ["Ticker", "Exchange"]);
    assert_eq!(rows(&live), first);

    site.write(1, &["GOOG:BZX"]).await;
    next_step(&live, 1).await;
    let second = expected_rows(&[
        ("GOOG", "NYSE", 1),
        ("MSFT", "BZX", 1),
        ("MSFT", "BZY", 1),
        ("GOOG", "BZX", 1),
    ]);
    assert_eq!(rows(&live), second);

    site.write(1, &["MSFT:BZX", "MSFT:BZY"]).await;
    until_rows(&live, 12).await;
    let third = expected_rows(&[
        ("GOOG", "NYSE", 1),
        ("MSFT", "BZX", 2),
        ("MSFT", "BZY", 2),
        ("GOOG", "BZX", 1),
    ]);
    assert_eq!(rows(&live), third);
    assert_eq!(rows(&fixed.live()), first, "the static table did not move");

    until_rows(&parts.merged(), 12).await;
    assert_eq!(rows(&parts.merged()), third);
    let keys: Vec<Vec<String>> = parts
        .constituents()
        .iter()
        .map(|c| c.key().to_vec())
        .collect();
    assert_eq!(
        keys,
        [
            ["GOOG", "NYSE"],
            ["MSFT", "BZX"],
            ["MSFT", "BZY"],
            ["GOOG", "BZX"]
        ]
    );
    let bzx = parts.constituent(&["MSFT", "BZX"]).unwrap();
    assert_eq!(bzx.location(), "Ticker=MSFT/Exchange=BZX");
    assert_eq!(rows(bzx.table()), expected_rows(&[("MSFT", "BZX", 2)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_scenario_on_local_disk() {
    seed_scenario(Site::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_scenario_on_s3() {
    if let Some(site) = Site::s3() {
        seed_scenario(site).await;
    }
}

async fn conformance(site: Site) {
    site.write(0, &["GOOG:NYSE", "MSFT:BZX"]).await;
    let site = Arc::new(site);
    let grow = {
        let site = site.clone();
        grower(move || {
            let site = site.clone();
            async move {
                site.write(unique() as u32 + 1, &["MSFT:BZX"]).await;
                Ok(())
            }
        })
    };
    let capabilities = Capabilities::new(String::new())
        .with_unknown_table("no/such/folder".to_string())
        .with_grow(grow);
    run_all(Arc::new(site.backend()), capabilities)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parquet_backend_conforms_on_local_disk() {
    conformance(Site::local()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parquet_backend_conforms_on_s3() {
    if let Some(site) = Site::s3() {
        conformance(site).await;
    }
}

/// A file of ten row groups of 1,000 rows (`n`, `m = 10 n`) at `folder/data.parquet` under
/// `dir`; returns its bytes.
fn row_group_file(dir: &FsPath) -> Vec<u8> {
    use arrow_array::{Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::file::properties::WriterProperties;
    let schema = Arc::new(Schema::new(vec![
        Field::new("n", DataType::Int64, false),
        Field::new("m", DataType::Int64, false),
    ]));
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(1000))
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, schema.clone(), Some(properties)).unwrap();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..10_000)),
            Arc::new(Int64Array::from_iter_values((0..10_000).map(|n| n * 10))),
        ],
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    std::fs::write(dir.join("data.parquet"), &bytes).unwrap();
    bytes
}

/// Guards the ranged reads: with every column chunk but row group 5's `n` overwritten by
/// garbage (the footer intact), rows of that row group and column still read exactly, while
/// asking for another row group fails: only the bytes needed are read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_row_groups_and_column_needed_are_read() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use tableshare_tds::TableDataServiceBackend;
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = row_group_file(dir.path());
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes.clone())).unwrap();
    let metadata = reader.metadata();
    assert_eq!(metadata.num_row_groups(), 10);
    for (group, row_group) in metadata.row_groups().iter().enumerate() {
        for (column, chunk) in row_group.columns().iter().enumerate() {
            if (group, column) != (5, 0) {
                let (start, len) = chunk.byte_range();
                bytes[start as usize..(start + len) as usize].fill(0xA5);
            }
        }
    }
    std::fs::write(dir.path().join("data.parquet"), &bytes).unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let backend = ParquetBackend::new(store, Path::from(""));
    let table = String::new();
    assert_eq!(
        backend
            .table_location_size(&table, &String::new())
            .await
            .unwrap(),
        10_000
    );
    let values = backend
        .column_values(&table, &String::new(), "n", 5_100, 300, 300)
        .await
        .unwrap();
    assert_eq!(
        values.as_ref(),
        &arrow_array::Int64Array::from_iter_values(5_100..5_400)
    );
    assert!(
        backend
            .column_values(&table, &String::new(), "n", 6_100, 10, 10)
            .await
            .is_err()
    );
    assert!(
        backend
            .column_values(&table, &String::new(), "m", 5_100, 10, 10)
            .await
            .is_err()
    );
}

/// Guards against a store outage hanging or corrupting a table: a failed GET while a column is
/// read fails `make_table` with an error naming backend, table, location and column; once the
/// store is back, the same service makes the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_fault_fails_the_table_by_name_and_a_retry_recovers() {
    let site = Site::local();
    site.write(0, &["GOOG:NYSE"]).await;
    let faults = FaultStore::new(site.store());
    let backend = ParquetBackend::new(faults.clone(), Path::from(""));
    let service = TableDataService::with_options(
        Arc::new(backend),
        ServiceOptions::default().with_timeout(Duration::from_secs(5)),
    );
    // Load the footers, then fail the next data read.
    let columns = ["Double"];
    service
        .make_table_columns(String::new(), false, &["Boolean"])
        .await
        .unwrap();
    faults.fail_next(Op::Get, Some("Exchange=NYSE"), Fault::Error);
    let error = service
        .make_table_columns(String::new(), false, &columns)
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(r#"table "", location Ticker=GOOG/Exchange=NYSE, column Double"#),
        "{message}"
    );
    assert!(message.contains("injected fault"), "{message}");
    let table = service
        .make_table_columns(String::new(), false, &columns)
        .await
        .unwrap();
    assert_eq!(rows(&table.live()).num_rows(), 2);
}
