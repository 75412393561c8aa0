//! tableshare's side of `cargo xtask bench` for the storage engine: the same workloads that
//! `xtask/bench/peers.py` runs with pyarrow, deltalake and pylance, on the same disk and the same
//! data, so the two sides can be compared as ratios in one run. It is a plain program
//! (`harness = false`), not a timed test: it measures and prints, and xtask alternates it with
//! the peers round after round and turns the numbers into docs/performance.md.
//!
//! Usage (`cargo bench -p tableshare-storage --bench storage -- ARGS`):
//!
//! - `write WORKDIR ROWS`: one round of the big write. `write_big_s`: one insert of ROWS rows
//!   (id int64, name utf8, value float64) into a new table, table creation included.
//! - `appends WORKDIR APPENDS APPEND_ROWS TRAVEL`: one round of the appends and the reads. An
//!   empty table is created (not timed), then APPENDS inserts of APPEND_ROWS rows each are timed
//!   one by one on the open handle (`append_p50_s`, `append_p95_s`, `append_p99_s`). Background
//!   compaction is on (the default): a compaction that an insert starts merges while later
//!   appends run, and lands either inside the next append (which commits the finished merge
//!   with its rows) or as its own version; that contention is part of what is measured
//!   (`background_compactions` counts merges that landed before the last append, either way,
//!   `background_compactions_after` those that landed after it, `files_after_appends` the files
//!   the last append left; `appends_beside_compaction` counts the appends that committed a merge
//!   or during which a compaction committed, `appends_at_p99_beside_compaction` those at or
//!   above p99).
//!   Once the table is quiet, the latest version and the version committed by the TRAVEL-th
//!   append are opened from a fresh catalog and read whole to Arrow (`open_latest_read_s`,
//!   `travel_read_s`); then `Table::compact()` (`compact_s`), and the same two reads again
//!   (`*_compacted`). Last, the control: the same appends into another table with background
//!   compaction off (`control_append_p50_s`, `control_append_p95_s`, `control_append_p99_s`).
//! - `versions WORKDIR MANY ROUNDS`: tableshare only, ROUNDS rounds inside the program. Opening
//!   the latest version of a table with 10 versions and with MANY versions from a fresh catalog
//!   over a counting store (`open_requests_*`, `open_s_*`, alternating few and many), to show
//!   that opening stays flat as history grows; then garbage collection of the MANY-version table
//!   (`gc_*`), each round on a fresh copy of it.
//!
//! Every run prints one JSON object of measurements (seconds, counts) as its last stdout line; a
//! metric measured in several rounds is an array. Everything is on local disk with fsync on,
//! the engine's durable default; data generation is never timed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use object_store::local::LocalFileSystem;
use serde_json::{Map, Value, json};
use tableshare_core::TableSchema;
use tableshare_storage::{Catalog, CatalogOptions, GcOptions, Operation, Table};
use tableshare_testkit::{FaultStore, bench_batch, bench_schema, percentile};

const USAGE: &str = "usage: storage write WORKDIR ROWS
       storage appends WORKDIR APPENDS APPEND_ROWS TRAVEL
       storage versions WORKDIR MANY ROUNDS";

fn schema() -> SchemaRef {
    bench_schema()
}

fn table_schema() -> TableSchema {
    TableSchema::unpartitioned(schema()).unwrap()
}

/// The benchmark rows (see `tableshare_testkit::bench_batch`): the peers' data exactly.
fn make_batch(start: i64, rows: i64) -> RecordBatch {
    bench_batch(start, rows).unwrap()
}

fn number(arg: &str) -> u64 {
    arg.parse()
        .unwrap_or_else(|_| panic!("not a number: `{arg}`\n{USAGE}"))
}

/// The local folder as a durable store (fsync on, as `Catalog::open_local` makes it).
fn local_store(dir: &Path) -> Arc<LocalFileSystem> {
    std::fs::create_dir_all(dir).unwrap();
    Arc::new(
        LocalFileSystem::new_with_prefix(dir)
            .unwrap()
            .with_fsync(true),
    )
}

