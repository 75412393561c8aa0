//! The query layer's SQL side of `cargo xtask bench --only query` (issue 11): one SQL query over
//! the stored 10,000,000-row table through [`QueryContext`], to be compared with DuckDB and
//! DataFusion's own Parquet reader running the same SQL over the table's data files
//! (`xtask/bench/sql_peers.py`). A plain program (`harness = false`), not a timed test: it runs
//! one query, in a process of its own, and prints one JSON object.
//!
//! Usage (`cargo bench -p tableshare-query --bench sql -- HOME SQL`):
//!
//! HOME is the scale benchmark's catalog home (`.bench/work/scale`, made by `cargo bench -p
//! tableshare-storage --bench scan -- data HOME ROWS`; table `big`). The program opens the
//! catalog `HOME/catalog`, runs SQL with [`QueryContext::sql_stream`] and consumes the stream to
//! its last batch. Prints `s` (from before opening the catalog to the last result row: the
//! table is opened and planned as part of the query), `rows` (result rows) and `result`, every
//! result row as an array (numbers as JSON numbers, anything else as its text), for the
//! harness to check that every side computed the same answer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark program: it prints its results and panics on failure"
)]

use std::path::Path;
use std::time::Instant;

use arrow_array::{Array, Float64Array, RecordBatch, StringArray};
use arrow_schema::DataType;
use futures::StreamExt;
use serde_json::{Value, json};
use tableshare_query::QueryContext;
use tableshare_storage::Catalog;

const USAGE: &str = "usage: sql HOME SQL";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` adds `--bench`; everything else is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [home, sql] = args.as_slice() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };

    let started = Instant::now();
    let catalog = Catalog::open_local(Path::new(home).join("catalog")).unwrap();
    let ctx = QueryContext::with_catalog(catalog);
    let mut stream = ctx.sql_stream(sql).await.unwrap();
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        batches.push(batch.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();

    let result: Vec<Value> = batches.iter().flat_map(rows_of).collect();
    println!(
        "{}",
        json!({"s": secs, "rows": result.len(), "result": result})
    );
}

/// The rows of `batch` as JSON arrays: numeric columns as numbers, the rest as text.
fn rows_of(batch: &RecordBatch) -> Vec<Value> {
    let columns: Vec<Vec<Value>> = batch
        .columns()
        .iter()
        .map(|column| {
            if column.data_type().is_numeric() {
                let cast = arrow_cast::cast(column, &DataType::Float64).unwrap();
                let values = cast.as_any().downcast_ref::<Float64Array>().unwrap();
                (0..values.len())
                    .map(|i| {
                        if values.is_null(i) {
                            Value::Null
                        } else {
                            json!(values.value(i))
                        }
                    })
                    .collect()
            } else {
                let cast = arrow_cast::cast(column, &DataType::Utf8).unwrap();
                let values = cast.as_any().downcast_ref::<StringArray>().unwrap();
                (0..values.len())
                    .map(|i| {
                        if values.is_null(i) {
                            Value::Null
                        } else {
                            json!(values.value(i))
                        }
                    })
                    .collect()
            }
        })
        .collect();
    (0..batch.num_rows())
        .map(|row| Value::Array(columns.iter().map(|c| c[row].clone()).collect()))
        .collect()
}
