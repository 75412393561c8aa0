//! The workloads of issue 9, live remote tables (`cargo xtask bench --only remote`): the
//! commit-to-visibility latency of `crates/remote/benches/latency.rs`, then, by
//! `crates/remote/benches/flow.rs`, a snapshot of the big table by our client against
//! pyarrow.flight's `do_get` from a pyarrow Flight server holding the same table
//! (`xtask/bench/flight_peers.py`; both servers run for the whole run, the clients alternate
//! within each round, each a process of its own), the largest append rate ten subscribers keep
//! up with, and the worker's CPU and memory per subscriber with fifty. Deephaven Community runs
//! beside ours in the same run (`deephaven`): the latency through its URIs, in rounds alternating
//! with ours, and its Python client's snapshot of the same big table within each snapshot round.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::Samples;
use super::report::{ms, secs, series, stat};
use super::sides::{build_bench, json_output};

// A child of this module (it uses `Server`); the file sits beside this one.
#[path = "deephaven.rs"]
mod deephaven;

/// The name of this report's generated section of docs/performance.md.
pub(super) const SECTION: &str = "remote";

/// Sizes of the remote workloads.
pub(super) struct RemoteSizes {
    rounds: u64,
    rows: u64,
    tick_seconds: f64,
    tick_subscribers: u64,
    rates: &'static [u64],
    cost_seconds: f64,
    cost_subscribers: u64,
    cost_rate: u64,
    /// Rounds of the latency workload, ours and Deephaven's two settings alternating.
    latency_rounds: u64,
    /// One-row appends of each Deephaven latency run (ours always makes 10,000).
    deephaven_updates: u64,
    /// Deephaven's short update cycle (and Barrage update interval), in ms.
    deephaven_cycle_ms: u64,
}

pub(super) const FULL: RemoteSizes = RemoteSizes {
    rounds: 5,
    rows: 10_000_000,
    tick_seconds: 5.0,
    tick_subscribers: 10,
    rates: &[
        10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_000_000,
    ],
    cost_seconds: 10.0,
    cost_subscribers: 50,
    cost_rate: 50_000,
    latency_rounds: 3,
    deephaven_updates: 10_000,
    deephaven_cycle_ms: 5,
};

pub(super) const QUICK: RemoteSizes = RemoteSizes {
    rounds: 1,
    rows: 200_000,
    tick_seconds: 1.0,
    tick_subscribers: 10,
    rates: &[10_000, 100_000],
    cost_seconds: 2.0,
    cost_subscribers: 50,
    cost_rate: 10_000,
    latency_rounds: 1,
    deephaven_updates: 1_000,
    deephaven_cycle_ms: 5,
};

