//! A consistent, immutable view of a whole table at one step.
//!
//! A snapshot is what a reader holds: the schema, the step, and the rows as a sequence of
//! key-ranged [`Chunk`]s (ascending keys within and across chunks, each chunk an Arrow batch).
//! Chunks are shared (`Arc`) between snapshots, so cloning a snapshot, or deriving the next one
//! from it, copies pointers, not rows; a reader can keep a snapshot while the table moves on.
//!
//! Readers take the rows as chunks ([`Snapshot::chunks`]) or as batches of a bounded size
//! ([`Snapshot::batches`], what goes on the wire), and project columns without copying. Nothing
//! hands out the table as one batch except the explicit, O(table) [`Snapshot::concat`].
//!
//! [`Snapshot::apply`] is the reference implementation of applying a [`TableUpdate`]: the live
//! table uses it for every step, and a subscriber that keeps its own copy of the table uses it
//! to follow the updates it receives, so both sides agree by construction.
//!
//! # Cost
//!
//! With `c` chunks of at most `m` rows ([`ChunkBounds`], default 65,536) and an update touching
//! `u` rows:
//!
//! * [`apply`](Snapshot::apply) validates the update with one key lookup per key it names
//!   (O(u · log n)), rebuilds only the chunks the update touches (each rebuild is linear in that
//!   chunk: `filter` for removals, `interleave` per changed column, `concat` or `interleave` to
//!   add rows; untouched columns of a touched chunk are shared), and copies the other chunk
//!   pointers (O(c)). Rows appended after the last key form a new tail chunk, which the
//!   [size rules](crate::ChunkBounds) merge with its neighbours only when they are small or of
//!   similar size, so a one-row append copies at most a few thousand rows on most steps and
//!   never the table. A step therefore costs O(u · log n + touched chunks · m + c), independent
//!   of the table's size for the usual small steps.
//! * [`position_of`](Snapshot::position_of), [`key_at`](Snapshot::key_at) and
//!   [`contains_key`](Snapshot::contains_key) are O(log n) (a prefix index of chunk row counts,
//!   then a binary search inside one chunk).
//! * [`rows_at`](Snapshot::rows_at) (a viewport by position) is O(log n + chunks in range);
//!   [`project`](Snapshot::project) and [`batches`](Snapshot::batches) are O(c). None of them
//!   copies values.
//! * [`concat`](Snapshot::concat), [`to_update`](Snapshot::to_update),
//!   [`key_vec`](Snapshot::key_vec) and [`to_key_set`](Snapshot::to_key_set) are O(n): they
//!   materialize the whole table.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_select::concat::concat;

use crate::apply::apply_chunked;
use crate::chunk::{Chunk, ChunkBounds, ChunkListBuilder, ChunkStats, Keys};
use crate::error::{CoreError, Result};
use crate::kernels::{batch_with_rows, conform_batch};
use crate::row_set::{RowKey, RowSet, check_ascending};
use crate::schema::{TableSchema, projection_indices};
use crate::update::{AddedRows, Step, TableUpdate};

/// The content of a table at one step: rows in ascending key order, held as shared key-ranged
/// chunks.
///
/// Equality is logical: two snapshots are equal when they have the same schema, step, keys and
/// values, however their rows are cut into chunks.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Int64Array, RecordBatch};
/// use arrow_schema::{DataType, Field, Schema};
/// use tableshare_core::{Snapshot, TableSchema};
///
/// let arrow = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
/// let batch = RecordBatch::try_new(arrow.clone(), vec![Arc::new(Int64Array::from(vec![7, 8, 9]))])?;
/// let snapshot = Snapshot::new(TableSchema::unpartitioned(arrow)?, 3, vec![10, 20, 30], batch)?;
///
/// // Positions without scanning.
/// assert_eq!(snapshot.position_of(20), Some(1));
/// assert_eq!(snapshot.key_at(2), Some(30));
///
/// // Reading in bounded batches, as a sender would.
/// let sizes: Vec<usize> = snapshot.batches(2).map(|(keys, _)| keys.len()).collect();
/// assert_eq!(sizes, [2, 1]);
///
/// // The snapshot as one update from the empty table, e.g. to send it over the wire.
/// let rebuilt = Snapshot::empty(snapshot.schema().clone()).apply(&snapshot.to_update()?)?;
/// assert_eq!(rebuilt, snapshot);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Snapshot {
    schema: TableSchema,
    step: Step,
    bounds: ChunkBounds,
    chunks: Arc<[Arc<Chunk>]>,
    /// `starts[i]` is the number of rows before chunk `i`; one more entry holds the total.
    starts: Arc<[usize]>,
}

