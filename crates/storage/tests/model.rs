//! Property test: random operation sequences (insert, update, delete, add/drop/rename column,
//! revert, time travel, GC) against a plain in-memory model (key → row per version). Each
//! sequence runs on every store the suites run on (memory, local disk, S3; see `common`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use common::{snapshot_at, stores, table_schema};
use object_store::ObjectStore;
use proptest::prelude::*;
use tableshare_core::RowSet;
use tableshare_storage::{Catalog, CatalogOptions, GcOptions, Selection, StorageError, Table};

#[derive(Debug, Clone)]
enum Op {
    Insert(Vec<i64>),
    Update {
        pick: u64,
        column: usize,
        value: Option<i64>,
    },
    Delete {
        pick: u64,
    },
    AddColumn,
    DropColumn(usize),
    RenameColumn(usize),
    Revert,
    TimeTravel(usize),
    Gc,
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(-5i64..5, 1..4).prop_map(Op::Insert),
        2 => (any::<u64>(), 0usize..4, prop::option::of(-9i64..9)).prop_map(|(pick, column, value)| Op::Update { pick, column, value }),
        2 => any::<u64>().prop_map(|pick| Op::Delete { pick }),
        1 => Just(Op::AddColumn),
        1 => (0usize..4).prop_map(Op::DropColumn),
        1 => (0usize..4).prop_map(Op::RenameColumn),
        1 => Just(Op::Revert),
        2 => (0usize..20).prop_map(Op::TimeTravel),
        1 => Just(Op::Gc),
        1 => Just(Op::Compact),
    ]
}

/// One version of the model: column names in order, and key → values (one per column).
#[derive(Debug, Clone, PartialEq)]
struct State {
    columns: Vec<String>,
    rows: BTreeMap<u64, Vec<Option<i64>>>,
}

fn batch_of(columns: &[String], rows: &[Vec<Option<i64>>]) -> RecordBatch {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c, DataType::Int64, true))
            .collect::<Vec<_>>(),
    ));
    let arrays = (0..columns.len())
        .map(|i| {
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r[i]).collect::<Vec<_>>(),
            )) as Arc<dyn Array>
        })
        .collect();
    RecordBatch::try_new(schema, arrays).unwrap()
}

fn picked(state: &State, pick: u64) -> Vec<u64> {
    state
        .rows
        .keys()
        .enumerate()
        .filter(|(i, _)| pick >> (i % 64) & 1 == 1)
        .map(|(_, k)| *k)
        .collect()
}

async fn check(t: &Table, s: &State, version: Option<u64>) {
    let data = match version {
        Some(v) => t.scan_at(v).await.unwrap(),
        None => t.scan().await.unwrap(),
    };
    let names: Vec<String> = data
        .batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, s.columns, "columns at {version:?}");
    assert_eq!(
        data.keys,
        s.rows.keys().copied().collect::<Vec<_>>(),
        "keys at {version:?}"
    );
    let rows: Vec<Vec<Option<i64>>> = s.rows.values().cloned().collect();
    assert_eq!(
        data.batch,
        batch_of(&s.columns, &rows),
        "rows at {version:?}"
    );
}

/// Checks the diff from version `b - 1` (model `a`) to `b` (model `b_state`): applying it gives
/// `b`, and (when `exact` and the columns are the same) its modified keys are exactly the keys
/// whose values differ, so rows a compaction moved are never reported.
async fn check_diff(c: &Catalog, a: &State, b_state: &State, b: u64, exact: bool) {
    let t = c.open_table("m").await.unwrap();
    let u = t.diff(b - 1, b).await.unwrap();
    let sa = snapshot_at(c, "m", b - 1).await;
    let sb = snapshot_at(c, "m", b).await;
    if a.columns == b_state.columns {
        let applied = sa.apply(&u).unwrap();
        assert_eq!(
            (applied.key_vec(), applied.concat().unwrap()),
            (sb.key_vec(), sb.concat().unwrap()),
            "diff to {b} applies"
        );
        if exact {
            let changed: Vec<u64> = a
                .rows
                .iter()
                .filter(|(k, r)| b_state.rows.get(k).is_some_and(|r2| r2 != *r))
                .map(|(k, _)| *k)
                .collect();
            assert_eq!(
                u.modified_keys().to_vec(),
                changed,
                "modified keys of the diff to {b}"
            );
        }
    }
}

