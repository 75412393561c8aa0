//! [`LiveView`]: a view that ticks with its base.
//!
//! The view is a core [`LiveTable`] whose steps are its base's steps: it subscribes to the base
//! and, for each update, applies one update of its own labelled with the same step, so a reader
//! of the view never sees half of a base step and `view.step() == base.step()` once it has
//! caught up. Only the rows a step touches are evaluated again:
//!
//! * removed base rows leave the view (if it held them);
//! * added base rows are evaluated (computed columns, filter) and the passing ones added;
//! * modified base rows are read back whole from a mirror of the base (a [`Snapshot`] that
//!   follows the updates at the cost of the chunks they touch), evaluated, and then changed in
//!   the view, added to it (they now pass the filter) or removed from it (they no longer do).
//!
//! A resync of the base (a reset update) re-evaluates the base's rows once; a schema change of
//! the base fails the view (compile it again for the new schema).

use std::any::Any;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use arrow_array::{RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use tableshare_core::{
    AddedRows, ColumnChange, LiveTable, LiveTableOptions, RowKey, RowSet, Snapshot, Step,
    TableEvent, TableSchema, TableUpdate,
};
use tokio::task::JoinHandle;

use crate::error::{QueryError, Result};
use crate::view::ViewProgram;

/// Rows per batch when a whole snapshot is evaluated.
const BATCH_ROWS: usize = 8192;

/// A live view over a live base (see the module docs). Dropping it stops the view from
/// ticking; clones of [`LiveView::table`] then keep their last step.
pub struct LiveView {
    table: LiveTable,
    task: JoinHandle<()>,
    _keep: Vec<Box<dyn Any + Send + Sync>>,
}

impl fmt::Debug for LiveView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveView")
            .field("step", &self.table.step())
            .finish_non_exhaustive()
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LiveView {
    /// Starts a view of `program` over `base`, at the base's current step. Must be called
    /// inside a tokio runtime (the view follows its base on a task of its own).
    ///
    /// # Errors
    ///
    /// [`QueryError::InvalidView`] if the base's schema is not the one `program` was compiled
    /// against; evaluation errors of the base's current rows; [`QueryError::Core`] if the base
    /// has failed.
    pub fn start(base: LiveTable, program: ViewProgram) -> Result<Self> {
        if base.schema().arrow().fields() != program.base_schema().fields() {
            return Err(QueryError::InvalidView {
                view: "(live view)".to_owned(),
                reason: "its base's schema is not the one it was compiled against".to_owned(),
            });
        }
        let (snapshot, mut updates) = base.subscribe()?;
        let mut state = State::new(program, snapshot)?;
        let table = LiveTable::from_snapshot(state.initial()?, LiveTableOptions::default());
        let view = table.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = updates.next().await {
                let result = event
                    .map_err(QueryError::from)
                    .and_then(|event| state.step(event));
                match result {
                    Ok(update) => {
                        if let Err(err) = view.apply_at(update) {
                            view.fail(err);
                            return;
                        }
                    }
                    Err(err) => {
                        view.fail(err);
                        return;
                    }
                }
            }
            // The base is gone: the view keeps its last step.
        });
        Ok(Self {
            table,
            task,
            _keep: Vec::new(),
        })
    }

    /// Keeps `value` alive as long as the view (the handle whose live table is the base).
    pub(crate) fn keep(mut self, value: Box<dyn Any + Send + Sync>) -> Self {
        self._keep.push(value);
        self
    }

    /// The view's rows as a live table: snapshot it, subscribe to it, query it.
    pub fn table(&self) -> &LiveTable {
        &self.table
    }

    /// Waits until the view has reached `step` (its base's step then); returns the view's
    /// snapshot at that step or later.
    ///
    /// # Errors
    ///
    /// [`QueryError::Core`] if the view failed (its base failed or changed its schema).
    pub async fn wait_for_step(&self, step: Step) -> Result<Snapshot> {
        let (mut snapshot, mut updates) = self.table.subscribe()?;
        while snapshot.step() < step {
            match updates.next().await {
                Some(event) => snapshot = event?.apply_to(&snapshot)?,
                None => break,
            }
        }
        Ok(snapshot)
    }
}