impl Snapshot {
    /// The empty table at step 0, with the default [`ChunkBounds`].
    pub fn empty(schema: TableSchema) -> Self {
        Self::from_chunks(schema, 0, ChunkBounds::default(), Vec::new())
    }

    /// The table with rows `keys` (strictly ascending) holding `batch`'s values, at `step`, cut
    /// into chunks of the default [`ChunkBounds`]. Cutting is zero-copy for the values (slices
    /// of `batch`); the keys are copied once.
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
        let bounds = ChunkBounds::default();
        let chunks = cut(keys, batch, bounds);
        Ok(Self::from_chunks(schema, step, bounds, chunks))
    }

    /// The table whose rows arrive as parts of (strictly ascending keys, their rows), in key
    /// order across parts too, at `step`: the way a reader streaming a stored table builds it.
    /// Each part becomes one or more chunks of the default [`ChunkBounds`] without copying
    /// values (parts of at most `max_rows` rows are one chunk each; a part is never joined with
    /// another, small chunks merge as later steps touch them).
    ///
    /// # Errors
    ///
    /// As [`Snapshot::new`] for each part, and [`CoreError::KeysNotAscending`] if a part does
    /// not start after the previous one ends.
    pub fn from_batches(
        schema: TableSchema,
        step: Step,
        parts: impl IntoIterator<Item = (Vec<RowKey>, RecordBatch)>,
    ) -> Result<Self> {
        let bounds = ChunkBounds::default();
        let mut chunks = Vec::new();
        let mut last: Option<RowKey> = None;
        for (keys, batch) in parts {
            if keys.is_empty() && batch.num_rows() == 0 {
                continue;
            }
            check_ascending(&keys)?;
            if keys.len() != batch.num_rows() {
                return Err(CoreError::RowCountMismatch {
                    keys: keys.len(),
                    rows: batch.num_rows(),
                });
            }
            if let (Some(prev), Some(first)) = (last, keys.first()) {
                check_ascending(&[prev, *first])?;
            }
            last = keys.last().copied();
            let batch = conform_batch(schema.arrow(), &batch)?;
            chunks.extend(cut(keys, batch, bounds));
        }
        Ok(Self::from_chunks(schema, step, bounds, chunks))
    }

    /// As [`from_batches`](Self::from_batches), with each part's keys given as ranges of
    /// consecutive keys (ascending, not overlapping, and after the previous part's). The keys
    /// are held as the ranges: a 10,000,000-row snapshot whose keys are a few ranges holds a
    /// few words of keys, not 80 MB.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_array::{Int64Array, RecordBatch};
    /// # use arrow_schema::{DataType, Field, Schema};
    /// use tableshare_core::{Snapshot, TableSchema};
    ///
    /// let arrow = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    /// let part = |v: Vec<i64>| RecordBatch::try_new(arrow.clone(), vec![Arc::new(Int64Array::from(v))]);
    /// let schema = TableSchema::from_arrow(&arrow)?;
    /// let snapshot = Snapshot::from_ranged_batches(
    ///     schema,
    ///     1,
    ///     [(vec![0..2], part(vec![10, 20])?), (vec![5..6, 9..10], part(vec![30, 40])?)],
    /// )?;
    /// assert_eq!(snapshot.key_vec(), vec![0, 1, 5, 9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`CoreError::KeysNotAscending`] for a range that does not start after the one before it
    /// (in this part or the previous), [`CoreError::RowCountMismatch`] when a part's ranges do
    /// not hold one key per row, or an error naming a column that does not fit the schema.
    pub fn from_ranged_batches(
        schema: TableSchema,
        step: Step,
        parts: impl IntoIterator<Item = (Vec<Range<RowKey>>, RecordBatch)>,
    ) -> Result<Self> {
        let bounds = ChunkBounds::default();
        let mut chunks = Vec::new();
        let mut last: Option<RowKey> = None;
        let mut position = 0usize;
        for (ranges, batch) in parts {
            let count = crate::keys::check_ranges(&ranges, &mut last, position)?;
            if count != batch.num_rows() {
                return Err(CoreError::RowCountMismatch {
                    keys: count,
                    rows: batch.num_rows(),
                });
            }
            position += count;
            if count == 0 {
                continue;
            }
            let batch = conform_batch(schema.arrow(), &batch)?;
            chunks.extend(cut(Keys::from_runs(ranges), batch, bounds));
        }
        Ok(Self::from_chunks(schema, step, bounds, chunks))
    }

    /// Assembles a snapshot from chunks that are already in key order and fit `bounds`.
    pub(crate) fn from_chunks(
        schema: TableSchema,
        step: Step,
        bounds: ChunkBounds,
        chunks: Vec<Arc<Chunk>>,
    ) -> Self {
        let mut starts = Vec::with_capacity(chunks.len() + 1);
        let mut total = 0usize;
        for chunk in &chunks {
            starts.push(total);
            total += chunk.num_rows();
        }
        starts.push(total);
        Self {
            schema,
            step,
            bounds,
            chunks: Arc::from(chunks),
            starts: Arc::from(starts),
        }
    }

    /// The same rows with other chunk bounds. Chunks over the new `max_rows` are cut (zero-copy
    /// for values); chunks are never merged here, small ones merge as later steps touch them.
    pub fn with_chunk_bounds(self, bounds: ChunkBounds) -> Self {
        if bounds == self.bounds {
            return self;
        }
        let mut chunks = Vec::with_capacity(self.chunks.len());
        for chunk in self.chunks.iter() {
            let rows = chunk.num_rows();
            if rows <= bounds.max_rows() {
                chunks.push(chunk.clone());
                continue;
            }
            let mut offset = 0;
            while offset < rows {
                let len = bounds.max_rows().min(rows - offset);
                chunks.push(Arc::new(chunk.slice(offset, len)));
                offset += len;
            }
        }
        Self::from_chunks(self.schema, self.step, bounds, chunks)
    }

    /// The schema.
    pub fn schema(&self) -> &TableSchema {
        &self.schema
    }

    /// The step this snapshot shows.
    pub fn step(&self) -> Step {
        self.step
    }

    /// The chunk bounds steps applied to this snapshot keep.
    pub fn chunk_bounds(&self) -> ChunkBounds {
        self.bounds
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.starts.last().copied().unwrap_or_default()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.num_rows() == 0
    }

    /// The chunks, in key order (none is empty).
    pub fn chunks(&self) -> impl ExactSizeIterator<Item = &Chunk> + '_ {
        self.chunks.iter().map(AsRef::as_ref)
    }

    /// Number of chunks.
    pub fn num_chunks(&self) -> usize {
        self.chunks.len()
    }

    pub(crate) fn chunk_list(&self) -> &[Arc<Chunk>] {
        &self.chunks
    }

    /// The rows as batches of at most `max_rows` rows (at least 1), in key order, each with its
    /// keys. Batches are zero-copy slices of the chunks and never span two chunks, so some may
    /// be shorter than `max_rows`.
    pub fn batches(&self, max_rows: usize) -> impl Iterator<Item = (&[RowKey], RecordBatch)> + '_ {
        let max_rows = max_rows.max(1);
        self.chunks.iter().flat_map(move |chunk| {
            let rows = chunk.num_rows();
            (0..rows).step_by(max_rows).map(move |offset| {
                let len = max_rows.min(rows - offset);
                let keys = chunk.keys().get(offset..offset + len).unwrap_or_default();
                (keys, chunk.batch().slice(offset, len))
            })
        })
    }

    /// The rows as batches of at most `max_rows` rows (at least 1), in key order, without their
    /// keys: as [`batches`](Self::batches), for readers that want only the values (a chunk's
    /// keys held as runs are never written out here).
    pub fn row_batches(&self, max_rows: usize) -> impl Iterator<Item = RecordBatch> + '_ {
        let max_rows = max_rows.max(1);
        self.chunks.iter().flat_map(move |chunk| {
            let rows = chunk.num_rows();
            (0..rows)
                .step_by(max_rows)
                .map(move |offset| chunk.batch().slice(offset, max_rows.min(rows - offset)))
        })
    }

    /// The rows at positions `positions` (clamped to the table) in key order, as zero-copy
    /// slices of the chunks they fall in, each with its keys: a viewport or a page without a
    /// scan. Finding the first chunk is O(log n); each further chunk in the range is O(1).
    pub fn rows_at(
        &self,
        positions: Range<usize>,
    ) -> impl Iterator<Item = (&[RowKey], RecordBatch)> + '_ {
        self.pieces(positions).map(|(chunk, rows)| {
            let keys = chunk.keys().get(rows.clone()).unwrap_or_default();
            (keys, chunk.batch().slice(rows.start, rows.len()))
        })
    }

    /// The chunks holding positions `positions` (clamped), each with the rows of it in range.
    fn pieces(&self, positions: Range<usize>) -> impl Iterator<Item = (&Chunk, Range<usize>)> + '_ {
        let end = positions.end.min(self.num_rows());
        let start = positions.start.min(end);
        let first = self
            .starts
            .partition_point(|chunk_start| *chunk_start <= start);
        let first = first.saturating_sub(1);
        self.chunks
            .iter()
            .zip(self.starts.iter())
            .skip(first)
            .take_while(move |(_, chunk_start)| **chunk_start < end)
            .map(move |(chunk, chunk_start)| {
                let from = start.saturating_sub(*chunk_start);
                let to = (end - chunk_start).min(chunk.num_rows());
                (chunk.as_ref(), from..to)
            })
            .filter(|(_, rows)| !rows.is_empty())
    }

    /// How many keys are below `key`: its position if the table holds it, where it would go
    /// otherwise. O(log n).
    pub fn rank(&self, key: RowKey) -> usize {
        let index = self.chunk_for(key);
        match (self.chunks.get(index), self.starts.get(index)) {
            (Some(chunk), Some(start)) => start + chunk.shared_keys().partition_point(|k| k < key),
            _ => self.num_rows(),
        }
    }

    /// The rows whose keys fall in `keys`, in key order, as zero-copy slices of the chunks,
    /// without their keys (a reader of one key range of a table: a data-service location's
    /// rows in the merged table). O(log n) to find the range.
    pub fn rows_in(&self, keys: Range<RowKey>) -> impl Iterator<Item = RecordBatch> + '_ {
        let positions = self.rank(keys.start)..self.rank(keys.end.max(keys.start));
        self.pieces(positions)
            .map(|(chunk, rows)| chunk.batch().slice(rows.start, rows.len()))
    }

    /// The row keys, ascending.
    pub fn keys(&self) -> impl Iterator<Item = RowKey> + '_ {
        self.chunks
            .iter()
            .flat_map(|chunk| chunk.shared_keys().iter())
    }

    /// The row keys, ascending, collected: O(table).
    pub fn key_vec(&self) -> Vec<RowKey> {
        let mut keys = Vec::with_capacity(self.num_rows());
        keys.extend(self.keys());
        keys
    }

    /// The row keys as a set: O(table).
    pub fn to_key_set(&self) -> RowSet {
        let mut set = RowSet::new();
        for chunk in self.chunks.iter() {
            set.union_with(&chunk.shared_keys().to_set());
        }
        set
    }

    /// The smallest key.
    pub fn first_key(&self) -> Option<RowKey> {
        self.chunks.first().map(|chunk| chunk.first_key())
    }

    /// The largest key.
    pub fn last_key(&self) -> Option<RowKey> {
        self.chunks.last().map(|chunk| chunk.last_key())
    }

    /// Index of the chunk whose key range would hold `key`: the first chunk whose last key is
    /// not below it (`num_chunks()` if `key` is past the last key).
    pub(crate) fn chunk_for(&self, key: RowKey) -> usize {
        self.chunks.partition_point(|chunk| chunk.last_key() < key)
    }

    /// The position (rank) of `key` among the keys, if the table holds it. O(log n).
    pub fn position_of(&self, key: RowKey) -> Option<usize> {
        let index = self.chunk_for(key);
        let chunk = self.chunks.get(index)?;
        let offset = chunk.shared_keys().position(key)?;
        Some(self.starts.get(index)? + offset)
    }

    /// The key at `position` in ascending key order (select), if `position < num_rows()`.
    /// O(log n).
    pub fn key_at(&self, position: usize) -> Option<RowKey> {
        if position >= self.num_rows() {
            return None;
        }
        let index = self.starts.partition_point(|start| *start <= position) - 1;
        let chunk = self.chunks.get(index)?;
        chunk.key_at(position - self.starts.get(index)?)
    }

    /// Whether the table holds `key`. O(log n).
    pub fn contains_key(&self, key: RowKey) -> bool {
        self.position_of(key).is_some()
    }

    /// The whole table as one batch, in key order, with the schema's Arrow schema: an explicit
    /// concatenation that copies every row (O(table)). Prefer [`chunks`](Self::chunks) or
    /// [`batches`](Self::batches).
    ///
    /// # Errors
    ///
    /// [`CoreError::Arrow`] if Arrow cannot concatenate the columns (say, over 2 GiB of string
    /// data in one column).
    pub fn concat(&self) -> Result<RecordBatch> {
        if let [only] = &*self.chunks {
            return Ok(only.batch().clone());
        }
        let columns = (0..self.schema.arrow().fields().len())
            .map(|index| {
                let parts: Vec<&dyn arrow_array::Array> = self
                    .chunks
                    .iter()
                    .map(|chunk| chunk.batch().column(index).as_ref())
                    .collect();
                if parts.is_empty() {
                    let field = self.schema.arrow().field(index);
                    return Ok(arrow_array::new_empty_array(field.data_type()));
                }
                concat(&parts).map_err(CoreError::arrow("concatenating a snapshot"))
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        batch_with_rows(self.schema.arrow().clone(), columns, self.num_rows())
    }

    /// The snapshot restricted to `columns`, in that order (see [`TableSchema::project`]).
    /// Shares keys and values with `self`: O(chunks).
    ///
    /// # Errors
    ///
    /// [`CoreError::UnknownColumn`] or [`CoreError::DuplicateColumn`] for a bad column list.
    pub fn project<S: AsRef<str>>(&self, columns: &[S]) -> Result<Snapshot> {
        let schema = self.schema.project(columns)?;
        let indices = projection_indices(self.schema.arrow(), columns)?;
        let chunks = self
            .chunks
            .iter()
            .map(|chunk| {
                let columns = indices
                    .iter()
                    .map(|index| chunk.batch().column(*index).clone())
                    .collect();
                let batch = batch_with_rows(schema.arrow().clone(), columns, chunk.num_rows())?;
                Ok(Arc::new(Chunk::new_unchecked(
                    chunk.shared_keys().clone(),
                    batch,
                )))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            schema,
            step: self.step,
            bounds: self.bounds,
            chunks: Arc::from(chunks),
            starts: self.starts.clone(),
        })
    }

    /// The whole snapshot as one update from the empty table, producing this snapshot's step.
    /// O(table): the rows are concatenated into one added batch.
    ///
    /// # Errors
    ///
    /// As [`concat`](Self::concat).
    pub fn to_update(&self) -> Result<TableUpdate> {
        let added = AddedRows::new_unchecked(self.key_vec(), self.concat()?);
        Ok(TableUpdate::from_parts_unchecked(
            self.step,
            RowSet::new(),
            added,
            Vec::new(),
        ))
    }

    /// The table after `update`, at `update`'s step. `self` is unchanged and shares every chunk
    /// the update does not touch with the result.
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
        self.apply_counted(update).map(|(snapshot, _)| snapshot)
    }

    /// [`apply`](Self::apply), also counting the chunk splits and merges it took.
    pub(crate) fn apply_counted(&self, update: &TableUpdate) -> Result<(Snapshot, ChunkStats)> {
        if update.step() < self.step {
            return Err(CoreError::StepOrder {
                previous: self.step,
                next: update.step(),
            });
        }
        let update = update.clone().conform(self.schema.arrow())?;
        update.validate_with(self.last_key(), |key| self.contains_key(key))?;
        let (chunks, stats) = apply_chunked(self, &update)?;
        let snapshot = Self::from_chunks(self.schema.clone(), update.step(), self.bounds, chunks);
        Ok((snapshot, stats))
    }
}

