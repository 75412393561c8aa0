//! Property tests of the table model against a plain model: a `BTreeMap` from row key to row.
//!
//! The unit tests pin down individual cases; these check the guarantees the rest of the
//! workspace builds on, over random sequences of valid updates (removals of existing keys,
//! additions under fresh and reused keys including remove-and-re-add in one step, per-column
//! changes, appends):
//!
//! 1. a live table equals the model after every step;
//! 2. a subscriber started at any step, applying what it receives to its snapshot, reproduces
//!    the table at every later step (also reading only every few steps);
//! 3. coalescing any contiguous run of updates equals applying them in turn, and coalescing is
//!    associative;
//! 4. a subscriber that reads too rarely for the ring still ends equal to the table, through
//!    resyncs that the test checks did happen;
//! 5. projection commutes with applying;
//! 6. a blink table holds exactly the last step's rows;
//! 7. a reader resuming from any step it held (`subscribe_from`) ends equal to the table,
//!    through coalescing while the steps are in reach and a reset otherwise;
//! 8. schema changes (a column renamed and renamed back, between random updates) reach every
//!    subscriber as events, whatever its capacity and reading pace, and its copy stays equal
//!    to the table.
//!
//! Every table here is cut into chunks of at most [`MAX_ROWS`] rows, so that nearly every step
//! splits or merges chunks; [`chunks_split_and_merge_under_random_updates`] checks that they do,
//! and every property checks positions (rank and select) against the model.

// Test code: a failed unwrap is a test failure with a clear message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use tableshare_core::{
    AddedRows, ChunkBounds, ChunkStats, ColumnChange, LiveTable, LiveTableOptions, RowKey, RowSet,
    Snapshot, Step, SubscribeOptions, TableEvent, TableSchema, TableUpdate,
};

// ---------------------------------------------------------------------------------------------
// The plain model.

#[derive(Clone, Debug, PartialEq)]
struct Row {
    id: i64,
    name: Option<String>,
    value: Option<f64>,
}

type Model = BTreeMap<RowKey, Row>;

const COLUMNS: [&str; 3] = ["id", "name", "value"];

/// Explicitly chosen keys come from this small range so that keys get reused; appended keys
/// start above the largest key ever used.
const KEY_SPACE: u64 = 40;

/// The largest chunk of every table and snapshot in these tests: small, so that random updates
/// split and merge chunks all the time.
const MAX_ROWS: usize = 4;

fn bounds() -> ChunkBounds {
    ChunkBounds::new(MAX_ROWS)
}

fn options() -> LiveTableOptions {
    LiveTableOptions::default().with_chunk_bounds(bounds())
}

fn empty() -> Snapshot {
    Snapshot::empty(schema()).with_chunk_bounds(bounds())
}

/// Checks the chunk layout, rank/select and pages by position of `snapshot` against its keys.
fn check_positions(snapshot: &Snapshot) -> Result<(), TestCaseError> {
    prop_assert!(
        snapshot
            .chunks()
            .all(|c| c.num_rows() > 0 && c.num_rows() <= MAX_ROWS)
    );
    let keys = snapshot.key_vec();
    prop_assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
    for (position, key) in keys.iter().enumerate() {
        prop_assert_eq!(snapshot.position_of(*key), Some(position));
        prop_assert_eq!(snapshot.key_at(position), Some(*key));
    }
    prop_assert_eq!(snapshot.key_at(keys.len()), None);
    for start in 0..=keys.len() {
        let end = (start + 3).min(keys.len());
        let page: Vec<RowKey> = snapshot
            .rows_at(start..start + 3)
            .flat_map(|(page, _)| page.to_vec())
            .collect();
        prop_assert_eq!(&page[..], &keys[start..end], "rows_at({}..)", start);
    }
    prop_assert_eq!(snapshot.position_of(KEY_SPACE * 1000), None);
    Ok(())
}

fn schema() -> TableSchema {
    let arrow = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]);
    TableSchema::new(Arc::new(arrow), ["id"]).unwrap()
}

fn batch<'a>(rows: impl IntoIterator<Item = &'a Row>) -> RecordBatch {
    let rows: Vec<&Row> = rows.into_iter().collect();
    RecordBatch::try_new(
        schema().arrow().clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))),
            Arc::new(rows.iter().map(|r| r.name.clone()).collect::<StringArray>()),
            Arc::new(rows.iter().map(|r| r.value).collect::<Float64Array>()),
        ],
    )
    .unwrap()
}

