//! The query commands of the contract: `sql [--json]`, `table update --set … [--where …]`,
//! `table delete --where …`, `view create --base … --column … [--where …]`, views in `ls` and
//! `table show`, and their exit codes (2 for bad SQL or unknown columns with nothing changed, 1
//! for read-only tables and missing ones), including a view on a real replica.

use std::path::Path;

use serde_json::json;

use super::{check, check_stdin, json_of};

fn sample(home: &Path) {
    check(home, &["dir", "create", "shared_demo"], 0);
    check(
        home,
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
        home,
        &["table", "insert", "shared_demo.sample_data", "-"],
        Some("id,name,value\n1,Alice,42.5\n2,Bob,37.8\n3,Charlie,91.2\n"),
        0,
    );
}

fn versions(home: &Path, path: &str) -> usize {
    json_of(&check(home, &["table", "history", path, "--json"], 0))
        .as_array()
        .unwrap()
        .len()
}

// Guards `sql`: paths as names, --json rows, human output, and the exit codes of bad SQL (2)
// and missing tables (1).
#[test]
fn sql_command() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    sample(h);
    let out = check(
        h,
        &[
            "sql",
            "SELECT id, value * 2 AS doubled FROM shared_demo.sample_data WHERE value > 40 ORDER BY id",
            "--json",
        ],
        0,
    );
    assert_eq!(
        json_of(&out),
        json!([{"id": 1, "doubled": 85.0}, {"id": 3, "doubled": 182.4}])
    );
    let out = check(
        h,
        &[
            "sql",
            r#"SELECT count(*) AS n FROM "shared_demo.sample_data:0""#,
            "--json",
        ],
        0,
    );
    assert_eq!(json_of(&out), json!([{"n": 0}]));
    let out = check(
        h,
        &[
            "sql",
            "SELECT name FROM shared_demo.sample_data ORDER BY name DESC LIMIT 1",
        ],
        0,
    );
    assert!(out.contains("Charlie") && out.contains("(1 rows)"), "{out}");
    let out = check(
        h,
        &[
            "sql",
            "SELECT id FROM shared_demo.sample_data WHERE id > 9",
            "--json",
        ],
        0,
    );
    assert_eq!(json_of(&out), json!([]));
    check(h, &["sql", "SELEC 1"], 2);
    check(h, &["sql", "SELECT nope FROM shared_demo.sample_data"], 2);
    check(h, &["sql", "DROP TABLE shared_demo.sample_data"], 2);
    check(h, &["sql", "SELECT * FROM shared_demo.missing"], 1);
    assert_eq!(versions(h, "shared_demo.sample_data"), 2);
}

// Guards `table update` and `table delete`: the rows change as the SQL says, one version each;
// bad SQL and unknown columns are exit 2 with no version added; a pinned version is read-only
// (exit 1); a missing table is exit 1.
#[test]
fn update_and_delete_commands() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    sample(h);
    let t = "shared_demo.sample_data";
    let out = check(
        h,
        &[
            "table",
            "update",
            t,
            "--set",
            "value=value * 10",
            "--set",
            "name=upper(name)",
            "--where",
            "id >= 2",
        ],
        0,
    );
    assert!(out.contains("updated 2 rows"), "{out}");
    check(h, &["table", "delete", t, "--where", "name = 'BOB'"], 0);
    assert_eq!(
        json_of(&check(h, &["table", "show", t, "--json"], 0)),
        json!([
            {"id": 1, "name": "Alice", "value": 42.5},
            {"id": 3, "name": "CHARLIE", "value": 912.0}
        ])
    );
    assert_eq!(versions(h, t), 4);
    for args in [
        vec!["table", "update", t, "--set", "nope=1"],
        vec!["table", "update", t, "--set", "value=nope + 1"],
        vec!["table", "update", t, "--set", "value"],
        vec!["table", "update", t, "--set", "value=1", "--where", "id = "],
        vec!["table", "delete", t, "--where", "nope > 1"],
        vec!["table", "delete", t, "--where", "id +"],
        vec!["table", "delete", t],
    ] {
        check(h, &args, 2);
    }
    assert_eq!(versions(h, t), 4, "nothing changed");
    check(
        h,
        &["table", "delete", &format!("{t}:1"), "--where", "id = 1"],
        1,
    );
    check(
        h,
        &["table", "update", "shared_demo.missing", "--set", "value=1"],
        1,
    );
    assert_eq!(versions(h, t), 4);
}

