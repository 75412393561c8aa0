//! Snapshot speed, sustained ticking and per-subscriber cost of live remote tables, run by
//! `cargo xtask bench --only remote` (issue 9) beside `latency.rs`. A plain program
//! (`harness = false`), not a timed test; every mode prints one JSON object on its last line.
//!
//! Usage (`cargo bench -p tableshare-remote --bench flow -- ARGS`):
//!
//! - `serve ROWS`: a worker serving table `big`, ROWS rows of the benchmark data
//!   (`tableshare_testkit::bench_batch`: id, name, value, appended in 1,000,000-row steps).
//!   Prints `ADDR host:port` once serving, then serves until its stdin closes.
//! - `snapshot ADDR`: our client's snapshot of `big` (`RemoteTableBuilder::snapshot`, plain
//!   TCP), connect to last row in memory. Prints `s` and `rows`.
//! - `ticking SECONDS SUBSCRIBERS RATE...`: for each RATE (rows per second, ascending) a fresh
//!   table in this process's worker; a child process (this program, `subscribers`) subscribes
//!   SUBSCRIBERS times; then 1,000-row steps are appended on a fixed schedule for SECONDS, each
//!   row carrying its commit time. A rate is kept up with when the worker held the schedule
//!   (at least 95% of the rate achieved) and every subscriber's commit-to-visibility latency
//!   stayed bounded: p99 under 100 ms and every row received within 1 s of the last append. A
//!   subscriber that falls behind sees its latency grow without bound, so the bound is the test.
//!   Stops after the first rate not kept up with. Prints each rate's outcome.
//! - `cost SECONDS SUBSCRIBERS RATE`: the worker's own CPU time and resident memory
//!   (`/proc/self/stat`, `/proc/self/status` of this, the worker's, process) while ticking at
//!   RATE for SECONDS with no subscriber, then with SUBSCRIBERS (in a child process); prints
//!   both and the difference per subscriber.
//! - `subscribers ADDR TABLE N TOTAL` (the child): N subscriptions, `READY`, then each until it
//!   holds TOTAL rows (or 30 s pass); prints latency percentiles over all of them.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark program reports on stdout and stops at the first failure"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Float64Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde_json::{Value, json};
use tableshare_core::{LiveTable, LiveTableOptions, TableEvent, TableSchema};
use tableshare_remote::{RemoteTableBuilder, Scope, Worker};
use tableshare_testkit::{bench_batch, bench_schema};
use tableshare_uri::TableUri;

const STEP_ROWS: i64 = 1_000;
const KEPT_UP_P99_S: f64 = 0.1;
const KEPT_UP_CATCH_UP_S: f64 = 1.0;

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn uri(address: &str, table: &str) -> TableUri {
    TableUri::parse(&format!("ts+plain://{address}/scope/{table}")).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let result = match args.as_slice() {
        ["serve", rows] => runtime.block_on(serve(rows.parse().unwrap())),
        ["snapshot", address] => runtime.block_on(snapshot(address)),
        ["ticking", seconds, subscribers, rates @ ..] if !rates.is_empty() => {
            runtime.block_on(ticking(
                seconds.parse().unwrap(),
                subscribers.parse().unwrap(),
                &rates
                    .iter()
                    .map(|r| r.parse().unwrap())
                    .collect::<Vec<u64>>(),
            ))
        }
        ["cost", seconds, subscribers, rate] => runtime.block_on(cost(
            seconds.parse().unwrap(),
            subscribers.parse().unwrap(),
            rate.parse().unwrap(),
        )),
        ["subscribers", address, table, n, total] => runtime.block_on(subscribers(
            address,
            table,
            n.parse().unwrap(),
            total.parse().unwrap(),
        )),
        _ => {
            eprintln!(
                "usage: flow serve ROWS | snapshot ADDR | ticking SECONDS SUBSCRIBERS RATE... \
                 | cost SECONDS SUBSCRIBERS RATE"
            );
            std::process::exit(2);
        }
    };
    println!("{result}");
}

async fn serve(rows: i64) -> Value {
    let table = LiveTable::new(
        TableSchema::unpartitioned(bench_schema()).unwrap(),
        LiveTableOptions::default(),
    );
    let mut start = 0;
    while start < rows {
        let n = (rows - start).min(1_000_000);
        table.append(bench_batch(start, n).unwrap()).unwrap();
        start += n;
    }
    let scope = Scope::new();
    scope.insert("big", table);
    let worker = Worker::builder("bench").serve(scope).await.unwrap();
    println!("ADDR {}", worker.address());
    std::io::stdout().flush().unwrap();
    // Serve until the parent closes stdin.
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).unwrap_or(0) > 0 {}
    })
    .await
    .unwrap();
    worker.shutdown().await.unwrap();
    json!({ "rows": rows })
}

