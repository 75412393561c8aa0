//! The Deephaven Community side of `cargo xtask bench --only remote` (issue 9), so that our
//! remote tables are measured side by side with the system they are anchored on rather than
//! against figures from another machine: commit-to-visibility through Deephaven's URIs (a
//! publisher and a subscriber, two embedded servers in two processes, by default and with short
//! update cycles) and a snapshot of the big table by Deephaven's own Python client. The peer
//! program is `xtask/bench/deephaven_peers.py`, in a venv of its own (`.bench/deephaven-venv`,
//! `xtask/bench/deephaven-requirements.txt`) so it never moves the other peers' pinned pyarrow.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::super::Samples;
use super::super::report::stat;
use super::super::sides::json_output;
use super::Server;

/// The side names under which the latency rounds are recorded.
pub(super) const OURS: &str = "latency_ours";
pub(super) const DEFAULT: &str = "latency_deephaven_default";
pub(super) const SHORT: &str = "latency_deephaven_short";

/// The oldest JDK Deephaven 42 runs on.
const JDK_MAJOR: u32 = 17;

/// Deephaven's peer program and the interpreter of its venv.
pub(super) struct Deephaven {
    python: PathBuf,
    script: PathBuf,
    java_home: Option<PathBuf>,
}

impl Deephaven {
    /// Checks the JDK and makes (or reuses) the venv.
    pub(super) fn prepare(root: &Path) -> Result<Self> {
        let java = Command::new("java")
            .arg("-version")
            .output()
            .context("Deephaven needs a JDK (17 or later): `java -version` could not run")?;
        let banner = String::from_utf8_lossy(&java.stderr);
        let first = banner.lines().next().unwrap_or_default().to_owned();
        let major = first
            .split('"')
            .nth(1)
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.parse::<u32>().ok());
        match major {
            Some(major) if java.status.success() && major >= JDK_MAJOR => {}
            _ => {
                bail!("Deephaven needs a JDK {JDK_MAJOR} or later; `java -version` said `{first}`")
            }
        }
        println!("==> Deephaven's JVM: {first}");
        let python = crate::venv::ensure(
            &root.join(".bench/deephaven-venv"),
            &root.join("xtask/bench/deephaven-requirements.txt"),
            "Deephaven Community (deephaven-server, pydeephaven)",
        )?;
        Ok(Self {
            python,
            script: root.join("xtask/bench/deephaven_peers.py"),
            java_home: java_home(),
        })
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.python);
        command.arg(&self.script);
        if let Some(home) = &self.java_home {
            command.env("JAVA_HOME", home);
        }
        command
    }

    /// One latency run: `updates` one-row appends at a publisher, seen by a subscriber in
    /// another process through `dh+plain://`; `cycle_ms` 0 keeps Deephaven's defaults.
    pub(super) fn latency(&self, updates: u64, cycle_ms: u64) -> Result<Value> {
        let measured = json_output(self.command().args([
            "latency".to_owned(),
            updates.to_string(),
            cycle_ms.to_string(),
        ]))
        .with_context(|| format!("Deephaven latency, cycle {cycle_ms} ms (0: default)"))?;
        if measured["updates"].as_u64() != Some(updates) {
            bail!(
                "the Deephaven subscriber saw {}, not {updates} rows",
                measured["updates"]
            );
        }
        Ok(measured)
    }

    /// A Deephaven server holding the `rows`-row benchmark table as `big`.
    pub(super) fn serve(&self, rows: u64) -> Result<Server> {
        Server::start(self.command().args(["serve".to_owned(), rows.to_string()]))
    }

    /// pydeephaven's snapshot of `big` from the server at `address`.
    pub(super) fn get(&self, address: &str) -> Command {
        let mut command = self.command();
        command.args(["get", address, "big"]);
        command
    }
}

/// `JAVA_HOME` as set, else the JDK that `java` on the PATH belongs to (jpy looks for the JVM's
/// library under it).
fn java_home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        return Some(home.into());
    }
    let path = std::env::var_os("PATH")?;
    let java = std::env::split_paths(&path)
        .map(|dir| dir.join("java"))
        .find(|java| java.is_file())?;
    let real = std::fs::canonicalize(java).ok()?;
    Some(real.parent()?.parent()?.to_path_buf())
}