/// What the view's task keeps between steps.
struct State {
    program: ViewProgram,
    view_schema: TableSchema,
    /// The base's rows at the last step seen.
    mirror: Snapshot,
    /// The base keys the view holds.
    members: RowSet,
}

impl State {
    fn new(program: ViewProgram, mirror: Snapshot) -> Result<Self> {
        let view_schema = TableSchema::unpartitioned(program.schema())?;
        Ok(Self {
            program,
            view_schema,
            mirror,
            members: RowSet::new(),
        })
    }

    /// The view of the mirror's rows (the first snapshot), recording its members.
    fn initial(&mut self) -> Result<Snapshot> {
        let parts = self.evaluate_all(&self.mirror.clone())?;
        let mut members = RowSet::new();
        for (keys, _) in &parts {
            members.union_with(&RowSet::from_sorted_keys(keys)?);
        }
        self.members = members;
        Ok(Snapshot::from_batches(
            self.view_schema.clone(),
            self.mirror.step(),
            parts,
        )?)
    }

    fn evaluate_all(&self, snapshot: &Snapshot) -> Result<Vec<(Vec<RowKey>, RecordBatch)>> {
        snapshot
            .batches(BATCH_ROWS)
            .map(|(keys, batch)| self.program.evaluate(keys, &batch))
            .collect()
    }

    /// The view's update for one base event (the base's step is the view's).
    fn step(&mut self, event: TableEvent) -> Result<TableUpdate> {
        let update = match event {
            TableEvent::Update(update) => update,
            TableEvent::SchemaChange(change) => {
                return Err(QueryError::InvalidView {
                    view: "(live view)".to_owned(),
                    reason: format!(
                        "its base changed its schema at step {}; create the view again",
                        change.step()
                    ),
                });
            }
            other => {
                return Err(QueryError::InvalidView {
                    view: "(live view)".to_owned(),
                    reason: format!("unexpected event at step {}", other.step()),
                });
            }
        };
        self.mirror = self.mirror.apply(&update)?;
        let step = update.step();
        if update.is_reset() {
            let snapshot = self.initial()?;
            let (keys, batch) = concat_parts(&self.view_schema, snapshot.batches(usize::MAX))?;
            return Ok(TableUpdate::reset(step, AddedRows::new(keys, batch)?));
        }
        // Rows gone from the base leave the view.
        let removed = update.removed().intersection(&self.members);
        self.members.difference_with(&removed);
        // Added base rows that pass.
        let base = self.program.base_schema();
        let added = conform(&base, update.added().batch())?;
        let (mut add_keys, added_rows) = self.program.evaluate(update.added().keys(), &added)?;
        let mut add_batches = vec![added_rows];
        // Modified base rows: evaluated again from the mirror.
        let modified = update.modified_keys();
        let mut changes = Vec::new();
        let mut dropped = RowSet::new();
        if !modified.is_empty() {
            let keys = modified.to_vec();
            let rows = rows_of(&self.mirror, &keys)?;
            let (pass_keys, pass_rows) = self.program.evaluate(&keys, &rows)?;
            let passing: HashSet<RowKey> = pass_keys.iter().copied().collect();
            let (mut kept_idx, mut kept_keys, mut new_idx) = (Vec::new(), Vec::new(), Vec::new());
            for (i, key) in pass_keys.iter().enumerate() {
                if self.members.contains(*key) {
                    kept_idx.push(i as u32);
                    kept_keys.push(*key);
                } else {
                    new_idx.push(i as u32);
                    add_keys.push(*key);
                }
            }
            for key in &keys {
                if self.members.contains(*key) && !passing.contains(key) {
                    dropped.insert(*key);
                }
            }
            add_batches.push(take_rows(&pass_rows, &new_idx)?);
            if !kept_keys.is_empty() {
                let kept = take_rows(&pass_rows, &kept_idx)?;
                let view_schema = self.program.schema();
                let touched = changed_columns(&update, &base, &view_schema);
                for (field, column) in kept.schema().fields().iter().zip(kept.columns()) {
                    if touched.contains(field.name().as_str()) {
                        changes.push(ColumnChange::new(
                            field.name().as_str(),
                            kept_keys.clone(),
                            Arc::clone(column),
                        )?);
                    }
                }
            }
        }
        self.members.difference_with(&dropped);
        let mut removed = removed;
        removed.union_with(&dropped);
        // Added rows in ascending key order.
        let schema = self.program.schema();
        let all = arrow_select::concat::concat_batches(&schema, &add_batches)
            .map_err(|e| QueryError::exec(e.into()))?;
        let order = sort_order(&add_keys);
        let sorted_keys: Vec<RowKey> = order.iter().map(|i| add_keys[*i as usize]).collect();
        let sorted = take_rows(&all, &order)?;
        self.members
            .union_with(&RowSet::from_sorted_keys(&sorted_keys)?);
        Ok(TableUpdate::new(
            step,
            removed,
            AddedRows::new(sorted_keys, sorted)?,
            changes,
        )?)
    }
}

