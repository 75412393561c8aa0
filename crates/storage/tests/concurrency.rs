//! Concurrent writers: exactly one winner per version, appends that lose retry by themselves,
//! conflicting changes fail with `VersionConflict` naming the versions, and catalog creations
//! of one path give one success and one `AlreadyExists`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::Arc;

use arrow_array::{Float64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use common::{catalogs, catalogs_with, ids, sample_rows, sample_schema, table_schema};
use tableshare_core::RowSet;
use tableshare_storage::{Catalog, CatalogOptions, Operation, Selection, StorageError};
use tableshare_testkit::{Fault, FaultStore, Op};

fn value(v: f64) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "value",
            DataType::Float64,
            true,
        )])),
        vec![Arc::new(Float64Array::from(vec![v]))],
    )
    .unwrap()
}

// Guards: two independent handles (as two processes would have) racing appends from tasks:
// every append lands exactly once, versions are dense, each version has one writer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_appends_all_land() {
    for (store, c, _dir) in catalogs() {
        c.create_table("race", &table_schema(sample_schema()))
            .await
            .unwrap();
        let (s, p) = c.location();
        // Two catalogs over one store: no shared in-process state, like two processes.
        let other = Catalog::open(s, p);
        let a = Arc::new(c.open_table("race").await.unwrap());
        let b = Arc::new(other.open_table("race").await.unwrap());
        let per_writer = 10i64;
        let mut tasks = Vec::new();
        for (w, handle) in [(0i64, a.clone()), (1, b.clone())] {
            tasks.push(tokio::spawn(async move {
                let mut versions = Vec::new();
                for i in 0..per_writer {
                    let id = w * 100 + i;
                    versions.push(
                        handle
                            .insert(&sample_rows(&[(id, "x", 0.0)]))
                            .await
                            .unwrap(),
                    );
                }
                versions
            }));
        }
        let mut versions: Vec<u64> = Vec::new();
        for t in tasks {
            versions.extend(t.await.unwrap());
        }
        versions.sort_unstable();
        let expected: Vec<u64> = (1..=2 * per_writer as u64).collect();
        assert_eq!(
            versions, expected,
            "{store}: one winner per version, no version lost"
        );
        a.refresh().await.unwrap();
        let mut got = ids(&a.scan().await.unwrap().batch);
        got.sort_unstable();
        let mut want: Vec<i64> = (0..per_writer).chain(100..100 + per_writer).collect();
        want.sort_unstable();
        assert_eq!(got, want, "{store}: every append landed exactly once");
        let keys = a.scan().await.unwrap().keys;
        assert_eq!(
            keys,
            (0..2 * per_writer as u64).collect::<Vec<_>>(),
            "{store}: keys unique and dense"
        );
    }
}

// Guards row-level conflicts: a change built on a version that is no longer the latest fails
// only when a rival touched the same rows (RowConflict naming the rival and a row) or, for a
// schema change or revert, when the rival changed the schema or anything at all
// (VersionConflict); otherwise it is rebased onto the rival and lands.
#[tokio::test]
async fn conflicts_are_row_level() {
    for (store, c, _dir) in catalogs() {
        let t = c
            .create_table("conf", &table_schema(sample_schema()))
            .await
            .unwrap();
        t.insert(&sample_rows(&[(1, "a", 1.0), (2, "b", 2.0), (3, "c", 3.0)]))
            .await
            .unwrap(); // v1: keys 0, 1, 2
        let stale = || async { c.open_table("conf").await.unwrap() };
        let key = |k: u64| Selection::Keys(RowSet::from_iter([k]));
        let (b_update, b_delete, b_other, b_schema, b_revert) = (
            stale().await,
            stale().await,
            stale().await,
            stale().await,
            stale().await,
        );
        t.update(&key(0), &value(10.0)).await.unwrap(); // v2: the rival changes row 0
        // Same row: conflicts, naming the rival version and the row.
        for (op, result) in [
            ("update", b_update.update(&key(0), &value(20.0)).await),
            ("delete", b_delete.delete(&key(0)).await),
        ] {
            match result {
                Err(StorageError::RowConflict {
                    table,
                    rival_version,
                    rival_operation,
                    key,
                }) => assert_eq!(
                    (table.as_str(), rival_version, rival_operation, key),
                    ("conf", 2, "update", 0),
                    "{store} {op}"
                ),
                other => panic!("{store} {op}: {other:?}"),
            }
        }
        // Other rows and schema changes rebase onto the rival.
        assert_eq!(
            b_other.update(&key(1), &value(21.0)).await.unwrap(),
            3,
            "{store}"
        );
        let n = Field::new("n", DataType::Int64, true);
        assert_eq!(b_schema.add_column(n.clone()).await.unwrap(), 4, "{store}");
        // A stale schema change after a rival schema change conflicts; so does a stale revert.
        match b_delete
            .add_column(Field::new("m", DataType::Int64, true))
            .await
        {
            Err(StorageError::VersionConflict { table, current, .. }) => {
                assert_eq!((table.as_str(), current), ("conf", 4), "{store}");
            }
            other => panic!("{store} stale add_column: {other:?}"),
        }
        match b_revert.revert().await {
            Err(StorageError::VersionConflict { .. }) => {}
            other => panic!("{store} stale revert: {other:?}"),
        }
        // A rival compaction never fails a writer: the delete rebases onto the merged files.
        let d = stale().await;
        t.refresh().await.unwrap();
        t.insert(&sample_rows(&[(4, "d", 4.0)])).await.unwrap(); // v5
        let compacted = t.compact().await.unwrap(); // v6 merges the small files
        assert_eq!(compacted, 6, "{store}: the compaction committed");
        assert_eq!(d.delete(&key(2)).await.unwrap(), 7, "{store}");
        let data = c.open_table("conf").await.unwrap().scan().await.unwrap();
        assert_eq!(ids(&data.batch), vec![1, 2, 4], "{store}");
        let values = data.batch.column_by_name("value").unwrap();
        let values = values.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(values.values().to_vec(), vec![10.0, 21.0, 4.0], "{store}");
    }
}

