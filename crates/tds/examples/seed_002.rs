//! Seed 002's usage, in Rust: an in-memory backend with the seed's table "sample", three
//! locations (GOOG/NYSE, MSFT/BZX, MSFT/BZY) of two rows each, a refreshing table made from it,
//! then a new location (GOOG/BZX) and appends to MSFT/BZX and MSFT/BZY while the table is open.
//! It prints the table after each step: 6 rows, then 8, 10, 12, Ticker and Exchange first.
//!
//! Run: `cargo run -p tableshare-tds --example seed_002`

#![allow(clippy::print_stdout)] // an example talks to its user

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array,
    Int64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt16Array,
};
use arrow_cast::pretty::pretty_format_batches;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use tableshare_core::LiveTable;
use tableshare_tds::{MemoryBackend, MemoryTable, TableDataService};

/// The same two rows for every location (the partitioning columns are not part of them).
fn location_data() -> Result<RecordBatch, Box<dyn Error>> {
    let utc: Option<Arc<str>> = Some("UTC".into());
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("Boolean", Arc::new(BooleanArray::from(vec![true, false]))),
        ("Byte", Arc::new(Int8Array::from(vec![1, -1]))),
        (
            "Char",
            Arc::new(UInt16Array::from(vec![u16::from(b'-'), u16::from(b'1')])),
        ),
        ("Short", Arc::new(Int16Array::from(vec![1, -1]))),
        ("Int", Arc::new(Int32Array::from(vec![1, -1]))),
        ("Long", Arc::new(Int64Array::from(vec![1, -1]))),
        ("NPLong", Arc::new(Int64Array::from(vec![1, -1]))),
        ("Float", Arc::new(Float32Array::from(vec![1.01, -1.01]))),
        ("Double", Arc::new(Float64Array::from(vec![1.01, -1.01]))),
        ("String", Arc::new(StringArray::from(vec!["foo", "bar"]))),
        (
            "Datetime",
            Arc::new(
                TimestampNanosecondArray::from(vec![
                    1_727_800_200_000_000_000, // 2024-10-01T12:30 New York
                    1_727_801_100_000_000_000, // 2024-10-01T12:45 New York
                ])
                .with_timezone_opt(utc),
            ),
        ),
    ];
    Ok(RecordBatch::try_from_iter(columns)?)
}

fn partitioning_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("Ticker", DataType::Utf8, true),
        Field::new("Exchange", DataType::Utf8, true),
    ]))
}

/// The seed's `generate_partitioning_values`: one row in the partitioning schema.
fn partitioning_values(ticker: &str, exchange: &str) -> Result<RecordBatch, Box<dyn Error>> {
    Ok(RecordBatch::try_new(
        partitioning_schema(),
        vec![
            Arc::new(StringArray::from(vec![ticker])),
            Arc::new(StringArray::from(vec![exchange])),
        ],
    )?)
}

/// The seed's `add_ticker_data`: a new location, or two more rows for an existing one.
fn add_ticker_data(
    table: &MemoryTable,
    ticker: &str,
    exchange: &str,
) -> Result<(), Box<dyn Error>> {
    let key = format!("{ticker}:{exchange}");
    if table.append(&key, location_data()?).is_err() {
        table.add_location(
            key,
            Some(partitioning_values(ticker, exchange)?),
            location_data()?,
        )?;
    }
    Ok(())
}

/// Waits for the table's next step and prints it.
async fn show(table: &LiveTable, after: u64) -> Result<u64, Box<dyn Error>> {
    while table.step() <= after {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rows = table.snapshot()?.concat()?;
    println!("step {}: {} rows", table.step(), rows.num_rows());
    println!("{}", pretty_format_batches(&[rows])?);
    Ok(table.step())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let backend = MemoryBackend::new();
    let sample = backend.add_table(
        "sample",
        MemoryTable::new(location_data()?.schema(), Some(partitioning_schema())),
    )?;
    add_ticker_data(&sample, "GOOG", "NYSE")?;
    add_ticker_data(&sample, "MSFT", "BZX")?;
    add_ticker_data(&sample, "MSFT", "BZY")?;

    let service = TableDataService::new(backend);
    let t = service.make_table("sample".to_string(), true).await?;
    let live = t.live();
    let mut step = show(&live, 0).await?;

    // A new location of the open table, then appends to two existing ones.
    add_ticker_data(&sample, "GOOG", "BZX")?;
    step = show(&live, step).await?;
    add_ticker_data(&sample, "MSFT", "BZX")?;
    step = show(&live, step).await?;
    add_ticker_data(&sample, "MSFT", "BZY")?;
    show(&live, step).await?;
    Ok(())
}