/// Writes every dirty page to disk, so the next measurement pays for its own IO only.
fn sync_disk() {
    let status = std::process::Command::new("sync").status().unwrap();
    assert!(status.success(), "sync failed");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` adds `--bench`; everything else is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (work, out) = match args.as_slice() {
        ["write", work, rows] => {
            let work = fresh_dir(work);
            let out = write_big(&work, number(rows)).await;
            (work, out)
        }
        ["appends", work, appends, append_rows, travel] => {
            let work = fresh_dir(work);
            let out =
                appends_and_reads(&work, number(appends), number(append_rows), number(travel))
                    .await;
            (work, out)
        }
        ["versions", work, many, rounds] => {
            let work = fresh_dir(work);
            let out = versions(&work, number(many), number(rounds)).await;
            (work, out)
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let _ = std::fs::remove_dir_all(&work);
    println!("{}", Value::Object(out));
}

fn fresh_dir(work: &str) -> std::path::PathBuf {
    let work = std::path::PathBuf::from(work);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    work
}

/// One round of the big write.
async fn write_big(work: &Path, rows: u64) -> Map<String, Value> {
    let big = make_batch(0, rows as i64);
    let dir = work.join("big");
    std::fs::create_dir_all(&dir).unwrap();
    sync_disk();
    let started = Instant::now();
    let catalog = Catalog::open_local(&dir).unwrap();
    let table = catalog.create_table("big", &table_schema()).await.unwrap();
    table.insert(&big).await.unwrap();
    let mut out = Map::new();
    out.insert("write_big_s".into(), json!(started.elapsed().as_secs_f64()));
    out
}

/// One round of the appends, then the reads before and after `Table::compact()`.
async fn appends_and_reads(
    work: &Path,
    appends: u64,
    append_rows: u64,
    travel: u64,
) -> Map<String, Value> {
    let mut out = Map::new();
    let dir = work.join("appends");
    let catalog = Catalog::open_local(&dir).unwrap();
    let table = catalog.create_table("t", &table_schema()).await.unwrap();
    let mut latencies = Vec::new();
    let mut travel_version = None;
    // An append whose version is more than one above the previous append's had a background
    // compaction commit while it ran (the loop does nothing else between appends): those are
    // noted, to tell whether the slowest appends are the ones that met a compaction.
    let mut previous = table.version();
    let mut beside_compaction = Vec::new();
    // An append that leaves fewer than one file more than before committed a merge.
    let mut files_before = table.file_count();
    for i in 0..appends {
        let chunk = make_batch((i * append_rows) as i64, append_rows as i64);
        let started = Instant::now();
        let version = table.insert(&chunk).await.unwrap();
        let secs = started.elapsed().as_secs_f64();
        latencies.push(secs);
        if version > previous + 1 || table.file_count() < files_before + 1 {
            beside_compaction.push(secs);
        }
        files_before = table.file_count();
        previous = version;
        if i + 1 == travel {
            travel_version = Some(version);
        }
    }
    let travel_version = travel_version.expect("TRAVEL must be between 1 and APPENDS");
    // The handle is at the last append's version: its files are what the appends left.
    out.insert("files_after_appends".into(), json!(table.file_count()));
    latencies.sort_by(f64::total_cmp);
    out.insert("append_p50_s".into(), json!(percentile(&latencies, 50.0)));
    out.insert("append_p95_s".into(), json!(percentile(&latencies, 95.0)));
    out.insert("append_p99_s".into(), json!(percentile(&latencies, 99.0)));
    // How many of the appends at or above p99 met a compaction commit.
    let p99 = percentile(&latencies, 99.0);
    out.insert(
        "appends_beside_compaction".into(),
        json!(beside_compaction.len()),
    );
    out.insert(
        "appends_at_p99_beside_compaction".into(),
        json!(beside_compaction.iter().filter(|s| **s >= p99).count()),
    );

    // Reads start once no background compaction is left running, so they measure reading
    // alone; the table is as the appends and their background compactions left it.
    settle(&table, catalog.options()).await;
    // Background compactions that landed while the appends ran, and after the last one.
    let compactions: Vec<u64> = table
        .history()
        .await
        .unwrap()
        .iter()
        .filter(|h| {
            matches!(
                h.operation,
                Operation::Compact { .. }
                    | Operation::Insert {
                        files_compacted: 1..,
                        ..
                    }
            )
        })
        .map(|h| h.version)
        .collect();
    let during = compactions.iter().filter(|v| **v < previous).count();
    out.insert("background_compactions".into(), json!(during));
    out.insert(
        "background_compactions_after".into(),
        json!(compactions.len() - during),
    );
    out.insert("travel_version".into(), json!(travel_version));
    out.insert("files_before_compact".into(), json!(table.file_count()));
    reads(&mut out, "", &dir, travel_version).await;

    sync_disk();
    let started = Instant::now();
    table.compact().await.unwrap();
    out.insert("compact_s".into(), json!(started.elapsed().as_secs_f64()));
    out.insert("files_after_compact".into(), json!(table.file_count()));
    reads(&mut out, "_compacted", &dir, travel_version).await;

    // The control: the same appends with background compaction off, so that the append
    // percentiles can be told apart from what a running compaction costs them.
    let control_dir = work.join("control");
    let options = CatalogOptions::default().with_background_compaction(false);
    let catalog = Catalog::open_with_options(local_store(&control_dir), "", options);
    let table = catalog.create_table("t", &table_schema()).await.unwrap();
    let mut latencies = Vec::new();
    for i in 0..appends {
        let chunk = make_batch((i * append_rows) as i64, append_rows as i64);
        let started = Instant::now();
        table.insert(&chunk).await.unwrap();
        latencies.push(started.elapsed().as_secs_f64());
    }
    latencies.sort_by(f64::total_cmp);
    for (key, p) in [("p50", 50.0), ("p95", 95.0), ("p99", 99.0)] {
        let value = percentile(&latencies, p);
        out.insert(format!("control_append_{key}_s"), json!(value));
    }
    out
}

/// Waits until no background compaction is pending: every file is small at these sizes, so a
/// table with at most `max_small_files` files starts none, and one that was started has
/// committed once the count is back under it. The version must also stay put for a moment.
async fn settle(table: &Table, options: &CatalogOptions) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = (table.refresh().await.unwrap(), Instant::now());
    while table.file_count() > options.max_small_files
        || seen.1.elapsed() < Duration::from_millis(300)
    {
        assert!(
            Instant::now() < deadline,
            "the background compaction did not finish within two minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let version = table.refresh().await.unwrap();
        if version != seen.0 {
            seen = (version, Instant::now());
        }
    }
}

/// Opens the latest version and `travel` from fresh catalogs and reads each whole to Arrow.
async fn reads(out: &mut Map<String, Value>, suffix: &str, dir: &Path, travel: u64) {
    for (name, address) in [
        ("open_latest", "t".to_owned()),
        ("travel", format!("t:{travel}")),
    ] {
        sync_disk();
        let started = Instant::now();
        let catalog = Catalog::open_local(dir).unwrap();
        let data = catalog
            .open_table(&address)
            .await
            .unwrap()
            .scan()
            .await
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        out.insert(format!("{name}_read{suffix}_s"), json!(secs));
        out.insert(format!("{name}{suffix}_rows"), json!(data.batch.num_rows()));
    }
}

/// A catalog over a counting wrapper of the local folder (fsync on).
fn counted_catalog(dir: &Path) -> (Arc<FaultStore>, Catalog) {
    let store = FaultStore::new(local_store(dir));
    (store.clone(), Catalog::open(store, ""))
}

/// Builds table `t` with `versions` versions of one-row inserts. Background compaction is off
/// and the builder compacts explicitly whenever the table holds more than `max_small_files`
/// files (its own versions, as in the background), so that nothing is still running when the
/// garbage collection below starts with an age guard of zero.
/// Returns the latest version and its row count.
async fn build_versions(dir: &Path, versions: u64) -> (u64, u64) {
    let options = CatalogOptions::default().with_background_compaction(false);
    let limit = options.max_small_files;
    let catalog = Catalog::open_with_options(local_store(dir), "", options);
    let table = catalog.create_table("t", &table_schema()).await.unwrap();
    let one = make_batch(0, 1);
    while table.version() < versions {
        if table.file_count() > limit {
            table.compact().await.unwrap();
        } else {
            table.insert(&one).await.unwrap();
        }
    }
    (table.version(), table.row_count())
}

/// Opens the latest version of `t` in a fresh catalog: (requests, seconds).
async fn open_latest(dir: &Path) -> (u64, f64) {
    let (store, catalog) = counted_catalog(dir);
    let started = Instant::now();
    let table = catalog.open_table("t").await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(table.version() > 0);
    (store.counts().total(), secs)
}

/// Copies a catalog folder (files and folders only), so that each GC round starts alike.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Opening as history grows, and garbage collection of the many-version table.
async fn versions(work: &Path, many: u64, rounds: u64) -> Map<String, Value> {
    let few_dir = work.join("few");
    let (few, _) = build_versions(&few_dir, 10).await;
    let many_dir = work.join("many");
    let (many, rows) = build_versions(&many_dir, many).await;
    eprintln!("built tables of {few} and {many} versions");
    let mut series: Vec<(&str, Vec<f64>)> = [
        "open_requests_few",
        "open_s_few",
        "open_requests_many",
        "open_s_many",
        "gc_s",
    ]
    .into_iter()
    .map(|k| (k, Vec::new()))
    .collect();
    let mut push = |key: &str, value: f64| {
        series
            .iter_mut()
            .find(|(k, _)| *k == key)
            .unwrap()
            .1
            .push(value);
    };
    for _ in 0..rounds {
        sync_disk();
        let (requests, secs) = open_latest(&few_dir).await;
        push("open_requests_few", requests as f64);
        push("open_s_few", secs);
        sync_disk();
        let (requests, secs) = open_latest(&many_dir).await;
        push("open_requests_many", requests as f64);
        push("open_s_many", secs);
    }

    // Garbage collection keeps nothing but the latest version: retention zero, and an age guard
    // of zero, which is safe here only because nothing else writes to the table (a writer that
    // may commit needs an age guard above `max_commit_duration`; see docs/format.md).
    let options = GcOptions::new(Duration::ZERO, Duration::ZERO);
    let mut out = Map::new();
    for round in 0..rounds {
        let copy = work.join(format!("gc-{round}"));
        copy_tree(&many_dir, &copy);
        sync_disk();
        let (store, catalog) = counted_catalog(&copy);
        let started = Instant::now();
        let report = catalog.gc_table("t", &options).await.unwrap();
        push("gc_s", started.elapsed().as_secs_f64());
        let counts = store.counts();
        // The latest version still reads after the collection (not timed).
        let left = catalog.open_table("t").await.unwrap().scan().await.unwrap();
        assert_eq!(
            left.batch.num_rows() as u64,
            rows,
            "GC changed the latest version"
        );
        let facts = [
            ("gc_versions", many),
            ("gc_versions_expired", report.versions_expired.len() as u64),
            ("gc_versions_kept", report.versions_kept.len() as u64),
            ("gc_files_deleted", report.files_deleted as u64),
            ("gc_bytes_freed", report.bytes_freed),
            ("gc_rows_left", left.batch.num_rows() as u64),
            ("gc_requests_get", counts.get),
            ("gc_requests_head", counts.head),
            ("gc_requests_put", counts.put),
            ("gc_requests_list", counts.list),
            ("gc_requests_delete", counts.delete),
            ("gc_requests_copy", counts.copy),
            ("gc_requests_total", counts.total()),
        ];
        for (key, value) in facts {
            // Every round collects an identical copy, so these must agree round after round.
            if let Some(earlier) = out.get(key) {
                assert_eq!(earlier, &json!(value), "{key} differs between GC rounds");
            }
            out.insert(key.into(), json!(value));
        }
        drop(catalog);
        std::fs::remove_dir_all(&copy).unwrap();
    }
    for (key, values) in series {
        out.insert(key.into(), json!(values));
    }
    out
}