// Guards: two catalogs (processes) creating the same path concurrently: exactly one succeeds
// and the other gets AlreadyExists; creations of different paths both land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_creations_race() {
    for (store, c, _dir) in catalogs() {
        let (s, p) = c.location();
        let other = Catalog::open(s, p);
        for round in 0..5 {
            let path = format!("same_{round}");
            let (x, y) = tokio::join!(c.create_dir(&path), other.create_dir(&path));
            let outcomes = [x, y];
            let ok = outcomes.iter().filter(|r| r.is_ok()).count();
            let exists = outcomes
                .iter()
                .filter(|r| matches!(r, Err(StorageError::AlreadyExists { path: q }) if *q == path))
                .count();
            assert_eq!((ok, exists), (1, 1), "{store} round {round}: {outcomes:?}");
            let schema = table_schema(sample_schema());
            let t = format!("{path}.t");
            let (x, y) = tokio::join!(c.create_table(&t, &schema), other.create_table(&t, &schema));
            assert_eq!(
                x.is_ok() as u8 + y.is_ok() as u8,
                1,
                "{store}: one table creation wins"
            );
            let (pa, pb) = (format!("{path}_a"), format!("{path}_b"));
            let (x, y) = tokio::join!(c.create_dir(&pa), other.create_dir(&pb));
            x.unwrap();
            y.unwrap();
        }
        assert_eq!(c.list("", false).await.unwrap().len(), 15);
    }
}

// Guards compaction under a steady stream of appends (the starvation it had when every lost
// race re-merged its files): a compaction started while another writer appends as fast as it
// can lands before the appends end, either by its own commit (carrying its merged files onto
// each rival's version) or inside an append that took its offered merge
// (operations/merge_offer.rs), and no row is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_lands_while_appends_stream_in() {
    let options = CatalogOptions::default()
        .with_compaction(u64::MAX, 4)
        .with_background_compaction(false);
    for (store, c, _dir) in catalogs_with(&options) {
        let t = c
            .create_table("busy", &table_schema(sample_schema()))
            .await
            .unwrap();
        for i in 0..8 {
            t.insert(&sample_rows(&[(i, "x", 0.0)])).await.unwrap();
        }
        let appender = c.open_table("busy").await.unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let appended = Arc::new(std::sync::atomic::AtomicI64::new(8));
        let (stop_a, appended_a) = (Arc::clone(&stop), Arc::clone(&appended));
        // Appends back to back until the compaction has landed (or a cap is reached).
        let appends = tokio::spawn(async move {
            let mut last = 0;
            let mut i = 8;
            while !stop_a.load(std::sync::atomic::Ordering::SeqCst) && i < 3000 {
                last = appender
                    .insert(&sample_rows(&[(i, "x", 0.0)]))
                    .await
                    .unwrap();
                i += 1;
                appended_a.store(i, std::sync::atomic::Ordering::SeqCst);
            }
            (last, i)
        });
        while appended.load(std::sync::atomic::Ordering::SeqCst) < 20 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let compactor = c.open_table("busy").await.unwrap();
        let compacted = compactor.compact().await.unwrap();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (last_append, rows) = appends.await.unwrap();
        assert!(
            rows < 3000 && compacted <= last_append + 1,
            "{store}: the compaction (version {compacted}) landed while appends streamed in \
             (the last append made version {last_append}, {rows} rows)"
        );
        let h = c.open_table(&format!("busy:{compacted}")).await.unwrap();
        let landed_by = h.history().await.unwrap()[0].operation.clone();
        assert!(
            match landed_by {
                Operation::Compact { .. } => true,
                Operation::Insert {
                    files_compacted, ..
                } => files_compacted > 0,
                _ => false,
            },
            "{store}: the merge landed by {landed_by:?}"
        );
        let all = c.open_table("busy").await.unwrap().scan().await.unwrap();
        assert_eq!(ids(&all.batch), (0..rows).collect::<Vec<_>>(), "{store}");
    }
}

