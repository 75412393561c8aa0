//! One step of a table: which rows went, which came, which columns of which rows changed.
//!
//! # Why per-column changes
//!
//! A [`TableUpdate`] carries its modifications as a list of [`ColumnChange`]s, each with its
//! own key set, rather than one "modified rows" batch over the union of changed columns. The
//! reason is [`TableUpdate::coalesce`]: lagging subscribers and the wire fold runs of updates
//! into one, and that must be a pure function of the updates. If step 1 changes column `a` of
//! row `k` and step 2 changes column `b` of row `j`, a single modified batch over `{a, b}` for
//! `{k, j}` would need `b` of `k` and `a` of `j`, which only the table knows. Per-column key sets
//! combine exactly, with no table state.
//!
//! The rules an update follows and the coalescing algebra are documented on [`TableUpdate`],
//! where users of the crate see them.
//!
//! # Why the state-free rules are checked at construction
//!
//! Coalescing and applying rely on the invariants that need no table (ascending keys, one
//! change per column, changes disjoint from the rows the same update adds or removes). Checking
//! them once, when an update is built, lets the algebra assume them and makes them hold for every
//! update that crosses a crate boundary; only the checks that need the table's keys are left to
//! [`TableUpdate::validate_against`], at a cost proportional to the update, not the table.

use std::collections::HashSet;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;

use crate::error::{CoreError, Result};
use crate::kernels::{
    KeyedValues, batch_with_rows, check_column, conform_batch, drop_rows, drop_values,
    merge_batches, merge_keys, merge_later_wins, overlay, split_values,
};
use crate::row_set::{RowKey, RowSet, check_ascending};
use crate::schema::{column_index, projection_indices};

/// A table version number. A table starts empty at step 0 and every update takes it to the
/// next step; an update is labelled by the step it produces.
pub type Step = u64;

/// Rows an update adds: strictly ascending keys and a batch of the table's full schema whose
/// rows correspond to the keys.
#[derive(Clone, Debug, PartialEq)]
pub struct AddedRows {
    keys: Vec<RowKey>,
    batch: RecordBatch,
}

impl AddedRows {
    /// Rows `keys` with the values of `batch`.
    ///
    /// # Errors
    ///
    /// [`CoreError::KeysNotAscending`] or [`CoreError::RowCountMismatch`].
    pub fn new(keys: Vec<RowKey>, batch: RecordBatch) -> Result<Self> {
        check_ascending(&keys)?;
        if keys.len() != batch.num_rows() {
            return Err(CoreError::RowCountMismatch {
                keys: keys.len(),
                rows: batch.num_rows(),
            });
        }
        Ok(Self { keys, batch })
    }

    /// From keys and rows the caller guarantees to fit (ascending keys, one per row).
    pub(crate) fn new_unchecked(keys: Vec<RowKey>, batch: RecordBatch) -> Self {
        Self { keys, batch }
    }

    /// No rows, with `schema`.
    pub fn empty(schema: SchemaRef) -> Self {
        Self {
            keys: Vec::new(),
            batch: RecordBatch::new_empty(schema),
        }
    }

    /// The keys, ascending.
    pub fn keys(&self) -> &[RowKey] {
        &self.keys
    }

    /// The rows, in key order.
    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// The keys as a set.
    pub fn key_set(&self) -> RowSet {
        RowSet::from_ascending_unchecked(&self.keys)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no rows are added.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys and the batch.
    pub fn into_parts(self) -> (Vec<RowKey>, RecordBatch) {
        (self.keys, self.batch)
    }

    /// Whether `key` is among the keys.
    fn contains(&self, key: RowKey) -> bool {
        self.keys.binary_search(&key).is_ok()
    }
}

/// New values for one column of some existing rows.
#[derive(Clone, Debug)]
pub struct ColumnChange {
    column: String,
    keys: Vec<RowKey>,
    values: ArrayRef,
}

impl ColumnChange {
    /// Column `column` of rows `keys` (strictly ascending) takes `values`, in key order.
    ///
    /// # Errors
    ///
    /// [`CoreError::KeysNotAscending`] or [`CoreError::RowCountMismatch`]. Whether the column
    /// exists and has this type is checked when the change becomes part of an update.
    pub fn new(column: impl Into<String>, keys: Vec<RowKey>, values: ArrayRef) -> Result<Self> {
        check_ascending(&keys)?;
        if keys.len() != values.len() {
            return Err(CoreError::RowCountMismatch {
                keys: keys.len(),
                rows: values.len(),
            });
        }
        Ok(Self {
            column: column.into(),
            keys,
            values,
        })
    }

