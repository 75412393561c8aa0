//! Crash safety across real processes: a pushing and a pulling process are SIGKILLed at random
//! moments of their transfer (at least 20 trials each; the kill clock starts when the child
//! reports its first planned transfer, and shrinks while children finish first), with the cloud on local disk and, when
//! `TABLESHARE_TEST_S3_ENDPOINT` is set (`cargo xtask ci` sets and requires it), on the local S3
//! server. Afterwards the cloud table and the replica are at a committed, readable version, and
//! running the command again completes while sending exactly the files that had not arrived
//! (nothing that arrived is sent again). Then racing pushers: two processes, clones of one
//! publisher, push different versions at once; one wins, the other is refused, nothing is lost.
//!
//! The test runs itself as the child (`crash child push|pull CLOUD LOCAL`, CLOUD a folder or
//! `s3:PREFIX`), so it has its own `main` (`harness = false` in Cargo.toml).
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr,
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
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;
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

/// Where a trial's cloud is: a folder, or a fresh prefix on the local S3 server (`s3:PREFIX`).
/// Either way it is named by one argument, so the child process can open the same cloud.
fn cloud(spec: &str) -> Arc<dyn ObjectStore> {
    match spec.strip_prefix("s3:") {
        Some(prefix) => {
            let endpoint = std::env::var("TABLESHARE_TEST_S3_ENDPOINT").unwrap();
            let bucket = std::env::var("TABLESHARE_TEST_S3_BUCKET")
                .unwrap_or_else(|_| "tableshare-test".into());
            let s3 = AmazonS3Builder::new()
                .with_endpoint(endpoint)
                .with_bucket_name(bucket)
                .with_region("us-east-1")
                .with_access_key_id("tableshare-test")
                .with_secret_access_key("tableshare-test")
                .with_allow_http(true)
                .build()
                .unwrap();
            Arc::new(PrefixStore::new(s3, prefix))
        }
        None => Arc::new(
            LocalFileSystem::new_with_prefix(spec)
                .unwrap()
                .with_fsync(true),
        ),
    }
}

/// Names of the data files and deletion vectors the cloud holds (listed through the store, so
/// the same for a folder and for S3).
async fn cloud_files(spec: &str) -> BTreeSet<String> {
    let store = cloud(spec);
    let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
    listed
        .into_iter()
        .filter_map(|meta| {
            let mut parts = meta.location.as_ref().rsplit('/');
            let (name, parent) = (parts.next()?, parts.next()?);
            matches!(parent, "data" | "dv").then(|| name.to_owned())
        })
        .collect()
}

/// A fresh cloud for one trial: a folder (kept alive by the returned guard) or an S3 prefix.
fn fresh_cloud(on_s3: bool) -> (String, Option<tempfile::TempDir>) {
    if on_s3 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        (format!("s3:crash/{}-{nanos}", std::process::id()), None)
    } else {
        let dir = tempfile::tempdir().unwrap();
        (dir.path().display().to_string(), Some(dir))
    }
}

