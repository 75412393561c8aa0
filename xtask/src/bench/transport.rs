//! The transport workloads of `cargo xtask bench` (issue 8): publish and replicate of the big
//! table to a file:// root and to the local S3 server, each against the physical limit of that
//! root measured in the same process right after (`cp -r` of the same files; a plain parallel
//! object_store upload and download of the same files), then what changes cost: push of 1 row
//! and of 1% of the rows (bytes and requests against the first publish) and pull of 100
//! one-row versions. The program is `crates/transport/benches/transport.rs`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::Result;

use super::Samples;
use super::report::{secs, stat};
use super::sides::{build_bench, json_output};

/// The name of this report's generated section of docs/performance.md.
pub(super) const SECTION: &str = "transport";

/// Goal: publish and replicate within this factor of the root's physical limit.
const LIMIT_GOAL: f64 = 1.3;

/// Sizes of the transport workloads.
pub(super) struct TransportSizes {
    rounds: u64,
    rows: u64,
}

pub(super) const FULL: TransportSizes = TransportSizes {
    rounds: 3,
    rows: 10_000_000,
};

pub(super) const QUICK: TransportSizes = TransportSizes {
    rounds: 1,
    rows: 200_000,
};

const ROOTS: [(&str, &str, &str); 2] = [
    ("file", "file://", "`cp -r`"),
    ("s3", "S3 (local moto)", "parallel object_store put/get"),
];

/// Runs every round on both roots and renders the report.
pub(super) fn run(root: &Path, sizes: &TransportSizes) -> Result<String> {
    let exe = build_bench(root, "tableshare-transport", "transport")?;
    let s3 = crate::s3::S3Server::start(root)?;
    let work = root.join(".bench/work/transport");
    let mut samples = Samples::new();
    for round in 1..=sizes.rounds {
        for (kind, title, _) in ROOTS {
            println!(
                "==> round {round} of {}: transport on {title}",
                sizes.rounds
            );
            let mut command = Command::new(&exe);
            command
                .arg(sizes.rows.to_string())
                .arg(&work)
                .arg(kind)
                .envs(s3.env());
            let measured = json_output(&mut command)?;
            super::record(&mut samples, kind, &measured)?;
        }
    }
    render(sizes, &samples)
}

fn render(sizes: &TransportSizes, samples: &Samples) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "Command: `cargo xtask bench --only transport`; {} rows, median of {} rounds \
         (range in brackets). The limit is measured in the same process right after.\n",
        sizes.rows, sizes.rounds
    )?;
    writeln!(
        out,
        "| root | operation | tableshare | limit | limit is | ratio | goal ≤ {LIMIT_GOAL} |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |")?;
    for (kind, title, limit) in ROOTS {
        for (op, ours, theirs) in [
            ("publish", "publish_s", "limit_up_s"),
            ("replicate", "replicate_s", "limit_down_s"),
        ] {
            let a = stat(samples, kind, ours)?;
            let b = stat(samples, kind, theirs)?;
            let ratio = a.median / b.median;
            writeln!(
                out,
                "| {title} | {op} | {} [{}–{}] | {} | {limit} | {ratio:.2} | {} |",
                secs(a.median),
                secs(a.min),
                secs(a.max),
                secs(b.median),
                if ratio <= LIMIT_GOAL {
                    "met"
                } else {
                    "not met"
                }
            )?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "| root | change | bytes moved | of the table | requests | time |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- |")?;
    for (kind, title, _) in ROOTS {
        let table = stat(samples, kind, "table_bytes")?.median;
        for (change, prefix) in [("push 1 row", "push1"), ("push 1% of the rows", "push1pct")] {
            let bytes = stat(samples, kind, &format!("{prefix}_bytes"))?.median;
            let requests = stat(samples, kind, &format!("{prefix}_requests"))?.median;
            let time = stat(samples, kind, &format!("{prefix}_s"))?.median;
            writeln!(
                out,
                "| {title} | {change} | {bytes:.0} B | {:.4}% | {requests:.0} | {} |",
                100.0 * bytes / table,
                secs(time)
            )?;
        }
        let requests = stat(samples, kind, "pull100_requests")?.median;
        let time = stat(samples, kind, "pull100_s")?.median;
        let publish = stat(samples, kind, "publish_requests")?.median;
        writeln!(
            out,
            "| {title} | pull 100 one-row versions | – | – | {requests:.0} (publish: {publish:.0}) | {} |",
            secs(time)
        )?;
    }
    Ok(out)
}
