//! Guards the commit protocol and GC against a misbehaving store: at EVERY store request that a
//! mutation (insert, update, delete, schema change, revert, compaction, table creation) or a garbage
//! collection makes, inject each fault in turn (the request fails; the request is applied but its
//! response is lost; the request is slow) and check that
//!
//! 1. afterwards the table opens, from a fresh catalog, at a committed version: either the one
//!    before the operation or the one it was making, with exactly that version's rows;
//! 2. an operation that reported success really committed;
//! 3. an operation that failed can simply be retried, and the retry lands exactly once (a lost
//!    response on the manifest put must be read back, never committed twice).
//!
//! The request sequence of each operation is first recorded on a fault-free run, so the test
//! covers every IO step the engine makes today and follows the engine as it changes.
//!
//! The whole sweep runs on each store the suites run on (memory, local disk and S3; see
//! `common`), one test each, with `FaultStore` wrapping the real store: every operation gets
//! every fault kind at every step on every store. Nothing is sampled on S3: against the local
//! moto server the full sweep takes about two minutes (local disk with fsync about one and a
//! half), well inside CI's budget, so no case is dropped.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design: the panic is the test failure"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::future::BoxFuture;
use object_store::ObjectStore;
use tableshare_core::{RowSet, TableSchema};
use tableshare_storage::{Catalog, CatalogOptions, GcOptions, Selection, Table};
use tableshare_testkit::{Fault, FaultStore};

const TABLE: &str = "f.t";

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]))
}

fn rows(ids: &[i64]) -> RecordBatch {
    let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(names)),
        ],
    )
    .unwrap()
}

/// The content of a table as `id -> name` (only the columns every version has).
type Content = BTreeMap<i64, Option<String>>;

async fn content(table: &Table) -> Content {
    let data = table.scan().await.unwrap();
    let ids = data
        .batch
        .column_by_name("id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .clone();
    let names = data
        .batch
        .column_by_name("name")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
        .clone();
    (0..ids.len())
        .map(|i| {
            let name = (!arrow_array::Array::is_null(&names, i)).then(|| names.value(i).to_owned());
            (ids.value(i), name)
        })
        .collect()
}

/// `f.t` at version 2 holding ids 1..=4 in the fresh store `inner`, wrapped in a fault store.
async fn setup(inner: Arc<dyn ObjectStore>) -> (Arc<FaultStore>, Catalog) {
    let store = FaultStore::new(inner);
    let catalog = Catalog::open(store.clone(), "root");
    catalog.create_dir("f").await.unwrap();
    let table = catalog
        .create_table(TABLE, &TableSchema::unpartitioned(schema()).unwrap())
        .await
        .unwrap();
    table.insert(&rows(&[1, 2])).await.unwrap();
    table.insert(&rows(&[3, 4])).await.unwrap();
    (store, catalog)
}

/// An operation under test: what it does, and which catalog path shows its effect.
struct Case {
    name: &'static str,
    /// The table whose version and content tell whether the operation landed.
    observed: &'static str,
    run: fn(Catalog) -> BoxFuture<'static, Result<(), tableshare_storage::StorageError>>,
    /// True when the operation must not create a version (GC).
    keeps_version: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "insert",
            observed: TABLE,
            keeps_version: false,
            run: |c| {
                Box::pin(async move {
                    c.open_table(TABLE).await?.insert(&rows(&[5, 6])).await?;
                    Ok(())
                })
            },
        },
        Case {
            name: "update",
            observed: TABLE,
            keeps_version: false,
            run: |c| {
                Box::pin(async move {
                    let t = c.open_table(TABLE).await?;
                    let first = t.scan().await?.keys[0];
                    let values = RecordBatch::try_new(
                        Arc::new(Schema::new(vec![Field::new("name", DataType::Utf8, true)])),
                        vec![Arc::new(StringArray::from(vec!["renamed"]))],
                    )
                    .unwrap();
                    t.update(&Selection::Keys(RowSet::from_iter([first])), &values)
                        .await?;
                    Ok(())
                })
            },
        },
        Case {
            name: "delete",
            observed: TABLE,
            keeps_version: false,
            run: |c| {
                Box::pin(async move {
                    let t = c.open_table(TABLE).await?;
                    let keys = t.scan().await?.keys;
                    t.delete(&Selection::Keys(RowSet::from_iter(
                        keys[..2].iter().copied(),
                    )))
                    .await?;
                    Ok(())
                })
            },
        },
        Case {
            name: "add_column",
            observed: TABLE,
            keeps_version: false,
            run: |c| {
                Box::pin(async move {
                    c.open_table(TABLE)
                        .await?
                        .add_column(Field::new("extra", DataType::Int64, true))
                        .await?;
                    Ok(())
                })
            },
        },
        Case {
            name: "revert",
            observed: TABLE,
            keeps_version: false,
            run: |c| {
                Box::pin(async move {
                    c.open_table(TABLE).await?.revert().await?;
                    Ok(())
                })
            },
        },
        Case {
            // An insert that also merges small files in its own version (automatic compaction
            // is forced by allowing only two small files; the setup left two).
            name: "insert_compacting",
            observed: TABLE,
            keeps_version: false,
            run: |c| {
                Box::pin(async move {
                    let (store, prefix) = c.location();
                    let c = Catalog::open_with_options(
                        store,
                        prefix,
                        CatalogOptions::default().with_compaction(u64::MAX, 2),
                    );
                    c.open_table(TABLE).await?.insert(&rows(&[5, 6])).await?;
                    Ok(())
                })
            },
        },
        Case {
            name: "compact",
            observed: TABLE,
            keeps_version: false,
            run: |c| {
                Box::pin(async move {
                    c.open_table(TABLE).await?.compact().await?;
                    Ok(())
                })
            },
        },
        Case {
            name: "create_table",
            observed: "f.u",
            keeps_version: false,
            run: |c| {
                Box::pin(async move {
                    let t = c
                        .create_table("f.u", &TableSchema::unpartitioned(schema()).unwrap())
                        .await?;
                    // Creation is the version the test observes; give it rows to compare.
                    let _ = t;
                    Ok(())
                })
            },
        },
        Case {
            name: "gc",
            observed: TABLE,
            keeps_version: true,
            run: |c| {
                Box::pin(async move {
                    c.open_table(TABLE)
                        .await?
                        .gc(&GcOptions::new(Duration::ZERO, Duration::ZERO))
                        .await?;
                    Ok(())
                })
            },
        },
    ]
}

