//! The report of `cargo xtask bench`: markdown tables of medians, ranges and ratios, written
//! between the markers of docs/performance.md by a full run.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{PEERS, Samples, Sizes};

/// The name of this report's generated section of docs/performance.md.
pub(super) const SECTION: &str = "storage";

/// The p99 / p50 append latency the goal allows (docs/performance.md).
const P99_OVER_P50_GOAL: f64 = 2.0;

/// Median, minimum and maximum of a sample.
#[derive(Debug, Clone, Copy)]
pub(super) struct Stats {
    pub(super) median: f64,
    pub(super) min: f64,
    pub(super) max: f64,
}

pub(super) fn stats(values: &[f64]) -> Option<Stats> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(Stats {
        median: *sorted.get(sorted.len() / 2)?,
        min: *sorted.first()?,
        max: *sorted.last()?,
    })
}

pub(super) fn series<'a>(samples: &'a Samples, engine: &str, key: &str) -> Result<&'a [f64]> {
    samples
        .get(engine)
        .and_then(|m| m.get(key))
        .map(Vec::as_slice)
        .filter(|v| !v.is_empty())
        .with_context(|| format!("{engine}: no measurement of `{key}`"))
}

pub(super) fn stat(samples: &Samples, engine: &str, key: &str) -> Result<Stats> {
    stats(series(samples, engine, key)?).with_context(|| format!("{engine}: `{key}` is empty"))
}

pub(super) fn ms(seconds: f64) -> String {
    format!("{:.2} ms", seconds * 1000.0)
}

pub(super) fn secs(seconds: f64) -> String {
    format!("{seconds:.3} s")
}

fn count(n: f64) -> String {
    format!("{n:.0}")
}

/// A workload compared with peers: metric key, title, peers measured, value formatter.
struct Compared {
    key: &'static str,
    title: String,
    peers: &'static [&'static str],
    fmt: fn(f64) -> String,
}

/// Output of a command run in the workspace, trimmed; empty if it cannot run.
pub(super) fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The markdown report: one table per workload.
pub(super) fn render(sizes: &Sizes, samples: &Samples) -> Result<String> {
    check_rows(samples)?;
    let mut out = String::new();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let commit = command_line("git", &["rev-parse", "--short", "HEAD"]);
    let date = command_line("date", &["-u", "+%Y-%m-%d"]);
    writeln!(
        out,
        "Measured by `cargo xtask bench` (commit {commit}, {date}) on this project's build machine \
         ({cores} cores). Every workload ran {} rounds, sides alternating (tableshare, pyarrow, \
         deltalake, lance, then again); each side's median and its range over the rounds are \
         shown, and the ratio is tableshare's median / the peer's median (below 1: tableshare is \
         faster). All sides write to the same local disk; tableshare fsyncs every file it \
         commits, the peers as described under \"Durability\" above.\n",
        sizes.rounds
    )?;
    let all: &[&str] = &PEERS;
    let versioned: &[&str] = &["deltalake", "lance"];
    let (appends, rows, travel) = (sizes.appends, sizes.append_rows, sizes.travel);
    let compared = [
        Compared {
            key: "write_big_s",
            title: format!(
                "Write one table of {} rows (id int64, name utf8, value float64)",
                sizes.rows
            ),
            peers: all,
            fmt: secs,
        },
        Compared {
            key: "append_p50_s",
            title: format!("Durable append of {rows} rows to an open table: p50 of {appends}"),
            peers: all,
            fmt: ms,
        },
        Compared {
            key: "append_p95_s",
            title: format!("Durable append of {rows} rows to an open table: p95 of {appends}"),
            peers: all,
            fmt: ms,
        },
        Compared {
            key: "append_p99_s",
            title: format!("Durable append of {rows} rows to an open table: p99 of {appends}"),
            peers: all,
            fmt: ms,
        },
        Compared {
            key: "open_latest_read_s",
            title: format!(
                "Open the latest version of the {appends}-append table and read it to Arrow, \
                 before compaction"
            ),
            peers: versioned,
            fmt: ms,
        },
        Compared {
            key: "travel_read_s",
            title: format!(
                "Open the version holding {travel} of {appends} appends and read it to Arrow, \
                 before compaction"
            ),
            peers: versioned,
            fmt: ms,
        },
        Compared {
            key: "compact_s",
            title: format!(
                "Compact the {appends}-append table (`Table::compact()`, delta \
                 `optimize.compact()`, lance `optimize.compact_files()`)"
            ),
            peers: versioned,
            fmt: ms,
        },
        Compared {
            key: "open_latest_read_compacted_s",
            title: format!(
                "Open the latest version of the {appends}-append table and read it to Arrow, \
                 after each side's compaction"
            ),
            peers: versioned,
            fmt: ms,
        },
        Compared {
            key: "travel_read_compacted_s",
            title: format!(
                "Open the version holding {travel} of {appends} appends and read it to Arrow, \
                 after each side's compaction"
            ),
            peers: versioned,
            fmt: ms,
        },
    ];
    for workload in &compared {
        compared_table(&mut out, samples, workload)?;
        if workload.key == "append_p99_s" {
            append_notes(&mut out, samples)?;
        }
    }
    versions_tables(&mut out, sizes, samples)?;
    Ok(out)
}