/// The rows of a snapshot with any subset of the columns; absent columns read as defaults.
fn rows_of(snapshot: &Snapshot) -> Model {
    let batch = snapshot.concat().unwrap();
    let id = batch
        .column_by_name("id")
        .map(|c| c.as_primitive::<Int64Type>().clone());
    let name = batch
        .column_by_name("name")
        .map(|c| c.as_string::<i32>().clone());
    let value = batch
        .column_by_name("value")
        .map(|c| c.as_primitive::<Float64Type>().clone());
    snapshot
        .keys()
        .enumerate()
        .map(|(i, key)| {
            let row = Row {
                id: id.as_ref().map_or(0, |a| a.value(i)),
                name: name
                    .as_ref()
                    .and_then(|a| a.is_valid(i).then(|| a.value(i).to_owned())),
                value: value
                    .as_ref()
                    .and_then(|a| a.is_valid(i).then(|| a.value(i))),
            };
            (key, row)
        })
        .collect()
}

/// The model restricted to `columns`, in the same defaults-for-absent form as [`rows_of`].
fn project_model(model: &Model, columns: &[&str]) -> Model {
    model
        .iter()
        .map(|(key, row)| {
            let row = Row {
                id: if columns.contains(&"id") { row.id } else { 0 },
                name: if columns.contains(&"name") {
                    row.name.clone()
                } else {
                    None
                },
                value: if columns.contains(&"value") {
                    row.value
                } else {
                    None
                },
            };
            (*key, row)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Random plans, interpreted against the model into valid updates.

#[derive(Clone, Debug)]
enum NewValue {
    Id(i64),
    Name(Option<String>),
    Value(Option<f64>),
}

#[derive(Clone, Debug)]
enum Op {
    /// Remove existing rows, add rows under chosen keys (fresh, reused, or removed in this same
    /// step), and change single columns of rows that stay.
    Change {
        removals: Vec<Index>,
        additions: Vec<(u64, Row)>,
        changes: Vec<(Index, NewValue)>,
    },
    /// Add rows under keys the table assigns.
    Append(Vec<Row>),
}

fn row() -> impl Strategy<Value = Row> {
    (
        -50i64..50,
        proptest::option::of("[a-c]{0,3}"),
        proptest::option::of((-100i32..100).prop_map(|v| f64::from(v) / 4.0)),
    )
        .prop_map(|(id, name, value)| Row { id, name, value })
}

fn new_value() -> impl Strategy<Value = NewValue> {
    prop_oneof![
        (-50i64..50).prop_map(NewValue::Id),
        proptest::option::of("[x-z]{1,2}").prop_map(NewValue::Name),
        proptest::option::of(-10i32..10).prop_map(|v| NewValue::Value(v.map(f64::from))),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (
            proptest::collection::vec(any::<Index>(), 0..4),
            proptest::collection::vec((0..KEY_SPACE, row()), 0..5),
            proptest::collection::vec((any::<Index>(), new_value()), 0..5),
        )
            .prop_map(|(removals, additions, changes)| Op::Change { removals, additions, changes }),
        1 => proptest::collection::vec(row(), 0..4).prop_map(Op::Append),
    ]
}

fn ops(steps: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), steps)
}

/// One planned step made concrete: the update (producing `step`) and the model after it.
#[derive(Clone, Debug)]
struct Planned {
    update: TableUpdate,
    after: Model,
    /// For appends: the rows, to drive `LiveTable::append` instead of `apply`.
    appended: Option<Vec<Row>>,
}

/// Interprets `op` against `model` (whose largest key ever is tracked by `next_key`).
fn plan(op: &Op, model: &Model, next_key: &mut RowKey, step: Step) -> Planned {
    let existing: Vec<RowKey> = model.keys().copied().collect();
    let mut after = model.clone();
    let mut removed = BTreeSet::new();
    let mut added: BTreeMap<RowKey, Row> = BTreeMap::new();
    let mut changes: BTreeMap<&str, BTreeMap<RowKey, NewValue>> = BTreeMap::new();
    let mut appended = None;
    match op {
        Op::Change {
            removals,
            additions,
            changes: planned,
        } => {
            if !existing.is_empty() {
                removed.extend(removals.iter().map(|i| existing[i.index(existing.len())]));
            }
            for key in &removed {
                after.remove(key);
            }
            let remaining: Vec<RowKey> = after.keys().copied().collect();
            for (key, row) in additions {
                if !after.contains_key(key) {
                    added.insert(*key, row.clone());
                }
            }
            if !remaining.is_empty() {
                for (index, value) in planned {
                    let key = remaining[index.index(remaining.len())];
                    let column = match value {
                        NewValue::Id(_) => "id",
                        NewValue::Name(_) => "name",
                        NewValue::Value(_) => "value",
                    };
                    changes
                        .entry(column)
                        .or_default()
                        .insert(key, value.clone());
                }
            }
        }
        Op::Append(rows) => {
            for row in rows {
                added.insert(*next_key + added.len() as u64, row.clone());
            }
            appended = Some(rows.clone());
        }
    }
    if let Some(last) = added.keys().last() {
        *next_key = (*next_key).max(last + 1);
    }
    for (key, row) in &added {
        after.insert(*key, row.clone());
    }
    let mut column_changes = Vec::new();
    for (column, values) in &changes {
        let keys: Vec<RowKey> = values.keys().copied().collect();
        let array: ArrayRef = match *column {
            "id" => Arc::new(Int64Array::from_iter_values(values.values().map(
                |v| match v {
                    NewValue::Id(id) => *id,
                    _ => unreachable!(),
                },
            ))),
            "name" => Arc::new(
                values
                    .values()
                    .map(|v| match v {
                        NewValue::Name(name) => name.clone(),
                        _ => unreachable!(),
                    })
                    .collect::<StringArray>(),
            ),
            _ => Arc::new(
                values
                    .values()
                    .map(|v| match v {
                        NewValue::Value(value) => *value,
                        _ => unreachable!(),
                    })
                    .collect::<Float64Array>(),
            ),
        };
        for (key, value) in values {
            let row = after.get_mut(key).unwrap();
            match value {
                NewValue::Id(id) => row.id = *id,
                NewValue::Name(name) => row.name = name.clone(),
                NewValue::Value(v) => row.value = *v,
            }
        }
        column_changes.push(ColumnChange::new(*column, keys, array).unwrap());
    }
    let added_rows =
        AddedRows::new(added.keys().copied().collect(), batch(added.values())).unwrap();
    let update = TableUpdate::new(
        step,
        removed.into_iter().collect(),
        added_rows,
        column_changes,
    )
    .unwrap();
    Planned {
        update,
        after,
        appended,
    }
}

/// Plans every op in turn from the empty table: step `i + 1` is `result[i]`.
fn plan_all(ops: &[Op]) -> Vec<Planned> {
    let mut model = Model::new();
    let mut next_key = 0;
    let mut planned = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let step = plan(op, &model, &mut next_key, i as Step + 1);
        model = step.after.clone();
        planned.push(step);
    }
    planned
}