    /// The column's name.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The changed rows' keys, ascending.
    pub fn keys(&self) -> &[RowKey] {
        &self.keys
    }

    /// The new values, in key order.
    pub fn values(&self) -> &ArrayRef {
        &self.values
    }

    /// Number of changed rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no rows change.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The column name, keys and values.
    pub fn into_parts(self) -> (String, Vec<RowKey>, ArrayRef) {
        (self.column, self.keys, self.values)
    }
}

impl PartialEq for ColumnChange {
    /// Same column, keys, and logically equal values.
    fn eq(&self, other: &Self) -> bool {
        self.column == other.column
            && self.keys == other.keys
            && self.values.as_ref() == other.values.as_ref()
    }
}

/// One atomic step of a table: removed rows, added rows, and per-column changes of existing
/// rows, labelled with the [`Step`] it produces.
///
/// The schema of an update is the schema of its added batch (the table's full schema, or a
/// projection of it); an update that adds nothing still carries it.
///
/// # Meaning
///
/// Applied to a table whose key set is `K`, an update
///
/// 1. removes [`removed`](Self::removed), which must be a subset of `K`;
/// 2. adds [`added`](Self::added), whose keys must not be in `K − removed` (a key both removed
///    and added in one step is allowed and means the row is replaced);
/// 3. applies each [`ColumnChange`], whose keys must be in `K − removed` and not among the
///    added keys (values of freshly added rows belong in the added batch).
///
/// The rules that need no table are checked by [`new`](Self::new), so every `TableUpdate`
/// satisfies them; [`validate_against`](Self::validate_against) checks the rest. Column changes
/// are kept in schema order without empty ones, so equal updates compare equal. An empty update
/// is a step that changes nothing.
///
/// # Coalescing
///
/// For consecutive updates `u1 = (R1, A1, M1)` then `u2 = (R2, A2, M2)`,
/// [`u1.coalesce(u2)`](Self::coalesce) is the update with
///
/// * removed: `R1 ∪ (R2 − A1)` (rows u1 added and u2 removed never existed for the reader);
/// * added: the rows `A1 − R2` with u2's changes to them overlaid, and the rows `A2`;
/// * changed, for each column `c`: `(M1[c] − R2 − A2) ∪ (M2[c] − A1)`, u2's values winning;
///
/// and applying it has the same effect as applying `u1` and then `u2`. A [reset](Self::reset)
/// `u2` replaces whatever `u1` did; a reset `u1` stays a reset. Coalescing is
/// associative. Its result is bounded by the rows of the table before and after, never by the
/// number of steps folded in, which is what lets a lagging reader catch up in bounded memory.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Int64Array, RecordBatch};
/// use arrow_schema::{DataType, Field, Schema};
/// use tableshare_core::{AddedRows, ColumnChange, RowSet, TableUpdate};
///
/// let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
/// let rows = |values: Vec<i64>| {
///     RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(values))])
/// };
///
/// // Step 1 adds rows 0 and 1; step 2 removes 0 and sets v of row 1 to 11.
/// let added = AddedRows::new(vec![0, 1], rows(vec![0, 1])?)?;
/// let first = TableUpdate::new(1, RowSet::new(), added, vec![])?;
/// let change = ColumnChange::new("v", vec![1], Arc::new(Int64Array::from(vec![11])))?;
/// let nothing = AddedRows::empty(schema.clone());
/// let second = TableUpdate::new(2, RowSet::from_range(0..1), nothing, vec![change])?;
///
/// // Together: row 1 is added with v = 11, and row 0 never existed.
/// let both = first.coalesce(second)?;
/// assert_eq!(both.step(), 2);
/// assert!(both.removed().is_empty());
/// assert_eq!(both.added().keys(), &[1]);
/// assert_eq!(both.added().batch(), &rows(vec![11])?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TableUpdate {
    step: Step,
    /// A resync: every row the table holds goes before `added` comes (`removed` and `modified`
    /// are then empty).
    reset: bool,
    removed: RowSet,
    added: AddedRows,
    modified: Vec<ColumnChange>,
}

