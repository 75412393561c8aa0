//! The live in-memory table: one writer path, any number of readers, no reader ever sees half a
//! step.
//!
//! # Locking
//!
//! A [`LiveTable`] is a shared handle to two locks:
//!
//! * the *writer lock* serializes writers. A writer takes it, computes the next [`Snapshot`]
//!   with [`Snapshot::apply`] (linear in the table's size) and only then
//! * takes the *state lock* for a moment to swap in the new snapshot and publish the update.
//!
//! Readers only ever take the state lock, and only to clone an `Arc`-backed snapshot, so a reader
//! never waits for a writer's computation and a writer never waits for a reader's work.
//! [`LiveTable::subscribe`] takes the snapshot and registers the subscription under the state
//! lock, the same lock under which every update is published; therefore the first update a
//! subscription sees is exactly the one after its snapshot (no gap, no duplicate).
//!
//! Publishing is one `send` on a [`tokio::sync::broadcast`] ring per step: it never waits for a
//! reader and its cost does not depend on how far behind any reader is (it wakes the
//! subscribers parked in `next`). The ring keeps the last `subscriber_capacity` updates; a
//! subscriber that falls further behind is told it lagged and resyncs from a fresh snapshot (see
//! [`Subscription`]). A larger capacity lets slow readers catch up by coalescing more often
//! instead of resyncing, at the price of keeping up to that many recent updates alive (memory
//! grows with the capacity times the update size, never with how far behind a reader is).
//!
//! Locks are `std::sync::Mutex`es, never held across an `.await`. A panic while a lock is held
//! cannot leave the state half-updated (the state changes by swapping whole values), so a
//! poisoned lock is recovered rather than propagated.
//!
//! # Failure
//!
//! [`LiveTable::fail`] moves the table into a terminal failed state. Snapshots, subscriptions
//! and writes then fail with [`CoreError::TableFailed`] carrying the cause; subscribers first
//! receive every step published before the failure.

use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::RecordBatch;
use tokio::sync::broadcast;

use crate::error::{CoreError, Result};
use crate::row_set::{RowKey, RowSet};
use crate::schema::TableSchema;
use crate::snapshot::Snapshot;
use crate::subscription::{Event, Subscription};
use crate::update::{AddedRows, ColumnChange, Step, TableUpdate};

/// How a [`LiveTable`] behaves.
///
/// ```
/// use tableshare_core::LiveTableOptions;
///
/// let options = LiveTableOptions::default().with_blink(true).with_subscriber_capacity(16);
/// assert!(options.blink);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LiveTableOptions {
    /// Blink mode: every step replaces all rows, so the table holds only the rows the last step
    /// added. Updates say so explicitly (each removes the previous step's rows), so subscribers
    /// need no special handling. Blink tables reject column changes.
    pub blink: bool,
    /// How many recent updates the subscriber ring keeps (default 64; clamped to
    /// `1..=`[`MAX_SUBSCRIBER_CAPACITY`](Self::MAX_SUBSCRIBER_CAPACITY), and rounded up to a
    /// power of two by the ring). A subscriber more than this many steps behind resyncs from a
    /// snapshot instead of catching up by coalescing the missed updates.
    pub subscriber_capacity: usize,
}

impl LiveTableOptions {
    /// The default ring capacity.
    pub const DEFAULT_SUBSCRIBER_CAPACITY: usize = 64;
    /// The largest ring capacity (the ring allocates its slots up front).
    pub const MAX_SUBSCRIBER_CAPACITY: usize = 1 << 16;

    /// With blink mode on or off.
    pub fn with_blink(mut self, blink: bool) -> Self {
        self.blink = blink;
        self
    }

    /// With a subscriber ring of `capacity` updates.
    pub fn with_subscriber_capacity(mut self, capacity: usize) -> Self {
        self.subscriber_capacity = capacity;
        self
    }
}

impl Default for LiveTableOptions {
    fn default() -> Self {
        Self {
            blink: false,
            subscriber_capacity: Self::DEFAULT_SUBSCRIBER_CAPACITY,
        }
    }
}

