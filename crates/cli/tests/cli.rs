//! The command-line contract, tested by running the real `tableshare` binary: command names,
//! exit codes (0 ok, 1 failed or refused, 2 bad input) and the exact `--json` shapes that outside
//! checks rely on. Each test uses its own fresh home folder.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design: the panic is the test failure"
)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

/// Runs `tableshare --home HOME ARGS…` with optional stdin.
fn run(home: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tableshare"));
    cmd.arg("--home").arg(home).args(args);
    cmd.env_remove("TABLESHARE_HOME");
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// Runs a command and checks its exit code; returns stdout.
fn check(home: &Path, args: &[&str], code: i32) -> String {
    check_stdin(home, args, None, code)
}

fn check_stdin(home: &Path, args: &[&str], stdin: Option<&str>, code: i32) -> String {
    let out = run(home, args, stdin);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "tableshare {args:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    if code != 0 {
        assert!(
            stderr.starts_with("tableshare: ") || stderr.contains("error:"),
            "a failure explains itself on stderr: {stderr:?}"
        );
    }
    stdout
}

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn uri_parse_json_shapes() {
    let home = tempfile::tempdir().unwrap();
    let cases = [
        (
            "pxt://alice/shared.sample_data:3",
            json!({"kind":"cloud","org":"alice","db":null,"path":"shared.sample_data","version":3}),
        ),
        (
            "pxt://team/shared/dataset_name",
            json!({"kind":"cloud","org":"team","db":null,"path":"shared.dataset_name","version":null}),
        ),
        (
            "pq://SomePQ/scope/some_table",
            json!({"kind":"worker","worker":{"name":"SomePQ"},"table":"some_table","options":{
                "snapshot":false,"columns":null,"on_disconnect":"clear","retry_window_ms":300000,
                "max_retries":null,"blink":false}}),
        ),
        (
            "pq://1234567890/scope/some_table?columns=Col1,Col2,Col3&retryWindowMillis=30000&maxRetries=3&blink",
            json!({"kind":"worker","worker":{"serial":1234567890u64},"table":"some_table","options":{
                "snapshot":false,"columns":["Col1","Col2","Col3"],"on_disconnect":"clear",
                "retry_window_ms":30000,"max_retries":3,"blink":true}}),
        ),
        (
            "pq://Sla%5Csh%20PQ/scope/some_table?onDisconnect=retain",
            json!({"kind":"worker","worker":{"name":"Sla\\sh PQ"},"table":"some_table","options":{
                "snapshot":false,"columns":null,"on_disconnect":"retain","retry_window_ms":300000,
                "max_retries":null,"blink":false}}),
        ),
        (
            "ts+plain://localhost/scope/t?snapshot=true",
            json!({"kind":"direct","host":"localhost","port":8470,"tls":false,"table":"t","options":{
                "snapshot":true,"columns":null,"on_disconnect":"clear","retry_window_ms":300000,
                "max_retries":null,"blink":false}}),
        ),
    ];
    for (uri, expected) in cases {
        let out = check(home.path(), &["uri", "parse", uri, "--json"], 0);
        assert_eq!(json_of(&out), expected, "{uri}");
        // The human form runs too and shows the canonical address.
        let human = check(home.path(), &["uri", "parse", uri], 0);
        assert!(human.contains("canonical"), "{human}");
    }
}

#[test]
fn invalid_addresses_exit_2() {
    let home = tempfile::tempdir().unwrap();
    for uri in [
        "http://x/y",
        "pxt://alice/t:",
        "pxt://alice/t:abc",
        "pxt://alice/t:-1",
        "pxt://alice/a..b",
        "pq://SomePQ/app/t",
        "pq://SomePQ/scope/t?onDisconect=retain",
        "pq://SomePQ/scope/t?snapshot=true&blink",
        "pq://SomePQ/scope/t?maxRetries=3&maxRetries=4",
    ] {
        check(home.path(), &["uri", "parse", uri, "--json"], 2);
    }
    // Bad usage (an unknown command) is exit 2 as well.
    check(home.path(), &["no-such-command"], 2);
}

