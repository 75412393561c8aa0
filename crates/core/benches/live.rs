//! tableshare's live-table side of `cargo xtask bench` (issue 7, "a table model that scales"):
//! what one step of a core [`LiveTable`] costs, and whether that cost grows with the table. It is
//! a plain program (`harness = false`), not a timed test: it measures and prints one JSON object,
//! and xtask runs it once per table size and round and turns the numbers into
//! docs/performance.md.
//!
//! Usage (`cargo bench -p tableshare-core --bench live -- live ROWS ONE_REPS REPS`):
//!
//! A table of ROWS rows (id int64, name utf8, value float64, the storage benchmark's data) is
//! built with appends of at most 1,000,000 rows (not timed), and one subscriber is attached, as
//! live tables run. Then three kinds of step, each timed alone (the call that applies it):
//!
//! - `append_1`: ONE_REPS appends of one row;
//! - `append_1000`: REPS appends of 1,000 rows;
//! - `update_1000`: REPS modifications of the `value` column of 1,000 consecutive rows in the
//!   middle of the table (a different run each time).
//!
//! Per kind it reports p50 and p99 (nearest rank, seconds) and the **bytes copied** per step
//! (p50 and max). Bytes copied is measured, not estimated from the row count: after each step the
//! new snapshot's chunks are compared with the previous snapshot's by allocation. Every Arrow
//! buffer (and every key array) reachable from the new snapshot whose allocation the previous
//! snapshot did not reference was written by the step; the sum of those allocations' capacities,
//! each allocation counted once, is the step's bytes copied. Chunks a step did not touch are
//! shared by `Arc` and cost nothing; a chunk split by slicing shares its buffers too (only its
//! keys are new). The subscriber is drained after every step, outside the timed call.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{Array, Float64Array, RecordBatch};
use arrow_schema::SchemaRef;
use serde_json::{Map, Value, json};
use tableshare_core::{
    ColumnChange, LiveTable, LiveTableOptions, Snapshot, Subscription, TableSchema,
};
use tableshare_testkit::{bench_batch, bench_schema, percentile};

const USAGE: &str = "usage: live live ROWS ONE_REPS REPS";

/// Rows per append while the table is built.
const BUILD_ROWS: u64 = 1_000_000;

fn schema() -> SchemaRef {
    bench_schema()
}

/// The benchmark rows `start..start + rows` (see `tableshare_testkit::bench_batch`).
fn make_batch(start: u64, rows: u64) -> RecordBatch {
    bench_batch(start as i64, rows as i64).unwrap()
}

fn number(arg: &str) -> u64 {
    arg.parse()
        .unwrap_or_else(|_| panic!("not a number: `{arg}`\n{USAGE}"))
}

/// Every allocation a snapshot references: Arrow buffers of every column of every chunk (values,
/// offsets, nulls) and the chunks' key arrays, as (address, capacity in bytes).
fn allocations(snapshot: &Snapshot) -> HashMap<usize, usize> {
    let mut out = HashMap::new();
    for chunk in snapshot.chunks() {
        let keys = chunk.keys();
        out.insert(keys.as_ptr() as usize, size_of_val(keys));
        for column in chunk.batch().columns() {
            let data = column.to_data();
            for buffer in data.buffers() {
                out.insert(buffer.data_ptr().as_ptr() as usize, buffer.capacity());
            }
            if let Some(nulls) = data.nulls() {
                let buffer = nulls.buffer();
                out.insert(buffer.data_ptr().as_ptr() as usize, buffer.capacity());
            }
        }
    }
    out
}

/// Bytes the step from `before` to `after` wrote: allocations of `after` that `before` lacks.
fn bytes_copied(before: &HashMap<usize, usize>, after: &HashMap<usize, usize>) -> u64 {
    let old: HashSet<&usize> = before.keys().collect();
    after
        .iter()
        .filter(|(address, _)| !old.contains(address))
        .map(|(_, capacity)| *capacity as u64)
        .sum()
}

/// Reads every update the subscriber has waiting (as a live reader would), without waiting.
fn drain(subscription: &mut Subscription) {
    while let Some(event) = subscription.try_next() {
        event.unwrap();
    }
}

