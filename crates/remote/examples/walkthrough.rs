//! The seed 001 walkthrough, end to end in one program: a worker serves a ticking table; a
//! subscriber ingests it by URI with each option, by builder, with a definition given up front
//! while the worker is still down, and as a static snapshot.
//!
//! Run with `cargo run -p tableshare-remote --example walkthrough`.

#![allow(clippy::print_stdout, reason = "an example shows what happens")]

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use tableshare_core::{LiveTable, LiveTableOptions, TableDefinition, TableSchema};
use tableshare_remote::{
    ClientConfig, Directory, RemoteTableBuilder, Resolved, Scope, Worker, resolve,
};
use tableshare_uri::TableUri;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let home = std::env::temp_dir().join(format!("tableshare-walkthrough-{}", std::process::id()));
    let directory = Directory::local(home.join("workers"))?;
    let config = ClientConfig::default().with_directory(directory.clone());

    // A definition up front lets a subscription start before the worker is up.
    let definition = TableDefinition::new([("Sym", DataType::Utf8), ("Price", DataType::Float64)])?;
    let early = RemoteTableBuilder::in_local_cluster(directory.clone(), "SomePQ", "some_table")
        .table_definition(definition)
        .subscribe()
        .await?;
    println!(
        "before the worker is up: {} rows, {}",
        early.table().snapshot()?.num_rows(),
        early.state()
    );

    // The worker "SomePQ" (serial 1234567890) serves `some_table`.
    let arrow = Arc::new(Schema::new(vec![
        Field::new("Sym", DataType::Utf8, false),
        Field::new("Price", DataType::Float64, true),
        Field::new("Venue", DataType::Utf8, true),
    ]));
    let table = LiveTable::new(
        TableSchema::unpartitioned(arrow.clone())?,
        LiveTableOptions::default(),
    );
    let quote = |sym: &str, price: f64| {
        RecordBatch::try_new(
            arrow.clone(),
            vec![
                Arc::new(StringArray::from(vec![sym.to_owned()])),
                Arc::new(Float64Array::from(vec![price])),
                Arc::new(StringArray::from(vec!["XNAS"])),
            ],
        )
    };
    table.append(quote("AAPL", 189.5)?)?;
    let scope = Scope::new();
    scope.insert("some_table", table.clone());
    let worker = Worker::builder("SomePQ")
        .serial(1_234_567_890)
        .directory(directory.clone())
        .serve(scope)
        .await?;
    let change = early.wait_for_step(1).await?;
    println!(
        "the definition-first subscription filled: {} row(s)",
        change.snapshot.num_rows()
    );

    // URIs, by name and by serial, with each option.
    for text in [
        "pq://SomePQ/scope/some_table",
        "pq://1234567890/scope/some_table",
        "pq://SomePQ/scope/some_table?snapshot=true",
        "pq://SomePQ/scope/some_table?columns=Sym,Price",
        "pq://SomePQ/scope/some_table?onDisconnect=retain",
        "pq://SomePQ/scope/some_table?retryWindowMillis=30000",
        "pq://SomePQ/scope/some_table?maxRetries=3",
        "pq://SomePQ/scope/some_table?blink",
        "pq://SomePQ/scope/some_table?columns=Sym,Price&retryWindowMillis=30000&maxRetries=3&blink",
    ] {
        match resolve(&TableUri::parse(text)?, config.clone()).await? {
            Resolved::Live(remote) => {
                let snapshot = remote.table().snapshot()?;
                println!(
                    "{text}: live, {} row(s), {} column(s)",
                    snapshot.num_rows(),
                    snapshot.schema().arrow().fields().len()
                );
            }
            Resolved::Snapshot(snapshot) => {
                println!("{text}: static snapshot, {} row(s)", snapshot.num_rows())
            }
            _ => {}
        }
    }

    // Builders: the local cluster by name, a remote cluster by URL.
    let live = RemoteTableBuilder::in_local_cluster(directory.clone(), "SomePQ", "some_table")
        .included_columns(["Sym", "Price"])
        .subscribe()
        .await?;
    table.append(quote("MSFT", 411.0)?)?;
    let change = live.wait_for_step(2).await?;
    println!(
        "after a tick the subscriber holds {} rows at step {:?}",
        change.snapshot.num_rows(),
        change.upstream_step
    );
    let snapshot = RemoteTableBuilder::for_remote_cluster(&format!("http://{}", worker.address()))
        .table_name("some_table")
        .snapshot()
        .await?;
    println!("a remote-cluster snapshot: {} rows", snapshot.num_rows());

    worker.shutdown().await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!("after the worker stopped: {}", live.state());
    let _ = std::fs::remove_dir_all(&home);
    Ok(())
}
