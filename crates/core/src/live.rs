//! The live in-memory table: one writer path, any number of readers, no reader ever sees half a
//! step.
//!
//! # Locking
//!
//! A [`LiveTable`] is a shared handle to two locks:
//!
//! * the *writer lock* serializes writers. A writer takes it, computes the next [`Snapshot`]
//!   with [`Snapshot::apply`] (which rebuilds only the chunks the step touches) and only then
//! * takes the *state lock* for a moment to swap in the new snapshot and push the step onto the
//!   table's [history](crate::history).
//!
//! Readers take only the state lock, and only to clone an `Arc`-backed snapshot or the `Arc`s of
//! the history entries after their cursor, so a reader never waits for a writer's computation
//! and a writer never waits for a reader's work. [`LiveTable::subscribe`] takes the snapshot and
//! sets the subscription's cursor to its step under the state lock, the same lock under which
//! every step is recorded; therefore the first update a subscription sees is exactly the one
//! after its snapshot (no gap, no duplicate).
//!
//! After recording a step the writer bumps a [`tokio::sync::watch`] channel, which wakes the
//! subscribers parked in `next`. Recording is O(1) (one push onto a bounded queue, at most one
//! entry dropped) whatever the number of subscribers and however far behind they are.
//!
//! Locks are `std::sync::Mutex`es, never held across an `.await`. A panic while a lock is held
//! cannot leave the state half-updated (the state changes by swapping whole values), so a
//! poisoned lock is recovered rather than propagated.
//!
//! # Failure
//!
//! [`LiveTable::fail`] moves the table into a terminal failed state. Snapshots, subscriptions
//! and writes then fail with [`CoreError::TableFailed`] carrying the cause; subscribers first
//! receive every step recorded before the failure.

use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::RecordBatch;
use tokio::sync::watch;

use crate::chunk::{ChunkBounds, ChunkStats};
use crate::error::{CoreError, Result};
use crate::history::{Entry, History, SchemaEntry};
use crate::row_set::{RowKey, RowSet};
use crate::schema::TableSchema;
use crate::schema_change::{ColumnId, SchemaChange, plan_change};
use crate::snapshot::Snapshot;
use crate::subscription::{SubscribeOptions, Subscription};
use crate::update::{AddedRows, ColumnChange, Step, TableUpdate};

/// How a [`LiveTable`] behaves.
///
/// ```
/// use tableshare_core::{ChunkBounds, LiveTableOptions};
///
/// let options = LiveTableOptions::default()
///     .with_blink(true)
///     .with_history_capacity(16)
///     .with_chunk_bounds(ChunkBounds::new(1024));
/// assert!(options.blink);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LiveTableOptions {
    /// Blink mode: every step replaces all rows, so the table holds only the rows the last step
    /// added. Updates say so explicitly (each removes the previous step's rows), so subscribers
    /// need no special handling. Blink tables reject column changes.
    pub blink: bool,
    /// How many recent steps the table keeps for its subscribers (default 1024, at least 1). No
    /// subscriber can fall further behind than this and still catch up by coalescing; each
    /// subscriber's own [capacity](SubscribeOptions::capacity) may be smaller. Memory: up to this
    /// many updates stay alive.
    pub history_capacity: usize,
    /// The size bounds of the table's chunks (default: [`ChunkBounds::default`]).
    pub chunk_bounds: ChunkBounds,
}

impl LiveTableOptions {
    /// The default history capacity.
    pub const DEFAULT_HISTORY_CAPACITY: usize = 1024;

    /// With blink mode on or off.
    pub fn with_blink(mut self, blink: bool) -> Self {
        self.blink = blink;
        self
    }

    /// With a history of `capacity` steps.
    pub fn with_history_capacity(mut self, capacity: usize) -> Self {
        self.history_capacity = capacity;
        self
    }

    /// With chunks bounded by `bounds`.
    pub fn with_chunk_bounds(mut self, bounds: ChunkBounds) -> Self {
        self.chunk_bounds = bounds;
        self
    }
}

impl Default for LiveTableOptions {
    fn default() -> Self {
        Self {
            blink: false,
            history_capacity: Self::DEFAULT_HISTORY_CAPACITY,
            chunk_bounds: ChunkBounds::default(),
        }
    }
}

