//! The foreign-client check of `cargo xtask ci`: a real `tableshare serve` read by
//! `pyarrow.flight` (the pinned pyarrow of `pyarrow.rs`, shared with the data service's tests).
//! It proves the worker's wire format is plain Arrow Flight:
//! a Python user lists the tables and reads a consistent snapshot with `DoGet`, by the listed
//! ticket and by a bare table-name ticket.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

/// Kills the worker when the check ends, passed or failed.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the check against the debug `tableshare` binary the test step built.
pub(crate) fn run(root: &Path) -> Result<()> {
    let python = crate::pyarrow::python(root)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    crate::venv::run_checked(
        Command::new(cargo).current_dir(root).args([
            "build",
            "--locked",
            "-p",
            "tableshare-cli",
            "--bin",
            "tableshare",
        ]),
        "cargo build tableshare",
    )?;
    let binary = crate::s3::target_dir(root).join("debug/tableshare");
    let home = std::env::temp_dir().join(format!("tableshare-interop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let cli = |args: &[&str], stdin: Option<&str>| -> Result<()> {
        use std::io::Write;
        let mut child = Command::new(&binary)
            .arg("--home")
            .arg(&home)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())?;
        }
        let status = child.wait()?;
        ensure!(status.success(), "tableshare {args:?} failed ({status})");
        Ok(())
    };
    cli(&["dir", "create", "interop"], None)?;
    cli(
        &[
            "table",
            "create",
            "interop.quotes",
            "--schema",
            "id:int64,symbol:utf8,price:float64",
        ],
        None,
    )?;
    cli(
        &["table", "insert", "interop.quotes", "-"],
        Some("id,symbol,price\n1,AAPL,189.5\n2,MSFT,411.0\n3,NVDA,\n"),
    )?;
    let mut child = Command::new(&binary)
        .arg("--home")
        .arg(&home)
        .args(["serve", "--name", "interop", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting tableshare serve")?;
    let stdout = child.stdout.take().context("serve's stdout")?;
    let serving = Serving(child);
    let mut lines = BufReader::new(stdout).lines();
    let banner = lines.next().context("serve printed nothing")??;
    let address = banner
        .rsplit(' ')
        .next()
        .filter(|a| a.contains(':'))
        .with_context(|| format!("no address in `{banner}`"))?
        .to_owned();
    std::thread::spawn(move || lines.for_each(drop));
    let output = Command::new(&python)
        .arg(root.join("xtask/interop/flight_do_get.py"))
        .args([address.as_str(), "interop.quotes"])
        .output()
        .context("running the pyarrow.flight client")?;
    drop(serving);
    let _ = std::fs::remove_dir_all(&home);
    if !output.status.success() {
        bail!(
            "the pyarrow.flight client failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let got: Value = serde_json::from_slice(&output.stdout).context("the client's JSON")?;
    let expected = json!({
        "names": ["interop.quotes"],
        "schema": ["id", "symbol", "price"],
        "total_records": 3,
        "rows": [
            {"id": 1, "symbol": "AAPL", "price": 189.5},
            {"id": 2, "symbol": "MSFT", "price": 411.0},
            {"id": 3, "symbol": "NVDA", "price": null},
        ],
    });
    ensure!(
        got == expected,
        "pyarrow.flight read {got}, expected {expected}"
    );
    println!("    pyarrow.flight listed and read interop.quotes from `tableshare serve`");
    Ok(())
}
