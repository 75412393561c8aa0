//! Cross-crate: the options of a worker address (tableshare-uri) drive how a reader consumes a
//! live table (tableshare-core), through the facade only, the way the remote-table client will:
//! `columns=` projects both the snapshot and every update, and a subscriber started after the
//! snapshot sees every later step exactly once.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design: the panic is the test failure"
)]

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use tableshare::table::LiveTableOptions;
use tableshare::{LiveTable, TableSchema, TableUri};

fn schema() -> TableSchema {
    TableSchema::new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("value", DataType::Float64, true),
        ])),
        Vec::<String>::new(),
    )
    .unwrap()
}

fn rows(ids: &[i64]) -> RecordBatch {
    let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
    let values: Vec<f64> = ids.iter().map(|i| *i as f64 / 2.0).collect();
    RecordBatch::try_new(
        schema().arrow().clone(),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
            Arc::new(StringArray::from(names)),
            Arc::new(Float64Array::from(values)),
        ],
    )
    .unwrap()
}

fn ids_of(batch: &RecordBatch) -> Vec<i64> {
    batch
        .column_by_name("id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .to_vec()
}

#[tokio::test]
async fn columns_option_projects_snapshot_and_updates() {
    let uri: TableUri = "pq://Sla%5Csh%20PQ/scope/trades?columns=id,value&onDisconnect=retain"
        .parse()
        .unwrap();
    let TableUri::Worker(worker) = &uri else {
        panic!("expected a worker address, got {uri:?}");
    };
    let columns = worker.options().columns.clone().unwrap();
    assert_eq!(columns, ["id", "value"]);

    let table = LiveTable::new(schema(), LiveTableOptions::default());
    table.append(rows(&[1, 2, 3])).unwrap();

    let (snapshot, mut subscription) = table.subscribe().unwrap();
    let snapshot = snapshot.project(&columns).unwrap();
    assert_eq!(snapshot.concat().unwrap().num_columns(), 2);
    assert_eq!(ids_of(&snapshot.concat().unwrap()), [1, 2, 3]);

    table.append(rows(&[4])).unwrap();
    let update = subscription
        .next()
        .await
        .unwrap()
        .unwrap()
        .into_update()
        .unwrap();
    assert_eq!(update.step(), snapshot.step() + 1, "no gap, no duplicate");
    let update = update.project(&columns).unwrap();
    assert_eq!(update.added().batch().num_columns(), 2);
    assert_eq!(ids_of(update.added().batch()), [4]);

    // The projected copy, kept by applying projected updates, equals the projected source.
    let copy = snapshot.apply(&update).unwrap();
    let source = table.snapshot().unwrap().project(&columns).unwrap();
    assert_eq!(copy.key_vec(), source.key_vec());
    assert_eq!(copy.concat().unwrap(), source.concat().unwrap());
}
