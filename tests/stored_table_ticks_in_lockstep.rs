//! Cross-crate, through the facade only: a reader subscribed to a table stored on local disk
//! keeps a copy that ticks in lockstep with commits made by ANOTHER catalog over the same folder
//! (as another process would make them), projected to the columns a worker address asks for.
//!
//! Guards the spine of the design: storage turns every commit into one core `TableUpdate`, the
//! live table publishes it, and a subscriber that applies what it receives holds exactly the
//! table's content at every step it sees, with no gap and no duplicate step.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design: the panic is the test failure"
)]

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use tableshare::storage::{CatalogOptions, Selection};
use tableshare::table::RowSet;
use tableshare::{Catalog, TableSchema, TableUri};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]))
}

fn rows(ids: &[i64]) -> RecordBatch {
    let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
    let values: Vec<f64> = ids.iter().map(|i| *i as f64).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
            Arc::new(StringArray::from(names)),
            Arc::new(Float64Array::from(values)),
        ],
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_follows_another_writer_step_by_step() {
    let dir = tempfile::tempdir().unwrap();
    let fast = CatalogOptions::default().with_watch_interval(Duration::from_millis(10));
    let open = |options: CatalogOptions| {
        let store = Arc::new(
            object_store::local::LocalFileSystem::new_with_prefix(dir.path())
                .unwrap()
                .with_fsync(true),
        );
        Catalog::open_with_options(store, "", options)
    };
    let reader_catalog = open(fast.clone());
    reader_catalog.create_dir("shared").await.unwrap();
    let table = reader_catalog
        .create_table(
            "shared.trades",
            &TableSchema::unpartitioned(schema()).unwrap(),
        )
        .await
        .unwrap();

    // The address a remote reader would use; its options decide the projection.
    let uri: TableUri = "pq://Desk/scope/shared.trades?columns=id,value"
        .parse()
        .unwrap();
    let TableUri::Worker(worker) = &uri else {
        panic!("not a worker address: {uri}");
    };
    assert_eq!(worker.table(), "shared.trades");
    let columns = worker.options().columns.clone().unwrap();

    let live = table.live().await.unwrap();
    let (snapshot, mut subscription) = live.subscribe().unwrap();
    let mut copy = snapshot.project(&columns).unwrap();
    assert_eq!(copy.num_rows(), 0);

    // Another writer, as another process would be: its own catalog over the same folder.
    let writer_catalog = open(CatalogOptions::default());
    let writer = writer_catalog.open_table("shared.trades").await.unwrap();
    writer.insert(&rows(&[1, 2, 3])).await.unwrap();
    writer.insert(&rows(&[4])).await.unwrap();
    let first_key = writer.scan().await.unwrap().keys[0];
    writer
        .delete(&Selection::Keys(RowSet::from_iter([first_key])))
        .await
        .unwrap();
    let last = writer.insert(&rows(&[5, 6])).await.unwrap();

    // Follow until the subscriber reaches the writer's last version, checking every update.
    let mut seen = Vec::new();
    while copy.step() < last {
        let update = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .expect("the subscriber ticked within 10 s")
            .expect("the table is still there")
            .unwrap()
            .into_update()
            .expect("the schema does not change");
        assert!(
            update.step() > copy.step(),
            "steps only move forward: {} after {}",
            update.step(),
            copy.step()
        );
        seen.push(update.step());
        copy = copy.apply(&update.project(&columns).unwrap()).unwrap();
        // At every step the reader sees, its copy is exactly the stored version.
        let stored = reader_catalog
            .open_table(&format!("shared.trades:{}", copy.step()))
            .await
            .unwrap()
            .snapshot()
            .await
            .unwrap()
            .project(&columns)
            .unwrap();
        assert_eq!(
            copy.key_vec(),
            stored.key_vec(),
            "keys at step {}",
            copy.step()
        );
        assert_eq!(
            copy.concat().unwrap(),
            stored.concat().unwrap(),
            "rows at step {}",
            copy.step()
        );
    }
    assert_eq!(copy.step(), last);
    let ids = copy
        .concat()
        .unwrap()
        .column_by_name("id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .to_vec();
    assert_eq!(ids, [2, 3, 4, 5, 6]);
    assert!(!seen.is_empty());
}
