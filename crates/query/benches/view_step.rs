//! The query layer's side of `cargo xtask bench --only query`: what one step of a live view
//! costs next to the step of its base. A plain program (`harness = false`), not a timed test:
//! it measures and prints one JSON object.
//!
//! Usage (`cargo bench -p tableshare-query --bench view_step -- ROWS REPS`):
//!
//! A base live table of ROWS rows (the benchmark data: id int64, name utf8, value float64) is
//! built (not timed), with a view over it: a computed column `doubled = value * 2` and a filter
//! `id % 2 = 0`. Then REPS one-row steps, each a modification of `value` of one row in the
//! middle of the table (a different row each time), and then REPS one-row appends. Per step it
//! times the base's own step (the `modify` / `append` call) and, separately, the view's step: from
//! the moment the base's step is applied to the moment the view has applied its own update for
//! it (`LiveView::wait_for_step`). Reported: p50 and p99 of each, seconds, and the view's p50 over
//! the base's p50.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark program: it prints its results and panics on failure"
)]

use std::sync::Arc;
use std::time::Instant;

use arrow_array::Float64Array;
use serde_json::json;
use tableshare_core::{ColumnChange, LiveTable, LiveTableOptions, TableSchema};
use tableshare_query::{LiveView, ViewProgram};
use tableshare_storage::ViewDefinition;
use tableshare_testkit::{bench_batch, bench_schema, percentile};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rows: i64 = args.first().map_or(1_000_000, |a| a.parse().unwrap());
    let reps: usize = args.get(1).map_or(1_000, |a| a.parse().unwrap());

    let base = LiveTable::new(
        TableSchema::unpartitioned(bench_schema()).unwrap(),
        LiveTableOptions::default(),
    );
    let mut start = 0;
    while start < rows {
        let n = (rows - start).min(1_000_000);
        base.append(bench_batch(start, n).unwrap()).unwrap();
        start += n;
    }
    let definition = ViewDefinition::new("base")
        .with_column("doubled", "value * 2")
        .with_filter("id % 2 = 0");
    let program = ViewProgram::compile("view", bench_schema(), &definition).unwrap();
    let built = Instant::now();
    let view = LiveView::start(base.clone(), program).unwrap();
    let initial = built.elapsed().as_secs_f64();
    assert_eq!(
        view.table().snapshot().unwrap().num_rows() as i64,
        (rows + 1) / 2
    );

    let mut base_modify = Vec::with_capacity(reps);
    let mut view_modify = Vec::with_capacity(reps);
    for i in 0..reps {
        // Even keys: rows the view holds, so each step changes one view row.
        let key = ((rows as u64 / 2 + 2 * i as u64) % rows as u64) & !1;
        let change = ColumnChange::new(
            "value",
            vec![key],
            Arc::new(Float64Array::from(vec![i as f64])),
        )
        .unwrap();
        let t = Instant::now();
        let step = base.modify(vec![change]).unwrap();
        base_modify.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        view.wait_for_step(step).await.unwrap();
        view_modify.push(t.elapsed().as_secs_f64());
    }
    let mut base_append = Vec::with_capacity(reps);
    let mut view_append = Vec::with_capacity(reps);
    for i in 0..reps {
        let row = bench_batch(rows + i as i64, 1).unwrap();
        let t = Instant::now();
        let step = base.append(row).unwrap();
        base_append.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        view.wait_for_step(step).await.unwrap();
        view_append.push(t.elapsed().as_secs_f64());
    }
    let stats = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        json!({"p50": percentile(&v, 50.0), "p99": percentile(&v, 99.0)})
    };
    let ratio = |view: &[f64], base: &[f64]| {
        let (mut v, mut b) = (view.to_vec(), base.to_vec());
        v.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        percentile(&v, 50.0) / percentile(&b, 50.0)
    };
    let out = json!({
        "rows": rows,
        "reps": reps,
        "view_initial_s": initial,
        "modify_1_ratio": ratio(&view_modify, &base_modify),
        "append_1_ratio": ratio(&view_append, &base_append),
        "base_modify_1": stats(base_modify),
        "view_modify_1": stats(view_modify),
        "base_append_1": stats(base_append),
        "view_append_1": stats(view_append),
    });
    println!("{out}");
}
