//! Guards "one winner per version" across real processes, on local disk, S3 and Azure blobs.
//!
//! The commit protocol rests on one store primitive: an atomic conditional create. In-process
//! tests (`concurrency.rs`) race tasks; here separate OS processes (this same test binary,
//! started with `TABLESHARE_RACE_CHILD` set) race through the store alone, released together
//! at one agreed wall-clock instant:
//!
//! - **create**: `CREATORS` processes create the same table path at once. Exactly one succeeds;
//!   every other one gets `AlreadyExists`.
//! - **append**: two processes each append `APPENDS` batches in a loop at once. Every append
//!   that reported success is in the final table exactly once, the versions they reported are
//!   exactly `1..=2 * APPENDS`, and the table's history is dense.
//!
//! A race that did not happen proves nothing, so each child counts its manifest puts through a
//! `FaultStore` (no faults armed: it only records) and the parent asserts that races happened:
//! for create, two processes issued a conditional create of the same catalog manifest (so the
//! store had to pick one winner); for append, a writer issued more manifest creates than it had
//! successful appends (it lost a conditional create, rebased and retried). Rounds repeat until
//! enough races were seen, up to a bound. On S3 and Azure this is also the proof that the
//! server's conditional create is atomic before any other test relies on it.
//!
//! This target has no libtest harness (`harness = false` in Cargo.toml), like `crash.rs`, so the
//! child modes are plain `main` branches; it prints a libtest-style summary line. S3 and Azure
//! run when configured (see `common`); `cargo xtask ci` requires both.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a test program: panics are failures, and it reports on stdout/stderr"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow_array::RecordBatch;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use tableshare_storage::{Catalog, StorageError};
use tableshare_testkit::{FaultStore, Op};

const CHILD_ENV: &str = "TABLESHARE_RACE_CHILD";
const STORE_ENV: &str = "TABLESHARE_RACE_STORE";
const START_ENV: &str = "TABLESHARE_RACE_START_MS";
const WRITER_ENV: &str = "TABLESHARE_RACE_WRITER";
const PATH_ENV: &str = "TABLESHARE_RACE_PATH";