/// A thread-safe, in-memory table that moves forward one atomic [`TableUpdate`] at a time.
///
/// Cloning gives another handle to the same table (`Send + Sync`). When the last handle is
/// dropped, subscriptions end after delivering what was published.
///
/// # Guarantees
///
/// * **Atomic steps.** An update is validated in full before anything changes; it is either
///   applied as one step or rejected with the table untouched. Readers see whole steps only.
/// * **Lockstep subscriptions.** [`subscribe`](Self::subscribe) returns a snapshot and a
///   [`Subscription`] whose updates start exactly after that snapshot: no gap, no duplicate.
/// * **Readers never slow writers.** A write publishes its update with one send to a bounded
///   ring that never waits for a reader, however many subscribers there are and however far
///   behind; snapshots are `Arc` clones. Writers are serialized among themselves.
/// * **Bounded memory.** The ring holds the last
///   [`subscriber_capacity`](LiveTableOptions::subscriber_capacity) updates. A subscriber that
///   falls behind catches up by coalescing; one that falls behind by more than the ring resyncs
///   from a snapshot. Nothing grows with a reader's lag.
/// * **Failure is terminal and visible.** After [`fail`](Self::fail), snapshots, new
///   subscriptions and writes return [`CoreError::TableFailed`]; subscribers receive the steps
///   published before, then the error.
///
/// Applying an update costs time linear in the table's touched columns (see [`Snapshot::apply`]).
///
/// See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct LiveTable {
    shared: Arc<Shared>,
}

/// What every handle and (weakly) every subscription shares.
pub(crate) struct Shared {
    schema: TableSchema,
    blink: bool,
    /// Serializes writers; held while the next snapshot is computed.
    writer: Mutex<()>,
    /// Held only briefly: to read, or to swap in a new state and publish.
    state: Mutex<State>,
}

struct State {
    snapshot: Snapshot,
    next_key: RowKey,
    failure: Option<Arc<dyn StdError + Send + Sync>>,
    sender: broadcast::Sender<Event>,
}

