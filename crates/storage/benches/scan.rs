//! tableshare's scan side of `cargo xtask bench` (issue 7, "a table model that scales"): a
//! streaming scan of a big stored table, its time and its **peak memory**, compared with
//! pyarrow and DuckDB reading the same Parquet files (`xtask/bench/scan_peers.py`). It is a
//! plain program (`harness = false`), not a timed test. Each scan runs in a process of its own,
//! so that the process's peak resident memory is the scan's.
//!
//! Usage (`cargo bench -p tableshare-storage --bench scan -- ARGS`):
//!
//! - `data HOME ROWS`: makes sure the catalog `HOME/catalog` (the CLI's layout, so that
//!   `tableshare --home HOME table show big` reads it) holds table `big` with ROWS rows of the
//!   storage benchmark's data (id int64, name utf8, value float64), written by one insert of a
//!   new table (fsync on, as every tableshare write); a table already there with ROWS rows is
//!   reused. Prints `{"rows": N, "files": [...]}`: the table's data files, plain Parquet, for the
//!   peers to read.
//! - `scan HOME COLUMNS`: opens the catalog and the table and consumes
//!   `Table::scan_stream` batch by batch, without concatenating (COLUMNS is `value` for one
//!   column or `all`). Prints `scan_s` (catalog open to last batch), `rows`, and
//!   `peak_rss_bytes`, the process's high-water resident memory (`VmHWM` of
//!   `/proc/self/status`, the same figure as `getrusage`'s `ru_maxrss`) at the end, and
//!   `baseline_rss_bytes`, the same before the scan started.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::StreamExt;
use serde_json::{Map, Value, json};
use tableshare_core::TableSchema;
use tableshare_storage::{Catalog, ScanOptions};
use tableshare_testkit::{bench_batch, bench_schema};

const USAGE: &str = "usage: scan data HOME ROWS
       scan scan HOME value|all";

/// The table's name in the catalog.
const TABLE: &str = "big";

fn schema() -> SchemaRef {
    bench_schema()
}

/// The benchmark rows `0..rows` (see `tableshare_testkit::bench_batch`).
fn make_batch(rows: i64) -> RecordBatch {
    bench_batch(0, rows).unwrap()
}

/// The process's peak resident memory so far, in bytes (`VmHWM`).
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("no VmHWM in /proc/self/status");
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

/// Every Parquet file under `dir`, sorted.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` adds `--bench`; everything else is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = match args.as_slice() {
        ["data", home, rows] => {
            let rows = rows
                .parse()
                .unwrap_or_else(|_| panic!("not a number: `{rows}`\n{USAGE}"));
            data(Path::new(home), rows).await
        }
        ["scan", home, columns @ ("value" | "all")] => scan(Path::new(home), columns).await,
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    println!("{}", Value::Object(out));
}

/// Writes (or reuses) the big table; lists its data files.
async fn data(home: &Path, rows: u64) -> Map<String, Value> {
    let dir = home.join("catalog");
    let reuse = match Catalog::open_local(&dir) {
        Ok(catalog) => match catalog.open_table(TABLE).await {
            Ok(table) => table.row_count() == rows && table.version() == 1,
            Err(_) => false,
        },
        Err(_) => false,
    };
    if !reuse {
        let _ = std::fs::remove_dir_all(home);
        std::fs::create_dir_all(&dir).unwrap();
        let batch = make_batch(rows as i64);
        let catalog = Catalog::open_local(&dir).unwrap();
        let schema = TableSchema::unpartitioned(schema()).unwrap();
        let table = catalog.create_table(TABLE, &schema).await.unwrap();
        table.insert(&batch).await.unwrap();
        eprintln!("wrote table `{TABLE}` of {rows} rows");
    }
    // One insert into a new table: every Parquet file of the catalog is live in its latest
    // version.
    let files: Vec<String> = parquet_files(&dir)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert!(!files.is_empty(), "the table has no Parquet files");
    let mut out = Map::new();
    out.insert("rows".into(), json!(rows));
    out.insert("files".into(), json!(files));
    out
}

/// One streaming scan, batch by batch.
async fn scan(home: &Path, columns: &str) -> Map<String, Value> {
    let baseline = peak_rss_bytes();
    let started = Instant::now();
    let catalog = Catalog::open_local(home.join("catalog")).unwrap();
    let table = catalog.open_table(TABLE).await.unwrap();
    let mut options = ScanOptions::default();
    if columns == "value" {
        options = options.columns(["value"]);
    }
    let mut stream = table.scan_stream(options).unwrap();
    let mut rows = 0;
    let mut batches = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch.unwrap();
        rows += batch.batch.num_rows();
        batches += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    let mut out = Map::new();
    out.insert("scan_s".into(), json!(secs));
    out.insert("rows".into(), json!(rows));
    out.insert("batches".into(), json!(batches));
    out.insert("peak_rss_bytes".into(), json!(peak_rss_bytes()));
    out.insert("baseline_rss_bytes".into(), json!(baseline));
    out
}
