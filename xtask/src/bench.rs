//! `cargo xtask bench`: tableshare's storage benchmark side by side with its peers, in one run.
//!
//! 1. Makes a Python virtual environment under `.bench/venv` with the pinned peers of
//!    `xtask/bench/requirements.txt` (pyarrow, deltalake, pylance).
//! 2. Runs tableshare's benchmark program (`crates/storage/benches/storage.rs`, release build) and
//!    the peers' script (`xtask/bench/peers.py`) on the same workloads, same data, same disk
//!    (`.bench/work`): the big write in alternating rounds (medians compared), then the rest of
//!    the workloads one side after the other.
//! 3. Prints a table of ratios (tableshare's time divided by the peer's: below 1 is faster) and,
//!    for a full run, rewrites the generated section of docs/performance.md.
//!
//! `--quick` runs small sizes to check that the machinery works; it never touches the docs.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::workspace_root;

/// Workload sizes: rows of the big write, appends, rows per append, the version to travel to,
/// and the versions of the many-version table.
struct Sizes {
    /// Alternating rounds of the big write (odd, so the median is one measurement).
    write_rounds: usize,
    rows: u64,
    appends: u64,
    append_rows: u64,
    travel: u64,
    many: u64,
}

const FULL: Sizes = Sizes {
    write_rounds: 5,
    rows: 10_000_000,
    appends: 200,
    append_rows: 1_000,
    travel: 100,
    many: 10_000,
};

const QUICK: Sizes = Sizes {
    write_rounds: 1,
    rows: 200_000,
    appends: 40,
    append_rows: 1_000,
    travel: 20,
    many: 200,
};

/// Every engine compared, tableshare first.
const ENGINES: [&str; 4] = ["tableshare", "pyarrow", "deltalake", "lance"];

const START: &str = "<!-- xtask bench: storage (generated; do not edit by hand) -->";
const END: &str = "<!-- end of xtask bench: storage -->";

/// Runs the benchmark; `args` are the words after `bench`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let quick = match args {
        [] => false,
        [flag] if flag == "--quick" => true,
        _ => bail!("usage: cargo xtask bench [--quick]"),
    };
    let sizes = if quick { &QUICK } else { &FULL };
    let root = workspace_root()?;
    let bench_dir = root.join(".bench");
    let python = ensure_venv(&root, &bench_dir)?;
    let work = bench_dir.join("work");
    let size_args = [
        sizes.rows,
        sizes.appends,
        sizes.append_rows,
        sizes.travel,
        sizes.many,
    ]
    .map(|n| n.to_string());

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let run_ours = |mode: &str| {
        json_output(
            Command::new(&cargo)
                .current_dir(&root)
                .args([
                    "bench",
                    "--locked",
                    "-p",
                    "tableshare-storage",
                    "--bench",
                    "storage",
                    "--",
                    mode,
                ])
                .arg(work.join("tableshare"))
                .args(&size_args),
        )
    };
    let run_peers = |mode: &str| {
        json_output(
            Command::new(&python)
                .arg(root.join("xtask/bench/peers.py"))
                .arg(mode)
                .arg(work.join("peers"))
                .args(&size_args[..4]),
        )
    };

    // The big write alternates between the sides, round after round, and each side's median
    // is compared: the disk's speed drifts over minutes, and alternating spreads the drift.
    let mut writes: Vec<(&str, Vec<f64>)> = ENGINES.iter().map(|e| (*e, Vec::new())).collect();
    for round in 1..=sizes.write_rounds {
        println!("==> big write, round {round} of {}", sizes.write_rounds);
        // Each side starts with no dirty pages left by the other: a journaling file system may
        // make one writer's fsync wait for another's unflushed data.
        flush_page_cache()?;
        let ours = run_ours("write")?;
        flush_page_cache()?;
        let peers = run_peers("write")?;
        for (engine, times) in &mut writes {
            let source = if *engine == "tableshare" {
                &ours
            } else {
                &peers[*engine]
            };
            times.push(metric(source, "write_big_s")?);
        }
    }
    println!("==> tableshare: appends, reads, many versions");
    let mut ours = run_ours("rest")?;
    println!("==> peers (pyarrow, deltalake, lance): appends and reads");
    let mut peers = run_peers("rest")?;
    for (engine, times) in &mut writes {
        times.sort_by(f64::total_cmp);
        let median = serde_json::json!(times[times.len() / 2]);
        let target = if *engine == "tableshare" {
            &mut ours
        } else {
            &mut peers[*engine]
        };
        if let Some(object) = target.as_object_mut() {
            object.insert("write_big_s".to_owned(), median);
            object.insert("write_big_runs".to_owned(), serde_json::json!(times));
        }
    }

    let report = render(sizes, &ours, &peers)?;
    println!("\n{report}");
    if quick {
        println!("(--quick: docs/performance.md left as it is)");
    } else {
        write_section(&root.join("docs/performance.md"), &report)?;
        println!("wrote docs/performance.md");
    }
    Ok(())
}