#[test]
fn catalog_round_trip() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    check(h, &["dir", "create", "shared_demo"], 0);
    check(
        h,
        &[
            "table",
            "create",
            "shared_demo.sample_data",
            "--schema",
            "id:int64,name:utf8,value:float64",
        ],
        0,
    );
    check_stdin(
        h,
        &["table", "insert", "shared_demo.sample_data", "-"],
        Some("id,name,value\n1,Alice,42.5\n2,Bob,37.8\n3,Charlie,91.2\n"),
        0,
    );
    let ndjson = home.path().join("more.ndjson");
    std::fs::write(&ndjson, "{\"id\":4,\"name\":\"Diana\",\"value\":65.3}\n").unwrap();
    check(
        h,
        &[
            "table",
            "insert",
            "shared_demo.sample_data",
            ndjson.to_str().unwrap(),
        ],
        0,
    );

    let rows = json_of(&check(
        h,
        &["table", "show", "shared_demo.sample_data", "--json"],
        0,
    ));
    assert_eq!(
        rows,
        json!([
            {"id":1,"name":"Alice","value":42.5},
            {"id":2,"name":"Bob","value":37.8},
            {"id":3,"name":"Charlie","value":91.2},
            {"id":4,"name":"Diana","value":65.3}
        ])
    );
    let limited = json_of(&check(
        h,
        &[
            "table",
            "show",
            "shared_demo.sample_data",
            "--limit",
            "1",
            "--json",
        ],
        0,
    ));
    assert_eq!(limited, json!([{"id":1,"name":"Alice","value":42.5}]));

    // Time travel: version 1 holds the first insert only, and is read-only.
    let v1 = json_of(&check(
        h,
        &["table", "show", "shared_demo.sample_data:1", "--json"],
        0,
    ));
    assert_eq!(v1.as_array().unwrap().len(), 3);
    check(
        h,
        &[
            "table",
            "insert",
            "shared_demo.sample_data:1",
            ndjson.to_str().unwrap(),
        ],
        1,
    );

    let listing = json_of(&check(h, &["ls", "--recursive", "--json"], 0));
    assert_eq!(
        listing,
        json!([
            {"path":"shared_demo","kind":"dir"},
            {"path":"shared_demo.sample_data","kind":"table"}
        ])
    );

    let history = json_of(&check(
        h,
        &["table", "history", "shared_demo.sample_data", "--json"],
        0,
    ));
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 3);
    let by_version = |v: u64| {
        history
            .iter()
            .find(|e| e["version"] == v)
            .unwrap_or_else(|| panic!("no version {v}"))
            .clone()
    };
    assert_eq!(by_version(1)["operation"], "insert");
    assert_eq!(by_version(1)["rows_added"], 3);
    assert_eq!(by_version(2)["rows_added"], 1);
    assert_eq!(by_version(2)["rows_removed"], 0);
    assert!(by_version(2)["timestamp"].is_string());

    // Revert undoes the latest version as a new one.
    check(h, &["table", "revert", "shared_demo.sample_data"], 0);
    let rows = json_of(&check(
        h,
        &["table", "show", "shared_demo.sample_data", "--json"],
        0,
    ));
    assert_eq!(rows.as_array().unwrap().len(), 3);

    // Refusals are exit 1 and change nothing.
    check(h, &["dir", "create", "shared_demo"], 1);
    check(h, &["dir", "drop", "shared_demo"], 1);
    check(h, &["table", "show", "shared_demo.nope"], 1);
    check(h, &["table", "drop", "shared_demo.sample_data"], 0);
    check(h, &["dir", "drop", "shared_demo"], 0);
    let listing = json_of(&check(h, &["ls", "--json"], 0));
    assert_eq!(listing, json!([]));
}

#[test]
fn bad_input_exits_2_and_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    check(
        h,
        &["table", "create", "bad..name", "--schema", "id:int64"],
        2,
    );
    check(h, &["table", "create", "t", "--schema", "id:uuid"], 2);
    check(
        h,
        &["table", "create", "t", "--schema", "id:int64,name:utf8"],
        0,
    );
    // A value that does not fit the column: nothing is inserted.
    check_stdin(
        h,
        &["table", "insert", "t", "-"],
        Some("id,name\n1,a\nnot-a-number,b\n"),
        2,
    );
    // A column the table lacks.
    check_stdin(
        h,
        &["table", "insert", "t", "-"],
        Some("id,colour\n1,red\n"),
        2,
    );
    // Addresses that do not parse are bad input too; a version that does not exist is refused.
    check(h, &["table", "show", "t:x"], 2);
    check(h, &["table", "show", "t:"], 2);
    check(h, &["table", "show", "t:7"], 1);
    let weird = h.join("rows.xlsx");
    std::fs::write(&weird, "x").unwrap();
    check(h, &["table", "insert", "t", weird.to_str().unwrap()], 2);
    let rows = json_of(&check(h, &["table", "show", "t", "--json"], 0));
    assert_eq!(rows, json!([]));
    let history = json_of(&check(h, &["table", "history", "t", "--json"], 0));
    assert_eq!(
        history.as_array().unwrap().len(),
        1,
        "only the create version"
    );
}