/// A thread-safe, in-memory table that moves forward one atomic [`TableUpdate`] at a time.
///
/// Cloning gives another handle to the same table (`Send + Sync`). When the last handle is
/// dropped, subscriptions end after delivering what was recorded.
///
/// # Guarantees
///
/// * **Atomic steps.** An update is validated in full before anything changes; it is either
///   applied as one step or rejected with the table untouched. Readers see whole steps only.
/// * **Lockstep subscriptions.** [`subscribe`](Self::subscribe) returns a snapshot and a
///   [`Subscription`] whose updates start exactly after that snapshot: no gap, no duplicate.
///   [`subscribe_from`](Self::subscribe_from) resumes a reader that holds an earlier step.
/// * **Readers never slow writers.** A write records its step with an O(1) push onto one bounded
///   history, however many subscribers there are and however far behind; snapshots are `Arc`
///   clones. Writers are serialized among themselves.
/// * **Bounded memory.** The history holds the last
///   [`history_capacity`](LiveTableOptions::history_capacity) steps. A subscriber that falls
///   behind catches up by coalescing; one that falls behind by more than its capacity resyncs
///   from a snapshot. Nothing grows with a reader's lag.
/// * **Schema changes are steps.** [`change_schema`](Self::change_schema) moves the table to a
///   new schema; subscribers receive it as an event, renamed columns stay the same column.
/// * **Failure is terminal and visible.** After [`fail`](Self::fail), snapshots, new
///   subscriptions and writes return [`CoreError::TableFailed`]; subscribers receive the steps
///   recorded before, then the error.
///
/// A step costs time in proportion to the rows it changes and the chunks they fall in, not to
/// the table's size (see [`Snapshot`]'s cost section).
///
/// See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct LiveTable {
    shared: Arc<Shared>,
}

/// What every handle shares. Subscriptions hold the state, not this, so that dropping the last
/// handle drops the watch sender and ends them.
struct Shared {
    blink: bool,
    /// Serializes writers; held while the next snapshot is computed.
    writer: Mutex<()>,
    /// Held only briefly: to read, or to swap in a new state and record a step.
    state: Arc<Mutex<State>>,
    /// Bumped after every recorded step and on failure; wakes parked subscribers.
    wake: watch::Sender<()>,
}

/// The table's state, shared with its subscriptions.
pub(crate) struct State {
    pub(crate) snapshot: Snapshot,
    /// The identities of the schema's columns, in schema order.
    pub(crate) columns: Arc<[ColumnId]>,
    next_column: ColumnId,
    /// The step at which the current schema took effect.
    pub(crate) schema_step: Step,
    pub(crate) history: History,
    next_key: RowKey,
    pub(crate) failure: Option<Arc<dyn StdError + Send + Sync>>,
    stats: ChunkStats,
}