fn transport(cloud_spec: &str, local_dir: &Path, key: bool) -> Transport {
    let mut config = CloudConfig::with_store(cloud(cloud_spec), "");
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

/// The line a child prints when its first transfer is planned: the parent's kill clock starts
/// there, so kills land in the transfer and the commits after it, not in process start-up.
const PLANNED: &str = "planned";

fn child(args: &[String]) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (cloud_dir, local_dir) = (args[3].as_str(), Path::new(&args[4]));
    let said = std::sync::atomic::AtomicBool::new(false);
    let progress: tableshare_transport::ProgressFn = Arc::new(move |event| {
        if matches!(event, tableshare_transport::ProgressEvent::Planned { .. })
            && !said.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{PLANNED}");
            let _ = out.flush();
        }
    });
    rt.block_on(async {
        match args[2].as_str() {
            "push" => {
                let t = transport(cloud_dir, local_dir, true).with_progress(progress);
                if let Err(error) = t.push("t").await {
                    // The racing pushers' loser: refused, said why, and exits 1.
                    eprintln!("{error}");
                    std::process::exit(1);
                }
            }
            "pull" => {
                transport(cloud_dir, local_dir, false)
                    .with_progress(progress)
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

/// Runs a child and SIGKILLs it `after` its first transfer was planned (see [`PLANNED`]);
/// `false` if it finished first.
fn spawn_and_kill(mode: &str, cloud_dir: &str, local_dir: &Path, after: Duration) -> bool {
    use std::io::BufRead;
    let exe = std::env::current_exe().unwrap();
    let mut c = Command::new(exe)
        .args(["child", mode])
        .arg(cloud_dir)
        .arg(local_dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the planned line (or the end of the child's output: it finished or failed).
    let mut line = String::new();
    let mut out = std::io::BufReader::new(c.stdout.take().unwrap());
    let _ = out.read_line(&mut line);
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

async fn publisher(cloud_dir: &str, local_dir: &Path) -> Transport {
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

/// Runs push trials; returns (trials, kills that landed, kills that landed mid-transfer: some
/// but not all of the files had arrived).
async fn push_trials(trials: usize, on_s3: bool) -> (usize, usize, usize) {
    let mut killed = 0;
    let mut partial = 0;
    let mut budget = 100u64;
    for trial in 0..trials {
        let ((cloud_dir, _guard), local_dir) = (fresh_cloud(on_s3), tempfile::tempdir().unwrap());
        let cloud_dir = cloud_dir.as_str();
        let t = publisher(cloud_dir, local_dir.path()).await;
        drop(t);
        let to_send = files(local_dir.path())
            .difference(&cloud_files(cloud_dir).await)
            .count();
        let after = Duration::from_millis(jitter(budget));
        let was_killed = spawn_and_kill("push", cloud_dir, local_dir.path(), after);
        killed += usize::from(was_killed);
        if !was_killed {
            budget = budget.saturating_sub(budget / 4).max(5);
        }
        // The cloud is at a committed version a reader can replicate.
        let reader_dir = tempfile::tempdir().unwrap();
        let reader = transport(cloud_dir, reader_dir.path(), false);
        let r = reader.replicate(URI, "r").await.unwrap();
        assert!(r.version <= VERSIONS as u64, "trial {trial}");
        // Rerun sends exactly the files that had not arrived.
        let local = files(local_dir.path());
        let arrived = cloud_files(cloud_dir).await;
        let t = transport(cloud_dir, local_dir.path(), true);
        let report = t.push("t").await.unwrap();
        let missing = local.difference(&arrived).count() as u64;
        partial += usize::from(missing > 0 && missing < to_send as u64);
        // A kill after every file had arrived landed in the commits: aim earlier.
        if was_killed && missing == 0 {
            budget = budget.saturating_sub(budget / 4).max(5);
        }
        assert_eq!(
            report.files_sent, missing,
            "trial {trial}: resent what had arrived"
        );
        assert_eq!(cloud_files(cloud_dir).await, local, "trial {trial}");
        let check = transport(cloud_dir, tempfile::tempdir().unwrap().path(), false);
        let r = check.replicate(URI, "r").await.unwrap();
        assert_eq!(r.version, VERSIONS as u64, "trial {trial}");
    }
    (trials, killed, partial)
}

/// Runs pull trials; returns (trials, kills that landed, kills that landed mid-transfer).
async fn pull_trials(trials: usize, on_s3: bool) -> (usize, usize, usize) {
    let mut killed = 0;
    let mut partial = 0;
    let mut budget = 100u64;
    for trial in 0..trials {
        let ((cloud_dir, _guard), pub_dir, local_dir) = (
            fresh_cloud(on_s3),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let cloud_dir = cloud_dir.as_str();
        let p = publisher(cloud_dir, pub_dir.path()).await;
        let b = transport(cloud_dir, local_dir.path(), false);
        b.replicate(&format!("{URI}:0"), "r").await.unwrap();
        drop(b);
        p.push("t").await.unwrap();
        let to_fetch = cloud_files(cloud_dir)
            .await
            .difference(&files(local_dir.path()))
            .count();
        let after = Duration::from_millis(jitter(budget));
        let was_killed = spawn_and_kill("pull", cloud_dir, local_dir.path(), after);
        killed += usize::from(was_killed);
        if !was_killed {
            budget = budget.saturating_sub(budget / 4).max(5);
        }
        let b = transport(cloud_dir, local_dir.path(), false);
        let r = b.catalog().open_table("r").await.unwrap();
        let rows = r.scan().await.unwrap().batch.num_rows() as u64;
        assert_eq!(
            rows,
            r.version() * 1000,
            "trial {trial}: a committed version"
        );
        let have = files(local_dir.path());
        let report = b.pull("r").await.unwrap();
        let in_cloud = cloud_files(cloud_dir).await;
        let missing = in_cloud.difference(&have).count() as u64;
        partial += usize::from(missing > 0 && missing < to_fetch as u64);
        // A kill after every file had arrived landed in the commits: aim earlier.
        if was_killed && missing == 0 {
            budget = budget.saturating_sub(budget / 4).max(5);
        }
        assert_eq!(
            report.files_sent, missing,
            "trial {trial}: refetched what had arrived"
        );
        let r = b.catalog().open_table("r").await.unwrap();
        assert_eq!(r.version(), VERSIONS as u64, "trial {trial}");
    }
    (trials, killed, partial)
}

/// Copies a folder tree (a machine's catalog, cloned).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Racing pushers in two processes: two clones of the publisher's machine each commit a
/// different version 2 (0 created the table, 1 was published), then push at the same moment. Exactly one wins; the other exits 1 with a
/// non-fast-forward error naming the versions; the cloud holds exactly the winner's version and
/// nothing is lost. Returns (rounds, rounds where both reached the commit: the loser's data files
/// are in the cloud, so it lost at the conditional create and not at the early check).
async fn racing_pushers(rounds: usize, on_s3: bool) -> (usize, usize) {
    let mut raced = 0;
    for round in 0..rounds {
        let (cloud_dir, _guard) = fresh_cloud(on_s3);
        let cloud_dir = cloud_dir.as_str();
        let machines = tempfile::tempdir().unwrap();
        let (a, b) = (machines.path().join("a"), machines.path().join("b"));
        let t = transport(cloud_dir, &a, true);
        let table = t
            .catalog()
            .create_table("t", &TableSchema::unpartitioned(schema()).unwrap())
            .await
            .unwrap();
        table.insert(&batch(0, 1000)).await.unwrap();
        t.publish("t", URI, Access::Public).await.unwrap();
        drop((table, t));
        copy_dir(&a, &b);
        for (dir, from) in [(&a, 100_000), (&b, 200_000)] {
            let t = transport(cloud_dir, dir, true);
            let table = t.catalog().open_table("t").await.unwrap();
            table.insert(&batch(from, 5000)).await.unwrap();
        }
        let cloud_before = cloud_files(cloud_dir).await;
        let own = |dir: &Path| -> BTreeSet<String> {
            files(dir).difference(&cloud_before).cloned().collect()
        };
        let (own_a, own_b) = (own(&a), own(&b));
        let exe = std::env::current_exe().unwrap();
        let spawn = |dir: &Path| {
            Command::new(&exe)
                .args(["child", "push", cloud_dir])
                .arg(dir)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (pa, pb) = (spawn(&a), spawn(&b));
        let (oa, ob) = (
            pa.wait_with_output().unwrap(),
            pb.wait_with_output().unwrap(),
        );
        let (loser, winner_files, loser_files) = match (oa.status.code(), ob.status.code()) {
            (Some(0), Some(1)) => (ob, &own_a, &own_b),
            (Some(1), Some(0)) => (oa, &own_b, &own_a),
            other => panic!("round {round}: expected one winner and one refusal, got {other:?}"),
        };
        let message = String::from_utf8(loser.stderr).unwrap();
        assert!(
            message.contains("non-fast-forward") && message.contains("version 2"),
            "round {round}: {message}"
        );
        // Nothing lost: the cloud is at the winner's version 2 with the winner's rows.
        let reader_dir = tempfile::tempdir().unwrap();
        let reader = transport(cloud_dir, reader_dir.path(), false);
        assert_eq!(reader.replicate(URI, "r").await.unwrap().version, 2);
        let r = reader.catalog().open_table("r").await.unwrap();
        assert_eq!(
            r.scan().await.unwrap().batch.num_rows(),
            6000,
            "round {round}"
        );
        let in_cloud = cloud_files(cloud_dir).await;
        assert!(winner_files.is_subset(&in_cloud), "round {round}");
        raced += usize::from(!loser_files.is_disjoint(&in_cloud));
    }
    (rounds, raced)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args);
        return;
    }
    let s3 = match std::env::var("TABLESHARE_TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => true,
        _ => {
            assert!(
                std::env::var("TABLESHARE_TEST_REQUIRE_S3").as_deref() != Ok("1"),
                "TABLESHARE_TEST_REQUIRE_S3=1 but TABLESHARE_TEST_S3_ENDPOINT is not set"
            );
            println!("S3 not configured: the crash trials run on local disk only");
            false
        }
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    for on_s3 in [false, true] {
        if on_s3 && !s3 {
            continue;
        }
        let store = if on_s3 { "s3" } else { "local disk" };
        for (mode, (n, k, p)) in [
            ("push", rt.block_on(push_trials(20, on_s3))),
            ("pull", rt.block_on(pull_trials(20, on_s3))),
        ] {
            println!(
                "{mode} ({store}): {k} of {n} trials killed mid-run, {p} with some but not all \
                 files moved"
            );
            assert!(
                k >= 10,
                "{mode} ({store}): too few kills landed ({k} of {n})"
            );
            // The race the test is for happened: kills that left a transfer half done.
            assert!(
                p >= 3,
                "{mode} ({store}): too few kills mid-transfer ({p} of {n})"
            );
        }
        let (n, raced) = rt.block_on(racing_pushers(10, on_s3));
        println!("racing pushers ({store}): {raced} of {n} rounds raced to the commit");
        assert!(
            raced >= 1,
            "racing pushers ({store}): no round raced to the commit"
        );
    }
    println!("crash: ok");
}