/// Processes racing to create one path.
const CREATORS: usize = 4;
/// Create rounds at most, and how many of them must have raced at the store. On local disk a
/// commit takes about a millisecond, so only some rounds overlap (3 of 3 to 3 of 8 seen on a busy
/// 2-core machine); the bound leaves room for a slower one.
const CREATE_ROUNDS: usize = 30;
const CREATE_RACES_WANTED: usize = 3;
/// Appends per writer per round; append rounds at most; lost conditional creates wanted in all.
const APPENDS: i64 = 12;
const APPEND_ROUNDS: usize = 4;
const APPEND_LOSSES_WANTED: u64 = 3;
/// How far ahead of spawning the children their common start instant lies.
const START_DELAY: Duration = Duration::from_millis(600);
/// Ids of writer `w` are `w * ID_STRIDE + i`.
const ID_STRIDE: i64 = 1_000_000;

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The store a spec names: `local:<dir>`, `s3:<prefix>` of the test bucket or `azure:<prefix>`
/// of the test container.
fn open_store(spec: &str) -> Arc<dyn ObjectStore> {
    match spec.split_once(':') {
        Some(("local", dir)) => Arc::new(
            LocalFileSystem::new_with_prefix(dir)
                .unwrap()
                .with_fsync(true),
        ),
        Some(("s3", prefix)) => common::s3_store_at(prefix).expect("S3 is configured"),
        Some(("azure", prefix)) => common::azure_store_at(prefix).expect("Azure is configured"),
        _ => panic!("bad store spec {spec}"),
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// Sleeps until the agreed start instant.
async fn wait_for_start() {
    let start: u64 = env(START_ENV).parse().unwrap();
    let now = now_ms();
    if start > now {
        tokio::time::sleep(Duration::from_millis(start - now)).await;
    }
}

/// Paths of the manifest puts a recording store saw under `dir` (`catalog/` or `tables/`).
fn manifest_puts(store: &FaultStore, dir: &str) -> Vec<String> {
    store
        .requests()
        .into_iter()
        .filter(|r| r.op == Op::Put && r.path.contains(dir) && r.path.contains("/_versions/"))
        .map(|r| r.path)
        .collect()
}

fn batch(writer: i64, i: i64) -> RecordBatch {
    common::sample_rows(&[(writer * ID_STRIDE + i, "race", 0.0)])
}

/// Child mode `create`: create the table at the start instant; print the outcome and the
/// catalog manifests it tried to create.
fn child_create() {
    runtime().block_on(async {
        let store = FaultStore::new(open_store(&env(STORE_ENV)));
        let catalog = Catalog::open(store.clone(), "");
        let path = env(PATH_ENV);
        let schema = common::table_schema(common::sample_schema());
        wait_for_start().await;
        let outcome = match catalog.create_table(&path, &schema).await {
            Ok(_) => "ok".to_owned(),
            Err(StorageError::AlreadyExists { path: p }) if p == path => "exists".to_owned(),
            Err(other) => format!("error {other}"),
        };
        println!("outcome {outcome}");
        for put in manifest_puts(&store, "catalog/") {
            println!("put {put}");
        }
    });
}

/// Child mode `append`: append `APPENDS` batches from the start instant; print each version an
/// append reported and the number of table manifest creates made.
fn child_append() {
    runtime().block_on(async {
        let store = FaultStore::new(open_store(&env(STORE_ENV)));
        let catalog = Catalog::open(store.clone(), "");
        let writer: i64 = env(WRITER_ENV).parse().unwrap();
        let table = catalog.open_table(&env(PATH_ENV)).await.unwrap();
        wait_for_start().await;
        for i in 0..APPENDS {
            match table.insert(&batch(writer, i)).await {
                Ok(version) => println!("appended {i} {version}"),
                Err(error) => println!("failed {i} {error}"),
            }
        }
        println!("puts {}", manifest_puts(&store, "tables/").len());
    });
}

/// Starts `n` children of `mode` released together; returns each one's stdout lines.
fn run_children(mode: &str, spec: &str, path: &str, n: usize) -> Result<Vec<Vec<String>>, String> {
    let start = now_ms() + u64::try_from(START_DELAY.as_millis()).unwrap();
    let children: Vec<_> = (0..n)
        .map(|w| {
            Command::new(std::env::current_exe().unwrap())
                .env(CHILD_ENV, mode)
                .env(STORE_ENV, spec)
                .env(START_ENV, start.to_string())
                .env(WRITER_ENV, w.to_string())
                .env(PATH_ENV, path)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut outputs = Vec::new();
    for (w, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            return Err(format!(
                "{mode} child {w} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8(out.stdout).unwrap();
        outputs.push(text.lines().map(str::to_owned).collect());
    }
    Ok(outputs)
}

/// Test (a): racing creations of one path. Returns a description of what was seen.
fn race_creates(kind: &str, spec: &str) -> Result<String, String> {
    let rt = runtime();
    rt.block_on(Catalog::open(open_store(spec), "").create_dir("r"))
        .map_err(|e| e.to_string())?;
    let mut raced = 0;
    let mut rounds = 0;
    while rounds < CREATE_ROUNDS && raced < CREATE_RACES_WANTED {
        let path = format!("r.t{rounds}");
        rounds += 1;
        let outputs = run_children("create", spec, &path, CREATORS)?;
        let outcomes: Vec<&str> = outputs
            .iter()
            .map(|lines| {
                lines
                    .iter()
                    .find_map(|l| l.strip_prefix("outcome "))
                    .unwrap_or("missing")
            })
            .collect();
        let wins = outcomes.iter().filter(|o| **o == "ok").count();
        let exists = outcomes.iter().filter(|o| **o == "exists").count();
        if (wins, exists) != (1, CREATORS - 1) {
            return Err(format!(
                "{kind}: {path}: outcomes {outcomes:?}, want one ok"
            ));
        }
        // A race at the store: two processes tried to create the same catalog manifest.
        let mut tried: BTreeMap<&str, usize> = BTreeMap::new();
        for lines in &outputs {
            let mine: BTreeSet<&str> = lines
                .iter()
                .filter_map(|l| l.strip_prefix("put "))
                .collect();
            for put in mine {
                *tried.entry(put).or_default() += 1;
            }
        }
        if tried.values().any(|n| *n > 1) {
            raced += 1;
        }
    }
    // Every round left exactly one table, readable at version 0.
    let check = rt.block_on(async {
        let catalog = Catalog::open(open_store(spec), "");
        let listed = catalog.list("r", false).await.map_err(|e| e.to_string())?;
        if listed.len() != rounds {
            return Err(format!(
                "{kind}: {} tables after {rounds} rounds",
                listed.len()
            ));
        }
        for round in 0..rounds {
            let t = catalog
                .open_table(&format!("r.t{round}"))
                .await
                .map_err(|e| e.to_string())?;
            if t.version() != 0 {
                return Err(format!("{kind}: r.t{round} is at version {}", t.version()));
            }
        }
        Ok(())
    });
    check?;
    if raced < CREATE_RACES_WANTED {
        return Err(format!(
            "{kind}: only {raced} of {rounds} rounds raced at the store \
             (want {CREATE_RACES_WANTED})"
        ));
    }
    Ok(format!("{raced} of {rounds} rounds raced at the store"))
}

/// Test (b): two processes appending at once. Returns a description of what was seen.
fn race_appends(kind: &str, spec: &str) -> Result<String, String> {
    let rt = runtime();
    let mut losses = 0;
    let mut rounds = 0;
    while rounds < APPEND_ROUNDS && losses < APPEND_LOSSES_WANTED {
        let path = format!("a{rounds}");
        rounds += 1;
        rt.block_on(async {
            let catalog = Catalog::open(open_store(spec), "");
            catalog
                .create_table(&path, &common::table_schema(common::sample_schema()))
                .await
                .map(|_| ())
        })
        .map_err(|e| e.to_string())?;
        let outputs = run_children("append", spec, &path, 2)?;
        let mut versions = BTreeMap::new();
        let mut expected_ids = Vec::new();
        for (w, lines) in outputs.iter().enumerate() {
            let writer = i64::try_from(w).unwrap();
            let mut appended = 0;
            for line in lines {
                let words: Vec<&str> = line.split(' ').collect();
                match words.as_slice() {
                    ["appended", i, version] => {
                        let i: i64 = i.parse().unwrap();
                        let version: u64 = version.parse().unwrap();
                        if let Some(other) = versions.insert(version, (writer, i)) {
                            return Err(format!(
                                "{kind}: version {version} reported twice: {other:?} and {:?}",
                                (writer, i)
                            ));
                        }
                        expected_ids.push(writer * ID_STRIDE + i);
                        appended += 1;
                    }
                    ["puts", n] => {
                        let puts: u64 = n.parse().unwrap();
                        losses += puts.saturating_sub(appended);
                    }
                    _ => return Err(format!("{kind}: writer {w}: {line}")),
                }
            }
        }
        let n = 2 * u64::try_from(APPENDS).unwrap();
        if versions.keys().copied().ne(1..=n) {
            return Err(format!(
                "{kind}: reported versions {:?}, want 1..={n}",
                versions.keys()
            ));
        }
        let check = rt.block_on(async {
            let catalog = Catalog::open(open_store(spec), "");
            let table = catalog.open_table(&path).await.map_err(|e| e.to_string())?;
            let mut ids = common::ids(&table.scan().await.map_err(|e| e.to_string())?.batch);
            ids.sort_unstable();
            expected_ids.sort_unstable();
            if ids != expected_ids {
                return Err(format!(
                    "{kind}: table holds {} ids, {} appends succeeded (or ids repeat)",
                    ids.len(),
                    expected_ids.len()
                ));
            }
            let mut history: Vec<u64> = table
                .history()
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .map(|h| h.version)
                .collect();
            history.sort_unstable();
            if history.iter().copied().ne(0..=n) {
                return Err(format!(
                    "{kind}: history versions {history:?} are not dense"
                ));
            }
            // Each reported version holds its batch and the one before it does not.
            for (version, (writer, i)) in &versions {
                let id = writer * ID_STRIDE + i;
                let at = common::snapshot_at(&catalog, &path, *version).await;
                let before = common::snapshot_at(&catalog, &path, version - 1).await;
                let (at, before) = (
                    common::ids(&at.concat().unwrap()),
                    common::ids(&before.concat().unwrap()),
                );
                if !at.contains(&id) || before.contains(&id) {
                    return Err(format!("{kind}: id {id} did not land at version {version}"));
                }
            }
            Ok(())
        });
        check?;
    }
    if losses < APPEND_LOSSES_WANTED {
        return Err(format!(
            "{kind}: only {losses} lost conditional creates in {rounds} rounds \
             (want {APPEND_LOSSES_WANTED})"
        ));
    }
    Ok(format!(
        "{losses} lost conditional creates retried in {rounds} rounds"
    ))
}

fn main() -> ExitCode {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("create") => {
            child_create();
            return ExitCode::SUCCESS;
        }
        Ok("append") => {
            child_append();
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let dir = tempfile::tempdir().unwrap();
    let mut stores = vec![("local", format!("local:{}", dir.path().display()))];
    if common::s3_endpoint().is_some() {
        stores.push(("s3", format!("s3:t/{}", uuid::Uuid::new_v4())));
    }
    if common::azure_container().is_some() {
        stores.push(("azure", format!("azure:t/{}", uuid::Uuid::new_v4())));
    }
    let mut passed = 0;
    let mut failed = 0;
    for (kind, spec) in &stores {
        type Race = fn(&str, &str) -> Result<String, String>;
        let races: [(&str, Race); 2] = [("create", race_creates), ("append", race_appends)];
        for (name, race) in races {
            let started = std::time::Instant::now();
            match race(kind, spec) {
                Ok(seen) => {
                    passed += 1;
                    println!(
                        "test {name}_race_on_{kind} ... ok ({seen}; {:.1?})",
                        started.elapsed()
                    );
                }
                Err(error) => {
                    failed += 1;
                    println!("test {name}_race_on_{kind} ... FAILED");
                    eprintln!("FAILED {name}_race_on_{kind}: {error}");
                }
            }
        }
    }
    println!(
        "test result: {}. {passed} passed; {failed} failed",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
