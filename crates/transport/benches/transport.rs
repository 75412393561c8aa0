//! The transport benchmark program (`cargo xtask bench --only transport` runs it, one process
//! per round): publish and replicate of a big table to a cloud root against the physical limit
//! of that root (`cp -r` of the same files for file://, a plain parallel object_store upload and
//! download of the same files for S3), then the cost of changes: push of 1 row and of 1% of the
//! rows (bytes and requests), and pull of 100 one-row versions (time and requests).
//!
//! Usage: `transport ROWS WORK_DIR file|s3`; S3 is the server named by
//! `TABLESHARE_TEST_S3_ENDPOINT` / `TABLESHARE_TEST_S3_BUCKET`. Prints one JSON object.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    missing_docs,
    reason = "benchmark program"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::json;
use tableshare_core::TableSchema;
use tableshare_storage::Catalog;
use tableshare_testkit::FaultStore;
use tableshare_testkit::{bench_batch, bench_schema};
use tableshare_transport::{Access, CloudConfig, Transport};

const KEY: &str = "bench-key";
const URI: &str = "pxt://bench/big";
const PARALLEL: usize = 8;

fn cloud_store(kind: &str, work: &Path) -> Arc<dyn ObjectStore> {
    match kind {
        "file" => {
            let dir = work.join("cloud");
            std::fs::create_dir_all(&dir).unwrap();
            Arc::new(
                LocalFileSystem::new_with_prefix(dir)
                    .unwrap()
                    .with_fsync(true),
            )
        }
        "s3" => {
            let endpoint = std::env::var("TABLESHARE_TEST_S3_ENDPOINT").expect("S3 endpoint");
            let bucket = std::env::var("TABLESHARE_TEST_S3_BUCKET").expect("S3 bucket");
            let s3 = AmazonS3Builder::new()
                .with_endpoint(endpoint)
                .with_bucket_name(bucket)
                .with_region("us-east-1")
                .with_access_key_id("tableshare-test")
                .with_secret_access_key("tableshare-test")
                .with_allow_http(true)
                .with_virtual_hosted_style_request(false)
                .build()
                .unwrap();
            let prefix = format!("bench/{}", uuid::Uuid::new_v4());
            Arc::new(PrefixStore::new(s3, prefix.as_str()))
        }
        other => panic!("unknown cloud kind {other}"),
    }
}

/// Every file under `dir` with its path relative to `dir`.
fn files_under(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, p));
            }
        }
    }
    out
}

