//! tableshare's side of `cargo xtask bench` for the storage engine: the same workloads that
//! `xtask/bench/peers.py` runs with pyarrow, deltalake and pylance, on the same disk, so the two
//! can be compared as ratios in one run. It is a plain program (`harness = false`), not a timed
//! test: it measures and prints, and xtask turns the numbers into docs/performance.md.
//!
//! Usage: `cargo bench -p tableshare-storage --bench storage -- MODE WORKDIR ROWS APPENDS
//! APPEND_ROWS TRAVEL_VERSION MANY_VERSIONS` prints one JSON object of measurements (seconds,
//! counts). MODE `write` runs only the big write (xtask alternates it with the peers' big write
//! several times and takes medians: the disk is noisy); `rest` runs everything else.
//!
//! Workloads (all on local disk with fsync on, the engine's durable default):
//! - `write_big_s`: one insert of ROWS rows (id int64, name utf8, value float64), table creation
//!   included; data generation is not timed.
//! - `append_median_s`, `append_p95_s`, `append_p99_s`: APPENDS appends of APPEND_ROWS rows each, per commit.
//! - `open_latest_read_s`, `travel_read_s`: from a fresh catalog, open the append table at its
//!   latest version (and at TRAVEL_VERSION) and read it all to Arrow.
//! - `open_requests_{few,many}`, `open_s_{few,many}`: opening the latest version of a table with
//!   10 versions and with MANY_VERSIONS versions: store requests (counted by a wrapper store) and
//!   wall time, to show that opening stays flat as history grows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use object_store::local::LocalFileSystem;
use tableshare_core::TableSchema;
use tableshare_storage::Catalog;
use tableshare_testkit::FaultStore;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
    ]))
}

/// id = i, name = "user_" + (i % 100000), value = i * 0.5: the peers' data exactly.
fn make_batch(start: i64, rows: i64) -> RecordBatch {
    let ids: Vec<i64> = (start..start + rows).collect();
    let names = StringArray::from_iter_values(ids.iter().map(|i| format!("user_{}", i % 100_000)));
    let values = Float64Array::from_iter_values(ids.iter().map(|i| *i as f64 * 0.5));
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(names),
            Arc::new(values),
        ],
    )
    .unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let k = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

fn table_schema() -> TableSchema {
    TableSchema::unpartitioned(schema()).unwrap()
}

/// A catalog over a counting wrapper of the local folder (fsync on).
fn counted_catalog(dir: &std::path::Path) -> (Arc<FaultStore>, Catalog) {
    std::fs::create_dir_all(dir).unwrap();
    let local = LocalFileSystem::new_with_prefix(dir)
        .unwrap()
        .with_fsync(true);
    let store = FaultStore::new(Arc::new(local));
    (store.clone(), Catalog::open(store, ""))
}

async fn build_versions(dir: &std::path::Path, versions: u64) {
    let catalog = Catalog::open_local(dir).unwrap();
    let table = catalog.create_table("t", &table_schema()).await.unwrap();
    let one = make_batch(0, 1);
    for _ in 0..versions {
        table.insert(&one).await.unwrap();
    }
}

/// Opens the latest version of `t` in a fresh catalog: (requests, seconds).
async fn open_latest(dir: &std::path::Path) -> (u64, f64) {
    let (store, catalog) = counted_catalog(dir);
    let started = Instant::now();
    let table = catalog.open_table("t").await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(table.version() > 0);
    (store.counts().total(), secs)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [mode, work, rows, appends, append_rows, travel, many] = args.as_slice() else {
        eprintln!(
            "usage: storage write|rest WORKDIR ROWS APPENDS APPEND_ROWS TRAVEL_VERSION MANY_VERSIONS"
        );
        std::process::exit(2);
    };
    let (write_phase, rest_phase) = match mode.as_str() {
        "write" => (true, false),
        "rest" => (false, true),
        _ => {
            eprintln!("mode must be `write` or `rest`, not `{mode}`");
            std::process::exit(2);
        }
    };
    let work = std::path::PathBuf::from(work);
    let rows: i64 = rows.parse().unwrap();
    let appends: i64 = appends.parse().unwrap();
    let append_rows: i64 = append_rows.parse().unwrap();
    let travel: u64 = travel.parse().unwrap();
    let many: u64 = many.parse().unwrap();
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let mut out = serde_json::Map::new();
    let mut put = |k: &str, v: f64| {
        out.insert(k.to_owned(), serde_json::json!(v));
    };

    // 1. One big write (xtask alternates this phase with the peers' and takes medians, since
    //    the disk is noisy).
    if write_phase {
        let big = make_batch(0, rows);
        let big_dir = work.join("big");
        std::fs::create_dir_all(&big_dir).unwrap();
        let started = Instant::now();
        let catalog = Catalog::open_local(&big_dir).unwrap();
        let table = catalog.create_table("big", &table_schema()).await.unwrap();
        table.insert(&big).await.unwrap();
        put("write_big_s", started.elapsed().as_secs_f64());
    }
    if !rest_phase {
        let _ = std::fs::remove_dir_all(&work);
        println!("{}", serde_json::Value::Object(out));
        return;
    }

    // 2. Durable appends.
    let append_dir = work.join("appends");
    std::fs::create_dir_all(&append_dir).unwrap();
    let catalog = Catalog::open_local(&append_dir).unwrap();
    let table = catalog.create_table("t", &table_schema()).await.unwrap();
    table.insert(&make_batch(0, append_rows)).await.unwrap();
    let mut latencies = Vec::new();
    for i in 1..appends {
        let chunk = make_batch(i * append_rows, append_rows);
        let started = Instant::now();
        table.insert(&chunk).await.unwrap();
        latencies.push(started.elapsed().as_secs_f64());
    }
    latencies.sort_by(f64::total_cmp);
    put("append_median_s", percentile(&latencies, 50.0));
    put("append_p95_s", percentile(&latencies, 95.0));
    put("append_p99_s", percentile(&latencies, 99.0));
    eprintln!("appends done");

    // 3. Open latest and time travel, read to Arrow, from a fresh catalog.
    let started = Instant::now();
    let catalog = Catalog::open_local(&append_dir).unwrap();
    let latest = catalog.open_table("t").await.unwrap().scan().await.unwrap();
    put("open_latest_read_s", started.elapsed().as_secs_f64());
    put("open_latest_rows", latest.batch.num_rows() as f64);
    let started = Instant::now();
    let catalog = Catalog::open_local(&append_dir).unwrap();
    let old = catalog
        .open_table(&format!("t:{travel}"))
        .await
        .unwrap()
        .scan()
        .await
        .unwrap();
    put("travel_read_s", started.elapsed().as_secs_f64());
    put("travel_rows", old.batch.num_rows() as f64);
    eprintln!("reads done");

    // 4. Opening latest with few and with many versions.
    let few_dir = work.join("few");
    build_versions(&few_dir, 10).await;
    let many_dir = work.join("many");
    build_versions(&many_dir, many).await;
    let (few_requests, few_secs) = open_latest(&few_dir).await;
    let (many_requests, many_secs) = open_latest(&many_dir).await;
    put("open_requests_few", few_requests as f64);
    put("open_requests_many", many_requests as f64);
    put("open_s_few", few_secs);
    put("open_s_many", many_secs);
    eprintln!("many versions done");

    let _ = std::fs::remove_dir_all(&work);
    println!("{}", serde_json::Value::Object(out));
}