/// A catalog over a recording fault store (memory) whose table `t` holds 8 one-row files, with
/// compaction of more than 4 small files and no background compaction.
async fn eight_small_files() -> (Arc<FaultStore>, Catalog, tableshare_storage::Table) {
    let options = CatalogOptions::default()
        .with_compaction(u64::MAX, 4)
        .with_background_compaction(false);
    let store = FaultStore::new(Arc::new(object_store::memory::InMemory::new()));
    let c = Catalog::open_with_options(store.clone(), "", options);
    let t = c
        .create_table("t", &table_schema(sample_schema()))
        .await
        .unwrap();
    for i in 0..8 {
        t.insert(&sample_rows(&[(i, "x", 0.0)])).await.unwrap();
    }
    (store, c, t)
}

/// Puts the store has seen on paths containing `part`.
fn puts(store: &FaultStore, part: &str) -> usize {
    store
        .requests()
        .iter()
        .filter(|r| r.op == Op::Put && r.path.contains(part))
        .count()
}

// Guards the hand-off of a finished merge to the next append (operations/merge_offer.rs): a
// compaction's commit is held back (its manifest put delayed); an append made meanwhile
// commits the merge with its own row and returns while the compaction's commit is still in
// flight (it did not wait for it); the compaction then loses the race, finds its merged files
// in the append's version and reports that version. One merge, no row lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_commits_a_finished_merge_without_waiting() {
    let (store, c, t) = eight_small_files().await;
    let manifest_puts = || puts(&store, "_versions");
    let before = manifest_puts();
    store.fail_next(
        Op::Put,
        Some("_versions"),
        Fault::Delay(std::time::Duration::from_millis(500)),
    );
    let compactor = c.open_table("t").await.unwrap();
    let compaction = tokio::spawn(async move { compactor.compact().await });
    while manifest_puts() == before {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let v = t.insert(&sample_rows(&[(8, "x", 0.0)])).await.unwrap();
    assert!(
        !compaction.is_finished(),
        "the append returned while the compaction's commit was in flight"
    );
    assert_eq!(v, 9);
    assert_eq!(
        compaction.await.unwrap().unwrap(),
        9,
        "the compaction saw its merge land"
    );
    let h = c.open_table("t").await.unwrap();
    assert_eq!(h.version(), 9, "one version for both");
    assert_eq!(
        h.history().await.unwrap()[0].operation,
        Operation::Insert {
            rows: 1,
            files_compacted: 8
        }
    );
    assert_eq!(h.file_count(), 2, "the merged file and the append's own");
    assert_eq!(
        ids(&h.scan().await.unwrap().batch),
        (0..9).collect::<Vec<_>>()
    );
}

// Guards the rebase of an append over a rival that allocated no row keys: an insert whose
// commit is held back loses its version to an explicit compaction, rebuilds on it, and commits
// the data file it already wrote (the keys are still right) instead of encoding and putting
// the rows again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_that_loses_to_a_compaction_keeps_its_file() {
    let (store, c, _) = eight_small_files().await;
    let puts = |part: &str| puts(&store, part);
    let (manifests, data) = (puts("_versions"), puts("/data/"));
    store.fail_next(
        Op::Put,
        Some("_versions"),
        Fault::Delay(std::time::Duration::from_millis(300)),
    );
    let appender = c.open_table("t").await.unwrap();
    let insert = tokio::spawn(async move { appender.insert(&sample_rows(&[(8, "x", 0.0)])).await });
    while puts("_versions") == manifests {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let compacted = c.open_table("t").await.unwrap().compact().await.unwrap();
    assert_eq!(
        compacted, 9,
        "the compaction took the version the insert was making"
    );
    assert_eq!(
        insert.await.unwrap().unwrap(),
        10,
        "the insert rebased onto it"
    );
    assert_eq!(
        puts("/data/") - data,
        2,
        "one merged file and the insert's one file, written once"
    );
    let h = c.open_table("t").await.unwrap();
    assert_eq!(h.file_count(), 2);
    assert_eq!(
        ids(&h.scan().await.unwrap().batch),
        (0..9).collect::<Vec<_>>()
    );
}
