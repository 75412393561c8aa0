//! Project automation, run as `cargo xtask <command>` (the alias lives in `.cargo/config.toml`).
//!
//! This exists so that CI, a newcomer and a release engineer all run the *same* checks with one
//! command and no shell scripts to keep in sync:
//!
//! - `cargo xtask ci`: format check, clippy with warnings denied on every target, the whole test
//!   suite, and the documentation build with warnings denied. Each step prints its name and how
//!   long it took; the first failure stops the run with a non-zero exit code. The test step runs
//!   against a local S3 server (moto) and a local Azure blob server (Azurite) that this command
//!   installs, starts and stops itself (`s3.rs`, `azure.rs`), so the storage suites run on S3
//!   and Azure too, and with pyarrow installed in a venv (`pyarrow.rs`), so the data service is
//!   tested on datasets pyarrow writes.
//! - `cargo xtask bench [--quick]`: the benchmark programs that compare tableshare with its peers
//!   side by side in one run (see `bench.rs` and docs/performance.md).
//!
//! Only `anyhow` and `serde_json` are used here: xtask must build fast on a clean machine.

// A command-line tool talks to its user on stdout and stderr; that is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};

mod azure;
mod bench;
mod interop;
mod pyarrow;
mod s3;
mod venv;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci              format check, clippy (warnings denied), all tests (with a local S3 server
                  and a local Azure blob server it starts), docs (warnings denied)
  bench [--quick] storage benchmarks side by side with pyarrow, deltalake and lance;
                  a full run rewrites its section of docs/performance.md
  interop         pyarrow.flight reads a table from `tableshare serve` (also part of ci)
  help            print this message";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench::run(&args[1..]),
        Some("interop") => workspace_root().and_then(|root| interop::run(&root)),
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => {
            eprintln!("xtask: unknown command `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn workspace_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .context("xtask manifest directory has no parent")
}

/// Everything CI checks, in the order that fails fastest.
fn ci() -> Result<()> {
    let root = workspace_root()?;
    let started = Instant::now();
    step(&root, "format", &["fmt", "--all", "--", "--check"], &[])?;
    step(
        &root,
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    {
        // The S3 server lives exactly as long as the test step: dropped (stopped) when the step
        // ends, whether it passed or failed.
        let s3 = s3::S3Server::start(&root)?;
        let azure = azure::AzureServer::start(&root)?;
        let mut env = s3.env();
        env.extend(azure.env());
        env.extend(pyarrow::test_env(&root)?);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        step(
            &root,
            "test",
            // Every target but the benchmark programs, which `cargo xtask bench` runs with
            // arguments.
            &[
                "test",
                "--workspace",
                "--lib",
                "--bins",
                "--tests",
                "--examples",
                "--locked",
            ],
            &env,
        )?;
    }
    // `--examples` above compiles the examples as test harnesses and runs none of them; each
    // seed's walkthrough must also run to its end. They are built for the whole workspace (its
    // features, so the test step's dependencies are reused; `cargo run -p …` would resolve one
    // package's features and rebuild dependencies for it) and then run.
    step(
        &root,
        "examples: build",
        &["build", "--workspace", "--examples", "--locked"],
        &[],
    )?;
    for example in ["shared_tables", "walkthrough", "seed_002"] {
        println!("==> example {example}");
        let started = Instant::now();
        let program = s3::target_dir(&root).join("debug/examples").join(example);
        let status = Command::new(&program)
            .current_dir(&root)
            .status()
            .with_context(|| format!("could not run {}", program.display()))?;
        if !status.success() {
            bail!("example `{example}` failed ({status})");
        }
        println!(
            "<== example {example}: ok in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    {
        println!("==> interop: pyarrow.flight against `tableshare serve`");
        let started = Instant::now();
        interop::run(&root).context("step `interop` failed")?;
        println!(
            "<== interop passed in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    // Target selection skips doctests; run them on their own so examples in docs stay compiling.
    step(
        &root,
        "doctest",
        &["test", "--workspace", "--doc", "--locked"],
        &[],
    )?;
    step(
        &root,
        "docs",
        &["doc", "--workspace", "--no-deps", "--locked"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    println!(
        "xtask ci: all steps passed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs one `cargo` step in the workspace root, timing it and failing with its name.
fn step(root: &Path, name: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<()> {
    println!("==> {name}: cargo {}", args.join(" "));
    let started = Instant::now();
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root)
        .status()
        .with_context(|| format!("could not start cargo for step `{name}`"))?;
    let secs = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("step `{name}` failed after {secs:.1}s ({status})");
    }
    println!("<== {name}: ok in {secs:.1}s");
    Ok(())
}
