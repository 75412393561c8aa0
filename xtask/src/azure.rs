//! A local Azure blob server for the test step of `cargo xtask ci`: Azurite, installed and
//! started here.
//!
//! The storage suites run on Azure blobs as well as memory, local disk and S3. Azurite (from npm)
//! takes conditional creates (`If-None-Match: *`) atomically: a stress of 100 rounds of 16 racing
//! creates had exactly one winner each, and `crates/storage/tests/races.rs` proves it again with
//! racing processes on every run. Like the S3 server (`s3.rs`), everything is set up by the test
//! command itself:
//!
//! 1. installs the pinned [`AZURITE_VERSION`] with npm into `<target>/xtask/azurite`, reused
//!    while its stamp matches the version;
//! 2. starts `azurite-blob` on a free loopback port with a fresh data folder (its log goes to
//!    `<target>/xtask/azurite.log`);
//! 3. waits until it answers by creating the test container with `xtask/azure/create_container.js`
//!    (a Shared Key signed request with the emulator's public development account; node's own
//!    crypto, nothing else installed);
//! 4. hands the tests `AZURITE_BLOB_STORAGE_URL` (which `object_store`'s emulator mode reads),
//!    `TABLESHARE_TEST_AZURE_CONTAINER` and `TABLESHARE_TEST_REQUIRE_AZURE=1`, so a test that
//!    cannot reach Azure fails instead of skipping;
//! 5. stops the server when the [`AzureServer`] is dropped, whether the tests passed or not.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::s3::{free_port, target_dir};
use crate::venv::run_checked;

/// The Azurite release the tests run against.
const AZURITE_VERSION: &str = "3.37.0";
/// The container the tests share (each test uses its own unique prefix in it).
const CONTAINER: &str = "tableshare-ci";
/// How long the server gets to start answering.
const STARTUP: Duration = Duration::from_secs(60);

/// A running Azurite server; dropping it stops the server.
#[derive(Debug)]
pub(crate) struct AzureServer {
    child: Child,
    url: String,
}

impl AzureServer {
    /// Installs Azurite if needed, starts it, creates the test container.
    pub(crate) fn start(root: &Path) -> Result<Self> {
        let work = target_dir(root).join("xtask");
        let prefix = work.join("azurite");
        let stamp = prefix.join(".version");
        let server = prefix.join("node_modules/.bin/azurite-blob");
        if std::fs::read_to_string(&stamp).ok().as_deref() != Some(AZURITE_VERSION)
            || !server.exists()
        {
            println!(
                "==> installing azurite {AZURITE_VERSION} into {}",
                prefix.display()
            );
            let started = Instant::now();
            std::fs::create_dir_all(&prefix)?;
            run_checked(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                    .arg("--prefix")
                    .arg(&prefix)
                    .arg(format!("azurite@{AZURITE_VERSION}")),
                "npm install azurite (npm and node must be on PATH)",
            )?;
            std::fs::write(&stamp, AZURITE_VERSION)?;
            println!(
                "<== azurite installed in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
        let port = free_port()?;
        let data = work.join("azurite-data");
        if data.exists() {
            std::fs::remove_dir_all(&data)
                .with_context(|| format!("clearing {}", data.display()))?;
        }
        std::fs::create_dir_all(&data)?;
        let log_path = work.join("azurite.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(&server)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(&data)
            .args(["--silent", "--skipApiVersionCheck"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("could not start azurite-blob")?;
        let mut server = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let script = root.join("xtask/azure/create_container.js");
        let started = Instant::now();
        loop {
            let created = Command::new("node")
                .arg(&script)
                .args([&port.to_string(), CONTAINER])
                .stdin(Stdio::null())
                .output()
                .context("could not run node")?;
            if created.status.success() {
                break;
            }
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "azurite exited ({status}) before answering; see {}",
                    log_path.display()
                );
            }
            if started.elapsed() > STARTUP {
                bail!(
                    "azurite did not answer within {STARTUP:?} ({}); see {}",
                    String::from_utf8_lossy(&created.stderr).trim(),
                    log_path.display()
                );
            }
            sleep(Duration::from_millis(200));
        }
        println!(
            "<== azure: azurite at {} with container {CONTAINER} (ready in {:.1}s)",
            server.url,
            started.elapsed().as_secs_f64()
        );
        Ok(server)
    }

    /// The environment the test processes get.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURITE_BLOB_STORAGE_URL", self.url.clone()),
            ("TABLESHARE_TEST_AZURE_CONTAINER", CONTAINER.to_owned()),
            ("TABLESHARE_TEST_REQUIRE_AZURE", "1".to_owned()),
        ]
    }
}

impl Drop for AzureServer {
    fn drop(&mut self) {
        if let Err(error) = self.child.kill() {
            eprintln!("xtask: stopping azurite: {error}");
        }
        let _exit = self.child.wait();
        println!("<== azure: azurite stopped");
    }
}
