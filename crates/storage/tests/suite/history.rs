//! The cases of the behavioural suite about a table over time: diffs between versions, live
//! tables following commits, garbage collection and compaction (run by `run_all` in
//! `suite.rs`, like every case).

use std::time::Duration;

use tableshare_storage::{CatalogOptions, GcOptions, Operation};

use super::*;
use crate::common::snapshot_at;

// Guards: the TableUpdate between any two versions has the right removed/added/modified rows.
pub(super) async fn diff_between_versions(c: &Catalog) {
    let t = c
        .create_table("df", &table_schema(sample_schema()))
        .await
        .unwrap();
    t.insert(&sample_rows(&[(1, "a", 1.0), (2, "b", 2.0)]))
        .await
        .unwrap(); // v1 keys 0,1
    t.insert(&sample_rows(&[(3, "c", 3.0)])).await.unwrap(); // v2 key 2
    let v = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "value",
            DataType::Float64,
            true,
        )])),
        vec![Arc::new(Float64Array::from(vec![10.0]))],
    )
    .unwrap();
    t.update(&Selection::Keys(RowSet::from_iter([0u64])), &v)
        .await
        .unwrap(); // v3
    t.delete(&Selection::Keys(RowSet::from_iter([1u64])))
        .await
        .unwrap(); // v4
    // (a, b, removed, added, modified keys, modified columns)
    type Case = (u64, u64, Vec<u64>, Vec<u64>, Vec<u64>, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        (0, 1, vec![], vec![0, 1], vec![], vec![]),
        (1, 2, vec![], vec![2], vec![], vec![]),
        (2, 3, vec![], vec![], vec![0], vec!["value"]),
        (3, 4, vec![1], vec![], vec![], vec![]),
        // Across several steps only the columns whose values changed are reported.
        (1, 4, vec![1], vec![2], vec![0], vec!["value"]),
        (4, 1, vec![2], vec![1], vec![0], vec!["value"]),
        (0, 4, vec![], vec![0, 2], vec![], vec![]),
    ];
    for (a, b, removed, added, modified, columns) in cases {
        check_diff(c, "df", (a, b), (removed, added, modified, columns)).await;
    }
    c.drop_table("df", false).await.unwrap();
}

// Guards: a live table ticks on this process's commits promptly (its watcher is handed each
// commit; the writer does not wait for it), and on commits made through another catalog
// (another process) within the watch interval; dropping handles stops the watcher.
pub(super) async fn live_follows_commits(c: &Catalog) {
    let t = c
        .create_table("lv", &table_schema(sample_schema()))
        .await
        .unwrap();
    t.insert(&sample_rows(&[(1, "a", 1.0)])).await.unwrap();
    let live = t.live().await.unwrap();
    let (snap, mut sub) = live.subscribe().unwrap();
    assert_eq!((snap.step(), snap.num_rows()), (1, 1));
    t.insert(&sample_rows(&[(2, "b", 2.0)])).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while live.step() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the in-process commit was not applied"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Another "process": a second catalog over the same store.
    let (store, prefix) = c.location();
    let other = Catalog::open_with_options(
        store,
        prefix,
        CatalogOptions::default().with_watch_interval(Duration::from_millis(20)),
    );
    let t2 = other.open_table("lv").await.unwrap();
    t2.delete(&Selection::Keys(RowSet::from_iter([0u64])))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while live.step() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "watcher did not pick up the other commit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(live.snapshot().unwrap().key_vec(), [1]);
    let u = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .into_update()
        .unwrap();
    // The subscriber read late, so it gets steps 2 and 3 coalesced (core's lag handling).
    assert_eq!(
        (u.step(), u.added().keys(), u.removed().to_vec()),
        (3, &[1u64][..], vec![0])
    );
    // Both handles of one catalog share a live table.
    let again = c.open_table("lv").await.unwrap().live().await.unwrap();
    assert_eq!(again.step(), 3);
    // Schema changes are steps too, received as events; a renamed column keeps its values.
    t.refresh().await.unwrap();
    t.add_column(Field::new("extra", DataType::Int64, true))
        .await
        .unwrap(); // v4
    t.rename_column("value", "amount").await.unwrap(); // v5
    let row = sample_rows(&[(3, "c", 3.0)]);
    let renamed = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]);
    let row = RecordBatch::try_new(Arc::new(renamed), row.columns().to_vec()).unwrap();
    t.insert(&row).await.unwrap(); // v6
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push(match event {
            tableshare_core::TableEvent::SchemaChange(change) => {
                format!("schema {}: {:?}", change.step(), change.renames())
            }
            tableshare_core::TableEvent::Update(u) => format!("update {}", u.step()),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(
        seen,
        vec![
            "schema 4: []".to_owned(),
            "schema 5: [(\"value\", \"amount\")]".to_owned(),
            "update 6".to_owned()
        ]
    );
    let snap = live.snapshot().unwrap();
    let names: Vec<String> = snap
        .schema()
        .arrow()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["id", "name", "amount", "extra"]);
    let amounts = snap.concat().unwrap();
    let amounts = amounts.column_by_name("amount").unwrap();
    let amounts = amounts.as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(amounts.values().to_vec(), vec![2.0, 3.0]);
    drop(t);
    c.drop_table("lv", false).await.unwrap();
}

