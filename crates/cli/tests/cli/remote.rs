//! `serve`, `subscribe`, `snapshot` and `worker ls` end to end: a real `tableshare serve`
//! process serving catalog tables, other processes reading them by `pq://` name and serial,
//! commits from yet another process ticking the subscription.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::{check, check_stdin, json_of};

/// A `tableshare serve` process, killed on drop.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(home: &Path, args: &[&str]) -> (Serving, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tableshare"))
        .arg("--home")
        .arg(home)
        .arg("serve")
        .args(args)
        .env_remove("TABLESHARE_WORKER_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("worker "), "{first}");
    std::thread::spawn(move || lines.for_each(drop));
    (Serving(child), first)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Guards the seed 001 commands of the contract: `serve` registers the worker so `pq://NAME`
/// and `pq://SERIAL` resolve; `snapshot --json` prints the rows as `table show` does;
/// `subscribe --json --count N` prints the snapshot line then one line per update (a commit by
/// another process); `worker ls --json` shows the worker up; failures exit 1 naming worker and
/// table, bad addresses exit 2.
#[test]
fn serve_snapshot_subscribe_and_worker_ls() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    check(h, &["dir", "create", "demo"], 0);
    check(
        h,
        &[
            "table",
            "create",
            "demo.prices",
            "--schema",
            "id:int64,name:utf8",
        ],
        0,
    );
    check_stdin(
        h,
        &["table", "insert", "demo.prices", "-"],
        Some("id,name\n1,a\n2,b\n"),
        0,
    );
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let (_worker, banner) = serve(
        h,
        &["--name", "Desk PQ", "--serial", "4242", "--listen", &listen],
    );
    assert!(banner.contains(&listen), "{banner}");

    let rows = json_of(&check(
        h,
        &["snapshot", "pq://Desk%20PQ/scope/demo.prices", "--json"],
        0,
    ));
    assert_eq!(rows, json!([{"id":1,"name":"a"},{"id":2,"name":"b"}]));
    let direct = format!("ts+plain://{listen}/scope/demo.prices?columns=name");
    assert_eq!(
        json_of(&check(h, &["snapshot", &direct, "--json"], 0)),
        json!([{"name":"a"},{"name":"b"}])
    );

    let mut subscriber = Command::new(env!("CARGO_BIN_EXE_tableshare"))
        .arg("--home")
        .arg(h)
        .args([
            "subscribe",
            "pq://4242/scope/demo.prices",
            "--json",
            "--count",
            "1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(subscriber.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        first,
        json!({"step":1,"snapshot":[{"id":1,"name":"a"},{"id":2,"name":"b"}],"size":2})
    );
    check_stdin(
        h,
        &["table", "insert", "demo.prices", "-"],
        Some("id,name\n3,c\n"),
        0,
    );
    let update: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        update,
        json!({"step":2,"added":[{"id":3,"name":"c"}],"removed":0,"modified":[],"size":3})
    );
    let status = subscriber.wait().unwrap();
    assert_eq!(status.code(), Some(0), "exits after --count updates");

    let workers = json_of(&check(h, &["worker", "ls", "--json"], 0));
    let worker = &workers.as_array().unwrap()[0];
    assert_eq!(
        (
            worker["name"].as_str(),
            worker["serial"].as_u64(),
            worker["up"].as_bool()
        ),
        (Some("Desk PQ"), Some(4242), Some(true))
    );
    assert_eq!(worker["address"], json!(listen));

    let out = super::run(h, &["subscribe", "pq://Nobody/scope/demo.x"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("Nobody") && stderr.contains("demo.x"),
        "{stderr}"
    );
    let out = super::run(h, &["snapshot", "pq://4242/scope/demo.nope"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("demo.nope"));
    check(h, &["subscribe", "pq://4242/scope/t?bogus=1"], 2);
    check(h, &["snapshot", "pxt://org/demo.prices"], 2);
    std::thread::sleep(Duration::from_millis(10));
}

/// Guards `--token`: a worker started with one refuses a client without it (exit 1) and serves
/// one that sets `TABLESHARE_WORKER_TOKEN`.
#[test]
fn serve_with_a_token() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    check(h, &["dir", "create", "d"], 0);
    check(h, &["table", "create", "d.t", "--schema", "id:int64"], 0);
    let listen = format!("127.0.0.1:{}", free_port());
    let (_worker, _) = serve(
        h,
        &[
            "--name", "Secure", "--listen", &listen, "--token", "tok", "d.t",
        ],
    );
    let out = super::run(h, &["snapshot", "pq://Secure/scope/d.t"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("token"));
    let out = Command::new(env!("CARGO_BIN_EXE_tableshare"))
        .arg("--home")
        .arg(h)
        .args(["snapshot", "pq://Secure/scope/d.t", "--json"])
        .env("TABLESHARE_WORKER_TOKEN", "tok")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json_of(&String::from_utf8(out.stdout).unwrap()), json!([]));
}
