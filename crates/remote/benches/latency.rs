//! Commit-to-visibility latency across processes, run by `cargo xtask bench --only remote`: a
//! worker in this process appends 10,000 small updates (one row each, paced so that each is its
//! own step) whose rows carry the commit time; a subscriber in a child process (this program
//! re-run with `subscriber ADDR`) notes, for every step it applies, how long ago it was
//! committed, and prints p50 / p99 / max. Both processes read the same system clock.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark program reports on stdout"
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use tableshare_core::{LiveTable, LiveTableOptions, TableEvent, TableSchema};
use tableshare_remote::{RemoteTableBuilder, Scope, Worker};
use tableshare_uri::TableUri;

const UPDATES: i64 = 10_000;

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("subscriber") {
        subscriber(&args[2]).await;
        return;
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("seq", DataType::Int64, false),
        Field::new("committed_ns", DataType::Int64, false),
    ]));
    let table = LiveTable::new(
        TableSchema::unpartitioned(schema.clone()).unwrap(),
        LiveTableOptions::default(),
    );
    let scope = Scope::new();
    scope.insert("latency", table.clone());
    let worker = Worker::builder("bench").serve(scope).await.unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["subscriber", &worker.address().to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "READY");
    for seq in 0..UPDATES {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![seq])),
                Arc::new(Int64Array::from(vec![now_ns()])),
            ],
        )
        .unwrap();
        table.append(batch).unwrap();
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    for line in lines {
        println!("{}", line.unwrap());
    }
    child.wait().unwrap();
    worker.shutdown().await.unwrap();
}

async fn subscriber(address: &str) {
    let uri = TableUri::parse(&format!("ts+plain://{address}/scope/latency")).unwrap();
    let remote = RemoteTableBuilder::for_uri(uri).subscribe().await.unwrap();
    let (_, mut updates) = remote.table().subscribe().unwrap();
    println!("READY");
    let mut latencies = Vec::with_capacity(UPDATES as usize);
    let mut rows = 0i64;
    while rows < UPDATES {
        let Some(Ok(TableEvent::Update(update))) = updates.next().await else {
            panic!("the subscription ended");
        };
        let seen = now_ns();
        let committed = update.added().batch().column(1).as_primitive::<Int64Type>();
        for value in committed.values() {
            latencies.push(seen - value);
        }
        rows += committed.len() as i64;
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize] as f64 / 1e6;
    println!(
        "remote commit-to-visibility over {} updates: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        latencies.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
