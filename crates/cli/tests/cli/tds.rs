//! `tableshare tds show ROOT_URL [--partitioned] [--json]` over a hive-partitioned folder of
//! Parquet files: the rows with the partitioning columns first, per-partition output, and the
//! exit codes for a bad URL (2), a missing or empty folder and a corrupt file (1).

use std::path::Path;
use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use serde_json::json;

use super::{check, json_of, run};

/// Writes `rows` (id, name) as `dir/Ticker=T/Exchange=E/part-0.parquet`.
fn write(dir: &Path, ticker: &str, exchange: &str, ids: &[i64]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let names: Vec<String> = ids.iter().map(|id| format!("{ticker}-{id}")).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(names)),
        ],
    )
    .unwrap();
    let folder = dir.join(format!("Ticker={ticker}/Exchange={exchange}"));
    std::fs::create_dir_all(&folder).unwrap();
    let file = std::fs::File::create(folder.join("part-0.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn tds_show_reads_a_hive_folder() {
    let home = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(data.path(), "GOOG", "NYSE", &[1, 2]);
    write(data.path(), "MSFT", "BZX", &[3]);
    let root = data.path().to_str().unwrap();

    let rows = json_of(&check(home.path(), &["tds", "show", root, "--json"], 0));
    assert_eq!(
        rows,
        json!([
            {"Ticker": "GOOG", "Exchange": "NYSE", "id": 1, "name": "GOOG-1"},
            {"Ticker": "GOOG", "Exchange": "NYSE", "id": 2, "name": "GOOG-2"},
            {"Ticker": "MSFT", "Exchange": "BZX", "id": 3, "name": "MSFT-3"},
        ])
    );
    // Partitioning columns come first in the output too.
    let text = check(home.path(), &["tds", "show", &format!("file://{root}")], 0);
    let header = text.lines().nth(1).unwrap();
    assert!(
        header
            .trim_start_matches('|')
            .trim()
            .starts_with("Ticker | Exchange | id"),
        "{text}"
    );
    assert!(text.contains("3 rows"), "{text}");

    let parts = json_of(&check(
        home.path(),
        &["tds", "show", root, "--partitioned", "--json"],
        0,
    ));
    assert_eq!(
        parts,
        json!([
            {
                "partition": {"Ticker": "GOOG", "Exchange": "NYSE"},
                "location": "Ticker=GOOG/Exchange=NYSE",
                "rows": [
                    {"Ticker": "GOOG", "Exchange": "NYSE", "id": 1, "name": "GOOG-1"},
                    {"Ticker": "GOOG", "Exchange": "NYSE", "id": 2, "name": "GOOG-2"},
                ],
            },
            {
                "partition": {"Ticker": "MSFT", "Exchange": "BZX"},
                "location": "Ticker=MSFT/Exchange=BZX",
                "rows": [{"Ticker": "MSFT", "Exchange": "BZX", "id": 3, "name": "MSFT-3"}],
            },
        ])
    );
}

#[test]
fn tds_show_failures_exit_1_or_2() {
    let home = tempfile::tempdir().unwrap();
    check(home.path(), &["tds", "show", "ftp://somewhere/data"], 2);
    check(home.path(), &["tds", "show", "s3:///no-bucket"], 2);
    let missing = home.path().join("missing");
    check(home.path(), &["tds", "show", missing.to_str().unwrap()], 1);

    let empty = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &["tds", "show", empty.path().to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Parquet files"));

    // Guards against corrupt input crashing or printing rows: a file that is not Parquet fails
    // the command with its name.
    let corrupt = tempfile::tempdir().unwrap();
    write(corrupt.path(), "GOOG", "NYSE", &[1]);
    let folder = corrupt.path().join("Ticker=IBM/Exchange=NYSE");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("part-0.parquet"), b"not parquet at all").unwrap();
    let out = run(
        home.path(),
        &["tds", "show", corrupt.path().to_str().unwrap(), "--json"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no rows printed for a failed read");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Ticker=IBM/Exchange=NYSE/part-0.parquet"),
        "{stderr}"
    );
}
