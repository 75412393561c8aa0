//! Following a live table: every step after a known one, exactly once, in bounded memory.
//!
//! A [`Subscription`] is a cursor into the table's [history](crate::history) of recent steps.
//! Each call to [`next`](Subscription::next) (or [`try_next`](Subscription::try_next)) takes
//! every step recorded after the cursor and coalesces them into one update, so a reader that
//! fell behind catches up in one step and a fast reader sees every step. What it returns always
//! takes the reader from the step it last received to a later one: no gap, no duplicate.
//!
//! A schema change is a step that cannot be coalesced with its neighbours: it arrives as an
//! event of its own ([`TableEvent::SchemaChange`]) between the updates before it and those
//! after it.
//!
//! If the reader fell further behind than its capacity ([`SubscribeOptions::capacity`]) or the
//! table's history, it *resyncs*: it takes the table's current snapshot and returns one
//! [reset](crate::TableUpdate::reset) update to its step (every row the reader holds goes, the
//! snapshot comes), preceded by a schema change event if the schema changed in between. A reset
//! needs no knowledge of what the reader holds, so the subscription tracks no keys: its memory is
//! a cursor, and the table's history is shared by all subscribers.

use std::fmt;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::error::{CoreError, Result};
use crate::history::{Entry, SchemaEntry};
use crate::live::{State, lock};
use crate::schema::TableSchema;
use crate::schema_change::{ColumnId, SchemaChange};
use crate::snapshot::Snapshot;
use crate::update::{AddedRows, Step, TableUpdate};

/// How a subscription follows its table.
///
/// ```
/// use tableshare_core::SubscribeOptions;
///
/// assert_eq!(SubscribeOptions::default().with_capacity(8).capacity, 8);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeOptions {
    /// How many steps the subscriber may fall behind and still catch up by coalescing them
    /// (default 64, at least 1). Further behind, it resyncs from a snapshot. Capped in effect by
    /// the table's [`history_capacity`](crate::LiveTableOptions::history_capacity).
    pub capacity: usize,
}

impl SubscribeOptions {
    /// The default capacity.
    pub const DEFAULT_CAPACITY: usize = 64;

    /// With a capacity of `capacity` steps.
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        Self {
            capacity: Self::DEFAULT_CAPACITY,
        }
    }
}

/// What a subscription delivers.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TableEvent {
    /// Rows changed: one or more steps, coalesced.
    Update(TableUpdate),
    /// The schema changed; the updates after it are under the new schema.
    SchemaChange(SchemaChange),
}

impl TableEvent {
    /// The step the event takes the reader to.
    pub fn step(&self) -> Step {
        match self {
            Self::Update(update) => update.step(),
            Self::SchemaChange(change) => change.step(),
        }
    }

    /// The update, if this is one.
    pub fn into_update(self) -> Option<TableUpdate> {
        match self {
            Self::Update(update) => Some(update),
            Self::SchemaChange(_) => None,
        }
    }

    /// A reader's copy after this event: [`Snapshot::apply`] or [`SchemaChange::apply`].
    ///
    /// # Errors
    ///
    /// As those.
    pub fn apply_to(&self, snapshot: &Snapshot) -> Result<Snapshot> {
        match self {
            Self::Update(update) => snapshot.apply(update),
            Self::SchemaChange(change) => change.apply(snapshot),
        }
    }
}

/// The steps of a [`LiveTable`](crate::LiveTable) after a known one, from
/// [`LiveTable::subscribe`](crate::LiveTable::subscribe) or
/// [`LiveTable::subscribe_from`](crate::LiveTable::subscribe_from).
///
/// Each [`next`](Self::next) or [`try_next`](Self::try_next) returns one [`TableEvent`] that
/// takes the reader from the step it last received to a later one: every update recorded in
/// between, [coalesced](crate::TableUpdate::coalesce), or a schema change. Apply what you receive
/// to your copy with [`TableEvent::apply_to`] to follow the table.
///
/// If the reader falls further behind than its capacity, it *resyncs*: one
/// [reset](crate::TableUpdate::reset) update to the table's current step (counted by
/// [`resyncs`](Self::resyncs)). That costs bandwidth, not correctness.
///
/// Dropping the subscription unsubscribes. While it lives it keeps the table's last state
/// reachable, so that it can deliver what was recorded before the last handle was dropped.
pub struct Subscription {
    state: Arc<Mutex<State>>,
    wake: watch::Receiver<()>,
    /// The step of the last event delivered (initially the reader's).
    cursor: Step,
    capacity: usize,
    /// The reader's schema and column identities, when known.
    known: Option<(TableSchema, Arc<[ColumnId]>)>,
    /// The next delivery must be a reset (a resync began with a schema change).
    must_reset: bool,
    resyncs: u64,
    /// No event will follow (the table is gone, or failed and the failure was delivered).
    finished: bool,
}

/// What to deliver, decided under the state lock and carried out after it.
enum Plan {
    Updates(Vec<Arc<TableUpdate>>),
    Schema(SchemaChange, Option<(TableSchema, Arc<[ColumnId]>)>),
    Reset(Snapshot),
    Fail(CoreError),
    Nothing,
}

impl Subscription {
    pub(crate) fn new(
        state: Arc<Mutex<State>>,
        wake: watch::Receiver<()>,
        cursor: Step,
        known: Option<(TableSchema, Arc<[ColumnId]>)>,
        options: SubscribeOptions,
    ) -> Self {
        Self {
            state,
            wake,
            cursor,
            capacity: options.capacity.max(1),
            known,
            must_reset: false,
            resyncs: 0,
            finished: false,
        }
    }

