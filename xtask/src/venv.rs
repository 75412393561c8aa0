//! Python virtual environments for what xtask installs from PyPI (the local S3 server of
//! `cargo xtask ci`, the peers of `cargo xtask bench`): one way to make them, reused while the
//! pinned requirements file they were made from is unchanged.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// Makes the venv at `venv` with the packages pinned in `requirements`, unless it was already
/// made from exactly that file (a stamp inside it records the file); returns its python.
/// `what` names the packages in the progress lines.
pub(crate) fn ensure(venv: &Path, requirements: &Path, what: &str) -> Result<PathBuf> {
    let python = venv.join("bin/python");
    let stamp = venv.join(".requirements");
    let wanted = std::fs::read_to_string(requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    println!("==> installing {what} into {}", venv.display());
    let started = Instant::now();
    if let Some(parent) = venv.parent() {
        std::fs::create_dir_all(parent)?;
    }
    run_checked(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(venv),
        "python3 -m venv",
    )?;
    run_checked(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(requirements),
        &format!("pip install -r {}", requirements.display()),
    )?;
    std::fs::write(&stamp, wanted)?;
    println!(
        "<== {what} installed in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(python)
}

/// Runs `command` to the end; an exit that is not success is an error naming `what`.
pub(crate) fn run_checked(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}