async fn snapshot(address: &str) -> Value {
    let started = Instant::now();
    let snapshot = RemoteTableBuilder::for_uri(uri(address, "big"))
        .snapshot()
        .await
        .unwrap();
    json!({ "s": started.elapsed().as_secs_f64(), "rows": snapshot.num_rows() })
}

fn tick_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::Int64, false),
        Field::new("committed_ns", DataType::Int64, false),
        Field::new("value", DataType::Float64, false),
    ]))
}

/// One 1,000-row step, its rows stamped with the commit time.
fn step_batch(schema: &SchemaRef, step: i64) -> RecordBatch {
    let start = step * STEP_ROWS;
    let seq: Vec<i64> = (start..start + STEP_ROWS).collect();
    let values = Float64Array::from_iter_values(seq.iter().map(|s| *s as f64 * 0.5));
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(seq)),
            Arc::new(Int64Array::from(vec![now_ns(); STEP_ROWS as usize])),
            Arc::new(values),
        ],
    )
    .unwrap()
}

/// Appends 1,000-row steps to `table` at `rate` rows per second for `seconds`, on a fixed
/// schedule (a late step is appended at once, not skipped); returns the rows per second held.
async fn tick(table: &LiveTable, rate: u64, seconds: f64) -> (u64, f64) {
    let schema = tick_schema();
    let steps = ((rate as f64 * seconds) / STEP_ROWS as f64)
        .round()
        .max(1.0) as i64;
    let period = Duration::from_secs_f64(STEP_ROWS as f64 / rate as f64);
    let started = tokio::time::Instant::now();
    for step in 0..steps {
        tokio::time::sleep_until(started + period * step as u32).await;
        table.append(step_batch(&schema, step)).unwrap();
    }
    let rows = (steps * STEP_ROWS) as u64;
    // The last step closes its own period: steps × period is the schedule.
    (
        rows,
        rows as f64 / (started.elapsed() + period).as_secs_f64(),
    )
}

/// Starts the child holding `n` subscriptions to `table` and waits for its `READY`.
fn spawn_subscribers(
    address: &str,
    table: &str,
    n: usize,
    total: u64,
) -> (Child, impl Iterator<Item = String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "subscribers",
            address,
            table,
            &n.to_string(),
            &total.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap);
    assert_eq!(lines.next().as_deref(), Some("READY"));
    (child, lines)
}

fn new_table(scope: &Scope, name: &str) -> LiveTable {
    let table = LiveTable::new(
        TableSchema::unpartitioned(tick_schema()).unwrap(),
        LiveTableOptions::default(),
    );
    scope.insert(name, table.clone());
    table
}

async fn ticking(seconds: f64, n: usize, rates: &[u64]) -> Value {
    let scope = Scope::new();
    let worker = Worker::builder("bench").serve(scope.clone()).await.unwrap();
    let address = worker.address().to_string();
    let mut outcomes = Vec::new();
    let mut largest = 0;
    for &rate in rates {
        let name = format!("tick{rate}");
        let table = new_table(&scope, &name);
        let total = ((rate as f64 * seconds) / STEP_ROWS as f64)
            .round()
            .max(1.0) as u64
            * STEP_ROWS as u64;
        let (mut child, mut lines) = spawn_subscribers(&address, &name, n, total);
        let (_, held) = tick(&table, rate, seconds).await;
        let report: Value = serde_json::from_str(&lines.next().unwrap()).unwrap();
        child.wait().unwrap();
        scope.remove(&name);
        let kept_up = held >= 0.95 * rate as f64
            && report["complete"].as_bool() == Some(true)
            && report["p99_s"].as_f64().unwrap() < KEPT_UP_P99_S
            && report["catch_up_s"].as_f64().unwrap() < KEPT_UP_CATCH_UP_S;
        eprintln!("rate {rate} rows/s: held {held:.0}, {report}, kept up: {kept_up}");
        outcomes
            .push(json!({ "rate": rate, "held": held, "kept_up": kept_up, "subscribers": report }));
        if !kept_up {
            break;
        }
        largest = rate;
    }
    worker.shutdown().await.unwrap();
    json!({ "subscribers": n, "seconds": seconds, "largest_kept_up": largest, "rates": outcomes })
}

