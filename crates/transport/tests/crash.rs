//! Crash safety across real processes: a pushing and a pulling process are SIGKILLed at random
//! moments (at least 20 trials each). Afterwards the cloud table and the replica are at a
//! committed, readable version, and running the command again completes while sending exactly
//! the files that had not arrived (nothing that arrived is sent again).
//!
//! The test runs itself as the child (`crash child push|pull CLOUD LOCAL`), so it has its own
//! `main` (`harness = false` in Cargo.toml).
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    missing_docs,
    reason = "test program"
)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use tableshare_core::TableSchema;
use tableshare_storage::Catalog;
use tableshare_transport::{Access, CloudConfig, Transport};

const KEY: &str = "crash-key";
const URI: &str = "pxt://alice/crash.t";
const VERSIONS: i64 = 12;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]))
}

fn batch(from: i64, n: i64) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(from..from + n)),
            Arc::new(StringArray::from_iter_values(
                (from..from + n).map(|i| format!("row-{i}")),
            )),
            Arc::new(Float64Array::from_iter_values(
                (from..from + n).map(|i| i as f64),
            )),
        ],
    )
    .unwrap()
}

fn cloud(dir: &Path) -> Arc<dyn ObjectStore> {
    Arc::new(
        LocalFileSystem::new_with_prefix(dir)
            .unwrap()
            .with_fsync(true),
    )
}

fn transport(cloud_dir: &Path, local_dir: &Path, key: bool) -> Transport {
    let mut config = CloudConfig::with_store(cloud(cloud_dir), "");
    if key {
        config = config.with_api_key(KEY);
    }
    Transport::new(Catalog::open_local(local_dir).unwrap(), config).with_parallelism(2)
}

/// Names of the data files and deletion vectors under `dir` (recursively).
fn files(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
                let parent = p
                    .parent()
                    .and_then(|q| q.file_name())
                    .and_then(|n| n.to_str());
                // `name#n` is LocalFileSystem's staging file of a put the kill interrupted: not an
                // object (the store never lists it).
                if matches!(parent, Some("data" | "dv")) && !name.contains('#') {
                    out.insert(name.to_owned());
                }
            }
        }
    }
    out
}

fn child(args: &[String]) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (cloud_dir, local_dir) = (Path::new(&args[3]), Path::new(&args[4]));
    rt.block_on(async {
        match args[2].as_str() {
            "push" => {
                transport(cloud_dir, local_dir, true)
                    .push("t")
                    .await
                    .unwrap();
            }
            "pull" => {
                transport(cloud_dir, local_dir, false)
                    .pull("r")
                    .await
                    .unwrap();
            }
            other => panic!("unknown child mode {other}"),
        }
    });
}

/// A pseudo-random number from the clock (no dependency needed for spreading kill times).
fn jitter(bound: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    (nanos.wrapping_mul(6364136223846793005) >> 17) % bound.max(1)
}

fn spawn_and_kill(mode: &str, cloud_dir: &Path, local_dir: &Path, after: Duration) -> bool {
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(exe)
        .args(["child", mode])
        .arg(cloud_dir)
        .arg(local_dir)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < after {
        if c.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    c.kill().unwrap();
    c.wait().unwrap();
    true
}

async fn publisher(cloud_dir: &Path, local_dir: &Path) -> Transport {
    let t = transport(cloud_dir, local_dir, true);
    let table = t
        .catalog()
        .create_table("t", &TableSchema::unpartitioned(schema()).unwrap())
        .await
        .unwrap();
    table.insert(&batch(0, 1000)).await.unwrap();
    t.publish("t", URI, Access::Public).await.unwrap();
    for v in 1..VERSIONS {
        table.insert(&batch(v * 1000, 1000)).await.unwrap();
    }
    t
}

async fn push_trials(trials: usize) -> (usize, usize) {
    let mut killed = 0;
    let mut budget = 400u64;
    for trial in 0..trials {
        let (cloud_dir, local_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let t = publisher(cloud_dir.path(), local_dir.path()).await;
        drop(t);
        let after = Duration::from_millis(jitter(budget));
        let was_killed = spawn_and_kill("push", cloud_dir.path(), local_dir.path(), after);
        killed += usize::from(was_killed);
        if !was_killed {
            budget = budget.saturating_sub(budget / 4).max(20);
        }
        // The cloud is at a committed version a reader can replicate.
        let reader_dir = tempfile::tempdir().unwrap();
        let reader = transport(cloud_dir.path(), reader_dir.path(), false);
        let r = reader.replicate(URI, "r").await.unwrap();
        assert!(r.version <= VERSIONS as u64, "trial {trial}");
        // Rerun sends exactly the files that had not arrived.
        let local = files(local_dir.path());
        let arrived = files(cloud_dir.path());
        let t = transport(cloud_dir.path(), local_dir.path(), true);
        let report = t.push("t").await.unwrap();
        let missing = local.difference(&arrived).count() as u64;
        assert_eq!(
            report.files_sent, missing,
            "trial {trial}: resent what had arrived"
        );
        assert_eq!(files(cloud_dir.path()), local, "trial {trial}");
        let check = transport(cloud_dir.path(), tempfile::tempdir().unwrap().path(), false);
        let r = check.replicate(URI, "r").await.unwrap();
        assert_eq!(r.version, VERSIONS as u64, "trial {trial}");
    }
    (trials, killed)
}

async fn pull_trials(trials: usize) -> (usize, usize) {
    let mut killed = 0;
    let mut budget = 400u64;
    for trial in 0..trials {
        let (cloud_dir, pub_dir, local_dir) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let p = publisher(cloud_dir.path(), pub_dir.path()).await;
        let b = transport(cloud_dir.path(), local_dir.path(), false);
        b.replicate(&format!("{URI}:0"), "r").await.unwrap();
        drop(b);
        p.push("t").await.unwrap();
        let after = Duration::from_millis(jitter(budget));
        let was_killed = spawn_and_kill("pull", cloud_dir.path(), local_dir.path(), after);
        killed += usize::from(was_killed);
        if !was_killed {
            budget = budget.saturating_sub(budget / 4).max(20);
        }
        let b = transport(cloud_dir.path(), local_dir.path(), false);
        let r = b.catalog().open_table("r").await.unwrap();
        let rows = r.scan().await.unwrap().batch.num_rows() as u64;
        assert_eq!(
            rows,
            r.version() * 1000,
            "trial {trial}: a committed version"
        );
        let have = files(local_dir.path());
        let report = b.pull("r").await.unwrap();
        let cloud_files = files(cloud_dir.path());
        let missing = cloud_files.difference(&have).count() as u64;
        assert_eq!(
            report.files_sent, missing,
            "trial {trial}: refetched what had arrived"
        );
        let r = b.catalog().open_table("r").await.unwrap();
        assert_eq!(r.version(), VERSIONS as u64, "trial {trial}");
    }
    (trials, killed)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args);
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (n, k) = rt.block_on(push_trials(20));
    println!("push: {k} of {n} trials killed mid-run");
    assert!(k >= 10, "push: too few kills landed mid-run ({k} of {n})");
    let (n, k) = rt.block_on(pull_trials(20));
    println!("pull: {k} of {n} trials killed mid-run");
    assert!(k >= 10, "pull: too few kills landed mid-run ({k} of {n})");
    println!("crash: ok");
}
