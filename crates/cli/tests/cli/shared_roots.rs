//! The command line on shared object-store roots: on a `file://` folder always, on the local S3
//! server when `TABLESHARE_TEST_S3_ENDPOINT` is set and on Azurite (`az://`) when
//! `TABLESHARE_TEST_AZURE_CONTAINER` is set (`cargo xtask ci` sets and requires both). A shared worker directory lets a home with no local trace of a worker resolve
//! it by `pq://` name; the sharing commands run with the cloud root on that store.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

/// A shared root to test on: its URL under a fresh prefix and the environment a process needs
/// to reach it.
struct Root {
    name: &'static str,
    url: String,
    env: Vec<(&'static str, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn roots(what: &str) -> Vec<Root> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![Root {
        name: "file",
        url: format!("file://{}/{what}", dir.path().display()),
        env: Vec::new(),
        _dir: Some(dir),
    }];
    match std::env::var("TABLESHARE_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            let bucket = std::env::var("TABLESHARE_TEST_S3_BUCKET")
                .unwrap_or_else(|_| "tableshare-test".into());
            let id = std::process::id();
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            out.push(Root {
                name: "s3",
                url: format!("s3://{bucket}/cli-{what}-{id}-{nanos}"),
                env: vec![
                    ("AWS_ENDPOINT", endpoint),
                    ("AWS_ACCESS_KEY_ID", "tableshare-test".into()),
                    ("AWS_SECRET_ACCESS_KEY", "tableshare-test".into()),
                    ("AWS_REGION", "us-east-1".into()),
                    ("AWS_ALLOW_HTTP", "true".into()),
                ],
                _dir: None,
            });
        }
        _ => assert!(
            std::env::var("TABLESHARE_TEST_REQUIRE_S3").as_deref() != Ok("1"),
            "TABLESHARE_TEST_REQUIRE_S3=1 but TABLESHARE_TEST_S3_ENDPOINT is not set"
        ),
    }
    // Azurite: `object_store` finds it through AZURITE_BLOB_STORAGE_URL (inherited) once told to
    // use the emulator.
    match std::env::var("TABLESHARE_TEST_AZURE_CONTAINER") {
        Ok(container) if !container.is_empty() => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            out.push(Root {
                name: "azure",
                url: format!("az://{container}/cli-{what}-{}-{nanos}", std::process::id()),
                env: vec![("AZURE_STORAGE_USE_EMULATOR", "true".into())],
                _dir: None,
            });
        }
        _ => assert!(
            std::env::var("TABLESHARE_TEST_REQUIRE_AZURE").as_deref() != Ok("1"),
            "TABLESHARE_TEST_REQUIRE_AZURE=1 but TABLESHARE_TEST_AZURE_CONTAINER is not set"
        ),
    }
    out
}

