//! Guards durability and atomic visibility across a process killed mid-commit.
//!
//! A child process (this same test binary, started with `TABLESHARE_CRASH_CHILD` set) inserts
//! batches into a table on local disk as fast as it can; the parent kills it with SIGKILL at a
//! pseudo-random moment, reopens the table, and checks that it equals exactly some committed
//! version: it holds whole batches 0..k and nothing else (k inserts; background compactions
//! may have committed versions of their own in between, and may be killed too), every earlier
//! version reads back as a prefix of it, and the table accepts a new commit. Nothing partial
//! may ever be visible.
//!
//! This target has no libtest harness (`harness = false` in Cargo.toml) so that the child mode is
//! a plain `main` branch rather than a test that asserts nothing; it prints a libtest-style
//! summary line.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use tableshare_core::TableSchema;
use tableshare_storage::Catalog;

const CHILD_ENV: &str = "TABLESHARE_CRASH_CHILD";
const TRIALS: u64 = 60;
const ROWS_PER_BATCH: i64 = 50;
const TABLE: &str = "crash.t";

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("tag", DataType::Utf8, false),
    ]))
}

/// Batch `i`: ids i*50 .. i*50+49, tagged with the batch number.
fn batch(i: i64) -> RecordBatch {
    let ids: Vec<i64> = (i * ROWS_PER_BATCH..(i + 1) * ROWS_PER_BATCH).collect();
    let tags: Vec<String> = ids.iter().map(|_| format!("batch-{i}")).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(tags)),
        ],
    )
    .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Child mode: insert batch after batch until killed.
fn child(dir: &str) -> ExitCode {
    runtime().block_on(async {
        let catalog = Catalog::open_local(dir).unwrap();
        let table = catalog.open_table(TABLE).await.unwrap();
        // Batches are numbered by rows, not versions: background compactions (their own
        // versions) interleave with the inserts once small files pile up.
        let mut i = i64::try_from(table.row_count()).unwrap() / ROWS_PER_BATCH;
        loop {
            table.insert(&batch(i)).await.unwrap();
            i += 1;
        }
    })
}

/// A small deterministic generator (splitmix64), so a failing trial can be replayed.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn ids_of(batch: &RecordBatch) -> Vec<i64> {
    let column = batch.column_by_name("id").unwrap();
    column
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .to_vec()
}

/// Whether `ids` are exactly whole batches 0..k for some k (what any committed version holds).
fn whole_batches(ids: &[i64]) -> bool {
    ids.len().is_multiple_of(ROWS_PER_BATCH as usize) && ids.iter().copied().eq(0..ids.len() as i64)
}

/// One trial: start a child, kill it after `delay`, verify the table. Returns the version seen.
fn trial(n: u64, delay: Duration) -> Result<u64, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    runtime().block_on(async {
        let catalog = Catalog::open_local(&path).unwrap();
        catalog.create_dir("crash").await.unwrap();
        catalog
            .create_table(TABLE, &TableSchema::unpartitioned(schema()).unwrap())
            .await
            .unwrap();
    });

    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    std::thread::sleep(delay);
    if let Ok(Some(status)) = child.try_wait() {
        let out = child.wait_with_output().unwrap();
        return Err(format!(
            "trial {n}: the child exited by itself ({status}): {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructors, no flushes.
    child.wait().unwrap();
    let alive = started.elapsed();

    runtime().block_on(async {
        let catalog = Catalog::open_local(&path).unwrap();
        let table = catalog
            .open_table(TABLE)
            .await
            .map_err(|e| format!("trial {n}: reopen failed: {e}"))?;
        let v = table.version();
        let data = table
            .scan()
            .await
            .map_err(|e| format!("trial {n}: scan of version {v} failed: {e}"))?;
        let latest_ids = ids_of(&data.batch);
        if !whole_batches(&latest_ids) {
            return Err(format!(
                "trial {n}: version {v} holds {} rows, not exactly whole batches from 0",
                data.batch.num_rows()
            ));
        }
        // Every earlier version is intact too (the chain is whole).
        for earlier in [0, v / 2, v.saturating_sub(1)] {
            let old = catalog
                .open_table(&format!("{TABLE}:{earlier}"))
                .await
                .map_err(|e| format!("trial {n}: version {earlier} unreadable: {e}"))?;
            let rows = ids_of(&old.scan().await.map_err(|e| e.to_string())?.batch);
            if !whole_batches(&rows) || !latest_ids.starts_with(&rows) {
                return Err(format!(
                    "trial {n}: version {earlier} is not its own prefix"
                ));
            }
        }
        // And the table still takes commits: nothing the dead writer left blocks the next one.
        let i = i64::try_from(latest_ids.len()).unwrap() / ROWS_PER_BATCH;
        let next = table
            .insert(&batch(i))
            .await
            .map_err(|e| format!("trial {n}: commit after the crash failed: {e}"))?;
        if next != v + 1 {
            return Err(format!(
                "trial {n}: commit after crash got version {next}, not {}",
                v + 1
            ));
        }
        eprintln!("trial {n}: killed after {alive:?} at version {v}: ok");
        Ok(v)
    })
}

fn main() -> ExitCode {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        return child(&dir);
    }
    let mut seed = 0x7AB1_E5A2_u64;
    let mut failures = Vec::new();
    let mut versions = Vec::new();
    for n in 0..TRIALS {
        // Kill between 40 ms (the child is still starting or on its first commits) and 400 ms.
        let delay = Duration::from_millis(40 + splitmix(&mut seed) % 360);
        match trial(n, delay) {
            Ok(v) => versions.push(v),
            Err(e) => failures.push(e),
        }
    }
    for failure in &failures {
        eprintln!("FAILED {failure}");
    }
    let killed_mid_run = versions.iter().filter(|v| **v > 0).count();
    println!(
        "crash: {} trials, versions reached {:?}..{:?}, {} killed after committing",
        TRIALS,
        versions.iter().min(),
        versions.iter().max(),
        killed_mid_run
    );
    // The trials must actually kill writers that are committing, or they prove nothing.
    if killed_mid_run < TRIALS as usize / 2 {
        eprintln!("FAILED too few trials killed a child that had committed: {killed_mid_run}");
        failures.push("too few effective trials".to_owned());
    }
    println!(
        "test result: {}. {} passed; {} failed",
        if failures.is_empty() { "ok" } else { "FAILED" },
        TRIALS as usize - failures.len().min(TRIALS as usize),
        failures.len()
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
