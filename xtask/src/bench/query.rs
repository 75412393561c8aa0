//! The query workloads of `cargo xtask bench --only query` (issue 11), rendered into the `query`
//! section of docs/performance.md by a full run:
//!
//! - SQL over the scale benchmark's stored table (10,000,000 rows; 200,000 with `--quick`): a
//!   filtered aggregate and a group-by through tableshare-query (`crates/query/benches/sql.rs`)
//!   against DuckDB and DataFusion's own Parquet reader running the same SQL over the table's
//!   data files (`xtask/bench/sql_peers.py`). The table and the list of its files come from
//!   the scale benchmark's `data` step (`crates/storage/benches/scan.rs`), so every side reads
//!   the same bytes. Rounds, sides alternating, each query a process of its own after a `sync`;
//!   every side's answer must agree with ours, or the run fails.
//! - A live view's step cost next to its base's step cost (`crates/query/benches/view_step.rs`),
//!   one run over a base of the same size.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::Samples;
use super::report::{secs, stat};
use super::sides::{build_bench, flush_page_cache, json_output};

/// The name of this report's generated section of docs/performance.md.
pub(super) const SECTION: &str = "query";

/// Goal: our SQL time at most this multiple of DuckDB's (medians).
const DUCKDB_GOAL: f64 = 1.2;

/// Sizes of the query workloads.
struct QuerySizes {
    /// Rounds of the SQL comparison (odd, so the median is one measurement).
    rounds: u64,
    /// Rows of the stored table and of the view's base.
    rows: u64,
    /// One-row steps of each kind in the view-step run.
    view_reps: u64,
}

const FULL: QuerySizes = QuerySizes {
    rounds: 5,
    rows: 10_000_000,
    view_reps: 1_000,
};

const QUICK: QuerySizes = QuerySizes {
    rounds: 3,
    rows: 200_000,
    view_reps: 200,
};

/// The SQL sides, in the order each round runs them: engine key, title, how it reads.
const SIDES: [(&str, &str, &str); 3] = [
    (
        "tableshare",
        "tableshare-query",
        "`QueryContext::sql_stream` over the catalog's table `big` (`StoredTable`: storage's verified streaming scan, projection and filters pushed down)",
    ),
    (
        "duckdb",
        "DuckDB 2.0.0",
        "`CREATE VIEW big AS SELECT * FROM read_parquet([files])`, then the query, `fetchall()`",
    ),
    (
        "datafusion",
        "DataFusion 55 (Python), own Parquet reader",
        "`SessionContext().register_parquet(\"big\", folder of the files)`, then the query, `collect()`",
    ),
];

/// The queries: key, title, SQL over a table `big` of `rows` rows (benchmark data: `id` 0 to
/// rows - 1, `value = id * 0.5`, `name` one of 100,000).
fn queries(rows: u64) -> [(&'static str, &'static str, String); 2] {
    // `value > rows / 4` holds for the second half of the ids: half the rows pass, and since
    // values ascend with the ids, statistics can skip the row groups of the first half.
    [
        (
            "filtered",
            "filtered aggregate (half the rows pass)",
            format!(
                "SELECT count(*) AS n, sum(value) AS total, avg(value) AS mean FROM big \
                 WHERE value > {}",
                rows / 4
            ),
        ),
        (
            "group",
            "group-by, 1,000 groups",
            "SELECT id % 1000 AS bucket, count(*) AS n, sum(value) AS total FROM big \
             GROUP BY id % 1000 ORDER BY bucket"
                .to_owned(),
        ),
    ]
}

/// Runs the SQL comparison and the view-step program, prints the report and (full runs only)
/// writes it into docs/performance.md.
pub(super) fn run(root: &Path, quick: bool) -> Result<()> {
    let sizes = if quick { &QUICK } else { &FULL };
    let scan = build_bench(root, "tableshare-storage", "scan")?;
    let sql = build_bench(root, "tableshare-query", "sql")?;
    let view_step = build_bench(root, "tableshare-query", "view_step")?;
    let python = crate::venv::ensure(
        &root.join(".bench/venv"),
        &root.join("xtask/bench/requirements.txt"),
        "the benchmark peers",
    )?;
    let peers = root.join("xtask/bench/sql_peers.py");
    // The scale benchmark's table: made once, reused while it holds that many rows.
    let home = root.join(".bench/work/scale");

    println!("==> writing (or reusing) the {}-row table", sizes.rows);
    let data = json_output(
        Command::new(&scan)
            .arg("data")
            .arg(&home)
            .arg(sizes.rows.to_string()),
    )
    .context("tableshare scan data")?;
    let files: Vec<String> = data["files"]
        .as_array()
        .context("`data` listed no files")?
        .iter()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();

    let queries = queries(sizes.rows);
    let mut samples = Samples::new();
    samples
        .entry("files".to_owned())
        .or_default()
        .insert("count".to_owned(), vec![files.len() as f64]);
    let mut answers: Vec<(String, Value)> = Vec::new();
    for round in 1..=sizes.rounds {
        println!(
            "==> round {round} of {}: SQL, sides alternating",
            sizes.rounds
        );
        for (query, _, text) in &queries {
            for (engine, _, _) in SIDES {
                flush_page_cache()?;
                let mut command = if engine == "tableshare" {
                    let mut c = Command::new(&sql);
                    c.arg(&home).arg(text);
                    c
                } else {
                    let mut c = Command::new(&python);
                    c.arg(&peers).arg(engine).arg(text).args(&files);
                    c
                };
                let measured =
                    json_output(&mut command).with_context(|| format!("{engine}: {text}"))?;
                let s = measured["s"]
                    .as_f64()
                    .with_context(|| format!("{engine} reported no time"))?;
                samples
                    .entry(engine.to_owned())
                    .or_default()
                    .entry((*query).to_owned())
                    .or_default()
                    .push(s);
                answers.push((format!("{engine}/{query}"), measured["result"].clone()));
            }
        }
    }
    for (query, _, text) in &queries {
        let ours = answers
            .iter()
            .find(|(k, _)| *k == format!("tableshare/{query}"))
            .map(|(_, v)| v)
            .context("no answer of ours")?;
        for (key, theirs) in answers
            .iter()
            .filter(|(k, _)| k.ends_with(&format!("/{query}")))
        {
            if !agree(ours, theirs) {
                bail!("{key} answered `{text}` differently:\n ours {ours}\n theirs {theirs}");
            }
        }
    }

    println!(
        "==> a live view's one-row steps over a base of {} rows ({} of each)",
        sizes.rows, sizes.view_reps
    );
    let view = json_output(
        Command::new(&view_step)
            .arg(sizes.rows.to_string())
            .arg(sizes.view_reps.to_string()),
    )?;
    let report = render(sizes, &queries, &samples, &view)?;
    println!("\n{report}");
    super::write_unless_quick(root, quick, SECTION, &report)
}

