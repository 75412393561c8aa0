//! The table data service's side of `cargo xtask bench --only tds` (issue 10): a plain program
//! (`harness = false`), not a timed test. Every mode prints one JSON object on its last line;
//! `xtask/src/bench/tds.rs` runs the modes in rounds, alternating with the peers
//! (`xtask/bench/tds_peers.py`), and renders the report.
//!
//! Usage (`cargo bench -p tableshare-tds --bench tds -- ARGS`):
//!
//! - `data DIR ROWS LOCATIONS SMALL`: makes (or reuses) two hive-layout tables of Parquet files
//!   under DIR, written with the parquet crate's defaults: `scan/loc=N/data.parquet`, ROWS rows
//!   of the benchmark data (`tableshare_testkit::bench_batch`: id, name, value) over LOCATIONS
//!   locations; and `many/loc=N/data.parquet`, SMALL locations of 100 rows each. Prints the scan
//!   table's files.
//! - `service DIR`: a full scan of `scan` through a [`TableDataService`] over the
//!   [`ParquetBackend`] on a `LocalFileSystem`, default options: `make_table` (static) to a
//!   snapshot holding every row. Prints `s` and `rows`. `service DIR PAGE_ROWS` does the same
//!   with pages of PAGE_ROWS rows instead of the default 65,536.
//! - `direct DIR stream|hold`: the same files read directly with the parquet crate
//!   (`ParquetRecordBatchReaderBuilder` on each file, every batch decoded, one thread per core
//!   taking files in turn); `stream` drops each batch once counted, `hold` keeps every batch
//!   to the end, as the service's table holds its rows. Prints `s` and `rows`.
//! - `make DIR`: `make_table` (static) of `many` through a counting store wrapper
//!   (`tableshare_testkit::FaultStore`, no fault armed). Prints `s`, `rows` and the store
//!   requests by kind.
//! - `refresh DIR POLL_MS LANDINGS`: a refreshing table over a folder of 10 small locations,
//!   the backend polling every POLL_MS; LANDINGS times a new location's file is written beside
//!   the table and renamed into a new partition folder (atomic, as a writer that lands files
//!   does), and the time from the rename to the step holding its rows is taken. Landings are
//!   spread over the poll period (a landing waits a varying fraction of the period after the
//!   previous tick). Prints the latencies in seconds.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark program reports on stdout and stops at the first failure"
)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::json;
use tableshare_core::TableEvent;
use tableshare_tds::{ParquetBackend, ServiceOptions, TableDataService};
use tableshare_testkit::{FaultStore, bench_batch};

const USAGE: &str = "usage: tds data DIR ROWS LOCATIONS SMALL
       tds service DIR [PAGE_ROWS] | direct DIR stream|hold | make DIR
       tds refresh DIR POLL_MS LANDINGS";

/// Rows of each location of the `many` table.
const SMALL_ROWS: i64 = 100;

/// Locations the refreshing table starts with, and their rows.
const FRESH_START: usize = 10;
const FRESH_ROWS: i64 = 1_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--bench")
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = match args.as_slice() {
        ["data", dir, rows, locations, small] => data(
            Path::new(dir),
            rows.parse().unwrap(),
            locations.parse().unwrap(),
            small.parse().unwrap(),
        ),
        ["service", dir] => runtime.block_on(service(Path::new(dir), ServiceOptions::default())),
        ["service", dir, page] => runtime.block_on(service(
            Path::new(dir),
            ServiceOptions::default().with_page_size(page.parse().unwrap()),
        )),
        ["direct", dir, how @ ("stream" | "hold")] => direct(Path::new(dir), *how == "hold"),
        ["make", dir] => runtime.block_on(make(Path::new(dir))),
        ["refresh", dir, poll, landings] => runtime.block_on(refresh(
            Path::new(dir),
            Duration::from_millis(poll.parse().unwrap()),
            landings.parse().unwrap(),
        )),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    println!("{result}");
}

