//! Reading shared tables from an `http://` root: a cloud folder served read-only by a real
//! WebDAV server (wsgidav, which `cargo xtask ci` installs and names in
//! `TABLESHARE_TEST_WSGIDAV`), opened by `open_store_url` like any other root. Replicate and
//! pull work through it (object reads, ranged reads and WebDAV listings); publishing to it is
//! refused, and the refused publish writes nothing.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use tableshare_storage::Catalog;
use tableshare_transport::{Access, CloudConfig, Transport, open_store_url};

use crate::common::{KEY, ids, rows, sample_table};

/// A running read-only WebDAV server; stopped on drop.
struct Dav {
    child: Child,
    url: String,
    _config: tempfile::TempDir,
}

impl Drop for Dav {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `root` read-only on a free loopback port, or `None` when wsgidav is not configured
/// (and not required).
fn serve(root: &std::path::Path) -> Option<Dav> {
    let Ok(wsgidav) = std::env::var("TABLESHARE_TEST_WSGIDAV") else {
        assert!(
            std::env::var("TABLESHARE_TEST_REQUIRE_HTTP").as_deref() != Ok("1"),
            "TABLESHARE_TEST_REQUIRE_HTTP=1 but TABLESHARE_TEST_WSGIDAV is not set"
        );
        let _unseen = writeln!(
            std::io::stderr(),
            "wsgidav not configured (TABLESHARE_TEST_WSGIDAV unset): http case not run; \
             `cargo xtask ci` runs it"
        );
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = tempfile::tempdir().unwrap();
    let file = config.path().join("wsgidav.json");
    let body = serde_json::json!({
        "host": "127.0.0.1",
        "port": port,
        "provider_mapping": { "/": { "root": root, "readonly": true } },
        "simple_dc": { "user_mapping": { "*": true } },
        "verbose": 1,
    });
    std::fs::write(&file, body.to_string()).unwrap();
    let child = Command::new(wsgidav)
        .arg("--config")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let dav = Dav {
        child,
        url: format!("http://127.0.0.1:{port}/"),
        _config: config,
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "wsgidav did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(dav)
}

// Guards the http(s) root: a table published to a folder replicates and pulls from a copy of
// that folder served over HTTP, with the same verification, and an http root cannot be
// published to (nothing is written to the served folder).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_and_pull_over_http() {
    let folder = tempfile::tempdir().unwrap();
    let disk: Arc<dyn ObjectStore> = Arc::new(
        LocalFileSystem::new_with_prefix(folder.path())
            .unwrap()
            .with_fsync(true),
    );
    let alice = Transport::new(
        Catalog::in_memory(),
        CloudConfig::with_store(Arc::clone(&disk), "").with_api_key(KEY),
    );
    let table = sample_table(&alice).await;
    let uri = alice
        .publish(table.path(), "pxt://alice/web.t", Access::Public)
        .await
        .unwrap();
    let Some(dav) = serve(folder.path()) else {
        return;
    };

    let (store, prefix) = open_store_url(&dav.url).unwrap();
    let bob = Transport::new(
        Catalog::in_memory(),
        CloudConfig::with_store(store, &prefix),
    );
    bob.replicate(&uri.to_string(), "r").await.unwrap();
    let replica = bob.catalog().open_table("r").await.unwrap();
    assert_eq!(ids(&replica).await, ids(&table).await);

    table.insert(&rows(&[(99, "late", 9.9)])).await.unwrap();
    alice.push(table.path()).await.unwrap();
    let report = bob.pull("r").await.unwrap();
    assert_eq!(report.versions.len(), 1);
    let replica = bob.catalog().open_table("r").await.unwrap();
    assert!(ids(&replica).await.contains(&99));

    // Publishing to the http root is refused, and the served folder is untouched.
    let before = listing(folder.path());
    let (store, prefix) = open_store_url(&dav.url).unwrap();
    let carol = Transport::new(
        Catalog::in_memory(),
        CloudConfig::with_store(store, &prefix).with_api_key(KEY),
    );
    let other = sample_table(&carol).await;
    let refused = carol
        .publish(other.path(), "pxt://alice/web.other", Access::Public)
        .await;
    let error = refused.expect_err("published to a read-only http root");
    assert!(
        error.to_string().contains("conditional create"),
        "refused for another reason: {error}"
    );
    assert_eq!(listing(folder.path()), before);
}

/// Every file under `dir`, relative.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}