/// Times `reps` steps made by `step(i)`; returns the step's metrics under `kind`.
fn measure(
    out: &mut Map<String, Value>,
    kind: &str,
    table: &LiveTable,
    subscription: &mut Subscription,
    reps: u64,
    mut step: impl FnMut(u64),
) {
    let mut seconds = Vec::new();
    let mut copied = Vec::new();
    // The previous snapshot stays alive until it is compared, so that no allocation it holds
    // can be freed and its address reused by the step.
    let mut previous = table.snapshot().unwrap();
    let mut before = allocations(&previous);
    let stats_before = table.chunk_stats();
    for i in 0..reps {
        let started = Instant::now();
        step(i);
        seconds.push(started.elapsed().as_secs_f64());
        let current = table.snapshot().unwrap();
        let after = allocations(&current);
        copied.push(bytes_copied(&before, &after) as f64);
        (previous, before) = (current, after);
        drain(subscription);
    }
    drop(previous);
    let stats = table.chunk_stats();
    seconds.sort_by(f64::total_cmp);
    copied.sort_by(f64::total_cmp);
    out.insert(format!("{kind}_p50_s"), json!(percentile(&seconds, 50.0)));
    out.insert(format!("{kind}_p99_s"), json!(percentile(&seconds, 99.0)));
    out.insert(
        format!("{kind}_copied_p50_bytes"),
        json!(percentile(&copied, 50.0)),
    );
    out.insert(
        format!("{kind}_copied_max_bytes"),
        json!(copied.last().copied().unwrap_or(0.0)),
    );
    out.insert(
        format!("{kind}_merges"),
        json!(stats.merges - stats_before.merges),
    );
    out.insert(
        format!("{kind}_splits"),
        json!(stats.splits - stats_before.splits),
    );
}

fn main() {
    // `cargo bench` adds `--bench`; everything else is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ["live", rows, one_reps, reps] = args.as_slice() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let out = live(number(rows), number(one_reps), number(reps));
    println!("{}", Value::Object(out));
}

fn live(rows: u64, one_reps: u64, reps: u64) -> Map<String, Value> {
    let table = LiveTable::new(
        TableSchema::unpartitioned(schema()).unwrap(),
        LiveTableOptions::default(),
    );
    let mut start = 0;
    while start < rows {
        let n = BUILD_ROWS.min(rows - start);
        table.append(make_batch(start, n)).unwrap();
        start += n;
    }
    let (snapshot, mut subscription) = table.subscribe().unwrap();
    eprintln!(
        "live table of {} rows in {} chunks, one subscriber",
        snapshot.num_rows(),
        snapshot.num_chunks()
    );
    drop(snapshot);
    let mut out = Map::new();
    out.insert("rows".into(), json!(rows));

    // Batches are made before the timed call, so only applying the step is measured.
    let ones: Vec<RecordBatch> = (0..one_reps).map(|i| make_batch(rows + i, 1)).collect();
    let mut ones = ones.into_iter();
    measure(
        &mut out,
        "append_1",
        &table,
        &mut subscription,
        one_reps,
        |_| {
            table.append(ones.next().unwrap()).unwrap();
        },
    );
    let base = rows + one_reps;
    let thousands: Vec<RecordBatch> = (0..reps)
        .map(|i| make_batch(base + i * 1_000, 1_000))
        .collect();
    let mut thousands = thousands.into_iter();
    measure(
        &mut out,
        "append_1000",
        &table,
        &mut subscription,
        reps,
        |_| {
            table.append(thousands.next().unwrap()).unwrap();
        },
    );
    // Runs of 1,000 keys from the middle on, 1,000 apart (so each lands in its own place), as
    // far as half the table reaches; the keys of the built rows are 0..rows.
    let runs = (rows / 2 / 1_000).max(1);
    let changes: Vec<ColumnChange> = (0..reps)
        .map(|i| {
            let first = rows / 2 + (i % runs) * 1_000;
            let keys: Vec<u64> = (first..first + 1_000).collect();
            let values = Arc::new(Float64Array::from_iter_values(
                keys.iter().map(|k| -(*k as f64) - i as f64),
            ));
            ColumnChange::new("value", keys, values).unwrap()
        })
        .collect();
    let mut changes = changes.into_iter();
    measure(
        &mut out,
        "update_1000",
        &table,
        &mut subscription,
        reps,
        |_| {
            table.modify(vec![changes.next().unwrap()]).unwrap();
        },
    );
    drain(&mut subscription);
    assert_eq!(
        subscription.step(),
        table.step(),
        "the subscriber fell behind"
    );
    out.insert(
        "chunks_after".into(),
        json!(table.snapshot().unwrap().num_chunks()),
    );
    out
}