fn command(home: &Path, root: &Root, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tableshare"));
    cmd.arg("--home").arg(home).args(args);
    for name in [
        "TABLESHARE_HOME",
        "TABLESHARE_CLOUD_ROOT",
        "TABLESHARE_WORKER_DIRECTORY",
        "TABLESHARE_API_KEY",
        "TABLESHARE_WORKER_TOKEN",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(root.env.iter().map(|(k, v)| (*k, v.as_str())));
    cmd
}

fn ts(home: &Path, root: &Root, args: &[&str], stdin: Option<&str>, code: i32) -> String {
    use std::io::Write;
    let mut child = command(home, root, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    let out: Output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "[{}] tableshare {args:?}\nstdout: {stdout}\nstderr: {stderr}",
        root.name
    );
    if code == 0 { stdout } else { stderr }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A `tableshare serve` process, killed on drop.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Guards the shared worker directory: a worker serving from home A registers in the directory
/// that `[workers] directory` names; home B, which shares only that setting, resolves
/// `pq://NAME/…` and `pq://SERIAL/…` and lists the worker; home C, without the setting, does not
/// know the worker (so it was the shared directory that resolved it, not a local file).
#[test]
fn a_shared_worker_directory_lets_other_homes_find_the_worker() {
    for root in roots("workers") {
        let homes = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            homes.path().join("a"),
            homes.path().join("b"),
            homes.path().join("c"),
        );
        for home in [&a, &b, &c] {
            std::fs::create_dir_all(home).unwrap();
        }
        let config = format!("[workers]\ndirectory = \"{}\"\n", root.url);
        std::fs::write(a.join("config.toml"), &config).unwrap();
        std::fs::write(b.join("config.toml"), &config).unwrap();

        ts(&a, &root, &["dir", "create", "desk"], None, 0);
        let schema = [
            "table",
            "create",
            "desk.prices",
            "--schema",
            "id:int64,sym:utf8",
        ];
        ts(&a, &root, &schema, None, 0);
        let insert = ["table", "insert", "desk.prices", "-"];
        ts(&a, &root, &insert, Some("id,sym\n1,AAPL\n2,MSFT\n"), 0);
        let mut child = command(
            &a,
            &root,
            &["serve", "--name", "SharedPQ", "--serial", "777"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let banner = lines.next().unwrap().unwrap();
        assert!(banner.starts_with("worker SharedPQ"), "{banner}");
        std::thread::spawn(move || lines.for_each(drop));
        let _worker = Serving(child);

        let rows = ts(
            &b,
            &root,
            &["snapshot", "pq://SharedPQ/scope/desk.prices", "--json"],
            None,
            0,
        );
        assert_eq!(
            json(&rows),
            json!([{"id":1,"sym":"AAPL"},{"id":2,"sym":"MSFT"}]),
            "[{}]",
            root.name
        );
        let by_serial = ts(
            &b,
            &root,
            &[
                "snapshot",
                "pq://777/scope/desk.prices?columns=sym",
                "--json",
            ],
            None,
            0,
        );
        assert_eq!(json(&by_serial), json!([{"sym":"AAPL"},{"sym":"MSFT"}]));
        let workers = json(&ts(&b, &root, &["worker", "ls", "--json"], None, 0));
        let names: Vec<(&str, bool)> = workers
            .as_array()
            .unwrap()
            .iter()
            .map(|w| (w["name"].as_str().unwrap(), w["up"].as_bool().unwrap()))
            .collect();
        assert_eq!(names, [("SharedPQ", true)], "[{}]", root.name);

        let unknown = ts(
            &c,
            &root,
            &["snapshot", "pq://SharedPQ/scope/desk.prices"],
            None,
            1,
        );
        assert!(unknown.contains("SharedPQ"), "[{}] {unknown}", root.name);
    }
}

/// Guards the sharing commands with the cloud root on each store (`TABLESHARE_CLOUD_ROOT`):
/// publish, push, replicate, pull, an independent copy and `cloud ls`, from two homes that
/// share only the root.
#[test]
fn sharing_commands_on_a_shared_cloud_root() {
    for mut root in roots("cloud") {
        let url = root.url.clone();
        root.env.push(("TABLESHARE_CLOUD_ROOT", url));
        let homes = tempfile::tempdir().unwrap();
        let (alice, bob) = (homes.path().join("alice"), homes.path().join("bob"));
        let mut keyed = Root {
            name: root.name,
            url: root.url.clone(),
            env: root.env.clone(),
            _dir: None,
        };
        keyed.env.push(("TABLESHARE_API_KEY", "org-key".into()));

        ts(&alice, &keyed, &["dir", "create", "d"], None, 0);
        ts(
            &alice,
            &keyed,
            &["table", "create", "d.t", "--schema", "id:int64,name:utf8"],
            None,
            0,
        );
        ts(
            &alice,
            &keyed,
            &["table", "insert", "d.t", "-"],
            Some("id,name\n1,a\n"),
            0,
        );
        let uri = ts(
            &alice,
            &keyed,
            &[
                "publish",
                "d.t",
                "pxt://acme/d.t",
                "--access",
                "public",
                "--quiet",
            ],
            None,
            0,
        );
        assert_eq!(uri.trim(), "pxt://acme/d.t", "[{}]", root.name);
        ts(
            &alice,
            &keyed,
            &["table", "insert", "d.t", "-"],
            Some("id,name\n2,b\n"),
            0,
        );
        ts(&alice, &keyed, &["push", "d.t", "--quiet"], None, 0);

        ts(&bob, &root, &["dir", "create", "r"], None, 0);
        ts(
            &bob,
            &root,
            &["replicate", "pxt://acme/d.t", "r.t", "--quiet"],
            None,
            0,
        );
        ts(
            &alice,
            &keyed,
            &["table", "insert", "d.t", "-"],
            Some("id,name\n3,c\n"),
            0,
        );
        ts(&alice, &keyed, &["push", "d.t", "--quiet"], None, 0);
        ts(&bob, &root, &["pull", "r.t", "--quiet"], None, 0);
        let rows = json(&ts(
            &bob,
            &root,
            &["table", "show", "r.t", "--json"],
            None,
            0,
        ));
        assert_eq!(
            rows,
            json!([{"id":1,"name":"a"},{"id":2,"name":"b"},{"id":3,"name":"c"}]),
            "[{}]",
            root.name
        );
        ts(
            &bob,
            &root,
            &["table", "create", "r.copy", "--source", "pxt://acme/d.t:1"],
            None,
            0,
        );
        let copy = json(&ts(
            &bob,
            &root,
            &["table", "show", "r.copy", "--json"],
            None,
            0,
        ));
        assert_eq!(copy, json!([{"id":1,"name":"a"}]));
        let listed = json(&ts(
            &bob,
            &root,
            &["cloud", "ls", "acme", "--json"],
            None,
            0,
        ));
        assert_eq!(
            listed,
            json!([{"uri":"pxt://acme/d.t","access":"public","version":3}]),
            "[{}]",
            root.name
        );
        // Without the key, pushing is refused before anything is touched.
        let refused = ts(&alice, &root, &["push", "d.t", "--quiet"], None, 1);
        assert!(refused.contains("TABLESHARE_API_KEY"), "{refused}");
    }
}