/// This process's CPU time (user + system) in seconds and resident memory in bytes.
fn usage() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let hz = 100.0; // USER_HZ, 100 on Linux
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    (ticks / hz, kib * 1024.0)
}

async fn cost(seconds: f64, n: usize, rate: u64) -> Value {
    let scope = Scope::new();
    let worker = Worker::builder("bench").serve(scope.clone()).await.unwrap();
    let address = worker.address().to_string();
    let mut phases = Vec::new();
    for (name, subscribers) in [("alone", 0), ("subscribed", n)] {
        let table = new_table(&scope, name);
        let total = ((rate as f64 * seconds) / STEP_ROWS as f64)
            .round()
            .max(1.0) as u64
            * STEP_ROWS as u64;
        // Memory from before the subscribers connect (their connections' buffers count); CPU
        // over the ticking alone (the steady state, not the one-time subscription).
        let (_, rss0) = usage();
        let child =
            (subscribers > 0).then(|| spawn_subscribers(&address, name, subscribers, total));
        let (cpu0, _) = usage();
        let (_, held) = tick(&table, rate, seconds).await;
        let report = match child {
            Some((mut child, mut lines)) => {
                let report: Value = serde_json::from_str(&lines.next().unwrap()).unwrap();
                child.wait().unwrap();
                report
            }
            None => Value::Null,
        };
        let (cpu1, rss1) = usage();
        scope.remove(name);
        phases.push(
            json!({ "subscribers": subscribers, "held": held, "cpu_s": cpu1 - cpu0,
            "rss_end_bytes": rss1, "rss_growth_bytes": rss1 - rss0, "report": report }),
        );
    }
    worker.shutdown().await.unwrap();
    let cpu = |i: usize| phases[i]["cpu_s"].as_f64().unwrap();
    let rss = |i: usize| phases[i]["rss_growth_bytes"].as_f64().unwrap();
    json!({
        "rate": rate, "seconds": seconds, "subscribers": n,
        "cpu_share_alone": cpu(0) / seconds, "cpu_share_subscribed": cpu(1) / seconds,
        "cpu_share_per_subscriber": (cpu(1) - cpu(0)) / seconds / n as f64,
        "rss_per_subscriber_bytes": (rss(1) - rss(0)) / n as f64,
        "phases": phases,
    })
}

async fn subscribers(address: &str, table: &str, n: usize, total: u64) -> Value {
    let mut remotes = Vec::with_capacity(n);
    for _ in 0..n {
        let remote = RemoteTableBuilder::for_uri(uri(address, table))
            .subscribe()
            .await
            .unwrap();
        let (snapshot, updates) = remote.table().subscribe().unwrap();
        remotes.push((remote, snapshot.num_rows() as u64, updates));
    }
    println!("READY");
    std::io::stdout().flush().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let tasks: Vec<_> = remotes
        .into_iter()
        .map(|(remote, mut rows, mut updates)| {
            tokio::spawn(async move {
                let _remote = remote;
                let mut latencies = Vec::new();
                let mut last_commit = 0;
                let mut last_seen = 0;
                while rows < total {
                    let event = tokio::time::timeout_at(deadline, updates.next()).await;
                    let Ok(Some(Ok(TableEvent::Update(update)))) = event else {
                        break;
                    };
                    let seen = now_ns();
                    let committed = update.added().batch().column(1).as_primitive::<Int64Type>();
                    if let (Some(first), Some(last)) =
                        (committed.values().first(), committed.values().last())
                    {
                        latencies.push((seen - first) as f64 / 1e9);
                        (last_commit, last_seen) = (*last, seen);
                    }
                    rows += committed.len() as u64;
                }
                (
                    rows >= total,
                    latencies,
                    (last_seen - last_commit) as f64 / 1e9,
                )
            })
        })
        .collect();
    let mut complete = true;
    let mut all = Vec::new();
    let mut catch_up: f64 = 0.0;
    for task in tasks {
        let (done, latencies, last) = task.await.unwrap();
        complete &= done;
        all.extend(latencies);
        catch_up = catch_up.max(last);
    }
    all.sort_by(f64::total_cmp);
    let at = |q: f64| {
        all.get(((all.len().max(1) - 1) as f64 * q) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    json!({ "complete": complete, "updates": all.len(), "p50_s": at(0.5), "p99_s": at(0.99),
            "max_s": at(1.0), "catch_up_s": catch_up })
}