/// A server process, stopped (stdin closed, then waited for) when dropped. Its stdout stays
/// open to the end, so that what it prints last does not meet a closed pipe.
struct Server {
    child: Child,
    address: String,
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start(command: &mut Command) -> Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("could not start a server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        let mut stdout = BufReader::new(stdout);
        stdout.read_line(&mut line)?;
        let Some(address) = line.trim().strip_prefix("ADDR ") else {
            let _ = child.kill();
            bail!("the server printed `{line}`, not its address");
        };
        Ok(Self {
            address: address.to_owned(),
            child,
            _stdout: stdout,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        if self.child.wait().is_err() {
            let _ = self.child.kill();
        }
    }
}

/// Runs every workload and renders the report.
pub(super) fn run(root: &Path, sizes: &RemoteSizes) -> Result<String> {
    let latency = build_bench(root, "tableshare-remote", "latency")?;
    let flow = build_bench(root, "tableshare-remote", "flow")?;
    let python = crate::venv::ensure(
        &root.join(".bench/venv"),
        &root.join("xtask/bench/requirements.txt"),
        "the benchmark peers",
    )?;
    let peers = root.join("xtask/bench/flight_peers.py");

    let deephaven = deephaven::Deephaven::prepare(root)?;
    let mut latencies = Samples::new();
    for round in 1..=sizes.latency_rounds {
        println!(
            "==> round {round} of {}: commit-to-visibility latency, ours",
            sizes.latency_rounds
        );
        let line = our_latency(&latency)?;
        println!("{line}");
        super::record(
            &mut latencies,
            deephaven::OURS,
            &deephaven::parse_ours(&line)?,
        )?;
        for (side, cycle_ms, what) in [
            (deephaven::DEFAULT, 0, "defaults".to_owned()),
            (
                deephaven::SHORT,
                sizes.deephaven_cycle_ms,
                format!("{} ms cycles", sizes.deephaven_cycle_ms),
            ),
        ] {
            println!("==> round {round}: commit-to-visibility latency, Deephaven, {what}");
            let measured = deephaven.latency(sizes.deephaven_updates, cycle_ms)?;
            println!("{measured}");
            super::record(&mut latencies, side, &measured)?;
        }
    }

    println!(
        "==> starting the three servers (ours, pyarrow's, Deephaven's) with the {}-row table",
        sizes.rows
    );
    let ours = Server::start(Command::new(&flow).args(["serve", &sizes.rows.to_string()]))?;
    let theirs = Server::start(
        Command::new(&python)
            .arg(&peers)
            .args(["serve", &sizes.rows.to_string()]),
    )?;
    let dh_server = deephaven.serve(sizes.rows)?;
    // The JVM compiles its snapshot path on the first request: one untimed warm-up.
    json_output(&mut deephaven.get(&dh_server.address)).context("Deephaven warm-up snapshot")?;
    let mut samples = Samples::new();
    for round in 1..=sizes.rounds {
        println!("==> round {round} of {}: snapshots", sizes.rounds);
        let sides: [(&str, Command); 4] = [
            ("ours", {
                let mut c = Command::new(&flow);
                c.args(["snapshot", &ours.address]);
                c
            }),
            ("pyarrow", {
                let mut c = Command::new(&python);
                c.arg(&peers).args(["get", &theirs.address, "big"]);
                c
            }),
            ("pyarrow_from_ours", {
                let mut c = Command::new(&python);
                c.arg(&peers).args(["get", &ours.address, "big"]);
                c
            }),
            ("deephaven", deephaven.get(&dh_server.address)),
        ];
        for (side, mut command) in sides {
            let measured = json_output(&mut command).with_context(|| format!("{side} snapshot"))?;
            super::record(&mut samples, side, &measured)?;
        }
    }
    drop((ours, theirs, dh_server));
    for side in ["ours", "pyarrow", "pyarrow_from_ours", "deephaven"] {
        let rows = series(&samples, side, "rows")?;
        if rows.iter().any(|r| *r as u64 != sizes.rows) {
            bail!("{side} read {rows:?} rows, not {}", sizes.rows);
        }
    }

    println!(
        "==> sustained ticking, {} subscribers",
        sizes.tick_subscribers
    );
    let mut ticking = Command::new(&flow);
    ticking
        .arg("ticking")
        .arg(sizes.tick_seconds.to_string())
        .arg(sizes.tick_subscribers.to_string())
        .args(sizes.rates.iter().map(u64::to_string));
    let ticking = json_output(&mut ticking).context("ticking")?;

    println!(
        "==> worker cost per subscriber, {} subscribers",
        sizes.cost_subscribers
    );
    let cost = json_output(Command::new(&flow).args([
        "cost".to_owned(),
        sizes.cost_seconds.to_string(),
        sizes.cost_subscribers.to_string(),
        sizes.cost_rate.to_string(),
    ]))
    .context("cost")?;
    render(sizes, &latencies, &samples, &ticking, &cost)
}

/// One run of our latency program; its line of percentiles.
fn our_latency(program: &Path) -> Result<String> {
    let output = Command::new(program)
        .stderr(Stdio::inherit())
        .output()
        .context("the latency program")?;
    if !output.status.success() {
        bail!("the latency program failed ({})", output.status);
    }
    Ok(String::from_utf8(output.stdout)?
        .lines()
        .rfind(|l| l.contains("p50"))
        .context("the latency program printed no percentiles")?
        .to_owned())
}

fn number(value: &Value, key: &str) -> Result<f64> {
    value[key]
        .as_f64()
        .with_context(|| format!("no number `{key}` in {value}"))
}

fn render(
    sizes: &RemoteSizes,
    latencies: &Samples,
    samples: &Samples,
    ticking: &Value,
    cost: &Value,
) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "Command: `cargo xtask bench --only remote`. Everything on loopback, plain TCP, nothing \
         written to disk (no fsync on any side).\n"
    )?;
    deephaven::render_latency(
        &mut out,
        latencies,
        sizes.latency_rounds,
        sizes.deephaven_updates,
        sizes.deephaven_cycle_ms,
    )?;
    writeln!(
        out,
        "Snapshot of the {}-row table (id int64, name utf8, value float64), median of {} \
         rounds (range in brackets), clients alternating within each round, each a process of \
         its own, connect to the last row in memory; the three servers hold the table in memory \
         for the whole run (Deephaven's JVM served one untimed warm-up snapshot first).\n",
        sizes.rows, sizes.rounds
    )?;
    writeln!(
        out,
        "| client ← server | time | ours / this | goal: ours ≤ pyarrow |"
    )?;
    writeln!(out, "| --- | --- | --- | --- |")?;
    let ours = stat(samples, "ours", "s")?;
    for (side, title) in [
        (
            "ours",
            "our client (`RemoteTableBuilder::snapshot`) ← our worker",
        ),
        ("pyarrow", "pyarrow.flight `do_get` ← pyarrow Flight server"),
        (
            "pyarrow_from_ours",
            "pyarrow.flight `do_get` ← our worker (reference)",
        ),
        (
            "deephaven",
            "pydeephaven 42.7 `open_table(\"big\").to_arrow()` ← Deephaven 42.7 embedded server",
        ),
    ] {
        let s = stat(samples, side, "s")?;
        let (ratio, goal) = match side {
            "ours" => ("–".to_owned(), "–"),
            "pyarrow" => (
                format!("{:.2}", ours.median / s.median),
                if ours.median <= s.median {
                    "met"
                } else {
                    "not met"
                },
            ),
            _ => (format!("{:.2}", ours.median / s.median), "–"),
        };
        writeln!(
            out,
            "| {title} | {} [{}–{}] | {ratio} | {goal} |",
            secs(s.median),
            secs(s.min),
            secs(s.max)
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Sustained ticking: 1,000-row steps appended on a fixed schedule for {} s per rate, {} \
         subscribers (one child process, one connection each). Kept up = the worker held at \
         least 95% of the rate, and every subscriber's commit-to-visibility p99 stayed under \
         100 ms with its last row seen within 1 s of its commit. **Largest rate kept up with: \
         {:.0} rows/s.**\n",
        sizes.tick_seconds,
        sizes.tick_subscribers,
        number(ticking, "largest_kept_up")?
    )?;
    writeln!(
        out,
        "| rate (rows/s) | held | p50 | p99 | max | catch-up | kept up |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |")?;
    for outcome in ticking["rates"].as_array().context("no rates")? {
        let report = &outcome["subscribers"];
        writeln!(
            out,
            "| {:.0} | {:.0} | {} | {} | {} | {} | {} |",
            number(outcome, "rate")?,
            number(outcome, "held")?,
            ms(number(report, "p50_s")?),
            ms(number(report, "p99_s")?),
            ms(number(report, "max_s")?),
            ms(number(report, "catch_up_s")?),
            if outcome["kept_up"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Worker cost per subscriber: ticking at {:.0} rows/s (1,000-row steps) for {} s, with \
         no subscriber and then with {} (one child process), read from `/proc/self/stat` and \
         `/proc/self/status` of the worker's process: CPU {:.1}% of a core alone, {:.1}% with \
         {} subscribers, **{:.3}% of a core per subscriber**; resident memory growth over the \
         phase **{:.0} KiB per subscriber** (the two phases' growth subtracted, divided by {}).",
        number(cost, "rate")?,
        number(cost, "seconds")?,
        sizes.cost_subscribers,
        100.0 * number(cost, "cpu_share_alone")?,
        100.0 * number(cost, "cpu_share_subscribed")?,
        sizes.cost_subscribers,
        100.0 * number(cost, "cpu_share_per_subscriber")?,
        number(cost, "rss_per_subscriber_bytes")? / 1024.0,
        sizes.cost_subscribers,
    )?;
    Ok(out)
}
