//! Seed 000 ("Working with Shared Tables") as a program, through the facade: publish a local
//! table, push changes, replicate it elsewhere, make a view on the replica, pull updates, make an
//! independent copy. Two
//! homes (alice publishes, bob replicates) share a temporary `file://` cloud root, so it needs
//! no account: `cargo run --example shared_tables`.
#![allow(clippy::print_stdout, reason = "an example prints what it does")]

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_cast::pretty::pretty_format_batches;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use tableshare::transport::RootSpec;
use tableshare::{Access, CloudConfig, TableSchema, Tableshare};

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
    let cloud = CloudConfig::new(RootSpec::Url(
        scratch.path().join("cloud").display().to_string(),
    ));

    // Alice holds the org key (TABLESHARE_API_KEY or `api_key` in config.toml otherwise).
    let alice = Tableshare::open_with_cloud(
        scratch.path().join("alice"),
        cloud.clone().with_api_key("alice-key"),
    )?;
    alice.create_dir("shared_demo").await?;
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]));
    let sample_table = alice
        .create_table(
            "shared_demo.sample_data",
            &TableSchema::unpartitioned(schema.clone())?,
        )
        .await?;
    sample_table
        .insert(&sample(
            &schema,
            &[(1, "Alice", 42.5), (2, "Bob", 37.8), (3, "Charlie", 91.2)],
        ))
        .await?;
    println!("{}", sample_table.show(10).await?);

    let uri = alice
        .publish(
            "shared_demo.sample_data",
            "pxt://alice/shared.sample_data",
            Access::Public,
        )
        .await?;
    println!("Published: {uri}");

    sample_table
        .insert(&sample(&schema, &[(4, "Diana", 65.3)]))
        .await?;
    let pushed = sample_table.push().await?;
    println!("Pushed versions {:?}", pushed.versions);

    // Bob needs no key for a public table.
    let bob = Tableshare::open_with_cloud(scratch.path().join("bob"), cloud)?;
    bob.create_dir("shared_demo").await?;
    let replica = bob
        .replicate(&uri.to_string(), "shared_demo.replicated_data")
        .await?;
    println!(
        "Replica at version {} with {} rows (read-only: {})",
        replica.version(),
        replica.row_count(),
        replica.is_read_only()
    );

    // A view on the (read-only) replica: it works offline and follows the replica's pulls.
    bob.create_view(
        "shared_demo.high_value",
        "shared_demo.replicated_data",
        [("value_x2", "value * 2")],
        Some("value > 50"),
    )
    .await?;
    let high = bob
        .sql("SELECT id, name, value_x2 FROM shared_demo.high_value ORDER BY id")
        .await?;
    println!("{}", pretty_format_batches(&high)?);

    let copy = bob
        .create_table_from("shared_demo.local_copy", &format!("{uri}:1"))
        .await?;
    copy.insert(&sample(&schema, &[(5, "Eve", 88.9)])).await?;
    println!(
        "Independent copy has {} rows and no upstream",
        copy.row_count()
    );

    sample_table
        .insert(&sample(&schema, &[(5, "Eve", 88.9)]))
        .await?;
    sample_table.push().await?;
    let pulled = replica.pull().await?;
    println!(
        "Pulled versions {:?}: the replica has {} rows",
        pulled.versions,
        replica.row_count()
    );
    println!("{}", replica.show(10).await?);
    assert_eq!(replica.row_count(), 5);
    let high = bob
        .sql("SELECT id, name, value_x2 FROM shared_demo.high_value ORDER BY id")
        .await?;
    println!(
        "The view after the pull (Eve joined it):\n{}",
        pretty_format_batches(&high)?
    );
    assert_eq!(high.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    // The seed's `replica.select(replica.name).where(replica.value > 50).collect()`.
    let names = replica
        .select(["name"])
        .filter("value > 50")
        .order_by("name", true)
        .collect()
        .await?;
    println!(
        "select(name).where(value > 50) on the replica:\n{}",
        pretty_format_batches(&names)?
    );
    assert_eq!(names.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    println!("Tables in bob's home: {:?}", bob.list_tables("").await?);
    Ok(())
}