impl TableUpdate {
    /// The update producing `step` from its parts.
    ///
    /// Column changes are put in the schema's column order and empty ones are dropped.
    ///
    /// # Errors
    ///
    /// For a change that does not fit the schema of `added`: [`CoreError::UnknownColumn`],
    /// [`CoreError::ColumnTypeMismatch`], [`CoreError::NullInNonNullableColumn`],
    /// [`CoreError::DuplicateColumn`] (two changes of one column); for a change that touches a
    /// row this update adds or removes: [`CoreError::ModifiedAddedRow`],
    /// [`CoreError::ModifiedRemovedRow`].
    pub fn new(
        step: Step,
        removed: RowSet,
        added: AddedRows,
        modified: Vec<ColumnChange>,
    ) -> Result<Self> {
        let schema = added.batch.schema();
        let mut seen = HashSet::with_capacity(modified.len());
        let mut ordered = Vec::with_capacity(modified.len());
        for change in modified {
            let index = column_index(&schema, &change.column)?;
            if !seen.insert(index) {
                return Err(CoreError::DuplicateColumn {
                    column: change.column,
                });
            }
            check_column(schema.field(index), change.values.as_ref())?;
            for key in &change.keys {
                if added.contains(*key) {
                    return Err(CoreError::ModifiedAddedRow {
                        column: change.column,
                        key: *key,
                    });
                }
                if removed.contains(*key) {
                    return Err(CoreError::ModifiedRemovedRow {
                        column: change.column,
                        key: *key,
                    });
                }
            }
            if !change.is_empty() {
                ordered.push((index, change));
            }
        }
        ordered.sort_by_key(|(index, _)| *index);
        let modified = ordered.into_iter().map(|(_, change)| change).collect();
        Ok(Self {
            step,
            reset: false,
            removed,
            added,
            modified,
        })
    }

    /// The update producing `step` that replaces the whole table by `added`: every row the table
    /// holds goes, whatever it is, then `added` comes. This is how a reader that fell too far
    /// behind is brought back ([resync](crate::Subscription)) without anyone knowing which rows it
    /// holds. Applying it costs the size of `added`, not of the table it replaces.
    pub fn reset(step: Step, added: AddedRows) -> Self {
        Self {
            step,
            reset: true,
            removed: RowSet::new(),
            added,
            modified: Vec::new(),
        }
    }

    /// Whether this update [resets](Self::reset) the table: every row held before goes, then
    /// [`added`](Self::added) comes.
    pub fn is_reset(&self) -> bool {
        self.reset
    }

    /// The update producing `step` that changes nothing (a step can tick with no change).
    pub fn empty(step: Step, schema: SchemaRef) -> Self {
        Self {
            step,
            reset: false,
            removed: RowSet::new(),
            added: AddedRows::empty(schema),
            modified: Vec::new(),
        }
    }

    /// From parts whose invariants the caller guarantees (built by this crate's own algebra).
    pub(crate) fn from_parts_unchecked(
        step: Step,
        removed: RowSet,
        added: AddedRows,
        modified: Vec<ColumnChange>,
    ) -> Self {
        Self {
            step,
            reset: false,
            removed,
            added,
            modified,
        }
    }

    /// The same update labelled with another step.
    pub fn with_step(mut self, step: Step) -> Self {
        self.step = step;
        self
    }

    /// The step this update produces.
    pub fn step(&self) -> Step {
        self.step
    }

    /// The schema of the added batch and of every column change.
    pub fn schema(&self) -> SchemaRef {
        self.added.batch.schema()
    }

    /// Keys of the rows removed (including rows replaced: removed and added again).
    pub fn removed(&self) -> &RowSet {
        &self.removed
    }

    /// The rows added.
    pub fn added(&self) -> &AddedRows {
        &self.added
    }

    /// The column changes, in schema order, none empty.
    pub fn modified(&self) -> &[ColumnChange] {
        &self.modified
    }

    /// The change of `column`, if this update changes it.
    pub fn column_change(&self, column: &str) -> Option<&ColumnChange> {
        self.modified.iter().find(|change| change.column == column)
    }

    /// Names of the columns this update changes, in schema order.
    pub fn modified_columns(&self) -> Vec<&str> {
        self.modified
            .iter()
            .map(|change| change.column.as_str())
            .collect()
    }

    /// Keys of the rows with at least one changed column.
    pub fn modified_keys(&self) -> RowSet {
        let mut keys = RowSet::new();
        for change in &self.modified {
            keys.union_with(&RowSet::from_ascending_unchecked(&change.keys));
        }
        keys
    }

    /// Whether applying this update changes no row (a [reset](Self::reset) always may).
    pub fn is_empty(&self) -> bool {
        !self.reset && self.removed.is_empty() && self.added.is_empty() && self.modified.is_empty()
    }