/// One compared workload: each side's median and range, and tableshare's ratio to it.
fn compared_table(out: &mut String, samples: &Samples, w: &Compared) -> Result<()> {
    let fmt = w.fmt;
    let ours = stat(samples, "tableshare", w.key)?;
    writeln!(out, "**{}**\n", w.title)?;
    writeln!(out, "| engine | median | range | tableshare / engine |")?;
    writeln!(out, "| --- | ---: | ---: | ---: |")?;
    for engine in std::iter::once("tableshare").chain(w.peers.iter().copied()) {
        let s = stat(samples, engine, w.key)?;
        writeln!(
            out,
            "| {engine} | {} | {} – {} | {:.2} |",
            fmt(s.median),
            fmt(s.min),
            fmt(s.max),
            ours.median / s.median
        )?;
    }
    writeln!(out)?;
    Ok(())
}

/// The append goal (p99 within twice p50) and what ran in the background meanwhile.
fn append_notes(out: &mut String, samples: &Samples) -> Result<()> {
    let p50 = series(samples, "tableshare", "append_p50_s")?;
    let p99 = series(samples, "tableshare", "append_p99_s")?;
    let ratios: Vec<f64> = p50.iter().zip(p99).map(|(a, b)| b / a).collect();
    let ratio = stats(&ratios).context("no append rounds")?;
    let compactions = stat(samples, "tableshare", "background_compactions")?;
    let after = stat(samples, "tableshare", "background_compactions_after")?;
    let files = stat(samples, "tableshare", "files_after_appends")?;
    let beside = stat(samples, "tableshare", "appends_beside_compaction")?;
    let slow_beside = stat(samples, "tableshare", "appends_at_p99_beside_compaction")?;
    let verdict = if ratio.median <= P99_OVER_P50_GOAL {
        "met"
    } else {
        "not met"
    };
    writeln!(
        out,
        "tableshare's p99 / p50, per round: median {:.2} (range {:.2} – {:.2}); goal at most \
         {P99_OVER_P50_GOAL:.0}: {verdict}. Background compactions that committed while the \
         appends ran: {} per round (range {} – {}), and after the last append: {} (range {} – \
         {}); data files the last append left: {} (range {} – {}); appends during which a \
         compaction committed: {} per round (range {} – {}), of which at or above that round's \
         p99: {} (range {} – {}).\n",
        ratio.median,
        ratio.min,
        ratio.max,
        count(compactions.median),
        count(compactions.min),
        count(compactions.max),
        count(after.median),
        count(after.min),
        count(after.max),
        count(files.median),
        count(files.min),
        count(files.max),
        count(beside.median),
        count(beside.min),
        count(beside.max),
        count(slow_beside.median),
        count(slow_beside.min),
        count(slow_beside.max),
    )?;
    // The control run, to tell a running compaction's cost from the disk's own spread.
    let control: Vec<Stats> = ["p50", "p95", "p99"]
        .iter()
        .map(|p| stat(samples, "tableshare", &format!("control_append_{p}_s")))
        .collect::<Result<_>>()?;
    writeln!(
        out,
        "Control, tableshare with background compaction off (the same appends into a second \
         table after the reads, every round): p50 {}, p95 {}, p99 {} (medians over the rounds; \
         p99 ranges {} – {}).\n",
        ms(control[0].median),
        ms(control[1].median),
        ms(control[2].median),
        ms(control[2].min),
        ms(control[2].max),
    )?;
    Ok(())
}

