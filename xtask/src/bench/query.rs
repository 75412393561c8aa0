//! The query workloads of `cargo xtask bench --only query` (issue 11): a live view's step cost
//! next to its base's step cost, by `crates/query/benches/view_step.rs` (bench profile), on a
//! base of 10,000,000 rows (200,000 with `--quick`). Printed as a table; the figures in
//! docs/performance.md are copied from a run of this command.
//!
//! Not measured yet (the other query workloads): SQL over the 10,000,000-row stored table
//! against DuckDB and DataFusion's own Parquet reader.

use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;

use super::sides::{build_bench, json_output};

/// Runs the view-step program once and prints its report.
pub(super) fn run(root: &std::path::Path, quick: bool) -> Result<()> {
    let (rows, reps) = if quick {
        (200_000, 200)
    } else {
        (10_000_000, 1_000)
    };
    let exe = build_bench(root, "tableshare-query", "view_step")?;
    println!("==> a live view's one-row steps over a base of {rows} rows ({reps} of each)");
    let out = json_output(
        Command::new(&exe)
            .arg(rows.to_string())
            .arg(reps.to_string()),
    )?;
    println!("\n{}", render(&out)?);
    Ok(())
}

fn micros(out: &Value, metric: &str, stat: &str) -> Result<f64> {
    out[metric][stat]
        .as_f64()
        .map(|s| s * 1e6)
        .with_context(|| format!("the view-step program reported no {metric}.{stat}"))
}

/// The markdown table of one run.
fn render(out: &Value) -> Result<String> {
    let mut text = format!(
        "Live view over {} rows (`doubled = value * 2`, filter `id % 2 = 0`); first evaluation \
         {:.2} s\n\n| step | base p50 (µs) | base p99 (µs) | view p50 (µs) | view p99 (µs) | \
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
