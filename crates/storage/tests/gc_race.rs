//! Guards garbage collection against commits that land while it runs, across real processes.
//!
//! Two child processes (this same test binary, started with `TABLESHARE_GC_RACE_CHILD`) append
//! uniquely numbered rows in a loop and print each append they got an acknowledgement for; a
//! third child collects the table with zero retention over and over. GC reads the latest
//! version, then lists versions, then deletes: a version committed in between must survive
//! (the bug this guards: GC deleted every listed version it had not walked, so acknowledged
//! appends vanished and the next writer re-created their version numbers with other content).
//!
//! Afterwards every acknowledged append must be in the table exactly once, the versions left
//! must be dense and the parent-hash chain whole, and the GC child must have seen versions
//! committed during its runs (otherwise the race never happened and the trial proves nothing).
//!
//! No libtest harness (`harness = false`): the child modes are plain `main` branches. It prints
//! a libtest-style summary line.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use tableshare_core::TableSchema;
use tableshare_storage::{Catalog, CatalogOptions, GcOptions};

const CHILD_ENV: &str = "TABLESHARE_GC_RACE_CHILD";
const TABLE: &str = "race.t";
const WRITERS: i64 = 2;
const APPENDS: i64 = 120;
const TRIALS: usize = 3;
const MAX_TRIALS: usize = 10;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Child: append rows `writer * 1_000_000 + i`, printing `ok ID` after each acknowledged one.
fn appender(dir: &str, writer: i64) -> ExitCode {
    runtime().block_on(async {
        let local = Catalog::open_local(dir).unwrap();
        let (store, prefix) = local.location();
        let options =
            CatalogOptions::default().with_max_commit_duration(Duration::from_millis(150));
        let catalog = Catalog::open_with_options(store, prefix, options);
        let table = catalog.open_table(TABLE).await.unwrap();
        let mut out = std::io::stdout().lock();
        for i in 0..APPENDS {
            let id = writer * 1_000_000 + i;
            let batch =
                RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from(vec![id]))]).unwrap();
            match table.insert(&batch).await {
                Ok(_) => writeln!(out, "ok {id}").unwrap(),
                Err(e) => writeln!(out, "err {id} {e}").unwrap(),
            }
            out.flush().unwrap();
            // A short pause, so that the run outlasts the age guard many times over and
            // versions become old enough to expire while the writers are still appending.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ExitCode::SUCCESS
    })
}

/// Child: collect with zero retention until killed, printing what each run saw.
fn collector(dir: &str) -> ExitCode {
    runtime().block_on(async {
        let catalog = Catalog::open_local(dir).unwrap();
        // Retention zero expires every version but the latest, once its successor is older than
        // the age guard (300 ms; writers here trust a base for half that).
        let options = GcOptions::new(Duration::ZERO, Duration::from_millis(300));
        let mut out = std::io::stdout().lock();
        loop {
            match catalog.gc_table(TABLE, &options).await {
                Ok(r) => writeln!(
                    out,
                    "gc {} {}",
                    r.versions_expired.len(),
                    r.versions_committed_meanwhile
                )
                .unwrap(),
                Err(e) => writeln!(out, "gcerr {e}").unwrap(),
            }
            out.flush().unwrap();
        }
    })
}