// Guards views: `view create` with computed columns and a filter, `ls` kind "view", `table
// show` of a view (rows in key order, --limit), `sql` over it; a view whose expressions name
// unknown columns is exit 2 and a missing base exit 1, with nothing created; and a view on a
// real replica (read-only base) that follows the replica after a pull.
#[test]
fn view_commands_on_a_table_and_a_replica() {
    let cloud = tempfile::tempdir().unwrap();
    let alice = tempfile::tempdir().unwrap();
    let bob = tempfile::tempdir().unwrap();
    let root = format!(
        "api_key = \"k\"\n[cloud]\nroot = \"file://{}\"\n",
        cloud.path().display()
    );
    std::fs::write(alice.path().join("config.toml"), &root).unwrap();
    std::fs::write(bob.path().join("config.toml"), &root).unwrap();
    let (a, b) = (alice.path(), bob.path());
    sample(a);
    check(
        a,
        &[
            "view",
            "create",
            "shared_demo.doubled",
            "--base",
            "shared_demo.sample_data",
            "--column",
            "computed_value=value * 2",
            "--where",
            "computed_value > 80",
        ],
        0,
    );
    let listed = json_of(&check(a, &["ls", "shared_demo", "--json"], 0));
    assert_eq!(
        listed,
        json!([
            {"path": "shared_demo.doubled", "kind": "view"},
            {"path": "shared_demo.sample_data", "kind": "table"}
        ])
    );
    assert_eq!(
        json_of(&check(
            a,
            &["table", "show", "shared_demo.doubled", "--json"],
            0
        )),
        json!([
            {"id": 1, "name": "Alice", "value": 42.5, "computed_value": 85.0},
            {"id": 3, "name": "Charlie", "value": 91.2, "computed_value": 182.4}
        ])
    );
    assert_eq!(
        json_of(&check(
            a,
            &[
                "table",
                "show",
                "shared_demo.doubled",
                "--limit",
                "1",
                "--json"
            ],
            0
        )),
        json!([{"id": 1, "name": "Alice", "value": 42.5, "computed_value": 85.0}])
    );
    let out = check(a, &["table", "show", "shared_demo.doubled"], 0);
    assert!(
        out.contains("computed_value") && out.contains("182.4"),
        "{out}"
    );
    assert_eq!(
        json_of(&check(
            a,
            &[
                "sql",
                "SELECT sum(computed_value) AS s FROM shared_demo.doubled",
                "--json"
            ],
            0
        )),
        json!([{"s": 267.4}])
    );
    check(
        a,
        &[
            "view",
            "create",
            "shared_demo.bad",
            "--base",
            "shared_demo.sample_data",
            "--column",
            "x=nope * 2",
        ],
        2,
    );
    check(
        a,
        &[
            "view",
            "create",
            "shared_demo.bad",
            "--base",
            "shared_demo.sample_data",
            "--where",
            "value +",
        ],
        2,
    );
    check(
        a,
        &[
            "view",
            "create",
            "shared_demo.bad",
            "--base",
            "shared_demo.gone",
        ],
        1,
    );
    check(
        a,
        &[
            "view",
            "create",
            "shared_demo.doubled",
            "--base",
            "shared_demo.sample_data",
        ],
        1,
    );
    assert_eq!(
        json_of(&check(a, &["ls", "shared_demo", "--json"], 0))
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A view on a replica: the replica is read-only, the view reads it and follows its pulls.
    let uri = "pxt://alice/shared.sample_data";
    check(
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
    check(b, &["replicate", uri, "replica"], 0);
    check(
        b,
        &[
            "view",
            "create",
            "replica_view",
            "--base",
            "replica",
            "--column",
            "computed_value=value * 2",
        ],
        0,
    );
    check(b, &["table", "update", "replica", "--set", "value=0"], 1);
    check(b, &["table", "delete", "replica", "--where", "id = 1"], 1);
    let rows = json_of(&check(b, &["table", "show", "replica_view", "--json"], 0));
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert_eq!(
        rows[2],
        json!({"id": 3, "name": "Charlie", "value": 91.2, "computed_value": 182.4})
    );
    check_stdin(
        a,
        &["table", "insert", "shared_demo.sample_data", "-"],
        Some("id,name,value\n4,Diana,65.3\n"),
        0,
    );
    check(a, &["push", "shared_demo.sample_data", "--quiet"], 0);
    check(b, &["pull", "replica", "--quiet"], 0);
    assert_eq!(
        json_of(&check(
            b,
            &[
                "sql",
                "SELECT id, computed_value FROM replica_view WHERE id = 4",
                "--json"
            ],
            0
        )),
        json!([{"id": 4, "computed_value": 130.6}])
    );
}