/// Drives `table` through one planned step (appends through `append`, the rest via `apply`).
fn drive(table: &LiveTable, planned: &Planned) -> Step {
    match &planned.appended {
        Some(rows) => table.append(batch(rows)).unwrap(),
        None => table.apply(planned.update.clone()).unwrap(),
    }
}

/// [`schema`] with `value` renamed to `price`.
fn renamed() -> TableSchema {
    let arrow = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("price", DataType::Float64, true),
    ]);
    TableSchema::new(Arc::new(arrow), ["id"]).unwrap()
}

/// [`drive`] for a table whose `value` column is currently named `price`.
fn drive_renamed(table: &LiveTable, planned: &Planned) -> Step {
    let relabel = |batch: &RecordBatch| {
        RecordBatch::try_new(renamed().arrow().clone(), batch.columns().to_vec()).unwrap()
    };
    if let Some(rows) = &planned.appended {
        return table.append(relabel(&batch(rows))).unwrap();
    }
    let (_, removed, added, changes) = planned.update.clone().into_parts();
    let (keys, rows) = added.into_parts();
    let changes = changes
        .into_iter()
        .map(|change| {
            let (column, keys, values) = change.into_parts();
            let column = if column == "value" {
                "price".to_owned()
            } else {
                column
            };
            ColumnChange::new(column, keys, values).unwrap()
        })
        .collect();
    let added = AddedRows::new(keys, relabel(&rows)).unwrap();
    table
        .apply(TableUpdate::new(0, removed, added, changes).unwrap())
        .unwrap()
}

