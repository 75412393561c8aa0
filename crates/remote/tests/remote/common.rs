//! Shared test helpers: a deterministic ticking table and its model, a TCP proxy that can cut
//! or blackhole connections, and a worker in a child process.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use tableshare_core::{ColumnChange, LiveTable, LiveTableOptions, RowSet, Snapshot, TableSchema};
use tableshare_remote::Change;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

pub fn schema() -> TableSchema {
    TableSchema::unpartitioned(Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ])))
    .unwrap()
}

pub fn rows(ids: &[i64]) -> RecordBatch {
    RecordBatch::try_new(
        schema().arrow().clone(),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(
                ids.iter().map(|i| format!("row{i}")).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                ids.iter().map(|i| *i as f64 / 2.0).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

pub fn new_table() -> LiveTable {
    LiveTable::new(schema(), LiveTableOptions::default())
}

/// One deterministic step: two rows appended; every third step the smallest key goes; every
/// other step the largest key's `value` changes. What it does depends only on the table, so the
/// same start gives the same table at every step.
pub fn tick(table: &LiveTable) {
    let step = table.step() + 1;
    let snapshot = table.snapshot().unwrap();
    match step % 6 {
        0 | 3 if !snapshot.is_empty() => {
            let first = snapshot.first_key().unwrap();
            table.remove(RowSet::from_range(first..first + 1)).unwrap();
        }
        2 | 4 if !snapshot.is_empty() => {
            let last = snapshot.last_key().unwrap();
            let values = Arc::new(Float64Array::from(vec![step as f64 * 1.5]));
            table
                .modify(vec![
                    ColumnChange::new("value", vec![last], values).unwrap(),
                ])
                .unwrap();
        }
        _ => {
            let base = step as i64 * 10;
            table.append(rows(&[base, base + 1])).unwrap();
        }
    }
}

/// The table's content at every step from 0 to `steps`.
pub fn model(steps: u64) -> Vec<Snapshot> {
    let table = new_table();
    let mut out = vec![table.snapshot().unwrap()];
    for _ in 0..steps {
        tick(&table);
        out.push(table.snapshot().unwrap());
    }
    out
}

/// Whether two snapshots hold the same rows under the same keys.
pub fn same_rows(a: &Snapshot, b: &Snapshot) -> bool {
    a.key_vec() == b.key_vec() && a.concat().unwrap() == b.concat().unwrap()
}

/// Checks a change against the model: the local content equals the model at the upstream step
/// it reports (or is empty when cleared), projected to the local columns.
pub fn check_change(change: &Change, model: &[Snapshot]) {
    match change.upstream_step {
        None => assert!(change.snapshot.is_empty(), "cleared means empty"),
        Some(step) => {
            let expected = &model[step as usize];
            let names: Vec<String> = change
                .snapshot
                .schema()
                .arrow()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            let expected = expected.project(&names).unwrap();
            assert!(
                same_rows(&change.snapshot, &expected),
                "content at upstream step {step} differs from the worker's"
            );
        }
    }
}

/// A TCP proxy between clients and a worker that can cut connections or swallow their bytes.
pub struct Proxy {
    pub address: SocketAddr,
    mode: Arc<AtomicU8>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
    /// Bytes per millisecond from worker to client (0: unlimited).
    pub throttle: Arc<std::sync::atomic::AtomicUsize>,
}

const PASS: u8 = 0;
const BLACKHOLE: u8 = 1;

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(PASS));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(generation);
        let throttle = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (m, g, t) = (mode.clone(), generation.clone(), throttle.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let (m, g, t) = (m.clone(), g.clone(), t.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let mut cut = g.subscribe();
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let no_throttle = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                    tokio::select! {
                        _ = pump(cr, sw, m.clone(), no_throttle) => {}
                        _ = pump(sr, cw, m.clone(), t) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            address,
            mode,
            generation,
            throttle,
        }
    }

    /// Closes every open connection (new ones are accepted).
    pub fn cut(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// Keeps connections open but forwards nothing, as a dead network path does.
    pub fn blackhole(&self) {
        self.mode.store(BLACKHOLE, Ordering::SeqCst);
    }

    /// Forwards again.
    pub fn heal(&self) {
        self.mode.store(PASS, Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<AtomicU8>,
    throttle: Arc<std::sync::atomic::AtomicUsize>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let limit = throttle.load(Ordering::SeqCst);
        let size = if limit == 0 {
            buffer.len()
        } else {
            limit.min(buffer.len())
        };
        let Ok(n) = from.read(&mut buffer[..size]).await else {
            return;
        };
        if n == 0 {
            return;
        }
        if mode.load(Ordering::SeqCst) == BLACKHOLE {
            continue;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
        if limit != 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A worker in a child process (this test binary, re-run as `worker_child`).
pub struct ChildWorker {
    pub child: Child,
    pub address: SocketAddr,
    pub steps: tokio::sync::watch::Receiver<u64>,
}

/// Starts a child worker serving table `ticker` on `port` (0: any): it replays the generator
/// to `start_step`, then ticks every `every_ms` up to `last_step`, under `incarnation`.
pub async fn spawn_worker(
    port: u16,
    start_step: u64,
    last_step: u64,
    every_ms: u64,
    incarnation: &str,
) -> ChildWorker {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child::worker_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TS_REMOTE_CHILD", "1")
        .env("TS_PORT", port.to_string())
        .env("TS_START", start_step.to_string())
        .env("TS_LAST", last_step.to_string())
        .env("TS_EVERY_MS", every_ms.to_string())
        .env("TS_INCARNATION", incarnation)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the child worker starts")
            .unwrap()
            .expect("the child worker prints its address");
        // libtest prints its "test … " prefix on the same line.
        if let Some((_, address)) = line.split_once("LISTENING ") {
            break address.trim().parse().unwrap();
        }
    };
    let (tx, steps) = tokio::sync::watch::channel(start_step);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(step) = line.strip_prefix("STEP ") {
                tx.send_replace(step.parse().unwrap());
            }
        }
    });
    ChildWorker {
        child,
        address,
        steps,
    }
}
