//! Running the sides of `cargo xtask bench`: the Python environment of the peers, tableshare's
//! benchmark program (built once, then run directly so that cargo's own work never lands in a
//! round), and one call per round, workload and engine, each printing a JSON object.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::Sizes;

/// What one call of a side measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    /// One round of the big write.
    Write,
    /// One round of the appends, then the reads before and after the side's own compaction.
    Appends,
    /// tableshare only, every round in one call: opening as history grows, garbage collection.
    Versions,
}

/// The programs to run and where they work.
pub(crate) struct Sides {
    /// tableshare's benchmark program.
    ours: PathBuf,
    /// The virtual environment's python.
    python: PathBuf,
    /// The peers' script.
    peers: PathBuf,
    /// Scratch folder on the disk under test (`.bench/work`).
    work: PathBuf,
}

impl Sides {
    /// Installs the peers (once per pin set) and builds tableshare's program.
    pub(crate) fn prepare(root: &Path) -> Result<Self> {
        let bench_dir = root.join(".bench");
        let python = crate::venv::ensure(
            &bench_dir.join("venv"),
            &root.join("xtask/bench/requirements.txt"),
            "the benchmark peers",
        )?;
        let ours = build_bench(root, "tableshare-storage", "storage")?;
        Ok(Self {
            ours,
            python,
            peers: root.join("xtask/bench/peers.py"),
            work: bench_dir.join("work"),
        })
    }

    /// The virtual environment's python.
    pub(crate) fn python(&self) -> &Path {
        &self.python
    }

    /// The scratch folder on the disk under test.
    pub(crate) fn work(&self) -> &Path {
        &self.work
    }

    /// Runs one call of `engine` on `workload`, after flushing dirty pages (a journaling file
    /// system may make one writer's fsync wait for another's unflushed data).
    pub(crate) fn run(&self, engine: &str, workload: Workload, sizes: &Sizes) -> Result<Value> {
        flush_page_cache()?;
        let numbers: Vec<u64> = match workload {
            Workload::Write => vec![sizes.rows],
            Workload::Appends => vec![sizes.appends, sizes.append_rows, sizes.travel],
            Workload::Versions => vec![sizes.many, sizes.rounds],
        };
        let mode = match workload {
            Workload::Write => "write",
            Workload::Appends => "appends",
            Workload::Versions => "versions",
        };
        let mut command = if engine == "tableshare" {
            let mut c = Command::new(&self.ours);
            c.arg(mode).arg(self.work.join("tableshare"));
            c
        } else {
            if workload == Workload::Versions {
                bail!("{engine} has no `{mode}` workload");
            }
            let mut c = Command::new(&self.python);
            c.arg(&self.peers)
                .arg(mode)
                .arg(engine)
                .arg(self.work.join(engine));
            c
        };
        command.args(numbers.iter().map(u64::to_string));
        json_output(&mut command).with_context(|| format!("{engine}, {mode}"))
    }
}

/// Builds benchmark program `name` of `package` with the bench profile and returns its path.
pub(crate) fn build_bench(root: &Path, package: &str, name: &str) -> Result<PathBuf> {
    println!("==> building tableshare's benchmark program `{name}`");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "bench",
            "--locked",
            "-p",
            package,
            "--bench",
            name,
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("could not start cargo")?;
    if !output.status.success() {
        bail!("building the benchmark program failed ({})", output.status);
    }
    executable(&output.stdout, name, "bench")
}

/// Builds the CLI (`tableshare-cli`, release profile) and returns the `tableshare` binary's
/// path.
pub(crate) fn build_cli(root: &Path) -> Result<PathBuf> {
    println!("==> building the CLI (release)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--locked",
            "--release",
            "-p",
            "tableshare-cli",
            "--bin",
            "tableshare",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("could not start cargo")?;
    if !output.status.success() {
        bail!("building the CLI failed ({})", output.status);
    }
    executable(&output.stdout, "tableshare", "bin")
}

/// The executable of target `name` of kind `kind` among cargo's JSON messages.
fn executable(stdout: &[u8], name: &str, kind: &str) -> Result<PathBuf> {
    let stdout = std::str::from_utf8(stdout)?;
    for line in stdout.lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let is_ours = message["reason"] == "compiler-artifact"
            && message["target"]["name"] == name
            && message["target"]["kind"][0] == kind;
        if let (true, Some(path)) = (is_ours, message["executable"].as_str()) {
            return Ok(PathBuf::from(path));
        }
    }
    bail!("cargo built no `{name}` {kind} executable")
}

/// Writes every dirty page to disk (`sync`), so the next measurement pays for its own IO only.
pub(crate) fn flush_page_cache() -> Result<()> {
    crate::venv::run_checked(&mut Command::new("sync"), "sync")
}

/// Runs a command whose last JSON line on stdout is the result; stderr passes through as
/// progress.
pub(crate) fn json_output(command: &mut Command) -> Result<Value> {
    let output = command
        .stderr(Stdio::inherit())
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