fn secs(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

fn sync() {
    std::process::Command::new("sync").status().unwrap();
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: i64 = args[1].parse().unwrap();
    let work = PathBuf::from(&args[2]);
    let kind = args[3].as_str();
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();

    let raw = cloud_store(kind, &work);
    let counted = FaultStore::new(Arc::clone(&raw));
    let cloud: Arc<dyn ObjectStore> = counted.clone();
    let config = CloudConfig::with_store(cloud, "").with_api_key(KEY);
    let alice = Transport::new(
        Catalog::open_local(work.join("alice")).unwrap(),
        config.clone(),
    );
    let schema = TableSchema::unpartitioned(bench_schema()).unwrap();
    let table = alice.catalog().create_table("big", &schema).await.unwrap();
    let step = 1_000_000.min(rows);
    let mut at = 0;
    while at < rows {
        let n = step.min(rows - at);
        table.insert(&bench_batch(at, n).unwrap()).await.unwrap();
        at += n;
    }
    let table_dir = work.join("alice").join(table.dir().dir());
    let table_bytes: u64 = files_under(&table_dir)
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum();
    sync();

    // Publish against the physical limit.
    counted.reset();
    let start = Instant::now();
    alice.publish("big", URI, Access::Public).await.unwrap();
    sync();
    let publish_s = secs(start);
    let publish_requests = counted.counts().total();
    let limit_up_s = match kind {
        "file" => {
            let start = Instant::now();
            let ok = std::process::Command::new("cp")
                .arg("-r")
                .arg(&table_dir)
                .arg(work.join("cp-up"))
                .status()
                .unwrap();
            assert!(ok.success());
            sync();
            secs(start)
        }
        _ => {
            let files = files_under(&table_dir);
            let target: Arc<dyn ObjectStore> = Arc::clone(&raw);
            let start = Instant::now();
            futures::stream::iter(files.into_iter().map(|(rel, p)| {
                let target = Arc::clone(&target);
                async move {
                    let bytes = tokio::fs::read(&p).await.unwrap();
                    let path = ObjectPath::from(format!("plain-upload/{rel}"));
                    target.put(&path, PutPayload::from(bytes)).await.unwrap();
                }
            }))
            .buffer_unordered(PARALLEL)
            .collect::<Vec<()>>()
            .await;
            secs(start)
        }
    };

    // Replicate against the physical limit.
    let bob = Transport::new(
        Catalog::open_local(work.join("bob")).unwrap(),
        config.clone().without_api_key(),
    );
    counted.reset();
    let start = Instant::now();
    bob.replicate(URI, "big").await.unwrap();
    sync();
    let replicate_s = secs(start);
    let replicate_requests = counted.counts().total();
    let limit_down_s = match kind {
        "file" => {
            let start = Instant::now();
            let ok = std::process::Command::new("cp")
                .arg("-r")
                .arg(work.join("cloud/bench/_/big"))
                .arg(work.join("cp-down"))
                .status()
                .unwrap();
            assert!(ok.success());
            sync();
            secs(start)
        }
        _ => {
            let listed: Vec<_> = raw
                .list(Some(&ObjectPath::from("bench/_/big")))
                .try_collect()
                .await
                .unwrap();
            let down = work.join("s3-down");
            std::fs::create_dir_all(&down).unwrap();
            let start = Instant::now();
            futures::stream::iter(listed.into_iter().enumerate().map(|(i, m)| {
                let raw = Arc::clone(&raw);
                let down = down.clone();
                async move {
                    let bytes = raw.get(&m.location).await.unwrap().bytes().await.unwrap();
                    tokio::fs::write(down.join(i.to_string()), bytes)
                        .await
                        .unwrap();
                }
            }))
            .buffer_unordered(PARALLEL)
            .collect::<Vec<()>>()
            .await;
            sync();
            secs(start)
        }
    };

    // Push of one row, then of 1% of the rows.
    table.insert(&bench_batch(rows, 1).unwrap()).await.unwrap();
    counted.reset();
    let start = Instant::now();
    let one = alice.push("big").await.unwrap();
    let push1_s = secs(start);
    let push1_requests = counted.counts().total();
    let pct = (rows / 100).max(1);
    table
        .insert(&bench_batch(rows + 1, pct).unwrap())
        .await
        .unwrap();
    counted.reset();
    let start = Instant::now();
    let hundredth = alice.push("big").await.unwrap();
    let push1pct_s = secs(start);
    let push1pct_requests = counted.counts().total();

    // Pull of 100 one-row versions.
    for i in 0..100 {
        table
            .insert(&bench_batch(rows + 1 + pct + i, 1).unwrap())
            .await
            .unwrap();
    }
    bob.pull("big").await.unwrap();
    alice.push("big").await.unwrap();
    counted.reset();
    let start = Instant::now();
    let pulled = bob.pull("big").await.unwrap();
    let pull100_s = secs(start);
    let pull100_requests = counted.counts().total();
    // At least the 100 appends (background compaction may add a version of its own).
    assert!(pulled.versions.len() >= 100, "{:?}", pulled.versions);

    println!(
        "{}",
        json!({
            "table_bytes": table_bytes,
            "publish_s": publish_s,
            "publish_requests": publish_requests,
            "limit_up_s": limit_up_s,
            "replicate_s": replicate_s,
            "replicate_requests": replicate_requests,
            "limit_down_s": limit_down_s,
            "push1_s": push1_s,
            "push1_bytes": one.bytes_sent,
            "push1_requests": push1_requests,
            "push1pct_s": push1pct_s,
            "push1pct_bytes": hundredth.bytes_sent,
            "push1pct_requests": push1pct_requests,
            "pull100_s": pull100_s,
            "pull100_requests": pull100_requests,
            "pull100_versions": pulled.versions.len(),
        })
    );
    let _ = std::fs::remove_dir_all(&work);
}