/// The view columns whose values a modification can change: the modified base columns and
/// every computed column.
fn changed_columns<'a>(
    update: &'a TableUpdate,
    base: &SchemaRef,
    view: &'a SchemaRef,
) -> HashSet<&'a str> {
    let mut touched: HashSet<&str> = update.modified_columns().into_iter().collect();
    for field in view.fields().iter().skip(base.fields().len()) {
        touched.insert(field.name().as_str());
    }
    touched
}

/// `batch`'s columns in the order of `schema` (matched by name).
fn conform(schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = batch
            .column_by_name(field.name())
            .ok_or_else(|| QueryError::InvalidView {
                view: "(live view)".to_owned(),
                reason: format!("its base's update lacks column {}", field.name()),
            })?;
        columns.push(Arc::clone(column));
    }
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options)
        .map_err(|e| QueryError::exec(e.into()))
}

/// The rows of `keys` (ascending, all present) in `snapshot`, as one batch.
fn rows_of(snapshot: &Snapshot, keys: &[RowKey]) -> Result<RecordBatch> {
    let mut slices = Vec::new();
    let mut run: Option<(usize, usize)> = None;
    for key in keys {
        let position = snapshot
            .position_of(*key)
            .ok_or_else(|| QueryError::InvalidView {
                view: "(live view)".to_owned(),
                reason: format!("its base modified row {key}, which it does not hold"),
            })?;
        run = match run {
            Some((start, end)) if end == position => Some((start, end + 1)),
            Some((start, end)) => {
                slices.extend(snapshot.rows_at(start..end).map(|(_, b)| b));
                Some((position, position + 1))
            }
            None => Some((position, position + 1)),
        };
    }
    if let Some((start, end)) = run {
        slices.extend(snapshot.rows_at(start..end).map(|(_, b)| b));
    }
    arrow_select::concat::concat_batches(snapshot.schema().arrow(), &slices)
        .map_err(|e| QueryError::exec(e.into()))
}

fn take_rows(batch: &RecordBatch, indices: &[u32]) -> Result<RecordBatch> {
    if indices.len() == batch.num_rows()
        && indices.iter().enumerate().all(|(i, j)| i == *j as usize)
    {
        return Ok(batch.clone());
    }
    let indices = UInt32Array::from(indices.to_vec());
    arrow_select::take::take_record_batch(batch, &indices).map_err(|e| QueryError::exec(e.into()))
}

/// Positions of `keys` in ascending key order.
fn sort_order(keys: &[RowKey]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    order.sort_by_key(|i| keys[*i as usize]);
    order
}

/// Concatenates keyed parts into one keyed batch.
fn concat_parts<'a>(
    schema: &TableSchema,
    parts: impl Iterator<Item = (&'a [RowKey], RecordBatch)>,
) -> Result<(Vec<RowKey>, RecordBatch)> {
    let mut keys = Vec::new();
    let mut batches = Vec::new();
    for (k, b) in parts {
        keys.extend_from_slice(k);
        batches.push(b);
    }
    let batch = arrow_select::concat::concat_batches(schema.arrow(), &batches)
        .map_err(|e| QueryError::exec(e.into()))?;
    Ok((keys, batch))
}