/// The observed table's (version, content), or None when it does not exist.
async fn observe(store: &Arc<FaultStore>, path: &str) -> Option<(u64, Content)> {
    // A fresh catalog: nothing cached from the faulted run.
    let catalog = Catalog::open(store.clone(), "root");
    match catalog.open_table(path).await {
        Ok(table) => Some((table.version(), content(&table).await)),
        Err(tableshare_storage::StorageError::NotFound { .. }) => None,
        Err(e) => panic!("{path} does not open after the fault: {e}"),
    }
}

// Guards the commit protocol on memory (see the module docs).
#[tokio::test]
async fn every_io_step_of_every_mutation_survives_every_fault_on_memory() {
    sweep("memory").await;
}

// Guards the commit protocol on local disk (see the module docs).
#[tokio::test]
async fn every_io_step_of_every_mutation_survives_every_fault_on_local_disk() {
    sweep("local").await;
}

// Guards the commit protocol on S3 (see the module docs); not run when S3 is not configured.
#[tokio::test]
async fn every_io_step_of_every_mutation_survives_every_fault_on_s3() {
    sweep("s3").await;
}

/// A fresh store of `kind` (kept alive with its temporary directory by the caller).
fn fresh(kind: &str) -> (Arc<dyn ObjectStore>, Option<tempfile::TempDir>) {
    common::fresh_store(kind).unwrap()
}

/// Every fault at every step of every case, on stores of `kind`.
async fn sweep(kind: &str) {
    if common::fresh_store(kind).is_none() {
        return;
    }
    let faults = [
        Fault::Error,
        Fault::LostResponse,
        Fault::Delay(Duration::from_millis(2)),
    ];
    let mut trials = 0;
    for case in cases() {
        // The fault-free run: the states before and after, and the requests it makes.
        let (inner, _dir) = fresh(kind);
        let (store, catalog) = setup(inner).await;
        let before = observe(&store, case.observed).await;
        store.reset();
        (case.run)(catalog).await.unwrap();
        let steps = store.requests().len() as u64;
        let after = observe(&store, case.observed).await;
        assert!(steps > 0, "{}: made no requests", case.name);
        if case.name == "insert_compacting" {
            let files = Catalog::open(store.clone(), "root")
                .open_table(TABLE)
                .await
                .unwrap()
                .file_count();
            assert!(files < 3, "the insert did not compact: {files} files");
        }
        if case.keeps_version {
            assert_eq!(before, after, "{}: changed the table", case.name);
        } else {
            assert_ne!(before, after, "{}: changed nothing", case.name);
        }

        for step in 0..steps {
            for fault in faults {
                trials += 1;
                let what = format!(
                    "{kind}: {} with {fault:?} at request {step}/{steps}",
                    case.name
                );
                let (inner, _dir) = fresh(kind);
                let (store, catalog) = setup(inner).await;
                store.reset();
                store.fail_at(step, fault);
                let result = (case.run)(catalog).await;
                store.disarm();
                let seen = observe(&store, case.observed).await;
                if seen == after {
                    // Landed (or, for GC, left the table as it was): the version is whole. A GC
                    // that failed part-way must still be able to finish.
                    if case.keeps_version && result.is_err() {
                        let retry = (case.run)(Catalog::open(store.clone(), "root")).await;
                        assert!(retry.is_ok(), "{what}: retry failed: {retry:?}");
                        assert_eq!(observe(&store, case.observed).await, after, "{what}");
                    }
                } else {
                    assert_eq!(
                        seen, before,
                        "{what}: the table is neither before nor after ({result:?})"
                    );
                    assert!(
                        result.is_err(),
                        "{what}: reported success but nothing committed"
                    );
                    // Retrying a failed operation lands it exactly once.
                    let retry = (case.run)(Catalog::open(store.clone(), "root")).await;
                    assert!(retry.is_ok(), "{what}: retry failed: {retry:?}");
                    assert_eq!(
                        observe(&store, case.observed).await,
                        after,
                        "{what}: retry did not land exactly once"
                    );
                }
                if matches!(fault, Fault::Delay(_)) {
                    assert!(
                        result.is_ok(),
                        "{what}: a slow store is not a failure: {result:?}"
                    );
                }
            }
        }
    }
    assert!(trials > 100, "{kind}: only {trials} trials");
}
