//! The workloads of issue 7 ("a table model that scales") in `cargo xtask bench`: the cost of a
//! live-table step at two table sizes (`crates/core/benches/live.rs`), a streaming scan of the
//! big stored table against pyarrow and DuckDB on the same Parquet files
//! (`crates/storage/benches/scan.rs`, `xtask/bench/scan_peers.py`), and `tableshare table show
//! BIG --limit 10` through the release CLI. Every measurement is a process of its own, so that its
//! peak resident memory is its own; the sides alternate within each round.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::Samples;
use super::sides::{Sides, build_bench, build_cli, flush_page_cache, json_output};

/// Sizes of the scale workloads.
pub(crate) struct ScaleSizes {
    /// Rounds (odd, so the median is one measurement).
    pub(crate) rounds: u64,
    /// The live tables' sizes, smaller first.
    pub(crate) live_rows: [u64; 2],
    /// One-row appends per live round.
    pub(crate) live_one_reps: u64,
    /// 1,000-row appends and updates per live round.
    pub(crate) live_reps: u64,
    /// Rows of the stored table that is scanned and shown.
    pub(crate) scan_rows: u64,
}

pub(crate) const FULL: ScaleSizes = ScaleSizes {
    rounds: 5,
    live_rows: [1_000_000, 10_000_000],
    live_one_reps: 2_000,
    live_reps: 300,
    scan_rows: 10_000_000,
};

pub(crate) const QUICK: ScaleSizes = ScaleSizes {
    rounds: 3,
    live_rows: [20_000, 200_000],
    live_one_reps: 200,
    live_reps: 50,
    scan_rows: 200_000,
};

/// The scan's peers, in the order each round runs them (after tableshare).
pub(crate) const SCAN_PEERS: [&str; 2] = ["pyarrow", "duckdb"];

/// What the scans read: one column, every column.
pub(crate) const SCAN_COLUMNS: [&str; 2] = ["value", "all"];

/// The rows `table show` prints.
pub(crate) const SHOW_LIMIT: u64 = 10;

/// Runs every round of the scale workloads into `samples`.
pub(crate) fn run(
    root: &Path,
    sides: &Sides,
    sizes: &ScaleSizes,
    samples: &mut Samples,
) -> Result<()> {
    let live = build_bench(root, "tableshare-core", "live")?;
    let scan = build_bench(root, "tableshare-storage", "scan")?;
    let cli = build_cli(root)?;
    let peers = root.join("xtask/bench/scan_peers.py");
    let home = sides.work().join("scale");

    println!("==> writing (or reusing) the {}-row table", sizes.scan_rows);
    let data = json_output(
        Command::new(&scan)
            .arg("data")
            .arg(&home)
            .arg(sizes.scan_rows.to_string()),
    )
    .context("tableshare scan data")?;
    let files: Vec<String> = data["files"]
        .as_array()
        .context("`data` listed no files")?
        .iter()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    samples
        .entry("tableshare".into())
        .or_default()
        .insert("scan_files".into(), vec![files.len() as f64]);

    for round in 1..=sizes.rounds {
        println!(
            "==> round {round} of {}: live steps, scans, table show",
            sizes.rounds
        );
        for rows in sizes.live_rows {
            let measured = json_output(Command::new(&live).args([
                "live".to_owned(),
                rows.to_string(),
                sizes.live_one_reps.to_string(),
                sizes.live_reps.to_string(),
            ]))
            .with_context(|| format!("live steps, {rows} rows"))?;
            record(samples, "tableshare", &format!("live_{rows}_"), &measured)?;
        }
        for columns in SCAN_COLUMNS {
            let prefix = format!("scan_{columns}_");
            flush_page_cache()?;
            let mut ours = Command::new(&scan);
            ours.arg("scan").arg(&home).arg(columns);
            let measured = json_output(&mut ours).context("tableshare scan")?;
            record(samples, "tableshare", &prefix, &measured)?;
            for peer in SCAN_PEERS {
                flush_page_cache()?;
                let mut command = Command::new(sides.python());
                command
                    .arg(&peers)
                    .args(["scan", peer, columns])
                    .args(&files);
                let measured = json_output(&mut command).with_context(|| format!("{peer} scan"))?;
                record(samples, peer, &prefix, &measured)?;
            }
        }
        flush_page_cache()?;
        let (secs, rss) = show(&cli, &home)?;
        record(
            samples,
            "tableshare",
            "show_",
            &json!({"s": secs, "peak_rss_bytes": rss}),
        )?;
    }
    check_rows(samples, sizes)
}

/// Adds one program's JSON object to `samples` under `prefix`: numbers only (lists such as the
/// data files are not measurements).
fn record(samples: &mut Samples, engine: &str, prefix: &str, measured: &Value) -> Result<()> {
    let object = measured
        .as_object()
        .context("a benchmark program printed JSON that is not an object")?;
    let metrics = samples.entry(engine.to_owned()).or_default();
    for (key, value) in object {
        if let Some(n) = value.as_f64() {
            metrics.entry(format!("{prefix}{key}")).or_default().push(n);
        }
    }
    Ok(())
}

/// Runs `tableshare --home HOME table show big --limit 10` under `/usr/bin/time`: wall time
/// (spawn to exit, measured here) and the process's peak resident memory (`%M`, KiB).
fn show(cli: &Path, home: &Path) -> Result<(f64, f64)> {
    let time = PathBuf::from("/usr/bin/time");
    if !time.exists() {
        bail!("/usr/bin/time is needed to read the CLI's peak memory (apt-get install time)");
    }
    let report = home.join("show-time.txt");
    let started = Instant::now();
    let output = Command::new(&time)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(cli)
        .arg("--home")
        .arg(home)
        .args(["table", "show", "big", "--limit", &SHOW_LIMIT.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .context("could not start the CLI")?;
    let secs = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!("tableshare table show failed ({})", output.status);
    }
    let stdout = String::from_utf8(output.stdout)?;
    if !stdout.contains("(version ") {
        bail!("tableshare table show printed no rows line:\n{stdout}");
    }
    let kib: f64 = std::fs::read_to_string(&report)?
        .trim()
        .lines()
        .last()
        .context("/usr/bin/time wrote nothing")?
        .trim()
        .parse()
        .context("/usr/bin/time's %M is not a number")?;
    Ok((secs, kib * 1024.0))
}

/// Every side's scans must have read every row.
fn check_rows(samples: &Samples, sizes: &ScaleSizes) -> Result<()> {
    for engine in std::iter::once("tableshare").chain(SCAN_PEERS) {
        for columns in SCAN_COLUMNS {
            let key = format!("scan_{columns}_rows");
            let rows = samples
                .get(engine)
                .and_then(|m| m.get(&key))
                .with_context(|| format!("{engine}: no `{key}`"))?;
            if rows.iter().any(|r| *r as u64 != sizes.scan_rows) {
                bail!("{engine} scanned {rows:?} rows, not {}", sizes.scan_rows);
            }
        }
    }
    Ok(())
}