/// Writes `rows` rows starting at `start` as one Parquet file at `path` (through a temporary
/// file beside `staging`, renamed into place, so a reader never sees a partial file).
fn write_file(path: &Path, staging: &Path, start: i64, rows: i64) {
    std::fs::create_dir_all(staging).unwrap();
    let temporary = staging.join(format!("{start}.parquet"));
    let batch = bench_batch(start, rows).unwrap();
    let mut writer = ArrowWriter::try_new(File::create(&temporary).unwrap(), batch.schema(), None)
        .expect("a Parquet writer");
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

/// Writes `locations` locations of `total` rows (split evenly) under `table`, unless a marker
/// says this exact table is already there.
fn hive_table(table: &Path, staging: &Path, total: i64, locations: i64) -> Vec<PathBuf> {
    let marker = table.join(format!("_complete_{total}_{locations}"));
    let files: Vec<PathBuf> = (0..locations)
        .map(|n| table.join(format!("loc={n}/data.parquet")))
        .collect();
    if marker.exists() {
        return files;
    }
    if table.exists() {
        std::fs::remove_dir_all(table).unwrap();
    }
    let per = total / locations;
    for (n, file) in files.iter().enumerate() {
        let start = n as i64 * per;
        let rows = if n as i64 == locations - 1 {
            total - start
        } else {
            per
        };
        write_file(file, staging, start, rows);
    }
    File::create(&marker).unwrap();
    files
}

fn data(dir: &Path, rows: i64, locations: i64, small: i64) -> serde_json::Value {
    let staging = dir.join("staging");
    let files = hive_table(&dir.join("scan"), &staging, rows, locations);
    hive_table(&dir.join("many"), &staging, small * SMALL_ROWS, small);
    json!({ "rows": rows, "locations": locations, "small_locations": small,
            "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>() })
}

fn local(dir: &Path) -> Arc<dyn ObjectStore> {
    Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap())
}

async fn service(dir: &Path, options: ServiceOptions) -> serde_json::Value {
    let started = Instant::now();
    let backend = ParquetBackend::new(local(dir), object_store::path::Path::from(""));
    let service = TableDataService::with_options(Arc::new(backend), options);
    let table = service.make_table("scan".to_string(), false).await.unwrap();
    let rows = table.live().snapshot().unwrap().num_rows();
    json!({ "s": started.elapsed().as_secs_f64(), "rows": rows })
}

fn direct(dir: &Path, hold: bool) -> serde_json::Value {
    let started = Instant::now();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("scan"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .map(|folder| folder.join("data.parquet"))
        .collect();
    files.sort();
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts: Vec<(usize, Vec<_>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let (mut rows, mut held) = (0, Vec::new());
                    while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let reader =
                            ParquetRecordBatchReaderBuilder::try_new(File::open(file).unwrap())
                                .unwrap()
                                .build()
                                .unwrap();
                        for batch in reader {
                            let batch = batch.unwrap();
                            rows += batch.num_rows();
                            if hold {
                                held.push(batch);
                            }
                        }
                    }
                    (rows, held)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    // Timed while the held batches are still held (the service's table is, too).
    let elapsed = started.elapsed().as_secs_f64();
    let rows: usize = parts.iter().map(|(rows, _)| rows).sum();
    json!({ "s": elapsed, "rows": rows, "threads": threads })
}

async fn make(dir: &Path) -> serde_json::Value {
    let store = FaultStore::new(local(dir));
    let started = Instant::now();
    let backend = ParquetBackend::new(store.clone(), object_store::path::Path::from(""));
    let service = TableDataService::with_options(Arc::new(backend), ServiceOptions::default());
    let table = service.make_table("many".to_string(), false).await.unwrap();
    let rows = table.live().snapshot().unwrap().num_rows();
    let elapsed = started.elapsed().as_secs_f64();
    let counts = store.counts();
    json!({ "s": elapsed, "rows": rows, "requests": counts.total(), "get": counts.get,
            "head": counts.head, "list": counts.list })
}

async fn refresh(dir: &Path, poll: Duration, landings: usize) -> serde_json::Value {
    let home = dir.join(format!("fresh-{}", std::process::id()));
    let table = home.join("fresh");
    let staging = home.join("staging");
    for n in 0..FRESH_START {
        write_file(
            &table.join(format!("loc={n}/data.parquet")),
            &staging,
            n as i64 * FRESH_ROWS,
            FRESH_ROWS,
        );
    }
    let backend =
        ParquetBackend::with_poll_interval(local(&home), object_store::path::Path::from(""), poll);
    let service = TableDataService::with_options(Arc::new(backend), ServiceOptions::default());
    let made = service.make_table("fresh".to_string(), true).await.unwrap();
    let live = made.live();
    let (snapshot, mut updates) = live.subscribe().unwrap();
    let mut rows = snapshot.num_rows();
    assert_eq!(rows, FRESH_START * FRESH_ROWS as usize);
    let mut latencies = Vec::with_capacity(landings);
    for landing in 0..landings {
        // Land at a varying phase of the poll period (golden-ratio steps cover it evenly).
        let phase = (landing as f64 * 0.618_034).fract();
        tokio::time::sleep(poll.mul_f64(phase)).await;
        let n = FRESH_START + landing;
        let staged = staging.join("next.parquet");
        let batch = bench_batch(n as i64 * FRESH_ROWS, FRESH_ROWS).unwrap();
        let mut writer =
            ArrowWriter::try_new(File::create(&staged).unwrap(), batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let folder = table.join(format!("loc={n}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::rename(&staged, folder.join("data.parquet")).unwrap();
        let landed = Instant::now();
        while rows < (n + 1) * FRESH_ROWS as usize {
            match updates.next().await {
                Some(Ok(TableEvent::Update(update))) => rows += update.added().batch().num_rows(),
                Some(Ok(_)) => {}
                other => panic!("the refreshing table stopped: {other:?}"),
            }
        }
        latencies.push(landed.elapsed().as_secs_f64());
    }
    drop(updates);
    drop(made);
    std::fs::remove_dir_all(&home).unwrap();
    json!({ "poll_s": poll.as_secs_f64(), "latency_s": latencies })
}
