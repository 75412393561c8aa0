//! `tableshare demo` and `tableshare completions`. The guided tour runs end to end on a fresh
//! home with no setup, leaves real tables the other commands read, and a second run in the same
//! home keeps the first run's tables (it never drops what a home already holds).

use serde_json::Value;

use super::{check, json_of};

#[test]
fn the_tour_runs_and_leaves_real_tables() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = check(h, &["demo"], 0);
    for expected in [
        "published: pxt://demo/shared.sample_data_",
        "pulled versions [3]; the replica now has 5 rows",
        "| 6  | Frank   | 12.0  |",
        "the view on the replica follows it:\n+----+---------+-------+----------+\n| id | name    | value | value_x2 |\n+----+---------+-------+----------+\n| 3  | Charlie | 91.2  | 182.4    |\n| 4  | Diana   | 65.3  | 130.6    |\n| 5  | Eve     | 88.9  | 177.8    |",
        "subscriber state: reconnecting",
        "subscriber state: live; caught up to step 4",
        "| GOOG   | BZX      | 1   | -1.01 |",
        "| MSFT   | BZX      | 3   | -1.01 |",
        "GOOG/NYSE: 2 rows\nMSFT/BZX: 4 rows\nGOOG/BZX: 2 rows",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in:\n{out}");
    }

    // The replica and the copy are catalog tables the CLI reads like any other.
    let replica = json_of(&check(
        h,
        &["table", "show", "shared_demo.replicated_data", "--json"],
        0,
    ));
    let names: Vec<&str> = replica
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alice", "Bob", "Charlie", "Diana", "Eve"]);
    let ls = json_of(&check(h, &["ls", "shared_demo", "--json"], 0));
    let kinds: Vec<(&str, &str)> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap(), e["kind"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&("shared_demo.replicated_data", "replica")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("shared_demo.local_copy", "table")),
        "{kinds:?}"
    );

    // A second tour in the same home takes a new directory and leaves the first alone.
    let again = check(h, &["demo"], 0);
    assert!(again.contains("create_dir shared_demo_2;"), "{again}");
    let top = json_of(&check(h, &["ls", "--json"], 0));
    let dirs: Vec<&Value> = top.as_array().unwrap().iter().collect();
    assert_eq!(dirs.len(), 2, "{top}");
    let first = json_of(&check(
        h,
        &["table", "show", "shared_demo.sample_data", "--json"],
        0,
    ));
    assert_eq!(first.as_array().unwrap().len(), 5);
}

/// Guards `completions`: a script for each shell that names the commands (including ones added
/// late, like `demo`), and exit 2 for a shell it does not know.
#[test]
fn shell_completions() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = check(home.path(), &["completions", shell], 0);
        for command in ["publish", "replicate", "subscribe", "demo", "tds"] {
            assert!(
                script.contains(command),
                "{shell} completions lack `{command}`"
            );
        }
    }
    check(home.path(), &["completions", "nosh"], 2);
}