/// Creates `.bench/venv` with the pinned peers unless it already has them; returns its python.
fn ensure_venv(root: &Path, bench_dir: &Path) -> Result<std::path::PathBuf> {
    let venv = bench_dir.join("venv");
    let python = venv.join("bin/python");
    let requirements = root.join("xtask/bench/requirements.txt");
    let stamp = venv.join(".requirements");
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    println!("==> installing the benchmark peers into {}", venv.display());
    std::fs::create_dir_all(bench_dir)?;
    check_status(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    )?;
    check_status(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(&requirements),
        "pip install -r xtask/bench/requirements.txt",
    )?;
    std::fs::write(&stamp, wanted)?;
    Ok(python)
}

/// Writes every dirty page to disk (`sync`), so the next measurement pays for its own IO only.
fn flush_page_cache() -> Result<()> {
    check_status(&mut Command::new("sync"), "sync")
}

fn check_status(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Runs a command whose last stdout line is a JSON object; stderr passes through as progress.
fn json_output(command: &mut Command) -> Result<Value> {
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("could not start a benchmark program")?;
    if !output.status.success() {
        bail!("benchmark program failed ({})", output.status);
    }
    let stdout = String::from_utf8(output.stdout)?;
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .context("benchmark program printed no JSON")?;
    Ok(serde_json::from_str(line)?)
}

fn metric(v: &Value, key: &str) -> Result<f64> {
    v.get(key)
        .and_then(Value::as_f64)
        .with_context(|| format!("missing metric `{key}`"))
}

fn ms(seconds: f64) -> String {
    format!("{:.2} ms", seconds * 1000.0)
}

fn secs(seconds: f64) -> String {
    format!("{seconds:.3} s")
}

/// A compared workload: metric key, title template, peers measured, value formatter.
type Workload = (
    &'static str,
    &'static str,
    &'static [&'static str],
    fn(f64) -> String,
);