// Guards GC: keeps latest, retention window and snapshot pins; expired versions say so; files
// younger than the age guard survive; the kept versions still read correctly.
pub(super) async fn gc_rules(c: &Catalog) {
    let t = c
        .create_table("gc", &table_schema(sample_schema()))
        .await
        .unwrap();
    for i in 0..4 {
        t.insert(&sample_rows(&[(i, "x", 0.0)])).await.unwrap(); // v1..v4
    }
    t.delete(&Selection::Keys(RowSet::from_iter([0u64])))
        .await
        .unwrap(); // v5
    c.create_snapshot("gc_pin", "gc", Some(2)).await.unwrap();
    // Long retention: nothing expires.
    let r = c.gc_table(t.path(), &GcOptions::default()).await.unwrap();
    assert!(r.versions_expired.is_empty());
    // Zero retention, long age guard: a version whose successor is younger than the guard is
    // kept (its number must not be freed while a writer may still build on its parent).
    let long_guard = GcOptions::new(Duration::ZERO, Duration::from_secs(3600));
    let r = c.gc_table(t.path(), &long_guard).await.unwrap();
    assert_eq!(r.versions_kept, vec![0, 1, 2, 3, 4, 5]);
    assert!(r.versions_expired.is_empty());
    // Once the successors are older than the guard, versions expire (snapshot pins stay).
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = c
        .gc_table(
            t.path(),
            &GcOptions::new(Duration::ZERO, Duration::from_millis(300)),
        )
        .await
        .unwrap();
    assert_eq!(r.versions_kept, vec![2, 5]);
    assert_eq!(r.versions_expired, vec![0, 1, 3, 4]);
    assert_eq!(r.files_deleted, 0);
    for v in [0u64, 1, 3, 4] {
        let e = c.open_table(&format!("gc:{v}")).await.unwrap_err();
        assert!(
            matches!(e, StorageError::VersionExpired { version, .. } if version == v),
            "{e:?}"
        );
        assert!(matches!(
            t.scan_at(v).await.unwrap_err(),
            StorageError::VersionExpired { .. }
        ));
    }
    // No guard: every file is still referenced by v2 (pinned) or v5, so none goes.
    let r = c
        .gc_table(t.path(), &GcOptions::new(Duration::ZERO, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(r.files_deleted, 0);
    assert_eq!(ids(&t.scan().await.unwrap().batch), vec![1, 2, 3]);
    assert_eq!(
        ids(&c
            .open_table("gc_pin")
            .await
            .unwrap()
            .scan()
            .await
            .unwrap()
            .batch),
        vec![0, 1]
    );
    // Revert of a version whose parent expired says so.
    let h = t.history().await.unwrap();
    assert_eq!(h.iter().map(|e| e.version).collect::<Vec<_>>(), vec![5]);
    assert!(matches!(
        t.revert().await.unwrap_err(),
        StorageError::VersionExpired { version: 4, .. }
    ));
    c.drop_table("gc_pin", false).await.unwrap();
    t.delete(&Selection::Keys(RowSet::from_iter([1u64])))
        .await
        .unwrap(); // v6: file of key 1 dropped
    let r = c
        .gc_table(t.path(), &GcOptions::new(Duration::ZERO, Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(r.versions_kept, vec![6]);
    assert_eq!(
        r.files_deleted, 2,
        "the files of keys 0 and 1, now referenced by no kept version"
    );
    assert_eq!(ids(&t.scan().await.unwrap().batch), vec![2, 3]);
    // Catalog GC removes the directory of a dropped table.
    let id = t.id();
    c.drop_table("gc", false).await.unwrap();
    let r = c
        .gc(&GcOptions::new(Duration::ZERO, Duration::ZERO))
        .await
        .unwrap();
    assert!(r.tables_removed >= 1);
    let (store, _) = c.location();
    use futures::TryStreamExt;
    let left: Vec<_> = store
        .list(Some(&format!("tables/{id}").into()))
        .try_collect()
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

/// What a diff should report: (removed, added, modified keys, modified columns).
type Expected = (Vec<u64>, Vec<u64>, Vec<u64>, Vec<&'static str>);

/// Checks `t.diff(a, b)`: (removed, added, modified keys, modified columns), and that applying
/// it to the snapshot at `a` gives the snapshot at `b`.
async fn check_diff(c: &Catalog, path: &str, (a, b): (u64, u64), expected: Expected) {
    let t = c.open_table(path).await.unwrap();
    let u = t.diff(a, b).await.unwrap();
    assert_eq!(u.step(), b);
    let (removed, added, modified, columns) = expected;
    assert_eq!(u.removed().to_vec(), removed, "{a}->{b} removed");
    assert_eq!(u.added().keys(), &added[..], "{a}->{b} added");
    assert_eq!(u.modified_keys().to_vec(), modified, "{a}->{b} modified");
    assert_eq!(u.modified_columns(), columns, "{a}->{b} columns");
    let sa = t.scan_at(a).await.unwrap();
    let snapshot_a = snapshot_at(c, path, a).await;
    let sb = snapshot_at(c, path, b).await;
    let applied = snapshot_a.apply(&u.with_step(a + 1)).unwrap();
    assert_eq!(
        (applied.key_vec(), applied.concat().unwrap()),
        (sb.key_vec(), sb.concat().unwrap()),
        "{a}->{b} applies"
    );
    assert_eq!(sa.version, a);
}

// Guards compaction: many small appends keep a bounded number of files (a background
// compaction commits its own version, or the next append commits its finished merge with its
// own row; such an insert still adds only that row), an explicit compaction is
// its own version with the same rows, history does not count it as adds or removes, diffs across
// compactions report only real changes (per column), time travel before a compaction reads the
// old files until GC expires those versions, and reverting a compaction restores the previous
// files.
pub(super) async fn compaction(c: &Catalog) {
    let path = "cp";
    let t = c
        .create_table(path, &table_schema(sample_schema()))
        .await
        .unwrap();
    let limit = c.options().max_small_files;
    let appends = limit as i64 + 8;
    for i in 0..appends {
        t.insert(&sample_rows(&[(i, "n", i as f64)])).await.unwrap();
    }
    // The background compaction lands on its own; wait until the table is quiet.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut quiet = (t.refresh().await.unwrap(), tokio::time::Instant::now());
    while quiet.1.elapsed() < Duration::from_millis(300) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the table never settled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let v = t.refresh().await.unwrap();
        if v != quiet.0 {
            quiet = (v, tokio::time::Instant::now());
        }
    }
    assert!(t.file_count() <= limit, "{} files", t.file_count());
    let history = t.history().await.unwrap();
    let compactions: Vec<u64> = history
        .iter()
        .filter(|h| {
            matches!(
                h.operation,
                Operation::Compact { .. }
                    | Operation::Insert {
                        files_compacted: 1..,
                        ..
                    }
            )
        })
        .map(|h| h.version)
        .collect();
    let compacted_at = *compactions
        .last()
        .expect("a background compaction committed");
    let appended = t.version();
    assert_eq!(
        ids(&t.scan().await.unwrap().batch),
        (0..appends).collect::<Vec<_>>()
    );
    // Inserts add only their own row (also those that committed a merge); a compaction
    // changes nothing.
    for h in &history {
        let step = (h.version.saturating_sub(1), h.version);
        match h.operation.name() {
            "insert" if h.version > 0 => {
                assert_eq!((h.rows_added, h.rows_removed), (1, 0), "{h:?}");
                let before = t.scan_at(step.0).await.unwrap().keys;
                let after = t.scan_at(step.1).await.unwrap().keys;
                let added: Vec<u64> = after.into_iter().filter(|k| !before.contains(k)).collect();
                check_diff(c, path, step, (vec![], added, vec![], vec![])).await;
            }
            "compact" => check_diff(c, path, step, (vec![], vec![], vec![], vec![])).await,
            _ => {}
        }
    }
    // Update one row's value, delete another, then compact explicitly.
    let v = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "value",
            DataType::Float64,
            true,
        )])),
        vec![Arc::new(Float64Array::from(vec![-1.0]))],
    )
    .unwrap();
    let updated = t
        .update(&Selection::Keys(RowSet::from_iter([3u64])), &v)
        .await
        .unwrap();
    let deleted = t
        .delete(&Selection::Keys(RowSet::from_iter([5u64])))
        .await
        .unwrap();
    let rows_before = t.scan().await.unwrap();
    let compact = t.compact().await.unwrap();
    assert_eq!(compact, deleted + 1);
    assert_eq!(t.file_count(), 1);
    assert_eq!(
        t.compact().await.unwrap(),
        compact,
        "nothing left to compact"
    );
    let rows_after = t.scan().await.unwrap();
    assert_eq!(
        (&rows_after.keys, &rows_after.batch),
        (&rows_before.keys, &rows_before.batch)
    );
    let h = &t.history().await.unwrap()[0];
    assert_eq!(h.operation.name(), "compact");
    assert_eq!((h.rows_added, h.rows_removed, h.rows_updated), (0, 0, 0));
    let n = appends as u64;
    let keys_before_compaction = t.scan_at(compacted_at - 1).await.unwrap().keys;
    // (from, to) -> (removed, added, modified, columns)
    let cases: Vec<((u64, u64), Expected)> = vec![
        ((deleted, compact), (vec![], vec![], vec![], vec![])),
        ((compact, deleted), (vec![], vec![], vec![], vec![])),
        (
            (appended, compact),
            (vec![5], vec![], vec![3], vec!["value"]),
        ),
        (
            (compact, appended),
            (vec![], vec![5], vec![3], vec!["value"]),
        ),
        ((updated, compact), (vec![5], vec![], vec![], vec![])),
        (
            (compacted_at - 1, compact),
            (
                vec![5],
                (0..n)
                    .filter(|k| *k != 5 && !keys_before_compaction.contains(k))
                    .collect(),
                vec![3],
                vec!["value"],
            ),
        ),
    ];
    for (span, expected) in cases {
        check_diff(c, path, span, expected).await;
    }
    // Time travel before the compactions reads the old files.
    let early = t.scan_at(10).await.unwrap();
    assert_eq!(ids(&early.batch), (0..10).collect::<Vec<_>>());
    // Reverting the compaction restores the previous files and counts no changes.
    let reverted = t.revert().await.unwrap();
    let h = &t.history().await.unwrap()[0];
    assert_eq!(
        (h.version, h.rows_added, h.rows_removed, h.rows_updated),
        (reverted, 0, 0, 0)
    );
    let back = t.scan().await.unwrap();
    assert_eq!(
        (&back.keys, &back.batch),
        (&rows_before.keys, &rows_before.batch)
    );
    // GC keeps the old files while the old versions are retained ...
    c.gc_table(
        t.path(),
        &GcOptions::new(Duration::from_secs(3600), Duration::ZERO),
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&t.scan_at(10).await.unwrap().batch),
        (0..10).collect::<Vec<_>>()
    );
    // ... and expires them afterwards; the latest version still reads.
    t.compact().await.unwrap();
    let report = c
        .gc_table(t.path(), &GcOptions::new(Duration::ZERO, Duration::ZERO))
        .await
        .unwrap();
    assert!(report.files_deleted > 0, "{report:?}");
    assert!(matches!(
        t.scan_at(10).await.unwrap_err(),
        StorageError::VersionExpired { .. }
    ));
    let last = t.scan().await.unwrap();
    assert_eq!(
        (&last.keys, &last.batch),
        (&rows_before.keys, &rows_before.batch)
    );
    c.drop_table(path, false).await.unwrap();
}