impl State {
    fn check_failed(&self) -> Result<()> {
        match &self.failure {
            Some(source) => Err(CoreError::TableFailed {
                source: source.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// Locks `mutex`, recovering from poisoning: every critical section in this module leaves the
/// protected value whole (it assigns complete values), so a panic elsewhere cannot have left it
/// inconsistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        let state = lock(&self.state);
        state.check_failed()?;
        Ok(state.snapshot.clone())
    }
}

impl LiveTable {
    /// An empty table at step 0.
    pub fn new(schema: TableSchema, options: LiveTableOptions) -> Self {
        Self::start(Snapshot::empty(schema), 0, options)
    }

    /// A table that starts with the content and step of `snapshot` (for instance a version
    /// loaded from storage, or a replica of a remote table). New keys from
    /// [`append`](Self::append) start after the largest key in `snapshot`.
    pub fn from_snapshot(snapshot: Snapshot, options: LiveTableOptions) -> Self {
        let next_key = snapshot
            .keys()
            .last()
            .map_or(0, |key| key.saturating_add(1));
        Self::start(snapshot, next_key, options)
    }

    fn start(snapshot: Snapshot, next_key: RowKey, options: LiveTableOptions) -> Self {
        let capacity = options
            .subscriber_capacity
            .clamp(1, LiveTableOptions::MAX_SUBSCRIBER_CAPACITY);
        let (sender, _) = broadcast::channel(capacity);
        let state = State {
            snapshot: snapshot.clone(),
            next_key,
            failure: None,
            sender,
        };
        let shared = Shared {
            schema: snapshot.schema().clone(),
            blink: options.blink,
            writer: Mutex::new(()),
            state: Mutex::new(state),
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// The schema.
    pub fn schema(&self) -> &TableSchema {
        &self.shared.schema
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
        lock(&self.shared.state).sender.receiver_count()
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
        self.shared.snapshot()
    }

    /// A snapshot and a subscription to every update after it, taken atomically: the
    /// subscription's first update produces step `snapshot.step() + 1` (or, for a reader that
    /// lagged, a later step that includes it).
    ///
    /// # Errors
    ///
    /// [`CoreError::TableFailed`] once the table has failed.
    pub fn subscribe(&self) -> Result<(Snapshot, Subscription)> {
        let state = lock(&self.shared.state);
        state.check_failed()?;
        let snapshot = state.snapshot.clone();
        let receiver = state.sender.subscribe();
        drop(state);
        let subscription = Subscription::new(Arc::downgrade(&self.shared), receiver, &snapshot);
        Ok((snapshot, subscription))
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
            let added = AddedRows::new((next_key..end).collect(), batch)?;
            TableUpdate::new(0, RowSet::new(), added, Vec::new())
        })
    }

    /// Removes the rows `keys` as the next step.
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply); [`CoreError::KeyNotPresent`] if a key is absent.
    pub fn remove(&self, keys: RowSet) -> Result<Step> {
        let schema = self.shared.schema.arrow().clone();
        self.commit(None, |_, _| {
            TableUpdate::new(0, keys, AddedRows::empty(schema), Vec::new())
        })
    }

    /// Changes columns of existing rows as the next step.
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply) and [`TableUpdate::new`].
    pub fn modify(&self, changes: Vec<ColumnChange>) -> Result<Step> {
        let schema = self.shared.schema.arrow().clone();
        self.commit(None, |_, _| {
            TableUpdate::new(0, RowSet::new(), AddedRows::empty(schema), changes)
        })
    }

    /// Puts the table into the failed state with `error` as the cause. From then on snapshots,
    /// new subscriptions and writes fail with [`CoreError::TableFailed`]; existing subscribers
    /// receive the steps published before, then the error. Failing a failed table keeps the
    /// first cause.
    pub fn fail(&self, error: impl Into<Box<dyn StdError + Send + Sync>>) {
        let mut state = lock(&self.shared.state);
        if state.failure.is_none() {
            let source: Arc<dyn StdError + Send + Sync> = Arc::from(error.into());
            state.failure = Some(source.clone());
            // No subscribers is not an error: nobody needs telling.
            let _ = state.sender.send(Event::Failed(source));
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
            None => current
                .step()
                .checked_add(1)
                .ok_or(CoreError::CounterOverflow { counter: "step" })?,
        };
        // Conformed to the table's schema, so subscribers receive updates of exactly that schema.
        let update = update.with_step(step).conform(self.shared.schema.arrow())?;
        let update = if self.shared.blink {
            blink_update(&current, update)?
        } else {
            update
        };
        let next = current.apply(&update)?;
        let next_key = match update.added().keys().last() {
            Some(last) => next_key.max(last.saturating_add(1)),
            None => next_key,
        };

        let mut state = lock(&self.shared.state);
        // The table may have failed while the update was computed.
        state.check_failed()?;
        state.snapshot = next;
        state.next_key = next_key;
        // Sent under the state lock, so `subscribe` sees either the old snapshot and this
        // update, or the new snapshot and not this update. No subscribers is not an error.
        let _ = state.sender.send(Event::Update(Arc::new(update)));
        Ok(step)
    }
}

/// Turns an update of a blink table into what it means: every previous row goes, the added
/// rows come.
fn blink_update(current: &Snapshot, update: TableUpdate) -> Result<TableUpdate> {
    if let Some(change) = update.modified().first() {
        return Err(CoreError::BlinkModification {
            column: change.column().to_owned(),
        });
    }
    if let Some(key) = update.removed().difference(current.key_set()).min() {
        return Err(CoreError::KeyNotPresent { key });
    }
    let (step, _, added, _) = update.into_parts();
    Ok(TableUpdate::from_parts_unchecked(
        step,
        current.key_set().clone(),
        added,
        Vec::new(),
    ))
}

impl fmt::Debug for LiveTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.shared.state);
        f.debug_struct("LiveTable")
            .field("schema", &self.shared.schema)
            .field("blink", &self.shared.blink)
            .field("step", &state.snapshot.step())
            .field("rows", &state.snapshot.num_rows())
            .field("next_key", &state.next_key)
            .field("subscribers", &state.sender.receiver_count())
            .field("failure", &state.failure)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::test_support::{Row, added, batch, ids, owned, schema, set, snapshot_rows, update};

    const A: Row = (0, 10, Some("a"), Some(1.0));
    const B: Row = (1, 20, None, None);

    fn table(options: LiveTableOptions) -> LiveTable {
        let table = LiveTable::new(schema(), options);
        table.append(batch(&[A, B])).unwrap();
        table
    }

    /// Offers `bad` to a table holding A and B; it must fail with `expected` (Debug form) and
    /// leave the table, its step and its subscribers untouched.
    fn check(bad: impl FnOnce(&LiveTable) -> Result<Step>, expected: &str) {
        let table = table(LiveTableOptions::default());
        let (before, mut subscription) = table.subscribe().unwrap();
        let error = bad(&table).unwrap_err();
        assert_eq!(format!("{error:?}"), expected);
        assert_eq!(table.snapshot().unwrap(), before);
        assert_eq!(table.step(), 1);
        assert_eq!(table.next_key(), 2);
        assert!(subscription.try_next().is_none(), "nothing was published");
    }

    fn other_batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> RecordBatch {
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    #[test]
    fn bad_updates_leave_the_table_unchanged() {
        check(|t| t.remove(set(&[7])), "KeyNotPresent { key: 7 }");
        check(
            |t| t.apply(update(0, &[], &[B], vec![])),
            "DuplicateKey { key: 1 }",
        );
        check(
            |t| t.modify(vec![ids(&[9], &[0])]),
            "KeyNotPresent { key: 9 }",
        );
        check(
            |t| {
                let change =
                    ColumnChange::new("nope", vec![0], Arc::new(Int64Array::from(vec![1])))?;
                t.modify(vec![change])
            },
            r#"UnknownColumn { column: "nope" }"#,
        );
        check(
            |t| {
                let fields = vec![Field::new("id", DataType::Int64, false)];
                t.append(other_batch(
                    fields,
                    vec![Arc::new(Int64Array::from(vec![1]))],
                ))
            },
            r#"MissingColumn { column: "name" }"#,
        );
        check(
            |t| {
                let fields = vec![
                    Field::new("id", DataType::Utf8, false),
                    Field::new("name", DataType::Utf8, true),
                    Field::new("value", DataType::Utf8, true),
                ];
                let text: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
                t.append(other_batch(fields, vec![text.clone(), text.clone(), text]))
            },
            r#"ColumnTypeMismatch { column: "id", expected: Int64, found: Utf8 }"#,
        );
        check(
            |t| {
                let mut fields: Vec<Field> = schema()
                    .arrow()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect();
                fields.push(Field::new("extra", DataType::Int64, true));
                let mut columns = batch(&[A]).columns().to_vec();
                columns.push(Arc::new(Int64Array::from(vec![1])));
                t.append(other_batch(fields, columns))
            },
            r#"UnknownColumn { column: "extra" }"#,
        );
        check(
            |t| t.apply_at(update(1, &[], &[], vec![])),
            "StepOrder { previous: 1, next: 1 }",
        );
    }

    #[test]
    fn steps_keys_and_appends() {
        let table = table(LiveTableOptions::default());
        assert_eq!(
            table
                .apply(update(99, &[0], &[(100, 0, None, None)], vec![]))
                .unwrap(),
            2
        );
        assert_eq!(
            table.next_key(),
            101,
            "explicit keys move the next key past them"
        );
        assert_eq!(table.append(batch(&[A])).unwrap(), 3);
        assert_eq!(table.snapshot().unwrap().keys(), [1, 100, 101]);
        assert_eq!(table.apply_at(update(10, &[], &[], vec![])).unwrap(), 10);
        assert_eq!(table.step(), 10);

        let copy = LiveTable::from_snapshot(table.snapshot().unwrap(), LiveTableOptions::default());
        assert_eq!((copy.step(), copy.next_key()), (10, 102));
        copy.advance_next_key(500);
        copy.advance_next_key(7);
        assert_eq!(copy.next_key(), 500, "never backwards");
        copy.append(batch(&[A])).unwrap();
        assert_eq!(copy.snapshot().unwrap().keys().last(), Some(&500));
    }

    /// Regression guard: subscribers must receive updates in the table's schema even when the
    /// producer's batch orders its columns differently.
    #[test]
    fn published_updates_carry_the_table_schema() {
        let table = table(LiveTableOptions::default());
        let (_, mut subscription) = table.subscribe().unwrap();
        let reordered = batch(&[A]).project(&[2, 0, 1]).unwrap();
        table.append(reordered).unwrap();
        let update = subscription.try_next().unwrap().unwrap();
        assert_eq!(&update.schema(), schema().arrow());
        assert_eq!(update.added(), &added(&[(2, 10, Some("a"), Some(1.0))]));
    }

    #[test]
    fn blink_tables_hold_only_the_last_step() {
        let table = table(LiveTableOptions::default().with_blink(true));
        let (_, mut subscription) = table.subscribe().unwrap();
        table.append(batch(&[(0, 5, None, None)])).unwrap();
        let snapshot = table.snapshot().unwrap();
        assert_eq!(snapshot_rows(&snapshot), owned(&[(2, 5, None, None)]));

        let update = subscription.try_next().unwrap().unwrap();
        assert_eq!(
            update.removed(),
            &set(&[0, 1]),
            "the update says the old rows blinked out"
        );
        assert_eq!(update.added(), &added(&[(2, 5, None, None)]));

        let error = table.modify(vec![ids(&[2], &[1])]).unwrap_err();
        assert!(matches!(error, CoreError::BlinkModification { column } if column == "id"));
        assert_eq!(
            table
                .apply(TableUpdate::empty(0, schema().arrow().clone()))
                .unwrap(),
            3
        );
        assert!(
            table.snapshot().unwrap().is_empty(),
            "an empty step blinks everything out"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("upstream went away")]
    struct Upstream;

    #[test]
    fn failure_reaches_readers_and_writers() {
        let table = table(LiveTableOptions::default());
        let (_, mut subscription) = table.subscribe().unwrap();
        table.append(batch(&[A])).unwrap();
        table.fail(Upstream);
        table.fail("a second failure is ignored");

        let cause = |error: CoreError| match error {
            CoreError::TableFailed { source } => source.to_string(),
            other => panic!("expected TableFailed, got {other:?}"),
        };
        assert_eq!(cause(table.snapshot().unwrap_err()), "upstream went away");
        assert_eq!(cause(table.subscribe().unwrap_err()), "upstream went away");
        assert_eq!(
            cause(table.append(batch(&[A])).unwrap_err()),
            "upstream went away"
        );
        assert_eq!(table.step(), 2);

        // The subscriber first gets the step published before the failure, then the failure.
        assert_eq!(subscription.try_next().unwrap().unwrap().step(), 2);
        assert_eq!(
            cause(subscription.try_next().unwrap().unwrap_err()),
            "upstream went away"
        );
        assert!(subscription.try_next().is_none());
        assert!(subscription.is_finished());
    }

    #[test]
    fn dropping_the_table_ends_subscriptions_after_delivery() {
        let table = table(LiveTableOptions::default());
        let (_, mut subscription) = table.subscribe().unwrap();
        assert_eq!(table.subscriber_count(), 1);
        table.append(batch(&[A])).unwrap();
        drop(table);
        assert!(!subscription.is_finished());
        assert_eq!(subscription.try_next().unwrap().unwrap().step(), 2);
        assert!(subscription.try_next().is_none());
        assert!(subscription.is_finished());
    }

    /// Regression guard for the lockstep guarantee under contention: subscriptions taken while
    /// writers race must each reproduce the table exactly, including through lag resyncs.
    #[test]
    fn concurrent_writers_and_subscribers_stay_in_lockstep() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        const WRITES: i64 = 150;
        let table = LiveTable::new(
            schema(),
            LiveTableOptions::default().with_subscriber_capacity(4),
        );
        let writers_done = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for writer in 0..2 {
                let (table, writers_done) = (table.clone(), &writers_done);
                scope.spawn(move || {
                    for i in 0..WRITES {
                        table.append(batch(&[(0, i, None, None)])).unwrap();
                        if i % 3 == writer {
                            // Races the other writer for the same key: one of them may miss.
                            let first = table.snapshot().unwrap().keys()[0];
                            let _ = table.remove(set(&[first]));
                        }
                    }
                    writers_done.fetch_add(1, Ordering::SeqCst);
                });
            }
            for _ in 0..2 {
                let (table, writers_done) = (table.clone(), &writers_done);
                scope.spawn(move || {
                    let (mut mirror, mut subscription) = table.subscribe().unwrap();
                    let mut follow = |mirror: &mut Snapshot| {
                        if let Some(update) = subscription.try_next() {
                            *mirror = mirror.apply(&update.unwrap()).unwrap();
                        } else {
                            std::thread::yield_now();
                        }
                    };
                    while writers_done.load(Ordering::SeqCst) < 2 {
                        follow(&mut mirror);
                    }
                    let last = table.snapshot().unwrap();
                    while mirror.step() < last.step() {
                        follow(&mut mirror);
                    }
                    assert_eq!(mirror, last);
                });
            }
        });
    }
}