/// One trial; returns (acknowledged appends, versions expired, versions committed during GC).
fn trial(n: usize) -> Result<(usize, usize, usize), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_owned();
    runtime().block_on(async {
        let catalog = Catalog::open_local(&path).unwrap();
        catalog.create_dir("race").await.unwrap();
        catalog
            .create_table(TABLE, &TableSchema::unpartitioned(schema()).unwrap())
            .await
            .unwrap();
    });
    let spawn = |mode: String| {
        Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, mode)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    };
    let mut gc = spawn(format!("gc:{path}"));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| spawn(format!("append:{w}:{path}")))
        .collect();
    let mut acked: Vec<i64> = Vec::new();
    for mut w in writers {
        let stdout = w.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(id) = line.strip_prefix("ok ") {
                acked.push(id.parse().unwrap());
            } else {
                eprintln!("trial {n}: writer said: {line}");
            }
        }
        let status = w.wait().unwrap();
        if !status.success() {
            gc.kill().unwrap();
            gc.wait().unwrap();
            return Err(format!("trial {n}: a writer failed: {status}"));
        }
    }
    gc.kill().unwrap();
    gc.wait().unwrap();
    let (mut expired, mut meanwhile, mut runs) = (0, 0, 0);
    for line in BufReader::new(gc.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["gc", e, m] => {
                runs += 1;
                expired += e.parse::<usize>().unwrap();
                meanwhile += m.parse::<usize>().unwrap();
            }
            _ => eprintln!("trial {n}: collector said: {line}"),
        }
    }
    runtime().block_on(async {
        let catalog = Catalog::open_local(&path).unwrap();
        let table = catalog
            .open_table(TABLE)
            .await
            .map_err(|e| format!("trial {n}: reopen: {e}"))?;
        let data = table
            .scan()
            .await
            .map_err(|e| format!("trial {n}: scan: {e}"))?;
        let column = data.batch.column(0);
        let ids = column.as_any().downcast_ref::<Int64Array>().unwrap();
        let mut count: BTreeMap<i64, usize> = BTreeMap::new();
        for id in ids.values() {
            *count.entry(*id).or_default() += 1;
        }
        let lost: Vec<&i64> = acked.iter().filter(|id| !count.contains_key(id)).collect();
        let doubled: Vec<(&i64, &usize)> = count.iter().filter(|(_, c)| **c > 1).collect();
        if !lost.is_empty() || !doubled.is_empty() {
            return Err(format!(
                "trial {n}: {} acknowledged appends lost ({lost:?}), rows doubled: {doubled:?}",
                lost.len()
            ));
        }
        // The chain of what is left is whole: history walks it checking every parent hash.
        let history = table
            .history()
            .await
            .map_err(|e| format!("trial {n}: history: {e}"))?;
        let versions: Vec<u64> = history.iter().map(|h| h.version).collect();
        if versions.windows(2).any(|w| w[0] != w[1] + 1) {
            return Err(format!(
                "trial {n}: versions left are not dense: {versions:?}"
            ));
        }
        eprintln!(
            "trial {n}: {} appends acknowledged, {runs} GC runs expired {expired} versions, \
             {meanwhile} versions were committed while a GC ran: ok",
            acked.len()
        );
        Ok((acked.len(), expired, meanwhile))
    })
}

fn main() -> ExitCode {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        let parts: Vec<&str> = mode.splitn(3, ':').collect();
        return match parts.as_slice() {
            ["gc", dir] => collector(dir),
            ["append", w, dir] => appender(dir, w.parse().unwrap()),
            _ => ExitCode::FAILURE,
        };
    }
    let mut failures = Vec::new();
    let (mut expired, mut meanwhile) = (0, 0);
    // At least TRIALS trials, and more (up to MAX_TRIALS) until collections have expired versions
    // and seen versions committed while they ran: the race the test is about must have happened.
    let mut n = 0;
    while n < TRIALS || ((meanwhile == 0 || expired == 0) && n < MAX_TRIALS && failures.is_empty())
    {
        let result = trial(n);
        n += 1;
        match result {
            Ok((_, e, m)) => {
                expired += e;
                meanwhile += m;
            }
            Err(e) => failures.push(e),
        }
    }
    // The trials prove something only if GC really expired versions and really overlapped
    // with commits.
    if failures.is_empty() && (expired == 0 || meanwhile == 0) {
        failures.push(format!(
            "the race did not happen: {expired} versions expired, {meanwhile} committed during GC"
        ));
    }
    for f in &failures {
        eprintln!("FAILED {f}");
    }
    println!(
        "test result: {}. {} passed; {} failed",
        if failures.is_empty() { "ok" } else { "FAILED" },
        n - failures.len().min(n),
        failures.len()
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