/// Cuts `keys`/`batch` into chunks of at most `bounds.max_rows()` rows (zero-copy slices).
fn cut(keys: impl Into<Keys>, batch: RecordBatch, bounds: ChunkBounds) -> Vec<Arc<Chunk>> {
    let keys: Keys = keys.into();
    let rows = keys.len();
    if rows == 0 {
        return Vec::new();
    }
    if rows <= bounds.max_rows() {
        return vec![Arc::new(Chunk::new_unchecked(keys, batch))];
    }
    let size = bounds.max_rows();
    (0..rows)
        .step_by(size)
        .map(|offset| {
            let len = size.min(rows - offset);
            Arc::new(Chunk::new_unchecked(
                keys.slice(offset, len),
                batch.slice(offset, len),
            ))
        })
        .collect()
}

/// Pushes rows (keys ascending, after every key already in `builder`) onto `builder` as one
/// chunk, which the builder's size rules split or merge (used for rows added past the end of a
/// table).
pub(crate) fn chunks_of(
    builder: &mut ChunkListBuilder,
    keys: Keys,
    batch: &RecordBatch,
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    builder.push(Arc::new(Chunk::new_unchecked(keys, batch.clone())))
}

impl PartialEq for Snapshot {
    /// Same schema, step, keys and values, however the rows are chunked.
    fn eq(&self, other: &Self) -> bool {
        if self.schema != other.schema
            || self.step != other.step
            || self.num_rows() != other.num_rows()
        {
            return false;
        }
        let (mut left, mut right) = (self.chunks.iter(), other.chunks.iter());
        let (mut a, mut b) = (left.next(), right.next());
        let (mut at_a, mut at_b) = (0, 0);
        while let (Some(chunk_a), Some(chunk_b)) = (a, b) {
            let len = (chunk_a.num_rows() - at_a).min(chunk_b.num_rows() - at_b);
            if chunk_a.shared_keys().slice(at_a, len) != chunk_b.shared_keys().slice(at_b, len)
                || chunk_a.batch().slice(at_a, len) != chunk_b.batch().slice(at_b, len)
            {
                return false;
            }
            at_a += len;
            at_b += len;
            if at_a == chunk_a.num_rows() {
                (a, at_a) = (left.next(), 0);
            }
            if at_b == chunk_b.num_rows() {
                (b, at_b) = (right.next(), 0);
            }
        }
        true
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Snapshot");
        debug
            .field("schema", &self.schema)
            .field("step", &self.step)
            .field("rows", &self.num_rows())
            .field("chunks", &self.chunks.len());
        if self.num_rows() <= 32 {
            debug.field("keys", &self.key_vec());
        }
        debug.finish()
    }
}

#[cfg(test)]
mod tests;