/// Reads our latency program's line (`... p50 0.194 ms, p99 2.424 ms, max 8.194 ms`) as the
/// JSON object the Deephaven side prints.
pub(super) fn parse_ours(line: &str) -> Result<Value> {
    let figure = |name: &str| -> Result<f64> {
        let rest = line
            .split(&format!("{name} "))
            .nth(1)
            .with_context(|| format!("no `{name}` in `{line}`"))?;
        let number = rest.split(' ').next().unwrap_or_default();
        number
            .parse()
            .with_context(|| format!("`{name}` is not a number in `{line}`"))
    };
    Ok(serde_json::json!({
        "p50_ms": figure("p50")?,
        "p99_ms": figure("p99")?,
        "max_ms": figure("max")?,
    }))
}

/// The commit-to-visibility table: ours and Deephaven's two settings, with ratios.
pub(super) fn render_latency(
    out: &mut String,
    samples: &Samples,
    rounds: u64,
    updates: u64,
    cycle_ms: u64,
) -> Result<()> {
    writeln!(
        out,
        "Commit-to-visibility, a worker to a subscriber in another process: 10000 one-row \
         appends on our side (`crates/remote/benches/latency.rs`), {updates} through \
         Deephaven's URIs (`xtask/bench/deephaven_peers.py`: a publisher's `DynamicTableWriter` \
         table, resolved with `deephaven.uri.resolve(\"dh+plain://…\")` by an embedded server \
         in another process, a table listener noting each row's age; 2000 warm-up rows before, \
         not counted). Each row carries its commit time, read from the same system clock on \
         both sides. {rounds} rounds, sides alternating; median of the rounds (range in \
         brackets). Goal: p50 under 1 ms, p99 under 5 ms.\n"
    )?;
    writeln!(
        out,
        "| side | p50 | p99 | max | ours / this, p50 | ours / this, p99 | goal |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |")?;
    let ours_p50 = stat(samples, OURS, "p50_ms")?.median;
    let ours_p99 = stat(samples, OURS, "p99_ms")?.median;
    for (side, title) in [
        (
            OURS,
            "tableshare (`ts+plain://`, `RemoteTableBuilder::subscribe`)".to_owned(),
        ),
        (
            DEFAULT,
            "Deephaven 42.7, defaults (1 s update cycle, 1 s Barrage update interval)".to_owned(),
        ),
        (
            SHORT,
            format!(
                "Deephaven 42.7, {cycle_ms} ms cycles (`PeriodicUpdateGraph.\
                 targetCycleDurationMillis` and `barrage.minUpdateInterval` = {cycle_ms})"
            ),
        ),
    ] {
        let cell = |key: &str| -> Result<String> {
            let s = stat(samples, side, key)?;
            Ok(format!("{:.3} ms [{:.3}–{:.3}]", s.median, s.min, s.max))
        };
        let p50 = stat(samples, side, "p50_ms")?.median;
        let p99 = stat(samples, side, "p99_ms")?.median;
        let (r50, r99, goal) = if side == OURS {
            let met = p50 < 1.0 && p99 < 5.0;
            (
                "–".to_owned(),
                "–".to_owned(),
                if met { "met" } else { "not met" },
            )
        } else {
            (
                format!("{:.4}", ours_p50 / p50),
                format!("{:.4}", ours_p99 / p99),
                "–",
            )
        };
        writeln!(
            out,
            "| {title} | {} | {} | {} | {r50} | {r99} | {goal} |",
            cell("p50_ms")?,
            cell("p99_ms")?,
            cell("max_ms")?
        )?;
    }
    writeln!(
        out,
        "\nDeephaven's publisher wrote one measured row every {:.2} ms (defaults) and {:.2} ms \
         ({cycle_ms} ms cycles) on average: a 0.5 ms sleep after each `write_row`, as latency.rs \
         sleeps 0.5 ms after each append.\n",
        stat(samples, DEFAULT, "interval_ms")?.median,
        stat(samples, SHORT, "interval_ms")?.median,
    )?;
    Ok(())
}
