//! The workloads of issue 10, the table data service (`cargo xtask bench --only tds`): a full
//! scan of a Parquet-backed table through the service against reading the same files directly
//! with the parquet crate and with pyarrow.dataset; `make_table` over many locations (time and
//! store requests); and how long a refreshing table takes to tick after a new location's file
//! lands. The programs are `crates/tds/benches/tds.rs` and `xtask/bench/tds_peers.py`; every
//! measurement is a process of its own, and the scan's sides alternate within each round.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::Samples;
use super::report::{ms, secs, series, stat};
use super::sides::{build_bench, flush_page_cache, json_output};

/// The name of this report's generated section of docs/performance.md.
pub(super) const SECTION: &str = "tds";

/// Goal: the service's scan at least this fast relative to the direct read.
const SPEED_GOAL: f64 = 0.8;

/// Sizes of the table data service workloads.
pub(super) struct TdsSizes {
    rounds: u64,
    rows: u64,
    locations: u64,
    small_locations: u64,
    /// Poll intervals (ms) of the refreshing table, with the landings per round for each.
    polls: [(u64, u64); 2],
}

pub(super) const FULL: TdsSizes = TdsSizes {
    rounds: 5,
    rows: 10_000_000,
    locations: 100,
    small_locations: 1_000,
    polls: [(100, 20), (1_000, 6)],
};

pub(super) const QUICK: TdsSizes = TdsSizes {
    rounds: 3,
    rows: 200_000,
    locations: 100,
    small_locations: 100,
    polls: [(100, 5), (1_000, 2)],
};

/// The scan's sides, in the order each round runs them: engine key, title, how it reads, the
/// words of tableshare's program before and after the folder (none: pyarrow).
type ScanSide = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

const SCAN_SIDES: [ScanSide; 5] = [
    (
        "service",
        "tableshare TableDataService",
        "`ParquetBackend` on a `LocalFileSystem`, `make_table` (static), default options",
        &["service"],
    ),
    (
        "service-1m",
        "tableshare TableDataService, 1 Mi-row pages",
        "the same with `ServiceOptions::with_page_size(1_048_576)` (a page spans a whole file)",
        &["service", "1048576"],
    ),
    (
        "direct-stream",
        "parquet crate, direct, streamed",
        "`ParquetRecordBatchReaderBuilder` per file, one thread per core, each batch dropped",
        &["direct", "stream"],
    ),
    (
        "direct-hold",
        "parquet crate, direct, held",
        "the same, every batch kept in memory to the end (as the service's table holds its rows)",
        &["direct", "hold"],
    ),
    (
        "pyarrow",
        "pyarrow.dataset",
        "`dataset(DIR, partitioning=\"hive\").to_table()`",
        &[],
    ),
];

/// Runs every round and renders the report.
pub(super) fn run(root: &Path, sizes: &TdsSizes) -> Result<String> {
    let exe = build_bench(root, "tableshare-tds", "tds")?;
    let python = crate::venv::ensure(
        &root.join(".bench/venv"),
        &root.join("xtask/bench/requirements.txt"),
        "the benchmark peers",
    )?;
    let peers = root.join("xtask/bench/tds_peers.py");
    let work = root.join(".bench/work/tds");
    println!(
        "==> writing (or reusing) the {}-row table of {} locations and the {}-location table",
        sizes.rows, sizes.locations, sizes.small_locations
    );
    json_output(
        Command::new(&exe)
            .arg("data")
            .arg(&work)
            .arg(sizes.rows.to_string())
            .arg(sizes.locations.to_string())
            .arg(sizes.small_locations.to_string()),
    )
    .context("tds data")?;

    let mut samples = Samples::new();
    for round in 1..=sizes.rounds {
        println!(
            "==> round {round} of {}: scans, make_table, refresh",
            sizes.rounds
        );
        for (engine, _, _, words) in SCAN_SIDES {
            flush_page_cache()?;
            let mut command = match words.split_first() {
                None => {
                    let mut c = Command::new(&python);
                    c.arg(&peers).arg("scan").arg(&work);
                    c
                }
                Some((mode, rest)) => {
                    let mut c = Command::new(&exe);
                    c.arg(mode).arg(&work).args(rest);
                    c
                }
            };
            let measured = json_output(&mut command).with_context(|| format!("{engine} scan"))?;
            super::record(&mut samples, engine, &measured)?;
        }
        let measured = json_output(Command::new(&exe).arg("make").arg(&work))?;
        super::record(&mut samples, "make", &measured)?;
        for (poll, landings) in sizes.polls {
            let measured = json_output(Command::new(&exe).args([
                "refresh".to_owned(),
                work.display().to_string(),
                poll.to_string(),
                landings.to_string(),
            ]))?;
            super::record(&mut samples, &format!("refresh_{poll}"), &measured)?;
        }
    }
    for (engine, _, _, _) in SCAN_SIDES {
        let rows = series(&samples, engine, "rows")?;
        if rows.iter().any(|r| *r as u64 != sizes.rows) {
            bail!("{engine} read {rows:?} rows, not {}", sizes.rows);
        }
    }
    let made = series(&samples, "make", "rows")?;
    if made
        .iter()
        .any(|r| *r as u64 != sizes.small_locations * 100)
    {
        bail!("make_table held {made:?} rows");
    }
    render(sizes, &samples)
}

