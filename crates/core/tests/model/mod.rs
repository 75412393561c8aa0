//! The plain model the property tests compare against (a `BTreeMap` from row key to row), the
//! random plans interpreted against it into valid updates, and the helpers that drive a live
//! table through them. Kept apart from `properties.rs` so that file holds the properties only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use proptest::prelude::*;
use proptest::sample::Index;
use tableshare_core::{
    AddedRows, ChunkBounds, ColumnChange, LiveTable, LiveTableOptions, RowKey, Snapshot, Step,
    TableSchema, TableUpdate,
};

// ---------------------------------------------------------------------------------------------
// The plain model.

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    pub(crate) id: i64,
    pub(crate) name: Option<String>,
    pub(crate) value: Option<f64>,
}

pub(crate) type Model = BTreeMap<RowKey, Row>;

pub(crate) const COLUMNS: [&str; 3] = ["id", "name", "value"];

/// Explicitly chosen keys come from this small range so that keys get reused; appended keys
/// start above the largest key ever used.
pub(crate) const KEY_SPACE: u64 = 40;

/// The largest chunk of every table and snapshot in these tests: small, so that random updates
/// split and merge chunks all the time.
pub(crate) const MAX_ROWS: usize = 4;

pub(crate) fn bounds() -> ChunkBounds {
    ChunkBounds::new(MAX_ROWS)
}

pub(crate) fn options() -> LiveTableOptions {
    LiveTableOptions::default().with_chunk_bounds(bounds())
}

pub(crate) fn empty() -> Snapshot {
    Snapshot::empty(schema()).with_chunk_bounds(bounds())
}

/// Checks the chunk layout, rank/select and pages by position of `snapshot` against its keys.
pub(crate) fn check_positions(snapshot: &Snapshot) -> Result<(), TestCaseError> {
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

pub(crate) fn schema() -> TableSchema {
    let arrow = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]);
    TableSchema::new(Arc::new(arrow), ["id"]).unwrap()
}

pub(crate) fn batch<'a>(rows: impl IntoIterator<Item = &'a Row>) -> RecordBatch {
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
pub(crate) fn rows_of(snapshot: &Snapshot) -> Model {
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
pub(crate) fn project_model(model: &Model, columns: &[&str]) -> Model {
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
pub(crate) enum NewValue {
    Id(i64),
    Name(Option<String>),
    Value(Option<f64>),
}

#[derive(Clone, Debug)]
pub(crate) enum Op {
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

pub(crate) fn row() -> impl Strategy<Value = Row> {
    (
        -50i64..50,
        proptest::option::of("[a-c]{0,3}"),
        proptest::option::of((-100i32..100).prop_map(|v| f64::from(v) / 4.0)),
    )
        .prop_map(|(id, name, value)| Row { id, name, value })
}

pub(crate) fn new_value() -> impl Strategy<Value = NewValue> {
    prop_oneof![
        (-50i64..50).prop_map(NewValue::Id),
        proptest::option::of("[x-z]{1,2}").prop_map(NewValue::Name),
        proptest::option::of(-10i32..10).prop_map(|v| NewValue::Value(v.map(f64::from))),
    ]
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
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

pub(crate) fn ops(steps: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), steps)
}

/// One planned step made concrete: the update (producing `step`) and the model after it.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub(crate) update: TableUpdate,
    pub(crate) after: Model,
    /// For appends: the rows, to drive `LiveTable::append` instead of `apply`.
    pub(crate) appended: Option<Vec<Row>>,
}

/// Interprets `op` against `model` (whose largest key ever is tracked by `next_key`).
pub(crate) fn plan(op: &Op, model: &Model, next_key: &mut RowKey, step: Step) -> Planned {
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
    // Every other step holds its added keys as runs of consecutive keys (as a data-service
    // location's or a remote snapshot's rows are), so each property covers both ways keys are
    // held, and chunks of both kinds meet in splits and merges.
    let added_rows = if step.is_multiple_of(2) {
        let mut runs: Vec<std::ops::Range<RowKey>> = Vec::new();
        for key in added.keys() {
            match runs.last_mut() {
                Some(run) if run.end == *key => run.end += 1,
                _ => runs.push(*key..key + 1),
            }
        }
        let schema = batch(added.values()).schema();
        AddedRows::from_key_ranges(schema, runs, vec![batch(added.values())]).unwrap()
    } else {
        AddedRows::new(added.keys().copied().collect(), batch(added.values())).unwrap()
    };
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
pub(crate) fn plan_all(ops: &[Op]) -> Vec<Planned> {
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
pub(crate) fn drive(table: &LiveTable, planned: &Planned) -> Step {
    match &planned.appended {
        Some(rows) => table.append(batch(rows)).unwrap(),
        None => table.apply(planned.update.clone()).unwrap(),
    }
}

/// [`schema`] with `value` renamed to `price`.
pub(crate) fn renamed() -> TableSchema {
    let arrow = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("price", DataType::Float64, true),
    ]);
    TableSchema::new(Arc::new(arrow), ["id"]).unwrap()
}

/// [`drive`] for a table whose `value` column is currently named `price`.
pub(crate) fn drive_renamed(table: &LiveTable, planned: &Planned) -> Step {
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
pub(crate) fn state_before(planned: &[Planned], index: usize) -> Snapshot {
    let mut snapshot = empty();
    for p in &planned[..index] {
        snapshot = snapshot.apply(&p.update).unwrap();
    }
    snapshot
}

pub(crate) fn coalesce_run(run: &[Planned]) -> TableUpdate {
    let mut updates = run.iter().map(|p| p.update.clone());
    let first = updates.next().unwrap();
    updates.fold(first, |acc, next| acc.coalesce(next).unwrap())
}

pub(crate) fn config() -> ProptestConfig {
    ProptestConfig::with_cases(128)
}
