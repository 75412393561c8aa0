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
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use arrow_select::concat::concat_batches;

use crate::chunk::Keys;
use crate::error::{CoreError, Result};
use crate::kernels::{check_column, conform_batch};
use crate::keys::check_ranges;
use crate::row_set::{RowKey, RowSet, check_ascending};
use crate::schema::{column_index, projection_indices};

/// A table version number. A table starts empty at step 0 and every update takes it to the
/// next step; an update is labelled by the step it produces.
pub type Step = u64;

/// Rows an update adds: strictly ascending keys and rows of the table's full schema, in key
/// order, one row per key.
///
/// The rows may come in several batches ([`AddedRows::from_chunks`]): a source that produces
/// a large step piece by piece (the data service's pages, a subscription's snapshot messages)
/// hands them over as they are, and applying the update makes table chunks of them with no
/// copy. [`AddedRows::batch`] joins them into one batch on first use, for the callers that want
/// one.
#[derive(Clone, Debug)]
pub struct AddedRows {
    keys: Keys,
    /// The rows in key order: at least one batch, all of one schema.
    chunks: Vec<RecordBatch>,
    /// `chunks` joined, made by the first call of [`AddedRows::batch`] when there are several.
    joined: OnceLock<RecordBatch>,
}

impl PartialEq for AddedRows {
    /// Same keys and rows, however the rows are cut into batches.
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys && self.batch() == other.batch()
    }
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
        Ok(Self::new_unchecked(keys, batch))
    }

    /// Rows `keys` with the values of `chunks` taken in order (the first key is the first row of
    /// the first batch), every batch of `schema`. Nothing is copied.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_array::{Int64Array, RecordBatch};
    /// # use arrow_schema::{DataType, Field, Schema};
    /// use tableshare_core::AddedRows;
    ///
    /// let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    /// let part = |v: Vec<i64>| RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(v))]);
    /// let rows = AddedRows::from_chunks(schema.clone(), vec![1, 2, 3], vec![part(vec![10, 20])?, part(vec![30])?])?;
    /// assert_eq!(rows.chunks().len(), 2);
    /// assert_eq!(rows.batch(), &part(vec![10, 20, 30])?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CoreError::KeysNotAscending`], [`CoreError::RowCountMismatch`] when the batches do not
    /// hold one row per key, [`CoreError::SchemaMismatch`] for a batch of another schema.
    pub fn from_chunks(
        schema: SchemaRef,
        keys: Vec<RowKey>,
        chunks: Vec<RecordBatch>,
    ) -> Result<Self> {
        check_ascending(&keys)?;
        Self::from_checked_keys(schema, Keys::from(keys), chunks)
    }

    /// Rows keyed by the ranges `ranges` of consecutive keys (ascending, not overlapping), with
    /// the values of `chunks` taken in order, every batch of `schema`. The keys are held as the
    /// ranges, not one by one: a step adding 10,000,000 rows in a few ranges costs a few words
    /// of keys, not 80 MB. Nothing is copied.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_array::{Int64Array, RecordBatch};
    /// # use arrow_schema::{DataType, Field, Schema};
    /// use tableshare_core::AddedRows;
    ///
    /// let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    /// let part = |v: Vec<i64>| RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(v))]);
    /// let rows = AddedRows::from_key_ranges(schema.clone(), [0..2, 100..101], vec![part(vec![10, 20, 30])?])?;
    /// assert_eq!(rows.keys(), &[0, 1, 100]);
    /// assert_eq!(rows.key_ranges(), vec![0..2, 100..101]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CoreError::KeysNotAscending`] for a range that starts below the end of the one before
    /// it (or an inverted range), [`CoreError::RowCountMismatch`] when the batches do not hold
    /// one row per key, [`CoreError::SchemaMismatch`] for a batch of another schema.
    pub fn from_key_ranges(
        schema: SchemaRef,
        ranges: impl IntoIterator<Item = Range<RowKey>>,
        chunks: Vec<RecordBatch>,
    ) -> Result<Self> {
        let ranges: Vec<Range<RowKey>> = ranges.into_iter().collect();
        check_ranges(&ranges, &mut None, 0)?;
        Self::from_checked_keys(schema, Keys::from_runs(ranges), chunks)
    }

    /// Every row of `snapshot` as added rows (the rows of a reset that replaces a table by
    /// `snapshot`), sharing its chunks' batches. Keys held as runs stay runs; otherwise they
    /// are copied once.
    ///
    /// # Errors
    ///
    /// [`CoreError::Arrow`] if the chunks are too large to be sure one batch can hold them
    /// (32-bit offsets) and Arrow cannot join them.
    pub fn from_snapshot(snapshot: &crate::Snapshot) -> Result<Self> {
        let chunks: Vec<RecordBatch> = snapshot.chunks().map(|c| c.batch().clone()).collect();
        let all_runs = snapshot
            .chunks()
            .all(|chunk| matches!(chunk.shared_keys(), Keys::Runs(_)));
        let keys = if all_runs {
            Keys::from_runs(
                snapshot
                    .chunks()
                    .flat_map(|chunk| chunk.shared_keys().ranges()),
            )
        } else {
            Keys::from(snapshot.key_vec())
        };
        Self::from_checked_keys(snapshot.schema().arrow().clone(), keys, chunks)
    }

    /// From keys already checked to ascend.
    fn from_checked_keys(schema: SchemaRef, keys: Keys, chunks: Vec<RecordBatch>) -> Result<Self> {
        let rows: usize = chunks.iter().map(RecordBatch::num_rows).sum();
        if keys.len() != rows {
            return Err(CoreError::RowCountMismatch {
                keys: keys.len(),
                rows,
            });
        }
        if let Some(other) = chunks.iter().find(|c| c.schema_ref() != &schema) {
            return Err(CoreError::SchemaMismatch {
                expected: schema,
                found: other.schema(),
            });
        }
        let mut chunks: Vec<RecordBatch> =
            chunks.into_iter().filter(|c| c.num_rows() > 0).collect();
        if chunks.len() > 1 && !joinable(&chunks) {
            // Too large to be sure that one batch can hold them (32-bit offsets): join now, so
            // that `batch` never meets an error later.
            let joined =
                concat_batches(&schema, &chunks).map_err(CoreError::arrow("joining added rows"))?;
            chunks = vec![joined];
        }
        if chunks.is_empty() {
            chunks.push(RecordBatch::new_empty(schema));
        }
        Ok(Self {
            keys,
            chunks,
            joined: OnceLock::new(),
        })
    }

    /// From keys and rows the caller guarantees to fit (ascending keys, one per row).
    pub(crate) fn new_unchecked(keys: Vec<RowKey>, batch: RecordBatch) -> Self {
        Self {
            keys: Keys::from(keys),
            chunks: vec![batch],
            joined: OnceLock::new(),
        }
    }

    /// No rows, with `schema`.
    pub fn empty(schema: SchemaRef) -> Self {
        Self::new_unchecked(Vec::new(), RecordBatch::new_empty(schema))
    }

    /// The keys, ascending.
    ///
    /// Rows added with [`from_key_ranges`](Self::from_key_ranges) write their keys out on the
    /// first call (and keep them); [`key_ranges`](Self::key_ranges) never does.
    pub fn keys(&self) -> &[RowKey] {
        self.keys.as_slice()
    }

    /// The keys as ranges of consecutive keys, ascending.
    pub fn key_ranges(&self) -> Vec<Range<RowKey>> {
        self.keys.ranges()
    }

    /// The keys in their shared buffer (chunks of a table take slices of it).
    pub(crate) fn key_buffer(&self) -> &Keys {
        &self.keys
    }

    /// The rows, in key order, as one batch (joined on first use when they came in several).
    pub fn batch(&self) -> &RecordBatch {
        match self.chunks.as_slice() {
            [one] => one,
            chunks => self.joined.get_or_init(|| {
                // `from_chunks` made sure the chunks share a schema and fit one batch.
                #[allow(clippy::expect_used)]
                concat_batches(&self.schema(), chunks).expect("checked when the rows were made")
            }),
        }
    }

    /// The rows, in key order, as the batches they came in (at least one; empty ones dropped).
    pub fn chunks(&self) -> &[RecordBatch] {
        &self.chunks
    }

    /// The schema of the rows.
    pub fn schema(&self) -> SchemaRef {
        self.chunks.first().map_or_else(
            || Arc::new(arrow_schema::Schema::empty()),
            RecordBatch::schema,
        )
    }

    /// Rows `range` (positions, not keys) as slices of the chunks, without copying.
    pub(crate) fn slices(&self, range: Range<usize>) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        let mut offset = 0;
        for chunk in &self.chunks {
            let (from, to) = (offset, offset + chunk.num_rows());
            offset = to;
            let start = range.start.max(from);
            let end = range.end.min(to);
            if start < end {
                out.push(chunk.slice(start - from, end - start));
            }
        }
        out
    }

    /// Rows `range` (positions) as one batch: a slice when they lie in one chunk.
    pub(crate) fn rows_batch(&self, range: Range<usize>) -> Result<RecordBatch> {
        let mut slices = self.slices(range);
        match slices.len() {
            0 => Ok(RecordBatch::new_empty(self.schema())),
            1 => Ok(slices.remove(0)),
            _ => concat_batches(&self.schema(), &slices)
                .map_err(CoreError::arrow("joining added rows")),
        }
    }

    /// The same keys with every chunk mapped by `f` (a projection or a schema conformance).
    fn map_chunks(&self, f: impl Fn(&RecordBatch) -> Result<RecordBatch>) -> Result<Self> {
        let chunks = self.chunks.iter().map(f).collect::<Result<Vec<_>>>()?;
        Ok(Self {
            keys: self.keys.clone(),
            chunks,
            joined: OnceLock::new(),
        })
    }

    /// The keys as a set.
    pub fn key_set(&self) -> RowSet {
        self.keys.to_set()
    }

    /// The keys of rows `rows` (positions, in range) as a set, without writing out keys held
    /// as runs.
    pub fn key_set_of(&self, rows: Range<usize>) -> RowSet {
        self.keys.slice(rows.start, rows.len()).to_set()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no rows are added.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys and the rows as one batch.
    pub fn into_parts(self) -> (Vec<RowKey>, RecordBatch) {
        let batch = self.batch().clone();
        (self.keys.to_vec(), batch)
    }

    /// Whether `key` is among the keys.
    fn contains(&self, key: RowKey) -> bool {
        self.keys.position(key).is_some()
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
        let schema = added.schema();
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
        self.added.schema()
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
        self.validate_with(keys.max(), |key| keys.contains(key))
    }

    /// [`validate_against`](Self::validate_against) for a table that answers key lookups itself
    /// (a chunked snapshot) and whose largest key is `largest`: `contains` is asked once per
    /// removed and changed key, and once per added key up to `largest` (keys past the table's
    /// end cannot collide, so an append is checked in O(log n) however many rows it adds).
    pub(crate) fn validate_with(
        &self,
        largest: Option<RowKey>,
        contains: impl Fn(RowKey) -> bool,
    ) -> Result<()> {
        if self.reset {
            // Everything held goes first, so any key may be added; a reset has no removals or changes.
            return Ok(());
        }
        if let Some(key) = self.removed.iter().find(|key| !contains(*key)) {
            return Err(CoreError::KeyNotPresent { key });
        }
        let colliding = match largest {
            Some(largest) => self.added.keys.partition_point(|key| key <= largest),
            None => 0,
        };
        for key in self.added.keys.slice(0, colliding).iter() {
            if contains(key) && !self.removed.contains(key) {
                return Err(CoreError::DuplicateKey { key });
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
        let added = self.added.map_chunks(|chunk| {
            chunk
                .project(&indices)
                .map_err(CoreError::arrow("projecting rows"))
        })?;
        let modified = columns
            .iter()
            .filter_map(|column| self.column_change(column.as_ref()).cloned())
            .collect();
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
        if self.added.chunks.iter().all(|c| c.schema_ref() == schema) {
            return Ok(self);
        }
        let added = self
            .added
            .map_chunks(|chunk| conform_batch(schema, chunk))?;
        for change in &self.modified {
            let index = column_index(schema, &change.column)?;
            check_column(schema.field(index), change.values.as_ref())?;
        }
        let mut modified = self.modified;
        modified.sort_by_key(|change| column_index(schema, &change.column).unwrap_or(usize::MAX));
        Ok(Self {
            step: self.step,
            reset: self.reset,
            removed: self.removed,
            added,
            modified,
        })
    }
}

/// Whether `chunks` surely fit one batch: all their buffers together are below what 32-bit
/// offsets address (a cheap bound; a larger set is joined at once instead).
fn joinable(chunks: &[RecordBatch]) -> bool {
    let bytes: usize = chunks.iter().map(RecordBatch::get_array_memory_size).sum();
    bytes < i32::MAX as usize
}

mod coalesce;
#[cfg(test)]
mod tests;
