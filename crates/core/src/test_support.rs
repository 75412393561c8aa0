//! Small-table builders shared by the unit tests: one schema (`id` Int64 not null, `name` Utf8,
//! `value` Float64) and rows written as tuples, so a test reads as data.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use crate::{AddedRows, ColumnChange, RowKey, RowSet, Snapshot, Step, TableSchema, TableUpdate};

/// A row as written in tests: key, id, name, value.
pub(crate) type Row = (RowKey, i64, Option<&'static str>, Option<f64>);

/// A row as read back from a batch.
pub(crate) type OwnedRow = (RowKey, i64, Option<String>, Option<f64>);

pub(crate) fn schema() -> TableSchema {
    let arrow = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]);
    TableSchema::new(Arc::new(arrow), ["id"]).unwrap()
}

/// The rows' values (without keys) as a batch of [`schema`].
pub(crate) fn batch(rows: &[Row]) -> RecordBatch {
    RecordBatch::try_new(
        schema().arrow().clone(),
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

pub(crate) fn keys(rows: &[Row]) -> Vec<RowKey> {
    rows.iter().map(|r| r.0).collect()
}

pub(crate) fn added(rows: &[Row]) -> AddedRows {
    AddedRows::new(keys(rows), batch(rows)).unwrap()
}

pub(crate) fn snapshot(step: Step, rows: &[Row]) -> Snapshot {
    Snapshot::new(schema(), step, keys(rows), batch(rows)).unwrap()
}

pub(crate) fn set(keys: &[RowKey]) -> RowSet {
    keys.iter().copied().collect()
}

pub(crate) fn update(
    step: Step,
    removed: &[RowKey],
    rows: &[Row],
    changes: Vec<ColumnChange>,
) -> TableUpdate {
    TableUpdate::new(step, set(removed), added(rows), changes).unwrap()
}

pub(crate) fn ids(keys: &[RowKey], values: &[i64]) -> ColumnChange {
    ColumnChange::new(
        "id",
        keys.to_vec(),
        Arc::new(Int64Array::from(values.to_vec())),
    )
    .unwrap()
}

pub(crate) fn names(keys: &[RowKey], values: &[Option<&str>]) -> ColumnChange {
    ColumnChange::new(
        "name",
        keys.to_vec(),
        Arc::new(StringArray::from(values.to_vec())),
    )
    .unwrap()
}

pub(crate) fn values(keys: &[RowKey], values: &[Option<f64>]) -> ColumnChange {
    ColumnChange::new(
        "value",
        keys.to_vec(),
        Arc::new(Float64Array::from(values.to_vec())),
    )
    .unwrap()
}

/// The rows of a full-schema batch labelled by `keys`.
pub(crate) fn rows_of(keys: &[RowKey], batch: &RecordBatch) -> Vec<OwnedRow> {
    let id = batch
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let name = batch.column_by_name("name").unwrap().as_string::<i32>();
    let value = batch
        .column_by_name("value")
        .unwrap()
        .as_primitive::<Float64Type>();
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let name = name.is_valid(i).then(|| name.value(i).to_owned());
            let value = value.is_valid(i).then(|| value.value(i));
            (*key, id.value(i), name, value)
        })
        .collect()
}

/// The rows of a snapshot.
pub(crate) fn snapshot_rows(snapshot: &Snapshot) -> Vec<OwnedRow> {
    rows_of(&snapshot.key_vec(), &snapshot.concat().unwrap())
}

/// Rows written as tuples, owned.
pub(crate) fn owned(rows: &[Row]) -> Vec<OwnedRow> {
    rows.iter()
        .map(|(k, i, n, v)| (*k, *i, n.map(str::to_owned), *v))
        .collect()
}