/// Creates table `t` (id:int64,name:utf8) and inserts one row per name, one version each.
fn table_with_versions(h: &Path, names: &[&str]) {
    check(
        h,
        &["table", "create", "t", "--schema", "id:int64,name:utf8"],
        0,
    );
    for (i, name) in names.iter().enumerate() {
        check_stdin(
            h,
            &["table", "insert", "t", "-"],
            Some(&format!("id,name\n{i},{name}\n")),
            0,
        );
    }
}

fn history_versions(h: &Path) -> Vec<u64> {
    let history = json_of(&check(h, &["table", "history", "t", "--json"], 0));
    let mut versions: Vec<u64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_u64().unwrap())
        .collect();
    versions.sort_unstable();
    versions
}

// Guards the contract of `table gc --json` (exact keys) and that `--retention 0s` really
// expires versions: history shrinks to the latest and reading an expired `t:N` fails with 1.
#[test]
fn table_gc_expires_versions() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    table_with_versions(h, &["a", "b", "c"]);
    assert_eq!(history_versions(h), [0, 1, 2, 3]);

    // The default retention (7 days) keeps everything.
    let kept = json_of(&check(h, &["table", "gc", "t", "--json"], 0));
    assert_eq!(
        kept,
        json!({"versions_expired":[],"versions_kept":[0,1,2,3],"files_deleted":0,"bytes_freed":0})
    );

    // With no retention, a version still waits until its successor is older than the age
    // guard (1h by default): its number must not be freed while a writer may build on it.
    let waiting = json_of(&check(
        h,
        &["table", "gc", "t", "--retention", "0s", "--json"],
        0,
    ));
    assert_eq!(waiting["versions_expired"], json!([]));
    // With no age guard either, every version but the latest expires; the files are all still
    // used by the latest (each insert only added one), so none is deleted.
    let report = json_of(&check(
        h,
        &[
            "table",
            "gc",
            "t",
            "--retention",
            "0s",
            "--age-guard",
            "0s",
            "--json",
        ],
        0,
    ));
    assert_eq!(
        report,
        json!({"versions_expired":[0,1,2],"versions_kept":[3],"files_deleted":0,"bytes_freed":0})
    );
    assert_eq!(history_versions(h), [3]);
    check(h, &["table", "show", "t:1", "--json"], 1);
    let rows = json_of(&check(h, &["table", "show", "t", "--json"], 0));
    assert_eq!(
        rows.as_array().unwrap().len(),
        3,
        "the latest keeps every row"
    );

    // The human form runs too.
    let text = check(h, &["table", "gc", "t", "--retention", "90m"], 0);
    assert!(text.contains("no versions expired"), "{text}");
}

// Guards that compaction merges files without changing rows, that its files become garbage
// only once the versions using them expire, and that `--age-guard 0s` then deletes them.
#[test]
fn compact_then_gc_frees_the_merged_files() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    table_with_versions(h, &["a", "b", "c"]);
    let before = json_of(&check(h, &["table", "show", "t", "--json"], 0));
    let out = check(h, &["table", "compact", "t"], 0);
    assert!(out.contains("version 4"), "{out}");
    assert_eq!(
        json_of(&check(h, &["table", "show", "t", "--json"], 0)),
        before
    );
    // A single merged file: nothing left to merge, no new version.
    let out = check(h, &["table", "compact", "t"], 0);
    assert!(out.contains("nothing to merge"), "{out}");
    assert_eq!(history_versions(h), [0, 1, 2, 3, 4]);

    let report = json_of(&check(
        h,
        &[
            "table",
            "gc",
            "t",
            "--retention",
            "0s",
            "--age-guard",
            "0s",
            "--json",
        ],
        0,
    ));
    assert_eq!(report["versions_expired"], json!([0, 1, 2, 3]));
    assert_eq!(report["versions_kept"], json!([4]));
    assert_eq!(report["files_deleted"], 3, "the three pre-compaction files");
    assert!(report["bytes_freed"].as_u64().unwrap() > 0);
    assert_eq!(
        json_of(&check(h, &["table", "show", "t", "--json"], 0)),
        before
    );
}

