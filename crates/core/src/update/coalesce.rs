//! Coalescing: folding two consecutive updates into one with the same effect, without the table.
//!
//! Lagging subscribers and the wire fold runs of updates into one; the algebra (documented on
//! [`TableUpdate`]) lives here, apart from the update type's constructors and accessors.

use arrow_schema::SchemaRef;

use super::{AddedRows, ColumnChange, TableUpdate};
use crate::error::{CoreError, Result};
use crate::kernels::{
    KeyedValues, batch_with_rows, drop_rows, drop_values, merge_batches, merge_keys,
    merge_later_wins, overlay, split_values,
};
use crate::schema::column_index;

impl TableUpdate {
    /// The single update equivalent to applying `self` and then `next`, labelled with `next`'s
    /// step. Pure: needs no table state. See [Coalescing](TableUpdate#coalescing) for the algebra.
    ///
    /// Both updates must be valid for the states they apply to (as every update a table
    /// produces is); the result is then valid for the state `self` applies to.
    ///
    /// # Errors
    ///
    /// [`CoreError::StepOrder`] unless `next` produces a later step than `self`;
    /// [`CoreError::SchemaMismatch`] if their schemas differ in column names or types.
    pub fn coalesce(self, next: TableUpdate) -> Result<TableUpdate> {
        if next.step <= self.step {
            return Err(CoreError::StepOrder {
                previous: self.step,
                next: next.step,
            });
        }
        let schema = self.schema();
        let found = next.schema();
        let same_columns = schema.fields().len() == found.fields().len()
            && schema.fields().iter().all(|field| {
                found
                    .column_with_name(field.name())
                    .is_some_and(|(_, other)| other.data_type() == field.data_type())
            });
        if !same_columns {
            return Err(CoreError::SchemaMismatch {
                expected: schema,
                found,
            });
        }
        let next = next.conform(&schema)?;
        if next.reset {
            // Whatever `self` did is replaced.
            return Ok(next);
        }
        self.coalesce_conformed(next, &schema)
    }

    fn coalesce_conformed(self, next: TableUpdate, schema: &SchemaRef) -> Result<TableUpdate> {
        let TableUpdate {
            reset,
            removed: r1,
            added: a1,
            modified: m1,
            ..
        } = self;
        // After a reset the table is `A1`, so `R2 − A1` and `M2 − A1` are empty and the algebra
        // below yields a reset again.
        let TableUpdate {
            step,
            removed: r2,
            added: a2,
            modified: m2,
            ..
        } = next;
        let a1_set = a1.key_set();
        let a2_set = a2.key_set();

        // Removed: R1 ∪ (R2 − A1).
        let mut removed = r2.difference(&a1_set);
        removed.union_with(&r1);

        // Rows u1 added that survive u2, with u2's changes to them overlaid. The rest of u2's
        // changes stay changes.
        let (survivor_keys, survivor_batch) = drop_rows(a1.keys.as_slice(), a1.batch(), &r2)?;
        let mut survivor_columns = survivor_batch.columns().to_vec();
        let mut later_changes = Vec::with_capacity(m2.len());
        for change in m2 {
            let index = column_index(schema, &change.column)?;
            let ((onto_added, onto_values), rest) =
                split_values(&change.keys, &change.values, &a1_set)?;
            if let Some(column) = survivor_columns.get_mut(index) {
                *column = overlay(column, &survivor_keys, &onto_added, &onto_values)?;
            }
            later_changes.push((index, change.column, rest));
        }
        let survivors = batch_with_rows(schema.clone(), survivor_columns, survivor_keys.len())?;
        let (added_keys, plan) = merge_keys(&survivor_keys, a2.keys.as_slice());
        let added_batch = merge_batches(&survivors, a2.batch(), &plan)?;
        let added = AddedRows::new_unchecked(added_keys, added_batch);

        // Changes: (M1[c] − R2 − A2) ∪ (M2[c] − A1), later values winning.
        let gone = r2.union(&a2_set);
        let mut earlier: Vec<(usize, String, KeyedValues)> = Vec::new();
        for change in m1 {
            let index = column_index(schema, &change.column)?;
            let kept = drop_values(&change.keys, &change.values, &gone)?;
            earlier.push((index, change.column, kept));
        }
        let mut modified = Vec::new();
        for index in 0..schema.fields().len() {
            let first = earlier.iter().position(|(i, _, _)| *i == index);
            let second = later_changes.iter().position(|(i, _, _)| *i == index);
            let (column, (keys, values)) = match (first, second) {
                (None, None) => continue,
                (Some(e), None) => {
                    let (_, column, part) = earlier.swap_remove(e);
                    (column, part)
                }
                (None, Some(l)) => {
                    let (_, column, part) = later_changes.swap_remove(l);
                    (column, part)
                }
                (Some(e), Some(l)) => {
                    let (_, column, (k1, v1)) = earlier.swap_remove(e);
                    let (_, _, (k2, v2)) = later_changes.swap_remove(l);
                    (column, merge_later_wins((&k1, &v1), (&k2, &v2))?)
                }
            };
            if !keys.is_empty() {
                modified.push(ColumnChange {
                    column,
                    keys,
                    values,
                });
            }
        }
        Ok(TableUpdate {
            step,
            reset,
            removed,
            added,
            modified,
        })
    }
}