/// The markdown report: one table per workload, each peer's time and tableshare's ratio to it.
fn render(sizes: &Sizes, ours: &Value, peers: &Value) -> Result<String> {
    let mut out = String::new();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    writeln!(
        out,
        "Measured by `cargo xtask bench` on this project's build machine ({cores} cores). \
         Ratio = tableshare's time / the peer's time (below 1: tableshare is faster). All \
         sides write to the same local disk; tableshare fsyncs every file it commits.\n"
    )?;
    let workloads: [Workload; 6] = [
        (
            "write_big_s",
            "Write one table of {rows} rows (id int64, name utf8, value float64), median of {rounds} alternating rounds",
            &["pyarrow", "deltalake", "lance"],
            secs,
        ),
        (
            "append_median_s",
            "Durable append of {append_rows} rows, median of {appends}",
            &["pyarrow", "deltalake", "lance"],
            ms,
        ),
        (
            "append_p95_s",
            "Durable append of {append_rows} rows, p95 of {appends}",
            &["pyarrow", "deltalake", "lance"],
            ms,
        ),
        (
            "append_p99_s",
            "Durable append of {append_rows} rows, p99 of {appends}",
            &["pyarrow", "deltalake", "lance"],
            ms,
        ),
        (
            "open_latest_read_s",
            "Open the latest of {appends} versions and read it to Arrow",
            &["deltalake", "lance"],
            ms,
        ),
        (
            "travel_read_s",
            "Open version {travel} of {appends} and read it to Arrow",
            &["deltalake", "lance"],
            ms,
        ),
    ];
    for (key, title, names, fmt) in workloads {
        let title = title
            .replace("{rows}", &sizes.rows.to_string())
            .replace("{appends}", &sizes.appends.to_string())
            .replace("{append_rows}", &sizes.append_rows.to_string())
            .replace("{travel}", &sizes.travel.to_string())
            .replace("{rounds}", &sizes.write_rounds.to_string());
        let mine = metric(ours, key)?;
        // Where a metric is a median of alternating rounds, every round is shown too.
        let runs = |v: &Value| {
            v.get("write_big_runs")
                .and_then(Value::as_array)
                .filter(|_| key == "write_big_s")
                .map(|runs| {
                    let shown: Vec<String> =
                        runs.iter().filter_map(Value::as_f64).map(fmt).collect();
                    format!(" | {}", shown.join(", "))
                })
                .unwrap_or_default()
        };
        let runs_header = if key == "write_big_s" {
            (" | every round", " | ---")
        } else {
            ("", "")
        };
        writeln!(out, "**{title}**\n")?;
        writeln!(
            out,
            "| engine | time | tableshare / engine{} |",
            runs_header.0
        )?;
        writeln!(out, "| --- | ---: | ---:{} |", runs_header.1)?;
        writeln!(out, "| tableshare | {} | 1.00{} |", fmt(mine), runs(ours))?;
        for name in names {
            let theirs = metric(&peers[*name], key)?;
            writeln!(
                out,
                "| {name} | {} | {:.2}{} |",
                fmt(theirs),
                mine / theirs,
                runs(&peers[*name])
            )?;
        }
        writeln!(out)?;
    }
    // Row counts must agree, or the read comparison compares different work.
    for (key, rows_key) in [
        ("open_latest_read_s", "open_latest_rows"),
        ("travel_read_s", "travel_rows"),
    ] {
        let mine = metric(ours, rows_key)?;
        for name in ["deltalake", "lance"] {
            let theirs = metric(&peers[name], rows_key)?;
            if (mine - theirs).abs() > 0.5 {
                bail!("{key}: tableshare read {mine} rows but {name} read {theirs}");
            }
        }
    }
    writeln!(
        out,
        "**Opening the latest version as history grows** (fresh catalog, counting store)\n"
    )?;
    writeln!(out, "| versions | store requests | time |")?;
    writeln!(out, "| ---: | ---: | ---: |")?;
    writeln!(
        out,
        "| 10 | {} | {} |",
        metric(ours, "open_requests_few")?,
        ms(metric(ours, "open_s_few")?)
    )?;
    writeln!(
        out,
        "| {} | {} | {} |",
        sizes.many,
        metric(ours, "open_requests_many")?,
        ms(metric(ours, "open_s_many")?)
    )?;
    Ok(out)
}

/// Replaces the generated section of docs/performance.md (or appends it).
fn write_section(path: &Path, report: &str) -> Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let section = format!("{START}\n{report}{END}");
    let updated = match (existing.find(START), existing.find(END)) {
        (Some(a), Some(b)) if a < b => {
            format!(
                "{}{}{}",
                &existing[..a],
                section,
                &existing[b + END.len()..]
            )
        }
        _ => format!("{existing}\n{section}\n"),
    };
    std::fs::write(path, updated)?;
    Ok(())
}