async fn run(store: Arc<dyn ObjectStore>, ops: Vec<Op>) {
    // Tiny file limits and every file small, so that inserts are cut into several files and
    // every explicit compaction merges: the model covers multi-file writes and compaction.
    // Background compaction is off so that versions follow the operations one to one.
    let options = CatalogOptions::default()
        .with_file_limits(2, usize::MAX)
        .with_compaction(u64::MAX, 2)
        .with_background_compaction(false);
    let c = Catalog::open_with_options(store, "", options);
    let t = c
        .create_table(
            "m",
            &table_schema(Arc::new(Schema::new(vec![Field::new(
                "c0",
                DataType::Int64,
                true,
            )]))),
        )
        .await
        .unwrap();
    let mut history: Vec<Option<State>> = vec![Some(State {
        columns: vec!["c0".into()],
        rows: BTreeMap::new(),
    })];
    let mut next_key = 0u64;
    let mut next_name = 1;
    for op in ops {
        let cur = history.last().unwrap().clone().unwrap();
        let mut new = cur.clone();
        // A one-step update reports its named columns for the rows it selected, even where a
        // value stays the same; every other diff reports exactly the rows whose values changed.
        let exact = !matches!(op, Op::Update { .. });
        let committed = match op {
            Op::Insert(values) => {
                let rows: Vec<Vec<Option<i64>>> = values
                    .iter()
                    .map(|v| vec![Some(*v); cur.columns.len()])
                    .collect();
                t.insert(&batch_of(&cur.columns, &rows)).await.unwrap();
                for r in rows {
                    new.rows.insert(next_key, r);
                    next_key += 1;
                }
                true
            }
            Op::Update {
                pick,
                column,
                value,
            } => {
                let keys = picked(&cur, pick);
                if keys.is_empty() {
                    false
                } else {
                    let col = column % cur.columns.len();
                    let b = batch_of(&cur.columns[col..=col], &[vec![value]]);
                    t.update(
                        &Selection::Keys(keys.iter().copied().collect::<RowSet>()),
                        &b,
                    )
                    .await
                    .unwrap();
                    for k in keys {
                        new.rows.get_mut(&k).unwrap()[col] = value;
                    }
                    true
                }
            }
            Op::Delete { pick } => {
                let keys = picked(&cur, pick);
                if keys.is_empty() {
                    false
                } else {
                    t.delete(&Selection::Keys(keys.iter().copied().collect::<RowSet>()))
                        .await
                        .unwrap();
                    for k in keys {
                        new.rows.remove(&k);
                    }
                    true
                }
            }
            Op::AddColumn => {
                let name = format!("n{next_name}");
                next_name += 1;
                t.add_column(Field::new(&name, DataType::Int64, true))
                    .await
                    .unwrap();
                new.columns.push(name);
                for r in new.rows.values_mut() {
                    r.push(None);
                }
                true
            }
            Op::DropColumn(i) => {
                if cur.columns.len() < 2 {
                    false
                } else {
                    let i = i % cur.columns.len();
                    t.drop_column(&cur.columns[i]).await.unwrap();
                    new.columns.remove(i);
                    for r in new.rows.values_mut() {
                        r.remove(i);
                    }
                    true
                }
            }
            Op::RenameColumn(i) => {
                let i = i % cur.columns.len();
                let name = format!("r{next_name}");
                next_name += 1;
                t.rename_column(&cur.columns[i], &name).await.unwrap();
                new.columns[i] = name;
                true
            }
            Op::Revert => {
                let v = history.len() - 1;
                if v == 0 {
                    assert!(matches!(
                        t.revert().await.unwrap_err(),
                        StorageError::InvalidArgument { .. }
                    ));
                    false
                } else {
                    match &history[v - 1] {
                        None => {
                            assert!(matches!(
                                t.revert().await.unwrap_err(),
                                StorageError::VersionExpired { .. }
                            ));
                            false
                        }
                        Some(parent) => {
                            t.revert().await.unwrap();
                            new = parent.clone();
                            true
                        }
                    }
                }
            }
            Op::TimeTravel(i) => {
                let v = i % history.len();
                match &history[v] {
                    Some(s) => check(&t, s, Some(v as u64)).await,
                    None => assert!(matches!(
                        t.scan_at(v as u64).await.unwrap_err(),
                        StorageError::VersionExpired { .. }
                    )),
                }
                false
            }
            Op::Compact => {
                let before = t.version();
                t.compact().await.unwrap() > before
            }
            Op::Gc => {
                c.gc_table(t.path(), &GcOptions::new(Duration::ZERO, Duration::ZERO))
                    .await
                    .unwrap();
                let n = history.len();
                for h in &mut history[..n - 1] {
                    *h = None;
                }
                false
            }
        };
        if committed {
            history.push(Some(new.clone()));
            let b = history.len() as u64 - 1;
            check_diff(&c, &cur, &new, b, exact).await;
        }
        assert_eq!(t.version(), history.len() as u64 - 1);
        check(&t, history.last().unwrap().as_ref().unwrap(), None).await;
    }
    // A fresh handle agrees.
    let fresh = c.open_table("m").await.unwrap();
    check(&fresh, history.last().unwrap().as_ref().unwrap(), None).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    // Guards the whole engine against the model: scans, time travel, revert and GC agree.
    #[test]
    fn engine_matches_model(ops in prop::collection::vec(op(), 1..16)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for (_name, store, _dir) in stores() {
            rt.block_on(run(store, ops.clone()));
        }
    }
}