impl State {
    pub(crate) fn check_failed(&self) -> Result<()> {
        match &self.failure {
            Some(source) => Err(CoreError::TableFailed {
                source: source.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// Locks `mutex`, recovering from poisoning: every critical section in this crate leaves the
/// protected value whole (it assigns complete values), so a panic elsewhere cannot have left it
/// inconsistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LiveTable {
    /// An empty table at step 0.
    pub fn new(schema: TableSchema, options: LiveTableOptions) -> Self {
        Self::start(Snapshot::empty(schema), 0, options)
    }

    /// A table that starts with the content and step of `snapshot` (for instance a version
    /// loaded from storage, or a replica of a remote table), re-cut to the options' chunk bounds
    /// if they differ. New keys from [`append`](Self::append) start after the largest key in
    /// `snapshot`.
    pub fn from_snapshot(snapshot: Snapshot, options: LiveTableOptions) -> Self {
        let next_key = snapshot.last_key().map_or(0, |key| key.saturating_add(1));
        Self::start(snapshot, next_key, options)
    }

    fn start(snapshot: Snapshot, next_key: RowKey, options: LiveTableOptions) -> Self {
        let snapshot = snapshot.with_chunk_bounds(options.chunk_bounds);
        let width = snapshot.schema().arrow().fields().len();
        let columns: Arc<[ColumnId]> = (0..width as ColumnId).collect();
        let state = State {
            history: History::new(snapshot.step(), options.history_capacity),
            schema_step: 0,
            snapshot,
            columns,
            next_column: width as ColumnId,
            next_key,
            failure: None,
            stats: ChunkStats::default(),
        };
        let (wake, _) = watch::channel(());
        let shared = Shared {
            blink: options.blink,
            writer: Mutex::new(()),
            state: Arc::new(Mutex::new(state)),
            wake,
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// The current schema.
    pub fn schema(&self) -> TableSchema {
        lock(&self.shared.state).snapshot.schema().clone()
    }

    /// Whether this is a blink table.
    pub fn is_blink(&self) -> bool {
        self.shared.blink
    }

    /// The current step (also when the table has failed).
    pub fn step(&self) -> Step {
        lock(&self.shared.state).snapshot.step()
    }

    /// The key [`append`](Self::append) will give its first row: one past the largest key the
    /// table has ever held.
    pub fn next_key(&self) -> RowKey {
        lock(&self.shared.state).next_key
    }

    /// Makes [`append`](Self::append) assign keys from at least `next_key` on; never moves the
    /// next key backwards. For a table loaded from storage that records its next key, so that
    /// keys of rows deleted at the end are not handed out again.
    pub fn advance_next_key(&self, next_key: RowKey) {
        let _writer = lock(&self.shared.writer);
        let mut state = lock(&self.shared.state);
        state.next_key = state.next_key.max(next_key);
    }

    /// How many subscriptions are receiving updates.
    pub fn subscriber_count(&self) -> usize {
        self.shared.wake.receiver_count()
    }

    /// How many chunk splits and merges the steps of this table took so far (a diagnostic of
    /// the [size rules](ChunkBounds)).
    pub fn chunk_stats(&self) -> ChunkStats {
        lock(&self.shared.state).stats
    }

    /// The failure cause, if the table has failed.
    pub fn failure(&self) -> Option<Arc<dyn StdError + Send + Sync>> {
        lock(&self.shared.state).failure.clone()
    }

    /// The current content: a consistent view of one step.
    ///
    /// # Errors
    ///
    /// [`CoreError::TableFailed`] once the table has failed.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let state = lock(&self.shared.state);
        state.check_failed()?;
        Ok(state.snapshot.clone())
    }

    /// A snapshot and a subscription (with default [`SubscribeOptions`]) to every step after
    /// it, taken atomically: the subscription's first update produces step
    /// `snapshot.step() + 1` (or, for a reader that lagged, a later step that includes it).
    ///
    /// # Errors
    ///
    /// [`CoreError::TableFailed`] once the table has failed.
    pub fn subscribe(&self) -> Result<(Snapshot, Subscription)> {
        self.subscribe_with(SubscribeOptions::default())
    }

    /// [`subscribe`](Self::subscribe) with `options`.
    ///
    /// # Errors
    ///
    /// [`CoreError::TableFailed`] once the table has failed.
    pub fn subscribe_with(&self, options: SubscribeOptions) -> Result<(Snapshot, Subscription)> {
        let state = lock(&self.shared.state);
        state.check_failed()?;
        let snapshot = state.snapshot.clone();
        let known = Some((snapshot.schema().clone(), state.columns.clone()));
        let receiver = self.shared.wake.subscribe();
        drop(state);
        let subscription = Subscription::new(
            self.shared.state.clone(),
            receiver,
            snapshot.step(),
            known,
            options,
        );
        Ok((snapshot, subscription))
    }

    /// A subscription for a reader that already holds the table at step `step` (say, a remote
    /// reader resuming after a reconnect): it delivers what came after `step`, coalesced, while
    /// those steps are still in the table's history and within the subscriber's capacity, and
    /// otherwise resyncs (a schema change event first if the schema changed, then one
    /// [reset](TableUpdate::reset) update to the current step).
    ///
    /// # Errors
    ///
    /// [`CoreError::TableFailed`] once the table has failed; [`CoreError::StepAhead`] if `step`
    /// is after the table's current step.
    pub fn subscribe_from(&self, step: Step, options: SubscribeOptions) -> Result<Subscription> {
        let state = lock(&self.shared.state);
        state.check_failed()?;
        let current = state.snapshot.step();
        if step > current {
            return Err(CoreError::StepAhead { step, current });
        }
        // What the reader's columns are at `step`, when the table can tell.
        let known = match state.history.first_schema_change_after(step) {
            Some(change) => Some((change.previous.clone(), change.previous_columns.clone())),
            None if step >= state.schema_step => {
                Some((state.snapshot.schema().clone(), state.columns.clone()))
            }
            None => None,
        };
        let receiver = self.shared.wake.subscribe();
        drop(state);
        Ok(Subscription::new(
            self.shared.state.clone(),
            receiver,
            step,
            known,
            options,
        ))
    }

    /// Applies `update` as the next step and returns that step. The update's own step label is
    /// ignored: the table numbers its steps itself. In blink mode the previous step's rows are
    /// removed as well.
    ///
    /// Validation happens before anything changes: on error the table is untouched.
    ///
    /// # Errors
    ///
    /// [`CoreError::TableFailed`]; the errors of [`Snapshot::apply`]; in blink mode
    /// [`CoreError::BlinkModification`] for an update with column changes.
    pub fn apply(&self, update: TableUpdate) -> Result<Step> {
        self.commit(None, |_, _| Ok(update))
    }

    /// Applies `update` at its own step, which must be later than the current one. For tables
    /// that mirror another table's steps (a replica, a subscriber's copy), where a coalesced
    /// update may skip step numbers.
    ///
    /// # Errors
    ///
    /// [`CoreError::StepOrder`] if `update.step()` is not after the current step; otherwise as
    /// [`apply`](Self::apply).
    pub fn apply_at(&self, update: TableUpdate) -> Result<Step> {
        let step = update.step();
        self.commit(Some(step), |_, _| Ok(update))
    }

    /// Adds the rows of `batch` (columns matched by name) under fresh ascending keys starting at
    /// [`next_key`](Self::next_key), as the next step.
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply), and [`CoreError::CounterOverflow`] if the keys would pass
    /// `u64::MAX`.
    pub fn append(&self, batch: RecordBatch) -> Result<Step> {
        self.commit(None, |_, next_key| {
            let rows = u64::try_from(batch.num_rows())
                .map_err(|_| CoreError::CounterOverflow { counter: "row key" })?;
            let end = next_key
                .checked_add(rows)
                .ok_or(CoreError::CounterOverflow { counter: "row key" })?;
            // The keys are one run: held as the range, an append of any size costs no keys.
            let added = AddedRows::from_key_ranges(
                batch.schema(),
                std::iter::once(next_key..end),
                vec![batch],
            )?;
            TableUpdate::new(0, RowSet::new(), added, Vec::new())
        })
    }

    /// Removes the rows `keys` as the next step.
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply); [`CoreError::KeyNotPresent`] if a key is absent.
    pub fn remove(&self, keys: RowSet) -> Result<Step> {
        self.commit(None, |current, _| {
            let schema = current.schema().arrow().clone();
            TableUpdate::new(0, keys, AddedRows::empty(schema), Vec::new())
        })
    }

    /// Changes columns of existing rows as the next step.
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply) and [`TableUpdate::new`].
    pub fn modify(&self, changes: Vec<ColumnChange>) -> Result<Step> {
        self.commit(None, |current, _| {
            let schema = current.schema().arrow().clone();
            TableUpdate::new(0, RowSet::new(), AddedRows::empty(schema), changes)
        })
    }

    /// Moves the table to `schema` as the next step, changing no row. `renames` lists
    /// `(old name, new name)` pairs; otherwise a column of `schema` continues the old column of
    /// the same name. Continued columns keep their values (and their identity: subscribers see a
    /// rename, not a drop and an add), new columns start out null, old columns nothing
    /// continues are dropped. Subscribers receive a [`SchemaChange`] event; the updates after it
    /// are under `schema`.
    ///
    /// Costs O(chunks × columns), plus one null array per new column (O(rows)).
    ///
    /// # Errors
    ///
    /// [`CoreError::TableFailed`]; for bad renames [`CoreError::UnknownColumn`] or
    /// [`CoreError::DuplicateColumn`]; [`CoreError::ColumnTypeMismatch`] if a continued column
    /// would change type; [`CoreError::NullInNonNullableColumn`] if a non-nullable column would
    /// hold nulls.
    pub fn change_schema(&self, schema: TableSchema, renames: &[(&str, &str)]) -> Result<Step> {
        let _writer = lock(&self.shared.writer);
        let (current, columns, mut next_column) = {
            let state = lock(&self.shared.state);
            state.check_failed()?;
            (
                state.snapshot.clone(),
                state.columns.clone(),
                state.next_column,
            )
        };
        let step = next_step(current.step())?;
        let (sources, ids) = plan_change(
            current.schema(),
            &columns,
            &schema,
            renames,
            &mut next_column,
        )?;
        let change = SchemaChange::new_unchecked(step, schema.clone(), sources);
        let next = change.apply(&current)?;
        let ids: Arc<[ColumnId]> = Arc::from(ids);
        let entry = SchemaEntry {
            schema,
            columns: ids.clone(),
            previous: current.schema().clone(),
            previous_columns: columns,
        };

        let mut state = lock(&self.shared.state);
        state.check_failed()?;
        state.snapshot = next;
        state.columns = ids;
        state.next_column = next_column;
        state.schema_step = step;
        state.history.push(step, Entry::Schema(Arc::new(entry)));
        drop(state);
        self.shared.wake.send_replace(());
        Ok(step)
    }

    /// Puts the table into the failed state with `error` as the cause. From then on snapshots,
    /// new subscriptions and writes fail with [`CoreError::TableFailed`]; existing subscribers
    /// receive the steps recorded before, then the error. Failing a failed table keeps the
    /// first cause.
    pub fn fail(&self, error: impl Into<Box<dyn StdError + Send + Sync>>) {
        let mut state = lock(&self.shared.state);
        if state.failure.is_none() {
            state.failure = Some(Arc::from(error.into()));
            drop(state);
            self.shared.wake.send_replace(());
        }
    }

    /// The write path. `build` sees the current snapshot and next key and returns the update;
    /// `step` is the step to produce (`None`: the next one).
    fn commit(
        &self,
        step: Option<Step>,
        build: impl FnOnce(&Snapshot, RowKey) -> Result<TableUpdate>,
    ) -> Result<Step> {
        let _writer = lock(&self.shared.writer);
        let (current, next_key) = {
            let state = lock(&self.shared.state);
            state.check_failed()?;
            (state.snapshot.clone(), state.next_key)
        };
        let update = build(&current, next_key)?;
        let step = match step {
            Some(step) if step > current.step() => step,
            Some(step) => {
                return Err(CoreError::StepOrder {
                    previous: current.step(),
                    next: step,
                });
            }
            None => next_step(current.step())?,
        };
        // Conformed to the table's schema, so subscribers receive updates of exactly that schema.
        let update = update.with_step(step).conform(current.schema().arrow())?;
        let update = if self.shared.blink {
            blink_update(&current, update)?
        } else {
            update
        };
        let (next, stats) = current.apply_counted(&update)?;
        let next_key = match update.added().key_buffer().last() {
            Some(last) => next_key.max(last.saturating_add(1)),
            None => next_key,
        };

        let mut state = lock(&self.shared.state);
        // The table may have failed while the update was computed.
        state.check_failed()?;
        state.snapshot = next;
        state.next_key = next_key;
        state.stats.add(stats);
        // Recorded under the state lock, so `subscribe` sees either the old snapshot and this
        // step, or the new snapshot and a cursor past it.
        state.history.push(step, Entry::Update(Arc::new(update)));
        drop(state);
        self.shared.wake.send_replace(());
        Ok(step)
    }
}

/// The step after `step`.
fn next_step(step: Step) -> Result<Step> {
    step.checked_add(1)
        .ok_or(CoreError::CounterOverflow { counter: "step" })
}

/// Turns an update of a blink table into what it means: every previous row goes, the added
/// rows come. Costs the previous step's rows, which is what a blink step replaces anyway.
fn blink_update(current: &Snapshot, update: TableUpdate) -> Result<TableUpdate> {
    if let Some(change) = update.modified().first() {
        return Err(CoreError::BlinkModification {
            column: change.column().to_owned(),
        });
    }
    if let Some(key) = update
        .removed()
        .iter()
        .find(|key| !current.contains_key(*key))
    {
        return Err(CoreError::KeyNotPresent { key });
    }
    let (step, _, added, _) = update.into_parts();
    Ok(TableUpdate::from_parts_unchecked(
        step,
        current.to_key_set(),
        added,
        Vec::new(),
    ))
}

impl fmt::Debug for LiveTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("LiveTable")
            .field("schema", state.snapshot.schema())
            .field("blink", &self.shared.blink)
            .field("step", &state.snapshot.step())
            .field("rows", &state.snapshot.num_rows())
            .field("chunks", &state.snapshot.num_chunks())
            .field("next_key", &state.next_key)
            .field("subscribers", &self.shared.wake.receiver_count())
            .field("failure", &state.failure)
            .finish()
    }
}

#[cfg(test)]
mod tests;