/// The state before step `step` (0-based index into `planned`), as a snapshot.
fn state_before(planned: &[Planned], index: usize) -> Snapshot {
    let mut snapshot = empty();
    for p in &planned[..index] {
        snapshot = snapshot.apply(&p.update).unwrap();
    }
    snapshot
}

fn coalesce_run(run: &[Planned]) -> TableUpdate {
    let mut updates = run.iter().map(|p| p.update.clone());
    let first = updates.next().unwrap();
    updates.fold(first, |acc, next| acc.coalesce(next).unwrap())
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(128)
}

// ---------------------------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(config())]

    /// 1. A live table equals the model after every step.
    #[test]
    fn live_table_follows_the_model(ops in ops(1..32)) {
        let table = LiveTable::new(schema(), options());
        for (i, planned) in plan_all(&ops).iter().enumerate() {
            prop_assert_eq!(drive(&table, planned), i as Step + 1);
            let snapshot = table.snapshot().unwrap();
            prop_assert_eq!(snapshot.step(), i as Step + 1);
            prop_assert_eq!(rows_of(&snapshot), planned.after.clone());
            check_positions(&snapshot)?;
        }
    }

    /// 2. A subscriber started at any step reproduces the table at every later step, whether
    ///    it reads after every step or only every few (receiving coalesced updates).
    #[test]
    fn subscribers_reproduce_the_table(
        ops in ops(1..24),
        start in any::<Index>(),
        read_every in 1usize..4,
    ) {
        let planned = plan_all(&ops);
        let start = start.index(planned.len() + 1);
        let table = LiveTable::new(schema(), options());
        for p in &planned[..start] {
            drive(&table, p);
        }
        let (mut mirror, mut subscription) = table.subscribe().unwrap();
        prop_assert_eq!(mirror.step(), start as Step);
        for (i, p) in planned[start..].iter().enumerate() {
            drive(&table, p);
            if (i + 1) % read_every == 0 {
                let update = subscription.try_next().unwrap().unwrap();
                prop_assert_eq!(update.step(), table.step(), "no gap, no stale step");
                mirror = update.apply_to(&mirror).unwrap();
                prop_assert_eq!(&mirror, &table.snapshot().unwrap());
                prop_assert_eq!(rows_of(&mirror), p.after.clone());
                check_positions(&mirror)?;
            }
        }
        if let Some(update) = subscription.try_next() {
            mirror = update.unwrap().apply_to(&mirror).unwrap();
        }
        prop_assert!(subscription.try_next().is_none(), "no duplicate");
        prop_assert_eq!(&mirror, &table.snapshot().unwrap());
        prop_assert_eq!(subscription.resyncs(), 0);
    }

    /// 3. Coalescing any contiguous run equals applying it in turn; coalescing is associative
    ///    (both in effect and as a value).
    #[test]
    fn coalescing_equals_applying_in_turn(
        ops in ops(1..16),
        a in any::<Index>(),
        b in any::<Index>(),
    ) {
        let planned = plan_all(&ops);
        let (mut i, mut j) = (a.index(planned.len()), b.index(planned.len()));
        if i > j {
            std::mem::swap(&mut i, &mut j);
        }
        let before = state_before(&planned, i);
        let run = coalesce_run(&planned[i..=j]);
        prop_assert_eq!(run.step(), j as Step + 1);
        run.validate_against(&before.to_key_set()).unwrap();
        let after = before.apply(&run).unwrap();
        prop_assert_eq!(rows_of(&after), planned[j].after.clone());
        prop_assert_eq!(&after, &state_before(&planned, j + 1));
    }

    #[test]
    fn coalescing_is_associative(
        ops in ops(3..16),
        cuts in proptest::array::uniform3(any::<Index>()),
    ) {
        let planned = plan_all(&ops);
        let n = planned.len();
        // Three consecutive non-empty runs [a, b), [b, c), [c, d) with d <= n.
        let b = 1 + cuts[0].index(n - 2);
        let c = b + 1 + cuts[1].index(n - b - 1);
        let d = c + 1 + cuts[2].index(n - c);
        let a = cuts[2].index(b);
        let (x, y, z) = (
            coalesce_run(&planned[a..b]),
            coalesce_run(&planned[b..c]),
            coalesce_run(&planned[c..d]),
        );
        let left = x.clone().coalesce(y.clone()).unwrap().coalesce(z.clone()).unwrap();
        let right = x.coalesce(y.coalesce(z).unwrap()).unwrap();
        let before = state_before(&planned, a);
        prop_assert_eq!(before.apply(&left).unwrap(), before.apply(&right).unwrap());
        prop_assert_eq!(left, right);
    }

    /// 4. A subscriber too slow for its ring still ends equal to the table, and the lag path
    ///    (resync from a snapshot) is taken: with a ring of 2 and reads every 3 or more steps,
    ///    every read after a full interval finds the ring overwritten.
    #[test]
    fn slow_subscribers_resync_and_end_equal(
        ops in ops(8..24),
        start in 0usize..4,
        read_every in 3usize..6,
    ) {
        let planned = plan_all(&ops);
        let table = LiveTable::new(schema(), options());
        for p in &planned[..start] {
            drive(&table, p);
        }
        let subscribe = SubscribeOptions::default().with_capacity(2);
        let (mut mirror, mut subscription) = table.subscribe_with(subscribe).unwrap();
        for (i, p) in planned[start..].iter().enumerate() {
            drive(&table, p);
            if (i + 1) % read_every == 0 {
                let update = subscription.try_next().unwrap().unwrap();
                mirror = update.apply_to(&mirror).unwrap();
                prop_assert_eq!(&mirror, &table.snapshot().unwrap());
                check_positions(&mirror)?;
            }
        }
        if let Some(update) = subscription.try_next() {
            mirror = update.unwrap().apply_to(&mirror).unwrap();
        }
        prop_assert_eq!(&mirror, &table.snapshot().unwrap());
        prop_assert_eq!(rows_of(&mirror), planned.last().unwrap().after.clone());
        prop_assert!(subscription.resyncs() > 0, "the lag path was exercised");
    }

    /// 5. Projection commutes with applying, for any column subset in any order.
    #[test]
    fn projection_commutes_with_applying(
        ops in ops(1..12),
        columns in proptest::sample::subsequence(COLUMNS.to_vec(), 0..=3).prop_shuffle(),
    ) {
        let planned = plan_all(&ops);
        let mut state = empty();
        for p in &planned {
            let after = state.apply(&p.update).unwrap();
            let projected_after = after.project(&columns).unwrap();
            let projected_update = p.update.project(&columns).unwrap();
            let via_projection = state.project(&columns).unwrap().apply(&projected_update).unwrap();
            prop_assert_eq!(&projected_after, &via_projection);
            prop_assert_eq!(rows_of(&via_projection), project_model(&p.after, &columns));
            state = after;
        }
    }

    /// 6. A blink table holds exactly the rows its last step added, and its subscribers see
    ///    the same through ordinary updates.
    #[test]
    fn blink_tables_hold_the_last_step(additions in proptest::collection::vec(
        prop_oneof![
            proptest::collection::vec((0..KEY_SPACE, row()), 0..5).prop_map(Some),
            Just(None),
        ],
        1..16,
    ), rows in proptest::collection::vec(row(), 0..4)) {
        let table = LiveTable::new(schema(), options().with_blink(true));
        let (mut mirror, mut subscription) = table.subscribe().unwrap();
        for explicit in &additions {
            let expected: Model = match explicit {
                // Explicit keys, possibly the ones the previous step held.
                Some(keyed) => {
                    let added: Model = keyed.iter().cloned().collect();
                    let keys = added.keys().copied().collect();
                    let rows = AddedRows::new(keys, batch(added.values())).unwrap();
                    let update = TableUpdate::new(0, RowSet::new(), rows, Vec::new()).unwrap();
                    table.apply(update).unwrap();
                    added
                }
                // Appended under fresh keys.
                None => {
                    let first = table.next_key();
                    table.append(batch(&rows)).unwrap();
                    (first..).zip(rows.iter().cloned()).collect()
                }
            };
            let snapshot = table.snapshot().unwrap();
            prop_assert_eq!(rows_of(&snapshot), expected);
            let update = subscription.try_next().unwrap().unwrap().into_update().unwrap();
            prop_assert_eq!(update.removed(), &mirror.to_key_set());
            mirror = mirror.apply(&update).unwrap();
            prop_assert_eq!(&mirror, &snapshot);
        }
    }

    /// 7. A reader that holds the table at any step and resumes with `subscribe_from` (any
    ///    capacity, any history) ends equal to the table: coalescing while the missed steps are
    ///    in reach, one reset otherwise, and reading on as the table moves.
    #[test]
    fn resumed_readers_end_equal(
        ops in ops(2..24),
        held in any::<Index>(),
        capacity in 1usize..6,
        history in 1usize..8,
        later in 0usize..4,
    ) {
        let planned = plan_all(&ops);
        let later = later.min(planned.len() - 1);
        let (now, rest) = planned.split_at(planned.len() - later);
        let table = LiveTable::new(schema(), options().with_history_capacity(history));
        let mut snapshots = vec![table.snapshot().unwrap()];
        for p in now {
            drive(&table, p);
            snapshots.push(table.snapshot().unwrap());
        }
        let held = held.index(snapshots.len());
        let mut mirror = snapshots[held].clone();
        let options = SubscribeOptions::default().with_capacity(capacity);
        let mut subscription = table.subscribe_from(held as Step, options).unwrap();
        let missed = now.len() - held;
        let in_reach = missed <= capacity.min(history);
        for p in rest {
            drive(&table, p);
        }
        while let Some(event) = subscription.try_next() {
            mirror = event.unwrap().apply_to(&mirror).unwrap();
        }
        prop_assert_eq!(&mirror, &table.snapshot().unwrap());
        check_positions(&mirror)?;
        if in_reach && missed + rest.len() <= capacity.min(history) {
            prop_assert_eq!(subscription.resyncs(), 0);
        }
        if !in_reach {
            prop_assert_eq!(subscription.resyncs(), 1);
        }
    }

    /// 8. Schema changes are events in the stream: with a column renamed (and renamed back two
    ///    steps later) at random steps, a subscriber of any capacity reading at any pace applies
    ///    what it receives and stays equal to the table.
    #[test]
    fn schema_changes_reach_subscribers(
        ops in ops(1..16),
        renames in proptest::collection::btree_set(0usize..16, 0..4),
        capacity in 1usize..6,
        read_every in 1usize..4,
    ) {
        let planned = plan_all(&ops);
        let table = LiveTable::new(schema(), options());
        let subscribe = SubscribeOptions::default().with_capacity(capacity);
        let (mut mirror, mut subscription) = table.subscribe_with(subscribe).unwrap();
        let mut changes = 0;
        for (i, p) in planned.iter().enumerate() {
            if renames.contains(&i) {
                table.change_schema(renamed(), &[("value", "price")]).unwrap();
                drive_renamed(&table, p);
                table.change_schema(schema(), &[("price", "value")]).unwrap();
            } else {
                drive(&table, p);
            }
            if (i + 1) % read_every == 0 {
                while let Some(event) = subscription.try_next() {
                    let event = event.unwrap();
                    if let TableEvent::SchemaChange(change) = &event {
                        changes += 1;
                        let renamed = change.renames();
                        prop_assert!(renamed.len() <= 1, "{:?}", renamed);
                    }
                    mirror = event.apply_to(&mirror).unwrap();
                }
                prop_assert_eq!(&mirror, &table.snapshot().unwrap());
            }
        }
        while let Some(event) = subscription.try_next() {
            mirror = event.unwrap().apply_to(&mirror).unwrap();
        }
        prop_assert_eq!(&mirror, &table.snapshot().unwrap());
        prop_assert_eq!(rows_of(&mirror), planned.last().unwrap().after.clone());
        if !renames.iter().any(|i| *i < planned.len()) {
            prop_assert_eq!(changes, 0);
        }
    }
}

/// The size rules are exercised, not just present: over many random update sequences on tables
/// with chunks of at most [`MAX_ROWS`] rows, chunks split and merge, and every table still
/// equals the model. Runs with a fixed seed, so the counts are reproducible.
#[test]
fn chunks_split_and_merge_under_random_updates() {
    let mut runner = TestRunner::deterministic();
    let strategy = ops(16..48);
    let mut total = ChunkStats::default();
    for _ in 0..64 {
        let ops = strategy.new_tree(&mut runner).unwrap().current();
        let table = LiveTable::new(schema(), options());
        let planned = plan_all(&ops);
        for p in &planned {
            drive(&table, p);
        }
        if let Some(last) = planned.last() {
            assert_eq!(rows_of(&table.snapshot().unwrap()), last.after);
        }
        total.add(table.chunk_stats());
    }
    assert!(total.splits > 0, "no chunk was ever split: {total:?}");
    assert!(total.merges > 0, "no chunks were ever merged: {total:?}");
}
