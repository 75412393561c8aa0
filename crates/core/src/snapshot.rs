//! A consistent, immutable view of a whole table at one step.
//!
//! A snapshot is what a reader holds: the schema, the step, the row keys in ascending order and
//! one record batch whose rows correspond to the keys. It is cheap to clone (keys, key set and
//! columns are shared) and never changes, so a reader can keep it while the table moves on.
//!
//! [`Snapshot::apply`] is the reference implementation of applying a [`TableUpdate`]: the live
//! table uses it for every step, and a subscriber that keeps its own copy of the table uses it
//! to follow the updates it receives, so both sides agree by construction.
//!
//! # Cost
//!
//! Applying an update rebuilds the table's single batch: removal is a `filter`, each changed
//! column an `interleave` over that column, and added rows are concatenated (when their keys
//! follow the table's, the common append case) or merged by key with `interleave`. Columns that
//! nothing touches are shared, not copied. The cost is therefore linear in the rows of the
//! touched columns, which is fine for the table sizes a live table holds; storing a table as
//! key-ranged chunks so that an update touches only the chunks it hits is future work that
//! would not change this API.

use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::error::{CoreError, Result};
use crate::kernels::{
    batch_with_rows, conform_batch, drop_rows, merge_batches, merge_keys, overlay,
};
use crate::row_set::{RowKey, RowSet, check_ascending};
use crate::schema::{TableSchema, projection_indices};
use crate::update::{AddedRows, Step, TableUpdate};

/// The content of a table at one step: ascending row keys and the rows, in key order.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Int64Array, RecordBatch};
/// use arrow_schema::{DataType, Field, Schema};
/// use tableshare_core::{Snapshot, TableSchema};
///
/// let arrow = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
/// let batch = RecordBatch::try_new(arrow.clone(), vec![Arc::new(Int64Array::from(vec![7, 8]))])?;
/// let snapshot = Snapshot::new(TableSchema::unpartitioned(arrow)?, 3, vec![10, 20], batch)?;
///
/// // The snapshot as one update from the empty table, e.g. to send it over the wire.
/// let rebuilt = Snapshot::empty(snapshot.schema().clone()).apply(&snapshot.to_update())?;
/// assert_eq!(rebuilt, snapshot);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    schema: TableSchema,
    step: Step,
    keys: Arc<[RowKey]>,
    key_set: Arc<RowSet>,
    batch: RecordBatch,
}

impl Snapshot {
    /// The empty table at step 0.
    pub fn empty(schema: TableSchema) -> Self {
        let batch = RecordBatch::new_empty(schema.arrow().clone());
        Self {
            schema,
            step: 0,
            keys: Arc::from(Vec::new()),
            key_set: Arc::new(RowSet::new()),
            batch,
        }
    }

    /// The table with rows `keys` (strictly ascending) holding `batch`'s values, at `step`.
    ///
    /// `batch`'s columns are matched to the schema by name.
    ///
    /// # Errors
    ///
    /// [`CoreError::KeysNotAscending`], [`CoreError::RowCountMismatch`], or an error naming a
    /// column of `batch` that does not fit the schema.
    pub fn new(
        schema: TableSchema,
        step: Step,
        keys: Vec<RowKey>,
        batch: RecordBatch,
    ) -> Result<Self> {
        check_ascending(&keys)?;
        if keys.len() != batch.num_rows() {
            return Err(CoreError::RowCountMismatch {
                keys: keys.len(),
                rows: batch.num_rows(),
            });
        }
        let batch = conform_batch(schema.arrow(), &batch)?;
        let key_set = Arc::new(RowSet::from_ascending_unchecked(&keys));
        Ok(Self {
            schema,
            step,
            keys: Arc::from(keys),
            key_set,
            batch,
        })
    }

    /// The schema.
    pub fn schema(&self) -> &TableSchema {
        &self.schema
    }

    /// The step this snapshot shows.
    pub fn step(&self) -> Step {
        self.step
    }

    /// The row keys, ascending.
    pub fn keys(&self) -> &[RowKey] {
        &self.keys
    }

    /// The row keys as a set.
    pub fn key_set(&self) -> &RowSet {
        &self.key_set
    }

