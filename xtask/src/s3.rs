//! A local S3 server for the test step of `cargo xtask ci`: moto, installed and started here.
//!
//! The storage suites run on memory, local disk *and* S3, and CI must not depend on anything
//! already installed or running on the machine. So the test command itself:
//!
//! 1. makes a Python virtual environment under the target directory
//!    (`<target>/xtask/moto-venv`) with the pinned `moto[server]` from `xtask/s3/requirements.txt`,
//!    reused while its stamp matches the requirements;
//! 2. starts `moto_server` on a free loopback port (its log goes to `<target>/xtask/moto.log`);
//! 3. waits until it answers by creating the test bucket with a plain HTTP `PUT /<bucket>`
//!    (moto accepts unsigned requests, so no client library is needed);
//! 4. hands the tests `TABLESHARE_TEST_S3_ENDPOINT`, `TABLESHARE_TEST_S3_BUCKET` and
//!    `TABLESHARE_TEST_REQUIRE_S3=1`, so a test that cannot reach S3 fails instead of skipping;
//! 5. stops the server when the [`S3Server`] is dropped, whether the tests passed or not.
//!
//! moto 5.1 checks `If-None-Match: *` and then stores the object in two steps, without a lock;
//! under its default threaded server nothing stops two racing conditional creates from both
//! succeeding (a stress test did not catch it happening, but the window exists). The
//! launcher `xtask/s3/serve.py` therefore serves moto's own WSGI application behind one lock:
//! requests are handled one at a time, which makes every conditional create atomic.
//! `crates/storage/tests/races.rs` checks that with racing processes.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The bucket the tests share (each test uses its own unique prefix in it).
const BUCKET: &str = "tableshare-ci";
/// How long the server gets to start answering.
const STARTUP: Duration = Duration::from_secs(60);

/// A running moto server; dropping it stops the server.
#[derive(Debug)]
pub(crate) struct S3Server {
    child: Child,
    endpoint: String,
    /// wsgidav's script in the same environment.
    wsgidav: PathBuf,
}

impl S3Server {
    /// Installs moto if needed, starts it, creates the test bucket.
    pub(crate) fn start(root: &Path) -> Result<Self> {
        let work = target_dir(root).join("xtask");
        let python = crate::venv::ensure(
            &work.join("moto-venv"),
            &root.join("xtask/s3/requirements.txt"),
            "moto",
        )?;
        let port = free_port()?;
        let log_path = work.join("moto.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let child = Command::new(&python)
            .arg(root.join("xtask/s3/serve.py"))
            .args(["127.0.0.1", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("could not start the moto server")?;
        let wsgidav = python.with_file_name("wsgidav");
        let mut server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            wsgidav,
        };
        let started = Instant::now();
        loop {
            match create_bucket(port) {
                Ok(()) => break,
                Err(error) => {
                    if let Some(status) = server.child.try_wait()? {
                        bail!(
                            "the moto server exited ({status}) before answering; see {}",
                            log_path.display()
                        );
                    }
                    if started.elapsed() > STARTUP {
                        bail!(
                            "the moto server did not answer within {STARTUP:?} ({error:#}); see {}",
                            log_path.display()
                        );
                    }
                    sleep(Duration::from_millis(100));
                }
            }
        }
        println!(
            "<== s3: moto at {} with bucket {BUCKET} (ready in {:.1}s)",
            server.endpoint,
            started.elapsed().as_secs_f64()
        );
        Ok(server)
    }

    /// The environment the test processes get.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TABLESHARE_TEST_S3_ENDPOINT", self.endpoint.clone()),
            ("TABLESHARE_TEST_S3_BUCKET", BUCKET.to_owned()),
            ("TABLESHARE_TEST_REQUIRE_S3", "1".to_owned()),
            // The same environment holds wsgidav, the WebDAV server of the http:// root test.
            (
                "TABLESHARE_TEST_WSGIDAV",
                self.wsgidav.display().to_string(),
            ),
            ("TABLESHARE_TEST_REQUIRE_HTTP", "1".to_owned()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // Already gone is fine; anything else is worth a line but must not hide the real result.
        if let Err(error) = self.child.kill() {
            eprintln!("xtask: stopping the moto server: {error}");
        }
        let _exit = self.child.wait();
        println!("<== s3: moto stopped");
    }
}

/// `$CARGO_TARGET_DIR`, else `<root>/target`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// A loopback port nobody listens on right now (the OS picks it).
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// `PUT /<bucket>`: creates the bucket, and proves the server answers S3 requests.
fn create_bucket(port: u16) -> Result<()> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        bail!("creating bucket {BUCKET}: {status}");
    }
    Ok(())
}