// Guards `tableshare gc` over the whole catalog: the same JSON keys, every table collected.
#[test]
fn catalog_gc_collects_every_table() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    table_with_versions(h, &["a", "b"]);
    let report = json_of(&check(
        h,
        &["gc", "--retention", "0s", "--age-guard", "0s", "--json"],
        0,
    ));
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "bytes_freed",
            "files_deleted",
            "versions_expired",
            "versions_kept"
        ]
    );
    assert_eq!(report["versions_expired"], json!([0, 1]));
    assert_eq!(report["versions_kept"], json!([2]));
    assert_eq!(history_versions(h), [2]);
    check(h, &["table", "show", "t:0"], 1);
}

// Guards the exit codes of gc and compact: a bad duration is bad usage (2) naming the value;
// a missing table or a pinned version is refused (1).
#[test]
fn gc_and_compact_refusals() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    table_with_versions(h, &["a"]);
    for bad in ["7x", "1.5h", "-1s", "10"] {
        let flag = format!("--retention={bad}");
        let out = run(h, &["table", "gc", "t", &flag], None);
        assert_eq!(out.status.code(), Some(2), "--retention {bad}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(bad), "names the value: {stderr}");
    }
    check(h, &["gc", "--age-guard", "soon"], 2);
    check(h, &["table", "gc", "nope"], 1);
    check(h, &["table", "compact", "nope"], 1);
    check(h, &["table", "compact", "t:1"], 1);
    check(h, &["table", "gc", "bad..name"], 2);
    assert_eq!(history_versions(h), [0, 1], "nothing changed");
}

