//! The report of the scale workloads of `cargo xtask bench` (issue 7): markdown tables of the
//! live-step costs, the scans against pyarrow and DuckDB, and `table show`, with each goal of
//! docs/performance.md marked met or not. A full run writes it into its own generated section.

use std::fmt::Write as _;

use anyhow::Result;

use super::Samples;
use super::report::{Stats, ms, secs, series, stat, stats};
use super::scale::{SCAN_COLUMNS, SCAN_PEERS, SHOW_LIMIT, ScaleSizes};

/// The name of this report's generated section of docs/performance.md.
pub(super) const SECTION: &str = "scale";

/// The goals (docs/performance.md, "Scale goals").
const APPEND_1_P50_GOAL_S: f64 = 50e-6;
const SCAN_ONE_COLUMN_RSS_GOAL: f64 = 100e6;
const SHOW_TIME_GOAL_S: f64 = 0.2;
const SHOW_RSS_GOAL: f64 = 100e6;

/// The step kinds of the live benchmark, with their titles.
const STEPS: [(&str, &str); 3] = [
    ("append_1", "append 1 row"),
    ("append_1000", "append 1,000 rows"),
    ("update_1000", "update 1,000 rows (one column, middle)"),
];

fn us(seconds: f64) -> String {
    format!("{:.1} µs", seconds * 1e6)
}

fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

fn bytes(n: f64) -> String {
    if n >= 1e6 {
        mb(n)
    } else {
        format!("{:.1} kB", n / 1e3)
    }
}

/// "median (min – max)".
fn spread(s: Stats, fmt: fn(f64) -> String) -> String {
    format!("{} ({} – {})", fmt(s.median), fmt(s.min), fmt(s.max))
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

/// The markdown report.
pub(super) fn render(sizes: &ScaleSizes, samples: &Samples) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "Measured by `cargo xtask bench` ({} rounds, sides alternating within each round; median \
         (min – max) over the rounds). MB = 10^6 bytes.\n",
        sizes.rounds
    )?;
    live_table(&mut out, sizes, samples)?;
    scan_tables(&mut out, sizes, samples)?;

    let time = stat(samples, "tableshare", "show_s")?;
    let rss = stat(samples, "tableshare", "show_peak_rss_bytes")?;
    writeln!(
        out,
        "**`tableshare table show big --limit {SHOW_LIMIT}` on the {}-row table** (release CLI, \
         spawn to exit; peak RSS by `/usr/bin/time`)\n",
        sizes.scan_rows
    )?;
    writeln!(out, "| wall time | peak RSS | goal (< 0.2 s, < 100 MB) |")?;
    writeln!(out, "| ---: | ---: | --- |")?;
    writeln!(
        out,
        "| {} | {} | {} |\n",
        spread(time, secs),
        spread(rss, mb),
        verdict(time.median < SHOW_TIME_GOAL_S && rss.median < SHOW_RSS_GOAL)
    )?;
    Ok(out)
}

fn live_table(out: &mut String, sizes: &ScaleSizes, samples: &Samples) -> Result<()> {
    writeln!(
        out,
        "**Live table steps** (core `LiveTable`, one subscriber attached and drained after every \
         step; {} one-row appends and {} of each other step per round; bytes copied = the \
         capacities of the Arrow buffers and key arrays of the new snapshot that the previous \
         snapshot did not reference)\n",
        sizes.live_one_reps, sizes.live_reps
    )?;
    writeln!(
        out,
        "| table rows | step | p50 | p99 | bytes copied, p50 | bytes copied, max |"
    )?;
    writeln!(out, "| ---: | --- | ---: | ---: | ---: | ---: |")?;
    let mut met = true;
    for rows in sizes.live_rows {
        for (kind, title) in STEPS {
            let key = |m: &str| format!("live_{rows}_{kind}_{m}");
            let p50 = stat(samples, "tableshare", &key("p50_s"))?;
            let p99 = stat(samples, "tableshare", &key("p99_s"))?;
            let copied = stat(samples, "tableshare", &key("copied_p50_bytes"))?;
            let copied_max = stat(samples, "tableshare", &key("copied_max_bytes"))?;
            if kind == "append_1" {
                met &= p50.median < APPEND_1_P50_GOAL_S;
            }
            writeln!(
                out,
                "| {rows} | {title} | {} | {} | {} | {} |",
                spread(p50, us),
                spread(p99, us),
                bytes(copied.median),
                bytes(copied_max.median)
            )?;
        }
    }
    let [small, big] = sizes.live_rows;
    let one = |rows: u64| {
        stat(
            samples,
            "tableshare",
            &format!("live_{rows}_append_1_p50_s"),
        )
    };
    writeln!(
        out,
        "\nGoal, a one-row append under 50 µs p50 at both sizes: {}. Growth of the one-row \
         append's p50 from {small} to {big} rows: {:.2}x.\n",
        verdict(met),
        one(big)?.median / one(small)?.median
    )?;
    Ok(())
}

fn scan_tables(out: &mut String, sizes: &ScaleSizes, samples: &Samples) -> Result<()> {
    let files = series(samples, "tableshare", "scan_files")?
        .first()
        .copied()
        .unwrap_or(0.0);
    for columns in SCAN_COLUMNS {
        let what = if columns == "value" {
            "one column (`value`, float64)"
        } else {
            "all columns (id, name, value)"
        };
        writeln!(
            out,
            "**Streaming scan of the {}-row table, {what}**, batch by batch, each scan in its own \
             process after a `sync` (tableshare's table; its data files, {files:.0} of them, plain \
             Parquet, for the peers; pages warm in the OS cache for every side alike; nothing is \
             written, so no side fsyncs)\n",
            sizes.scan_rows
        )?;
        writeln!(
            out,
            "| engine | time | tableshare / engine | peak RSS | RSS before the scan |"
        )?;
        writeln!(out, "| --- | ---: | ---: | ---: | ---: |")?;
        let ours = stat(samples, "tableshare", &format!("scan_{columns}_scan_s"))?;
        for engine in std::iter::once("tableshare").chain(SCAN_PEERS) {
            let time = stat(samples, engine, &format!("scan_{columns}_scan_s"))?;
            let rss = stat(samples, engine, &format!("scan_{columns}_peak_rss_bytes"))?;
            let baseline = samples
                .get(engine)
                .and_then(|m| m.get(&format!("scan_{columns}_baseline_rss_bytes")))
                .and_then(|v| stats(v))
                .map_or_else(|| "–".to_owned(), |s| mb(s.median));
            writeln!(
                out,
                "| {engine} | {} | {:.2} | {} | {baseline} |",
                spread(time, ms),
                ours.median / time.median,
                spread(rss, mb)
            )?;
        }
        let pyarrow = stat(samples, "pyarrow", &format!("scan_{columns}_scan_s"))?;
        write!(
            out,
            "\nGoal, at or ahead of pyarrow: {}.",
            verdict(ours.median <= pyarrow.median)
        )?;
        if columns == "value" {
            let rss = stat(samples, "tableshare", "scan_value_peak_rss_bytes")?;
            write!(
                out,
                " Goal, under 100 MB peak memory: {}.",
                verdict(rss.median < SCAN_ONE_COLUMN_RSS_GOAL)
            )?;
        }
        writeln!(out, "\n")?;
    }
    Ok(())
}
