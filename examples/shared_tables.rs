//! Seed 000 ("Working with Shared Tables") as a program: publish a local table, push changes,
//! replicate it elsewhere, pull updates, make an independent copy. It runs on a temporary
//! `file://` cloud root with two local catalogs (alice publishes, bob replicates), so it needs
//! no account: `cargo run --example shared_tables`.
#![allow(clippy::print_stdout, reason = "an example prints what it does")]

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use object_store::local::LocalFileSystem;
use tableshare::storage::Catalog;
use tableshare::{Access, CloudConfig, TableSchema, Transport};

fn sample(schema: &SchemaRef, rows: &[(i64, &str, f64)]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::clone(schema),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .expect("rows fit the schema")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scratch = tempfile::tempdir()?;
    let cloud = Arc::new(LocalFileSystem::new_with_prefix(scratch.path())?.with_fsync(true));
    let cloud = CloudConfig::with_store(cloud, "");

    // Alice holds the org key (TABLESHARE_API_KEY in the CLI).
    let alice = Transport::new(
        Catalog::open_local(scratch.path().join("alice"))?,
        cloud.clone().with_api_key("alice-key"),
    );
    alice.catalog().create_dir("shared_demo").await?;
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]));
    let table = alice
        .catalog()
        .create_table(
            "shared_demo.sample_data",
            &TableSchema::unpartitioned(schema.clone())?,
        )
        .await?;
    table
        .insert(&sample(
            &schema,
            &[(1, "Alice", 42.5), (2, "Bob", 37.8), (3, "Charlie", 91.2)],
        ))
        .await?;

    let uri = alice
        .publish(
            "shared_demo.sample_data",
            "pxt://alice/shared.sample_data",
            Access::Public,
        )
        .await?;
    println!("Published: {uri}");

    table
        .insert(&sample(&schema, &[(4, "Diana", 65.3)]))
        .await?;
    let pushed = alice.push("shared_demo.sample_data").await?;
    println!("Pushed versions {:?}", pushed.versions);

    // Bob needs no key for a public table.
    let bob = Transport::new(Catalog::open_local(scratch.path().join("bob"))?, cloud);
    bob.catalog().create_dir("shared_demo").await?;
    bob.replicate(&uri.to_string(), "shared_demo.replicated_data")
        .await?;
    let replica = bob
        .catalog()
        .open_table("shared_demo.replicated_data")
        .await?;
    println!(
        "Replica at version {} with {} rows",
        replica.version(),
        replica.row_count()
    );

    let copy = bob
        .create_copy("shared_demo.local_copy", &format!("{uri}:1"))
        .await?;
    copy.insert(&sample(&schema, &[(5, "Eve", 88.9)])).await?;
    println!(
        "Independent copy has {} rows and no upstream",
        copy.row_count()
    );

    table.insert(&sample(&schema, &[(5, "Eve", 88.9)])).await?;
    alice.push("shared_demo.sample_data").await?;
    let pulled = bob.pull("shared_demo.replicated_data").await?;
    let replica = bob
        .catalog()
        .open_table("shared_demo.replicated_data")
        .await?;
    println!(
        "Pulled versions {:?}: replica has {} rows",
        pulled.versions,
        replica.row_count()
    );
    assert_eq!(replica.row_count(), 5);
    Ok(())
}