// Guards `table insert` of the binary formats the guide lists: a Parquet file and an Arrow IPC
// file written by another tool, with their own column order and narrower types, land in the
// table cast to its types; a value that does not fit exits 2 and inserts nothing.
#[test]
fn insert_parquet_and_arrow_files() {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray};

    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    check(
        h,
        &["table", "create", "t", "--schema", "id:int64,name:utf8"],
        0,
    );
    let batch = |names: Vec<&str>, ids: Vec<i32>| {
        RecordBatch::try_from_iter([
            ("name", Arc::new(StringArray::from(names)) as ArrayRef),
            ("id", Arc::new(Int32Array::from(ids)) as ArrayRef),
        ])
        .unwrap()
    };
    let parquet_path = h.join("rows.parquet");
    let rows = batch(vec!["a", "b"], vec![1, 2]);
    let file = std::fs::File::create(&parquet_path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, rows.schema(), None).unwrap();
    writer.write(&rows).unwrap();
    writer.close().unwrap();
    check(
        h,
        &["table", "insert", "t", parquet_path.to_str().unwrap()],
        0,
    );

    let arrow_path = h.join("rows.arrow");
    let rows = batch(vec!["c"], vec![3]);
    let file = std::fs::File::create(&arrow_path).unwrap();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(file, &rows.schema()).unwrap();
    writer.write(&rows).unwrap();
    writer.finish().unwrap();
    check(
        h,
        &["table", "insert", "t", arrow_path.to_str().unwrap()],
        0,
    );

    let shown = json_of(&check(h, &["table", "show", "t", "--json"], 0));
    assert_eq!(
        shown,
        json!([{"id":1,"name":"a"},{"id":2,"name":"b"},{"id":3,"name":"c"}])
    );

    // A file with a column the table lacks is refused, naming it.
    let extra = RecordBatch::try_from_iter([
        ("id", Arc::new(Int32Array::from(vec![4])) as ArrayRef),
        (
            "colour",
            Arc::new(StringArray::from(vec!["red"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let bad_path = h.join("bad.arrow");
    let file = std::fs::File::create(&bad_path).unwrap();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(file, &extra.schema()).unwrap();
    writer.write(&extra).unwrap();
    writer.finish().unwrap();
    let out = run(
        h,
        &["table", "insert", "t", bad_path.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("colour"), "names the column: {stderr}");
    assert_eq!(history_versions(h), [0, 1, 2], "nothing inserted");
}

// Guards the sharing commands of the contract (seed 000) end to end across two homes sharing
// one file:// cloud root: exit codes, the canonical URI, `cloud ls --json`, replicas, pull,
// independent copies, and the key requirement (config.toml's `api_key`).
#[test]
fn sharing_commands() {
    let cloud = tempfile::tempdir().unwrap();
    let alice = tempfile::tempdir().unwrap();
    let bob = tempfile::tempdir().unwrap();
    let root = format!("[cloud]\nroot = \"file://{}\"\n", cloud.path().display());
    std::fs::write(bob.path().join("config.toml"), &root).unwrap();
    std::fs::write(alice.path().join("config.toml"), &root).unwrap();
    let (a, b) = (alice.path(), bob.path());
    check(a, &["dir", "create", "shared_demo"], 0);
    let spec = "id:int64,name:utf8,value:float64";
    check(
        a,
        &[
            "table",
            "create",
            "shared_demo.sample_data",
            "--schema",
            spec,
        ],
        0,
    );
    let csv = "id,name,value\n1,Alice,42.5\n2,Bob,37.8\n3,Charlie,91.2\n";
    check_stdin(
        a,
        &["table", "insert", "shared_demo.sample_data", "-"],
        Some(csv),
        0,
    );
    let uri = "pxt://alice/shared.sample_data";
    // No key yet: refused, nothing published.
    check(
        a,
        &[
            "publish",
            "shared_demo.sample_data",
            uri,
            "--access",
            "public",
        ],
        1,
    );
    assert_eq!(
        json_of(&check(b, &["cloud", "ls", "alice", "--json"], 0)),
        json!([])
    );
    std::fs::write(a.join("config.toml"), format!("api_key = \"k\"\n{root}")).unwrap();
    check(
        a,
        &["publish", "shared_demo.sample_data", "pxt://alice/../x"],
        2,
    );
    let out = check(
        a,
        &[
            "publish",
            "shared_demo.sample_data",
            uri,
            "--access",
            "public",
            "--quiet",
        ],
        0,
    );
    assert_eq!(out.trim(), uri);
    check(
        a,
        &[
            "publish",
            "shared_demo.sample_data",
            uri,
            "--access",
            "public",
        ],
        1,
    );
    check(b, &["replicate", uri, "replicated_data"], 0);
    check_stdin(
        b,
        &["table", "insert", "replicated_data", "-"],
        Some("id,name,value\n7,X,1.0\n"),
        1,
    );
    check_stdin(
        a,
        &["table", "insert", "shared_demo.sample_data", "-"],
        Some("id,name,value\n4,Diana,65.3\n"),
        0,
    );
    check(b, &["push", "replicated_data"], 1);
    check(a, &["push", "shared_demo.sample_data"], 0);
    check(b, &["pull", "replicated_data"], 0);
    let rows = json_of(&check(
        b,
        &["table", "show", "replicated_data", "--json"],
        0,
    ));
    assert_eq!(rows.as_array().unwrap().len(), 4);
    check(
        b,
        &["table", "create", "copy", "--source", &format!("{uri}:1")],
        0,
    );
    let rows = json_of(&check(b, &["table", "show", "copy", "--json"], 0));
    assert_eq!(rows.as_array().unwrap().len(), 3);
    check_stdin(
        b,
        &["table", "insert", "copy", "-"],
        Some("id,name,value\n9,Eve,1.0\n"),
        0,
    );
    assert_eq!(
        json_of(&check(b, &["cloud", "ls", "alice", "--json"], 0)),
        json!([{"uri": uri, "access": "public", "version": 2}])
    );
    check(b, &["cloud", "drop", uri], 1);
    check(a, &["cloud", "drop", uri], 0);
    check(a, &["cloud", "drop", uri], 1);
    assert_eq!(
        json_of(&check(b, &["cloud", "ls", "alice", "--json"], 0)),
        json!([])
    );
}

#[path = "cli/tds.rs"]
mod tds;

#[path = "cli/remote.rs"]
mod remote;

#[path = "cli/demo.rs"]
mod demo;

#[path = "cli/shared_roots.rs"]
mod shared_roots;

#[path = "cli/query.rs"]
mod query;
