//! Opening the latest version costs a bounded number of store requests however many versions
//! a table has: the same count for 10 and for 10,000 versions (counted through a wrapper store).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::Arc;

use arrow_array::{BooleanArray, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use common::table_schema;
use object_store::memory::InMemory;
use tableshare_storage::Catalog;
use tableshare_testkit::FaultStore;

async fn open_cost(versions: u64) -> u64 {
    let store = FaultStore::new(Arc::new(InMemory::new()));
    let c = Catalog::open(store.clone(), "root");
    let schema = Arc::new(Schema::new(vec![Field::new("b", DataType::Boolean, true)]));
    let t = c
        .create_table("t", &table_schema(schema.clone()))
        .await
        .unwrap();
    // Tiny commits: column adds/renames write only a manifest.
    for v in 1..versions {
        let (from, to) = if v % 2 == 1 { ("b", "c") } else { ("c", "b") };
        t.rename_column(from, to).await.unwrap();
    }
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            if versions.is_multiple_of(2) { "c" } else { "b" },
            DataType::Boolean,
            true,
        )])),
        vec![Arc::new(BooleanArray::from(vec![true]))],
    )
    .unwrap();
    assert_eq!(t.insert(&batch).await.unwrap(), versions);
    store.reset();
    let opened = c.open_table("t").await.unwrap();
    assert_eq!(opened.version(), versions);
    assert_eq!(opened.scan().await.unwrap().keys, vec![0]);
    store.counts().total()
}

// Guards: bounded open (catalog lookup + hint + HEAD probe + manifest + one data file).
#[tokio::test]
async fn open_cost_does_not_grow_with_versions() {
    let small = open_cost(10).await;
    let large = open_cost(10_000).await;
    assert_eq!(
        small, large,
        "open + scan cost: {small} requests for 10 versions, {large} for 10,000"
    );
    assert!(large <= 12, "{large} requests");
}