    /// The step, removed keys, added rows and column changes. A [reset](Self::reset) loses its
    /// meaning here: check [`is_reset`](Self::is_reset) first.
    pub fn into_parts(self) -> (Step, RowSet, AddedRows, Vec<ColumnChange>) {
        (self.step, self.removed, self.added, self.modified)
    }

    /// Checks that this update can be applied to a table holding the rows `keys`.
    ///
    /// Costs O(size of the update × log), independent of the table's size.
    ///
    /// # Errors
    ///
    /// [`CoreError::KeyNotPresent`] for a removed or changed key not in `keys` (the smallest
    /// such); [`CoreError::DuplicateKey`] for an added key already in `keys` and not removed.
    pub fn validate_against(&self, keys: &RowSet) -> Result<()> {
        self.validate_with(|key| keys.contains(key))
    }

    /// [`validate_against`](Self::validate_against) for a table that answers key lookups itself
    /// (a chunked snapshot): `contains` is asked once per key of the update.
    pub(crate) fn validate_with(&self, contains: impl Fn(RowKey) -> bool) -> Result<()> {
        if self.reset {
            // Everything held goes first, so any key may be added; a reset has no removals or changes.
            return Ok(());
        }
        if let Some(key) = self.removed.iter().find(|key| !contains(*key)) {
            return Err(CoreError::KeyNotPresent { key });
        }
        for key in &self.added.keys {
            if contains(*key) && !self.removed.contains(*key) {
                return Err(CoreError::DuplicateKey { key: *key });
            }
        }
        for change in &self.modified {
            // Changes never touch removed keys (checked at construction), so presence suffices.
            if let Some(key) = change.keys.iter().find(|key| !contains(**key)) {
                return Err(CoreError::KeyNotPresent { key: *key });
            }
        }
        Ok(())
    }

    /// The update restricted to `columns` (in that order): the added batch keeps only those
    /// columns and changes of other columns are dropped. Removed keys and added keys stay.
    ///
    /// Projection commutes with applying: projecting a table after this update equals applying
    /// the projected update to the projected table.
    ///
    /// # Errors
    ///
    /// [`CoreError::UnknownColumn`] or [`CoreError::DuplicateColumn`] for a bad column list.
    pub fn project<S: AsRef<str>>(&self, columns: &[S]) -> Result<TableUpdate> {
        let schema = self.schema();
        let indices = projection_indices(&schema, columns)?;
        let batch = self
            .added
            .batch
            .project(&indices)
            .map_err(CoreError::arrow("projecting rows"))?;
        let modified = columns
            .iter()
            .filter_map(|column| self.column_change(column.as_ref()).cloned())
            .collect();
        let added = AddedRows {
            keys: self.added.keys.clone(),
            batch,
        };
        Ok(Self {
            step: self.step,
            reset: self.reset,
            removed: self.removed.clone(),
            added,
            modified,
        })
    }

    /// Re-expresses this update with the table schema `schema`: the added batch's columns are
    /// matched by name and checked, and every change is checked against the table's field.
    pub(crate) fn conform(self, schema: &SchemaRef) -> Result<TableUpdate> {
        if self.added.batch.schema_ref() == schema {
            return Ok(self);
        }
        let batch = conform_batch(schema, &self.added.batch)?;
        for change in &self.modified {
            let index = column_index(schema, &change.column)?;
            check_column(schema.field(index), change.values.as_ref())?;
        }
        let mut modified = self.modified;
        modified.sort_by_key(|change| column_index(schema, &change.column).unwrap_or(usize::MAX));
        let added = AddedRows {
            keys: self.added.keys,
            batch,
        };
        Ok(Self {
            step: self.step,
            reset: self.reset,
            removed: self.removed,
            added,
            modified,
        })
    }

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
        let (survivor_keys, survivor_batch) = drop_rows(&a1.keys, &a1.batch, &r2)?;
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
        let (added_keys, plan) = merge_keys(&survivor_keys, &a2.keys);
        let added_batch = merge_batches(&survivors, &a2.batch, &plan)?;
        let added = AddedRows {
            keys: added_keys,
            batch: added_batch,
        };

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::Int64Array;

    use super::*;
    use crate::test_support::{
        Row, added, batch, ids, names, owned, set, snapshot, snapshot_rows, update, values,
    };