/// Whether two answers are the same rows: equal text, numbers equal to a relative 1e-9 (the
/// sides may add in different orders).
fn agree(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| agree(x, y))
        }
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => false,
        },
        _ => a == b,
    }
}

/// The report: the SQL table, then the view-step table.
fn render(
    sizes: &QuerySizes,
    queries: &[(&str, &str, String)],
    samples: &Samples,
    view: &Value,
) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "Command: `cargo xtask bench --only query`. SQL over the stored table `big` of {} rows \
         (id int64, name utf8, value float64; one insert, so its data files are plain Parquet, \
         {} of them here read by every side), median of {} rounds (range in brackets), the \
         sides alternating within each round, each query a process of its own after a `sync`, \
         timed from opening the catalog (ours) or making the connection or session (the \
         peers) to the last result row. The files are in the page cache for every side (warm \
         reads); nothing is written, so nothing fsyncs. Every side's answer agreed with ours.\n",
        sizes.rows,
        files_note(samples),
        sizes.rounds
    )?;
    for (_, title, how) in SIDES {
        writeln!(out, "- {title}: {how}.")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "| query | side | time | ours / this | goal: ours ≤ {DUCKDB_GOAL}x DuckDB |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- |")?;
    for (query, title, text) in queries {
        let ours = stat(samples, "tableshare", query)?;
        for (engine, side, _) in SIDES {
            let s = stat(samples, engine, query)?;
            let (ratio, goal) = if engine == "tableshare" {
                ("–".to_owned(), "–")
            } else {
                let ratio = ours.median / s.median;
                let goal = match engine {
                    "duckdb" if ratio <= DUCKDB_GOAL => "met",
                    "duckdb" => "not met",
                    _ => "–",
                };
                (format!("{ratio:.2}"), goal)
            };
            let label = if engine == "tableshare" {
                format!("{title}: `{text}`")
            } else {
                String::new()
            };
            writeln!(
                out,
                "| {label} | {side} | {} [{}–{}] | {ratio} | {goal} |",
                secs(s.median),
                secs(s.min),
                secs(s.max),
            )?;
        }
    }
    writeln!(out)?;
    out.push_str(&render_view(view)?);
    Ok(out)
}

/// How many data files the sides read (kept beside the samples by `run`).
fn files_note(samples: &Samples) -> String {
    samples
        .get("files")
        .and_then(|m| m.get("count"))
        .and_then(|v| v.first())
        .map_or_else(|| "all".to_owned(), |n| format!("{n:.0}"))
}

fn micros(out: &Value, metric: &str, stat: &str) -> Result<f64> {
    out[metric][stat]
        .as_f64()
        .map(|s| s * 1e6)
        .with_context(|| format!("the view-step program reported no {metric}.{stat}"))
}

/// The markdown table of the view-step run.
fn render_view(out: &Value) -> Result<String> {
    let mut text = format!(
        "Live view over {} rows (`doubled = value * 2`, filter `id % 2 = 0`; \
         `crates/query/benches/view_step.rs`, one run); first evaluation {:.2} s\n\n\
         | step | base p50 (µs) | base p99 (µs) | view p50 (µs) | view p99 (µs) | \
         view/base p50 |\n| --- | ---: | ---: | ---: | ---: | ---: |\n",
        out["rows"],
        out["view_initial_s"].as_f64().unwrap_or(f64::NAN)
    );
    for (name, base, view, ratio) in [
        (
            "modify 1 row",
            "base_modify_1",
            "view_modify_1",
            "modify_1_ratio",
        ),
        (
            "append 1 row",
            "base_append_1",
            "view_append_1",
            "append_1_ratio",
        ),
    ] {
        text.push_str(&format!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} |\n",
            micros(out, base, "p50")?,
            micros(out, base, "p99")?,
            micros(out, view, "p50")?,
            micros(out, view, "p99")?,
            out[ratio].as_f64().unwrap_or(f64::NAN)
        ));
    }
    Ok(text)
}