    /// The rows, in key order, with the schema's Arrow schema.
    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.keys.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The snapshot restricted to `columns`, in that order (see [`TableSchema::project`]).
    ///
    /// # Errors
    ///
    /// [`CoreError::UnknownColumn`] or [`CoreError::DuplicateColumn`] for a bad column list.
    pub fn project<S: AsRef<str>>(&self, columns: &[S]) -> Result<Snapshot> {
        let schema = self.schema.project(columns)?;
        let indices = projection_indices(self.schema.arrow(), columns)?;
        let projected = self
            .batch
            .project(&indices)
            .map_err(CoreError::arrow("projecting rows"))?;
        let batch = batch_with_rows(
            schema.arrow().clone(),
            projected.columns().to_vec(),
            self.num_rows(),
        )?;
        Ok(Self {
            schema,
            step: self.step,
            keys: self.keys.clone(),
            key_set: self.key_set.clone(),
            batch,
        })
    }

    /// The whole snapshot as one update from the empty table, producing this snapshot's step.
    pub fn to_update(&self) -> TableUpdate {
        let added = AddedRows::new_unchecked(self.keys.to_vec(), self.batch.clone());
        TableUpdate::from_parts_unchecked(self.step, RowSet::new(), added, Vec::new())
    }

    /// The table after `update`, at `update`'s step. `self` is unchanged.
    ///
    /// The update's added batch is matched to the schema by column name, so it may come from a
    /// producer that orders columns differently.
    ///
    /// # Errors
    ///
    /// [`CoreError::StepOrder`] if the update's step is before this snapshot's; an error naming
    /// a column that does not fit the schema; [`CoreError::KeyNotPresent`] or
    /// [`CoreError::DuplicateKey`] (see [`TableUpdate::validate_against`]).
    pub fn apply(&self, update: &TableUpdate) -> Result<Snapshot> {
        if update.step() < self.step {
            return Err(CoreError::StepOrder {
                previous: self.step,
                next: update.step(),
            });
        }
        let update = update.clone().conform(self.schema.arrow())?;
        update.validate_against(&self.key_set)?;
        let schema = self.schema.arrow();

        // 1. Removals.
        let (keys, batch) = if update.removed().is_empty() {
            (self.keys.to_vec(), self.batch.clone())
        } else {
            drop_rows(&self.keys, &self.batch, update.removed())?
        };

        // 2. Column changes, on the rows that remain (changes never touch added rows).
        let mut columns = batch.columns().to_vec();
        for change in update.modified() {
            let index = self.schema.index_of(change.column())?;
            if let Some(column) = columns.get_mut(index) {
                *column = overlay(column, &keys, change.keys(), change.values())?;
            }
        }
        let batch = batch_with_rows(schema.clone(), columns, keys.len())?;

        // 3. Additions, merged by key.
        let added = update.added();
        let (keys, batch) = if added.is_empty() {
            (keys, batch)
        } else {
            let (merged, plan) = merge_keys(&keys, added.keys());
            (merged, merge_batches(&batch, added.batch(), &plan)?)
        };

        let mut key_set = self.key_set.difference(update.removed());
        key_set.union_with(&added.key_set());
        Ok(Snapshot {
            schema: self.schema.clone(),
            step: update.step(),
            keys: Arc::from(keys),
            key_set: Arc::new(key_set),
            batch,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float64Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::test_support::{
        Row, ids, names, owned, schema, snapshot, snapshot_rows, update, values,
    };

    /// Applies `update` to a table of `start` at step 1; `expected` is the rows after, or the
    /// error's Debug form.
    fn check(start: &[Row], update: TableUpdate, expected: std::result::Result<&[Row], &str>) {
        let before = snapshot(1, start);
        match (before.apply(&update), expected) {
            (Ok(after), Ok(rows)) => {
                assert_eq!(snapshot_rows(&after), owned(rows));
                assert_eq!(after.step(), update.step());
                assert_eq!(after.key_set().to_vec(), after.keys());
            }
            (Err(error), Err(expected)) => assert_eq!(format!("{error:?}"), expected),
            (got, expected) => panic!("{update:?}: got {got:?}, expected {expected:?}"),
        }
        assert_eq!(before, snapshot(1, start), "a snapshot never changes");
    }

    const A: Row = (1, 10, Some("a"), Some(1.0));
    const B: Row = (5, 50, None, None);
    const C: Row = (9, 90, Some("c"), Some(9.0));

    #[test]
    fn applying_updates() {
        check(&[], update(2, &[], &[A, B], vec![]), Ok(&[A, B]));
        check(&[A], update(2, &[], &[C], vec![]), Ok(&[A, C]));
        check(&[A, C], update(2, &[], &[B], vec![]), Ok(&[A, B, C]));
        check(&[A, B, C], update(2, &[1, 9], &[], vec![]), Ok(&[B]));
        check(&[A, B, C], update(2, &[1, 5, 9], &[], vec![]), Ok(&[]));
        check(
            &[A, B],
            update(2, &[5], &[(5, 0, Some("new"), None)], vec![]),
            Ok(&[A, (5, 0, Some("new"), None)]),
        );
        check(
            &[A, B, C],
            update(
                2,
                &[1],
                &[(0, 7, None, None)],
                vec![ids(&[9], &[91]), names(&[5, 9], &[Some("b"), None])],
            ),
            Ok(&[
                (0, 7, None, None),
                (5, 50, Some("b"), None),
                (9, 91, None, Some(9.0)),
            ]),
        );
        check(
            &[A, B, C],
            update(2, &[], &[], vec![values(&[1, 5, 9], &[None, None, None])]),
            Ok(&[
                (1, 10, Some("a"), None),
                (5, 50, None, None),
                (9, 90, Some("c"), None),
            ]),
        );
        check(&[A], update(1, &[], &[], vec![]), Ok(&[A]));
    }

    #[test]
    fn invalid_updates_are_rejected() {
        check(
            &[A],
            update(2, &[5], &[], vec![]),
            Err("KeyNotPresent { key: 5 }"),
        );
        check(
            &[A],
            update(2, &[], &[(1, 0, None, None)], vec![]),
            Err("DuplicateKey { key: 1 }"),
        );
        check(
            &[A],
            update(2, &[], &[], vec![ids(&[2], &[0])]),
            Err("KeyNotPresent { key: 2 }"),
        );
        check(
            &[A],
            update(0, &[], &[], vec![]),
            Err("StepOrder { previous: 1, next: 0 }"),
        );
    }

    #[test]
    fn added_columns_are_matched_by_name() {
        let reordered = Arc::new(Schema::new(vec![
            Field::new("value", DataType::Float64, true),
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = |ids: Vec<Option<i64>>| {
            RecordBatch::try_new(
                reordered.clone(),
                vec![
                    Arc::new(Float64Array::from(vec![Some(2.0)])),
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(vec![Some("r")])),
                ],
            )
            .unwrap()
        };
        let make = |ids| {
            TableUpdate::new(
                2,
                RowSet::new(),
                AddedRows::new(vec![3], batch(ids)).unwrap(),
                vec![],
            )
            .unwrap()
        };
        check(
            &[A],
            make(vec![Some(30)]),
            Ok(&[A, (3, 30, Some("r"), Some(2.0))]),
        );
        // The table's `id` is not nullable even though the producer's is.
        check(
            &[A],
            make(vec![None]),
            Err(r#"NullInNonNullableColumn { column: "id", nulls: 1 }"#),
        );
    }

    #[test]
    fn snapshot_round_trips_through_an_update_and_projects() {
        let full = snapshot(7, &[A, B, C]);
        let rebuilt = Snapshot::empty(schema()).apply(&full.to_update()).unwrap();
        assert_eq!(rebuilt, full);

        let projected = full.project(&["value", "id"]).unwrap();
        assert_eq!(projected.keys(), full.keys());
        assert_eq!(projected.schema().partition_columns(), ["id"]);
        assert_eq!(projected.batch().column(0), full.batch().column(2));
        let none = full.project::<&str>(&[]).unwrap();
        assert_eq!(
            (
                none.num_rows(),
                none.batch().num_rows(),
                none.batch().num_columns()
            ),
            (3, 3, 0)
        );
    }
}