/// tableshare's own workloads: opening as history grows, and garbage collection.
fn versions_tables(out: &mut String, sizes: &Sizes, samples: &Samples) -> Result<()> {
    let s = |key: &str| stat(samples, "tableshare", key);
    writeln!(
        out,
        "**Opening the latest version as history grows** (fresh catalog, counting store; \
         median of {} opens each, alternating)\n",
        sizes.rounds
    )?;
    writeln!(out, "| versions | store requests | time | range |")?;
    writeln!(out, "| ---: | ---: | ---: | ---: |")?;
    for (versions, which) in [(10, "few"), (sizes.many, "many")] {
        let requests = s(&format!("open_requests_{which}"))?;
        let time = s(&format!("open_s_{which}"))?;
        writeln!(
            out,
            "| {versions} | {} | {} | {} – {} |",
            count(requests.median),
            ms(time.median),
            ms(time.min),
            ms(time.max)
        )?;
    }
    writeln!(out)?;

    let versions = s("gc_versions")?.median;
    let time = s("gc_s")?;
    writeln!(
        out,
        "**Garbage collection of a {}-version table** (`Catalog::gc_table` with retention 0 and \
         age guard 0, so every version but the latest expires; median of {} rounds, each on a \
         fresh copy of the table; requests counted by a wrapper store)\n",
        count(versions),
        sizes.rounds
    )?;
    writeln!(out, "| measure | value |")?;
    writeln!(out, "| --- | ---: |")?;
    writeln!(
        out,
        "| time | {} (range {} – {}) |",
        secs(time.median),
        secs(time.min),
        secs(time.max)
    )?;
    for (label, key) in [
        ("versions expired", "gc_versions_expired"),
        ("versions kept", "gc_versions_kept"),
        ("files deleted", "gc_files_deleted"),
        ("bytes freed", "gc_bytes_freed"),
        ("store requests: GET", "gc_requests_get"),
        ("store requests: HEAD", "gc_requests_head"),
        ("store requests: LIST", "gc_requests_list"),
        ("store requests: PUT", "gc_requests_put"),
        ("store requests: DELETE", "gc_requests_delete"),
        ("store requests: COPY", "gc_requests_copy"),
        ("store requests: total", "gc_requests_total"),
    ] {
        writeln!(out, "| {label} | {} |", count(s(key)?.median))?;
    }
    Ok(())
}

/// Row counts must agree between sides and rounds, or the read comparison compares different
/// work.
fn check_rows(samples: &Samples) -> Result<()> {
    for key in [
        "open_latest_rows",
        "travel_rows",
        "open_latest_compacted_rows",
        "travel_compacted_rows",
    ] {
        let ours = series(samples, "tableshare", key)?;
        for engine in ["tableshare", "deltalake", "lance"] {
            for theirs in series(samples, engine, key)? {
                if (ours[0] - theirs).abs() > 0.5 {
                    bail!(
                        "{key}: tableshare read {} rows but {engine} read {theirs}",
                        ours[0]
                    );
                }
            }
        }
    }
    Ok(())
}

/// Replaces the generated section `name` of docs/performance.md (or appends it), between its
/// markers.
pub(super) fn write_section(path: &Path, name: &str, report: &str) -> Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let start = format!("<!-- xtask bench: {name} (generated; do not edit by hand) -->");
    let end = format!("<!-- end of xtask bench: {name} -->");
    let (start, end) = (start.as_str(), end.as_str());
    let section = format!("{start}\n{report}{end}");
    let updated = match (existing.find(start), existing.find(end)) {
        (Some(a), Some(b)) if a < b => {
            format!(
                "{}{}{}",
                &existing[..a],
                section,
                &existing[b + end.len()..]
            )
        }
        _ => format!("{existing}\n{section}\n"),
    };
    std::fs::write(path, updated)?;
    Ok(())
}
