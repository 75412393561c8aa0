//! Guards the commit protocol and GC against a misbehaving store: at EVERY store request that a
//! mutation (insert, update, delete, schema change, revert, compaction, table creation) or a garbage
//! collection makes, inject each fault in turn (the request fails; the request is applied but its
//! response is lost; the request is slow) and check that
//!
//! 1. afterwards the table opens, from a fresh catalog, at a committed version: either the one
//!    before the operation or the one it was making, with exactly that version's rows;
//! 2. an operation that reported success really committed;
//! 3. an operation that failed can simply be retried, and the retry lands exactly once (a lost
//!    response on the manifest put must be read back, never committed twice); an insert with a
//!    transaction token that committed and still reported an error is retried too, and lands
//!    once.
//!
//! The request sequence of each operation is first recorded on a fault-free run, so the test
//! covers every IO step the engine makes today and follows the engine as it changes.
//!
//! The whole sweep runs on each store the suites run on (memory, local disk, S3 and Azure; see
//! `common`), one test each, with `FaultStore` wrapping the real store: every operation gets
//! every fault kind at every step on every store. Nothing is sampled on the cloud stores:
//! against the local moto and Azurite servers the full sweep takes one to two minutes each
//! (local disk with fsync about one and a half), well inside CI's budget, so no case is dropped.

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
use tableshare_storage::{Catalog, CatalogOptions, GcOptions, Selection, Table, TxnToken};
use tableshare_testkit::{Fault, FaultStore, Op};

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
            // An idempotent insert: whatever the fault, retrying it with the same token lands
            // it exactly once, even when the first attempt committed and then reported an error.
            name: "insert_with_token",
            observed: TABLE,
            keeps_version: false,
            run: |c| {
                Box::pin(async move {
                    let token: TxnToken = "0-8f0c9a3e5b7d4c21a9e6f1b2c3d4e5f6".parse().unwrap();
                    c.open_table(TABLE)
                        .await?
                        .insert_with_token(&rows(&[5, 6]), &token)
                        .await?;
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
                    c.gc_table(TABLE, &GcOptions::new(Duration::ZERO, Duration::ZERO))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_io_step_of_every_mutation_survives_every_fault_on_azure() {
    sweep("azure").await;
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
                    if (case.keeps_version || case.name == "insert_with_token") && result.is_err() {
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

/// The store kinds available to this run (memory, local disk, and S3 when configured).
fn kinds() -> Vec<&'static str> {
    common::STORE_KINDS
        .to_vec()
        .into_iter()
        .filter(|k| common::fresh_store(k).is_some())
        .collect()
}

/// A catalog over a fault store over a fresh store of `kind`, without background compaction
/// (its versions would interleave); the temporary directory must outlive the catalog.
async fn guarded_setup(kind: &str) -> (Arc<FaultStore>, Catalog, Option<tempfile::TempDir>) {
    let (inner, dir) = fresh(kind);
    let store = FaultStore::new(inner);
    let c = Catalog::open_with_options(
        store.clone(),
        "root",
        CatalogOptions::default().with_background_compaction(false),
    );
    c.create_dir("f").await.unwrap();
    c.create_table(TABLE, &TableSchema::unpartitioned(schema()).unwrap())
        .await
        .unwrap();
    (store, c, dir)
}

/// Waits (bounded) for the next item of a live table's subscription (row updates only).
async fn next_update(
    sub: &mut tableshare_core::Subscription,
) -> Option<tableshare_core::Result<tableshare_core::TableUpdate>> {
    let event = tokio::time::timeout(Duration::from_secs(20), sub.next())
        .await
        .expect("the subscriber was left waiting")?;
    Some(event.map(|e| e.into_update().expect("a row update, not a schema change")))
}

// Guards live-table upkeep: a watcher that can no longer follow its table fails the live
// table with the cause, and its subscribers receive that error instead of waiting forever:
// the table dropped in this process, the table's directory gone (dropped and collected by
// another process), and a store that keeps failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_table_that_cannot_follow_fails_its_subscribers() {
    let fast = CatalogOptions::default()
        .with_background_compaction(false)
        .with_watch_interval(Duration::from_millis(10));
    let cases = ["dropped here", "collected elsewhere", "store down"];
    for (kind, case) in kinds().into_iter().flat_map(|k| cases.map(|c| (k, c))) {
        let (store, setup, _dir) = guarded_setup(kind).await;
        setup
            .open_table(TABLE)
            .await
            .unwrap()
            .insert(&rows(&[1]))
            .await
            .unwrap();
        let c = Catalog::open_with_options(store.clone(), "root", fast.clone());
        let t = c.open_table(TABLE).await.unwrap();
        let live = t.live().await.unwrap();
        let (_, mut sub) = live.subscribe().unwrap();
        match case {
            "dropped here" => c.drop_table(TABLE, false).await.unwrap(),
            "collected elsewhere" => {
                let other = Catalog::open(store.clone(), "root");
                other.drop_table(TABLE, false).await.unwrap();
                other
                    .gc(&GcOptions::new(Duration::ZERO, Duration::ZERO))
                    .await
                    .unwrap();
            }
            _ => {
                for _ in 0..200 {
                    store.fail_next(Op::Get, None, Fault::Error);
                    store.fail_next(Op::Head, None, Fault::Error);
                }
            }
        }
        match next_update(&mut sub).await {
            Some(Err(e)) => {
                let text = format!("{e}");
                assert!(live.failure().is_some(), "{case}: {text}");
            }
            other => panic!("{case}: expected the failure, got {other:?}"),
        }
        store.disarm();
        drop(t);
    }
}

// Guards the writer's path: an insert returns without waiting for its live table to apply
// the step (reading the new data file for the diff is made slow here; the insert has returned
// while the live table is still at the old step, and the step arrives afterwards).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_never_waits_for_live_upkeep() {
    for kind in kinds() {
        let (store, c, _dir) = guarded_setup(kind).await;
        let t = c.open_table(TABLE).await.unwrap();
        t.insert(&rows(&[1])).await.unwrap(); // v1
        let live = t.live().await.unwrap();
        let (_, mut sub) = live.subscribe().unwrap();
        store.fail_next(
            Op::Get,
            Some("/data/"),
            Fault::Delay(Duration::from_secs(2)),
        );
        let v = t.insert(&rows(&[2])).await.unwrap();
        assert_eq!(v, 2);
        assert_eq!(
            live.step(),
            1,
            "the insert returned before the live table applied it"
        );
        let update = next_update(&mut sub).await.unwrap().unwrap();
        assert_eq!((update.step(), update.added().len()), (2, 1), "{kind}");
    }
}