    /// Applies `updates` to a table holding `start` one by one and, separately, coalesced into
    /// one; both must end at `expected`, the coalesced one must stay valid against `start`.
    fn check(start: &[Row], updates: Vec<TableUpdate>, expected: &[Row]) {
        let initial = snapshot(0, start);
        let mut one_by_one = initial.clone();
        for update in &updates {
            one_by_one = one_by_one.apply(update).unwrap();
        }
        assert_eq!(snapshot_rows(&one_by_one), owned(expected), "one by one");

        let mut updates = updates.into_iter();
        let first = updates.next().unwrap();
        let coalesced = updates.fold(first, |acc, next| acc.coalesce(next).unwrap());
        coalesced.validate_against(&initial.to_key_set()).unwrap();
        let at_once = initial.apply(&coalesced).unwrap();
        assert_eq!(
            snapshot_rows(&at_once),
            owned(expected),
            "coalesced: {coalesced:#?}"
        );
        assert_eq!(at_once, one_by_one);
    }

    const A: Row = (1, 10, Some("a"), Some(1.0));
    const B: Row = (2, 20, Some("b"), None);
    const C: Row = (3, 30, None, Some(3.0));

    #[test]
    fn coalescing_equals_applying_in_turn() {
        // Added, then removed: never existed.
        check(
            &[],
            vec![update(1, &[], &[A], vec![]), update(2, &[1], &[], vec![])],
            &[],
        );
        // Added, then changed: the change is folded into the added row.
        check(
            &[],
            vec![
                update(1, &[], &[A, B], vec![]),
                update(2, &[], &[], vec![names(&[2], &[None])]),
            ],
            &[A, (2, 20, None, None)],
        );
        // Different columns of different rows: both changes survive.
        check(
            &[A, B],
            vec![
                update(1, &[], &[], vec![names(&[1], &[Some("x")])]),
                update(2, &[], &[], vec![values(&[2], &[Some(9.0)])]),
            ],
            &[(1, 10, Some("x"), Some(1.0)), (2, 20, Some("b"), Some(9.0))],
        );
        // The same column twice: the later value wins.
        check(
            &[A, B],
            vec![
                update(1, &[], &[], vec![ids(&[1, 2], &[11, 21])]),
                update(2, &[], &[], vec![ids(&[2], &[22])]),
            ],
            &[(1, 11, Some("a"), Some(1.0)), (2, 22, Some("b"), None)],
        );
        // Changed, then removed.
        check(
            &[A, B],
            vec![
                update(1, &[], &[], vec![ids(&[1], &[11])]),
                update(2, &[1], &[], vec![]),
            ],
            &[B],
        );
        // Changed, then replaced: the replacement wins.
        check(
            &[A],
            vec![
                update(1, &[], &[], vec![ids(&[1], &[11])]),
                update(2, &[1], &[(1, 12, None, None)], vec![]),
            ],
            &[(1, 12, None, None)],
        );
        // Replaced, then changed.
        check(
            &[A, B],
            vec![
                update(1, &[1], &[(1, 12, None, None)], vec![]),
                update(2, &[], &[], vec![names(&[1, 2], &[Some("y"), Some("z")])]),
            ],
            &[(1, 12, Some("y"), None), (2, 20, Some("z"), None)],
        );
        // Added, then replaced, then removed and re-added out of key order.
        check(
            &[B],
            vec![
                update(1, &[], &[A, C], vec![]),
                update(2, &[1], &[(1, 99, None, None)], vec![]),
                update(3, &[2, 3], &[(2, 0, None, None)], vec![]),
            ],
            &[(1, 99, None, None), (2, 0, None, None)],
        );
        // A step that changes nothing.
        check(
            &[A],
            vec![update(1, &[], &[], vec![]), update(2, &[], &[], vec![])],
            &[A],
        );
    }

    /// Regression guard: a row removed and re-added by the *first* update and then removed by
    /// the second must stay removed in the coalesced update (R1 is kept even though A1 has it).
    #[test]
    fn replaced_then_removed_stays_removed() {
        check(
            &[A, B],
            vec![
                update(1, &[1], &[(1, 0, None, None)], vec![]),
                update(2, &[1], &[], vec![]),
            ],
            &[B],
        );
    }

    #[test]
    fn coalescing_is_canonical() {
        let u1 = update(1, &[], &[A], vec![values(&[2], &[None])]);
        let u2 = update(2, &[], &[C], vec![names(&[2], &[Some("n")])]);
        let both = u1.coalesce(u2).unwrap();
        assert_eq!(both.modified_columns(), ["name", "value"], "schema order");
        assert_eq!(both.modified_keys(), set(&[2]));
        assert_eq!(both.added(), &added(&[A, C]));
    }