    /// Waits for the next event: every step recorded since the last one returned, coalesced
    /// into one update that produces the latest of them, or a schema change.
    ///
    /// Returns `Some(Err(`[`CoreError::TableFailed`]`))` once when the table fails (after the
    /// steps recorded before the failure), and `None` after that or when every handle to the
    /// table has been dropped and every step delivered.
    ///
    /// Cancel safe: if the future is dropped before it completes (say, in a `select!`), no
    /// step is lost; the next call returns it.
    pub async fn next(&mut self) -> Option<Result<TableEvent>> {
        loop {
            let closed = self.wake.has_changed().is_err();
            self.wake.borrow_and_update();
            if let Some(event) = self.poll() {
                return Some(event);
            }
            if self.finished || closed {
                self.finished = true;
                return None;
            }
            // An error means the table is gone; the next round delivers what is left.
            let _ = self.wake.changed().await;
        }
    }

    /// Like [`next`](Self::next), without waiting: `None` when no event is ready now. Use
    /// [`is_finished`](Self::is_finished) to tell "nothing yet" from "nothing ever".
    pub fn try_next(&mut self) -> Option<Result<TableEvent>> {
        let closed = self.wake.has_changed().is_err();
        let event = self.poll();
        if event.is_none() && closed {
            self.finished = true;
        }
        event
    }

    /// The step of the last event returned (at first, the reader's step).
    pub fn step(&self) -> Step {
        self.cursor
    }

    /// How many times this subscription fell behind and resynced from a snapshot.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Whether the subscription has ended: no event or error will follow.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The next event, if one is ready.
    fn poll(&mut self) -> Option<Result<TableEvent>> {
        if self.finished {
            return None;
        }
        let plan = self.plan();
        let outcome = match plan {
            Plan::Nothing => return None,
            Plan::Fail(error) => {
                self.finished = true;
                Err(error)
            }
            Plan::Schema(change, known) => {
                self.cursor = change.step();
                self.known = known;
                Ok(TableEvent::SchemaChange(change))
            }
            Plan::Updates(updates) => self.coalesce(updates).map(TableEvent::Update),
            Plan::Reset(snapshot) => self.reset(&snapshot).map(TableEvent::Update),
        };
        Some(outcome)
    }

    /// Decides what to deliver, under the state lock (O(steps read) `Arc` clones).
    fn plan(&mut self) -> Plan {
        let state = lock(&self.state);
        let entries = if self.must_reset {
            None
        } else {
            state
                .history
                .since(self.cursor)
                .filter(|entries| entries.len() <= self.capacity)
        };
        let Some(entries) = entries else {
            // Out of reach: resync, unless the table failed.
            if let Err(error) = state.check_failed() {
                return Plan::Fail(error);
            }
            if self.cursor < state.schema_step {
                let current = (state.snapshot.schema().clone(), state.columns.clone());
                let change = self.change_to(state.schema_step, &current, None, true);
                self.must_reset = true;
                return Plan::Schema(change, Some(current));
            }
            return Plan::Reset(state.snapshot.clone());
        };
        let mut updates = Vec::new();
        for (step, entry) in entries {
            match entry {
                Entry::Update(update) => updates.push(update.clone()),
                Entry::Schema(entry) if updates.is_empty() => {
                    let current = (entry.schema.clone(), entry.columns.clone());
                    let change = self.change_to(*step, &current, Some(entry), false);
                    return Plan::Schema(change, Some(current));
                }
                Entry::Schema(_) => break,
            }
        }
        if !updates.is_empty() {
            return Plan::Updates(updates);
        }
        match state.check_failed() {
            Err(error) => Plan::Fail(error),
            Ok(()) => Plan::Nothing,
        }
    }

    /// The schema change from the reader's columns to `target` at `step`. Columns are matched
    /// by identity: the reader's own when known, else those recorded with `entry`.
    fn change_to(
        &self,
        step: Step,
        target: &(TableSchema, Arc<[ColumnId]>),
        entry: Option<&SchemaEntry>,
        resync: bool,
    ) -> SchemaChange {
        let previous = self
            .known
            .as_ref()
            .map(|(schema, ids)| (schema, ids.as_ref()));
        let previous =
            previous.or(entry.map(|entry| (&entry.previous, entry.previous_columns.as_ref())));
        let change = match previous {
            Some((schema, ids)) => SchemaChange::between(step, schema, ids, &target.0, &target.1),
            None => SchemaChange::new_unchecked(step, target.0.clone(), vec![None; target.1.len()]),
        };
        if resync { change.for_resync() } else { change }
    }

    /// Folds `updates` (consecutive, after the cursor) into one.
    fn coalesce(&mut self, updates: Vec<Arc<TableUpdate>>) -> Result<TableUpdate> {
        let mut updates = updates.into_iter().map(Arc::unwrap_or_clone);
        let first = updates.next().ok_or(CoreError::StepOrder {
            previous: self.cursor,
            next: self.cursor,
        })?;
        let update = updates.try_fold(first, TableUpdate::coalesce)?;
        self.cursor = update.step();
        Ok(update)
    }

    /// One update from whatever the reader holds to `snapshot` (O(table), on the reader's side).
    fn reset(&mut self, snapshot: &Snapshot) -> Result<TableUpdate> {
        let added = AddedRows::new_unchecked(snapshot.key_vec(), snapshot.concat()?);
        self.cursor = snapshot.step();
        self.must_reset = false;
        self.resyncs += 1;
        Ok(TableUpdate::reset(snapshot.step(), added))
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("step", &self.cursor)
            .field("capacity", &self.capacity)
            .field("resyncs", &self.resyncs)
            .field("finished", &self.finished)
            .finish()
    }
}

#[cfg(test)]
mod tests;