/// The nearest-rank percentile `p` (0 to 100) of `values`.
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn render(sizes: &TdsSizes, samples: &Samples) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "Command: `cargo xtask bench --only tds`; {} rows (id int64, name utf8, value float64) \
         in {} hive locations (`loc=N/data.parquet`, one file each, written by the parquet \
         crate's defaults), median of {} rounds (range in brackets), the sides alternating \
         within each round, each in a process of its own after a `sync`; the files are in the \
         page cache for every side (warm reads; nothing here writes durably).\n",
        sizes.rows, sizes.locations, sizes.rounds
    )?;
    let service = stat(samples, "service", "s")?;
    writeln!(
        out,
        "| full scan | how | time | service time / this | service speed vs this | goal ≥ {SPEED_GOAL}x |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- |")?;
    for (engine, title, how, _) in SCAN_SIDES {
        let s = stat(samples, engine, "s")?;
        let (ratio, speed, goal) = if engine.starts_with("service") {
            ("–".to_owned(), "–".to_owned(), "–")
        } else {
            let speed = s.median / service.median;
            (
                format!("{:.2}", service.median / s.median),
                format!("{speed:.2}x"),
                if speed >= SPEED_GOAL {
                    "met"
                } else {
                    "not met"
                },
            )
        };
        writeln!(
            out,
            "| {title} | {how} | {} [{}–{}] | {ratio} | {speed} | {goal} |",
            secs(s.median),
            secs(s.min),
            secs(s.max),
        )?;
    }
    writeln!(out)?;
    let make = stat(samples, "make", "s")?;
    let count = |key| stat(samples, "make", key).map(|s| s.median);
    writeln!(
        out,
        "`make_table` (static, every column fetched) of a table of {} locations of 100 rows, \
         through a request-counting store wrapper (`tableshare_testkit::FaultStore`, no fault \
         armed): **{} [{}–{}]**, {:.0} store requests ({:.0} GET, {:.0} HEAD, {:.0} LIST), \
         {:.2} per location.\n",
        sizes.small_locations,
        secs(make.median),
        secs(make.min),
        secs(make.max),
        count("requests")?,
        count("get")?,
        count("head")?,
        count("list")?,
        count("requests")? / sizes.small_locations as f64,
    )?;
    writeln!(
        out,
        "| refreshing table, new location landed | backend poll interval | landings | p50 | p90 | max |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- |")?;
    for (poll, _) in sizes.polls {
        let latencies = series(samples, &format!("refresh_{poll}"), "latency_s")?;
        writeln!(
            out,
            "| rename into `loc=N/` → step with its rows | {poll} ms | {} | {} | {} | {} |",
            latencies.len(),
            ms(percentile(latencies, 50.0)),
            ms(percentile(latencies, 90.0)),
            ms(percentile(latencies, 100.0)),
        )?;
    }
    Ok(out)
}