    #[test]
    fn construction_checks_what_needs_no_table() {
        let check = |rows: &[Row], removed: &[u64], change: ColumnChange, expected: &str| {
            let error = TableUpdate::new(1, set(removed), added(rows), vec![change]).unwrap_err();
            assert_eq!(format!("{error:?}"), expected);
        };
        check(
            &[A],
            &[],
            ids(&[1], &[0]),
            r#"ModifiedAddedRow { column: "id", key: 1 }"#,
        );
        check(
            &[],
            &[2],
            ids(&[2], &[0]),
            r#"ModifiedRemovedRow { column: "id", key: 2 }"#,
        );
        check(
            &[],
            &[],
            ColumnChange::new(
                "nope",
                vec![],
                Arc::new(Int64Array::from(Vec::<i64>::new())),
            )
            .unwrap(),
            r#"UnknownColumn { column: "nope" }"#,
        );
        check(
            &[],
            &[],
            ColumnChange::new("name", vec![1], Arc::new(Int64Array::from(vec![1]))).unwrap(),
            r#"ColumnTypeMismatch { column: "name", expected: Utf8, found: Int64 }"#,
        );
        check(
            &[],
            &[],
            ColumnChange::new("id", vec![1], Arc::new(Int64Array::from(vec![None]))).unwrap(),
            r#"NullInNonNullableColumn { column: "id", nulls: 1 }"#,
        );
        let twice = TableUpdate::new(
            1,
            RowSet::new(),
            added(&[]),
            vec![ids(&[1], &[0]), ids(&[2], &[0])],
        );
        assert!(matches!(twice, Err(CoreError::DuplicateColumn { column }) if column == "id"));
        let unsorted = AddedRows::new(vec![2, 1], batch(&[A, B]));
        assert!(matches!(
            unsorted,
            Err(CoreError::KeysNotAscending {
                position: 1,
                previous: 2,
                key: 1
            })
        ));
        let short = ColumnChange::new("id", vec![1, 2], Arc::new(Int64Array::from(vec![1])));
        assert!(matches!(
            short,
            Err(CoreError::RowCountMismatch { keys: 2, rows: 1 })
        ));
    }

    #[test]
    fn validation_against_keys() {
        let held = set(&[1, 2]);
        let check = |update: TableUpdate, expected: &str| {
            let got = update.validate_against(&held).map_err(|e| format!("{e:?}"));
            assert_eq!(got.err().as_deref().unwrap_or("Ok"), expected);
        };
        check(
            update(
                1,
                &[1],
                &[(1, 0, None, None), (3, 0, None, None)],
                vec![ids(&[2], &[5])],
            ),
            "Ok",
        );
        check(update(1, &[3, 4], &[], vec![]), "KeyNotPresent { key: 3 }");
        check(update(1, &[], &[B], vec![]), "DuplicateKey { key: 2 }");
        check(
            update(1, &[], &[], vec![ids(&[7], &[0])]),
            "KeyNotPresent { key: 7 }",
        );
    }

    #[test]
    fn coalescing_rejects_disorder_and_other_schemas() {
        let later = update(2, &[], &[], vec![]);
        let error = later
            .clone()
            .coalesce(update(2, &[], &[], vec![]))
            .unwrap_err();
        assert!(matches!(
            error,
            CoreError::StepOrder {
                previous: 2,
                next: 2
            }
        ));
        let projected = update(3, &[], &[], vec![]).project(&["id"]).unwrap();
        let error = later.coalesce(projected).unwrap_err();
        assert!(matches!(error, CoreError::SchemaMismatch { .. }));
    }

    #[test]
    fn projection_keeps_keys_and_drops_other_columns() {
        let full = update(
            4,
            &[9],
            &[A],
            vec![names(&[2], &[None]), values(&[3], &[Some(1.0)])],
        );
        let check = |columns: &[&str], expected_changes: &[&str]| {
            let projected = full.project(columns).unwrap();
            assert_eq!(projected.step(), 4);
            assert_eq!(projected.removed(), full.removed());
            assert_eq!(projected.added().keys(), full.added().keys());
            assert_eq!(projected.added().batch().num_columns(), columns.len());
            assert_eq!(projected.modified_columns(), expected_changes);
        };
        check(&["value", "name"], &["value", "name"]);
        check(&["id"], &[]);
        check(&[], &[]);
        assert!(matches!(
            full.project(&["x"]),
            Err(CoreError::UnknownColumn { .. })
        ));
    }
}
