//! Following a live table: every step after a snapshot, exactly once, in bounded memory.
//!
//! A [`Subscription`] reads the table's broadcast ring. Each call to
//! [`next`](Subscription::next) (or [`try_next`](Subscription::try_next)) takes every update
//! already queued and coalesces them into one, so a reader that fell behind catches up in one
//! step and a fast reader sees every step. What it returns always takes the reader from the
//! step it last received to a later one: no gap, no duplicate.
//!
//! If the reader fell so far behind that the ring overwrote updates it never saw, it cannot
//! coalesce them any more. It then *resyncs*: it takes a fresh snapshot of the table at step
//! `c` and returns one update to step `c` that removes every row the reader holds and adds the
//! whole snapshot, and it skips queued updates up to `c`. To do so the subscription tracks the
//! key set the reader holds (roaring set operations per update, no row data). Memory per
//! subscriber is therefore bounded by the ring capacity and the table size, never by the lag,
//! and the writer never waits for any reader.
//!
//! A resync replaces rows the reader may hold unchanged. That costs bandwidth, not correctness,
//! and only happens to readers that lag by more than the ring capacity
//! ([`LiveTableOptions::subscriber_capacity`](crate::LiveTableOptions::subscriber_capacity)).

use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, Weak};

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::error::{CoreError, Result};
use crate::live::Shared;
use crate::row_set::RowSet;
use crate::snapshot::Snapshot;
use crate::update::{AddedRows, Step, TableUpdate};

/// What a live table publishes.
#[derive(Clone)]
pub(crate) enum Event {
    /// A step.
    Update(Arc<TableUpdate>),
    /// The table failed; nothing follows.
    Failed(Arc<dyn StdError + Send + Sync>),
}

/// The updates of a [`LiveTable`](crate::LiveTable) after a snapshot, from
/// [`LiveTable::subscribe`](crate::LiveTable::subscribe).
///
/// Each [`next`](Self::next) or [`try_next`](Self::try_next) returns one update that takes the
/// reader from the step it last received (at first, the snapshot's) to the newest step
/// published: every step published in between, [coalesced](crate::TableUpdate::coalesce). A
/// reader that keeps up sees every step; one that falls behind catches up in one update. Apply
/// what you receive to the snapshot with [`Snapshot::apply`] to follow the table.
///
/// If the reader falls further behind than the table's ring holds
/// ([`LiveTableOptions::subscriber_capacity`](crate::LiveTableOptions::subscriber_capacity)),
/// the missed updates are gone, so the subscription *resyncs*: it returns one update to the
/// table's current step that removes every row the reader holds and adds the whole current
/// table (counted by [`resyncs`](Self::resyncs)). That costs bandwidth, not correctness.
///
/// Dropping the subscription unsubscribes. It does not keep the table alive.
pub struct Subscription {
    table: Weak<Shared>,
    receiver: broadcast::Receiver<Event>,
    /// The step of the last update delivered (initially the snapshot's).
    step: Step,
    /// The keys the reader holds after the last update delivered.
    keys: RowSet,
    resyncs: u64,
    /// Set when the table failed; delivered after any pending update.
    failure: Option<Arc<dyn StdError + Send + Sync>>,
    /// No update will follow (the table is gone, or failed).
    finished: bool,
}

/// One thing read from the ring.
enum Received {
    Event(Event),
    Lagged,
    Closed,
}

impl Subscription {
    pub(crate) fn new(
        table: Weak<Shared>,
        receiver: broadcast::Receiver<Event>,
        snapshot: &Snapshot,
    ) -> Self {
        Self {
            table,
            receiver,
            step: snapshot.step(),
            keys: snapshot.key_set().clone(),
            resyncs: 0,
            failure: None,
            finished: false,
        }
    }

    /// Waits for the next update: every step published since the last one returned, coalesced
    /// into one update that produces the latest of them.
    ///
    /// Returns `Some(Err(`[`CoreError::TableFailed`]`))` once when the table fails (after the
    /// steps published before the failure), and `None` after that or when every handle to the
    /// table has been dropped and every update delivered.
    ///
    /// Cancel safe: if the future is dropped before it completes (say, in a `select!`), no
    /// update is lost; the next call returns it.
    pub async fn next(&mut self) -> Option<Result<TableUpdate>> {
        loop {
            if let Some(end) = self.take_end() {
                return end;
            }
            let received = match self.receiver.recv().await {
                Ok(event) => Received::Event(event),
                Err(RecvError::Lagged(_)) => Received::Lagged,
                Err(RecvError::Closed) => Received::Closed,
            };
            if let Some(outcome) = self.collect(received) {
                return Some(outcome);
            }
        }
    }

    /// Like [`next`](Self::next), without waiting: `None` when no update is ready now. Use
    /// [`is_finished`](Self::is_finished) to tell "nothing yet" from "nothing ever".
    pub fn try_next(&mut self) -> Option<Result<TableUpdate>> {
        loop {
            if let Some(end) = self.take_end() {
                return end;
            }
            let received = match self.receiver.try_recv() {
                Ok(event) => Received::Event(event),
                Err(TryRecvError::Lagged(_)) => Received::Lagged,
                Err(TryRecvError::Closed) => Received::Closed,
                Err(TryRecvError::Empty) => return None,
            };
            if let Some(outcome) = self.collect(received) {
                return Some(outcome);
            }
        }
    }

    /// The step of the last update returned (at first, the snapshot's step).
    pub fn step(&self) -> Step {
        self.step
    }

    /// The keys the reader holds after the updates returned so far.
    pub fn keys(&self) -> &RowSet {
        &self.keys
    }

    /// How many times this subscription fell behind the ring and resynced from a snapshot.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Whether the subscription has ended: no update or error will follow.
    pub fn is_finished(&self) -> bool {
        self.finished && self.failure.is_none()
    }

    /// If the subscription is at its end, what to return: the failure (once), then `None`.
    fn take_end(&mut self) -> Option<Option<Result<TableUpdate>>> {
        if let Some(source) = self.failure.take() {
            return Some(Some(Err(CoreError::TableFailed { source })));
        }
        self.finished.then_some(None)
    }

    /// Folds `first` and everything queued behind it into one update and delivers it; `None`
    /// if nothing new came of it (only stale updates, or the end).
    fn collect(&mut self, first: Received) -> Option<Result<TableUpdate>> {
        let mut pending = None;
        // Read at most what was queued when we started, so a fast writer cannot keep a reader
        // coalescing forever.
        let mut budget = self.receiver.len();
        let mut received = first;
        loop {
            match self.absorb(received, &mut pending) {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => {
                    self.finished = true;
                    return Some(Err(error));
                }
            }
            if budget == 0 {
                break;
            }
            budget -= 1;
            received = match self.receiver.try_recv() {
                Ok(event) => Received::Event(event),
                Err(TryRecvError::Lagged(_)) => Received::Lagged,
                Err(TryRecvError::Closed) => Received::Closed,
                Err(TryRecvError::Empty) => break,
            };
        }
        let update = pending?;
        self.keys.difference_with(update.removed());
        self.keys.union_with(&update.added().key_set());
        self.step = update.step();
        Some(Ok(update))
    }

    /// Adds one received item to `pending`; returns whether to keep reading.
    fn absorb(&mut self, received: Received, pending: &mut Option<TableUpdate>) -> Result<bool> {
        match received {
            Received::Event(Event::Update(update)) => {
                let reached = pending.as_ref().map_or(self.step, TableUpdate::step);
                if update.step() <= reached {
                    // Already covered by a resync snapshot.
                    return Ok(true);
                }
                let update = Arc::unwrap_or_clone(update);
                *pending = Some(match pending.take() {
                    None => update,
                    Some(earlier) => earlier.coalesce(update)?,
                });
                Ok(true)
            }
            Received::Event(Event::Failed(source)) => {
                self.failure = Some(source);
                self.finished = true;
                Ok(false)
            }
            Received::Lagged => match self.resync() {
                Ok(Some(update)) => {
                    *pending = Some(update);
                    Ok(true)
                }
                Ok(None) => {
                    self.finished = true;
                    Ok(false)
                }
                Err(CoreError::TableFailed { source }) => {
                    self.failure = Some(source);
                    self.finished = true;
                    Ok(false)
                }
                Err(error) => Err(error),
            },
            Received::Closed => {
                self.finished = true;
                Ok(false)
            }
        }
    }

    /// One update from what the reader holds to a fresh snapshot; `None` if the table is gone.
    fn resync(&mut self) -> Result<Option<TableUpdate>> {
        let Some(table) = self.table.upgrade() else {
            return Ok(None);
        };
        let snapshot = table.snapshot()?;
        self.resyncs += 1;
        let added = AddedRows::new_unchecked(snapshot.keys().to_vec(), snapshot.batch().clone());
        let update = TableUpdate::from_parts_unchecked(
            snapshot.step(),
            self.keys.clone(),
            added,
            Vec::new(),
        );
        Ok(Some(update))
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("step", &self.step)
            .field("rows", &self.keys.len())
            .field("queued", &self.receiver.len())
            .field("resyncs", &self.resyncs)
            .field("failed", &self.failure.is_some())
            .field("finished", &self.finished)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::test_support::{Row, batch, ids, schema, set};
    use crate::{LiveTable, LiveTableOptions};

    const A: Row = (0, 1, None, None);

    /// Subscribes to a table with a ring of `capacity`, runs `writes` appends, then reads once
    /// with `try_next`; `expected` is (step reached, resyncs, removed keys, added keys).
    fn check(capacity: usize, writes: usize, expected: (Step, u64, &[u64], &[u64])) {
        let options = LiveTableOptions::default().with_subscriber_capacity(capacity);
        let table = LiveTable::new(schema(), options);
        table.append(batch(&[A, A])).unwrap();
        let (snapshot, mut subscription) = table.subscribe().unwrap();
        for _ in 0..writes {
            table.append(batch(&[A])).unwrap();
        }
        let update = subscription.try_next().unwrap().unwrap();
        let (step, resyncs, removed, added) = expected;
        assert_eq!(update.step(), step);
        assert_eq!(subscription.step(), step);
        assert_eq!(subscription.resyncs(), resyncs);
        assert_eq!(update.removed().to_vec(), removed);
        assert_eq!(update.added().keys(), added);
        assert_eq!(
            &snapshot.apply(&update).unwrap(),
            &table.snapshot().unwrap()
        );
        assert_eq!(subscription.keys(), table.snapshot().unwrap().key_set());
        assert!(
            subscription.try_next().is_none(),
            "everything was delivered at once"
        );

        // After a resync, stale queued steps are skipped and the next step arrives alone.
        table.modify(vec![ids(&[0], &[7])]).unwrap();
        let next = subscription.try_next().unwrap().unwrap();
        assert_eq!(next.step(), step + 1);
        assert_eq!(next.modified_keys(), set(&[0]));
    }

    #[test]
    fn queued_steps_coalesce_and_lag_resyncs() {
        // One step: delivered as is.
        check(4, 1, (2, 0, &[], &[2]));
        // Within the ring: coalesced into one update, no resync.
        check(4, 4, (5, 0, &[], &[2, 3, 4, 5]));
        // Beyond the ring: resync, replacing every held row with the snapshot.
        check(2, 5, (6, 1, &[0, 1], &[0, 1, 2, 3, 4, 5, 6]));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn next_waits_for_the_next_step() {
        let table = LiveTable::new(schema(), LiveTableOptions::default());
        let (_, mut subscription) = table.subscribe().unwrap();
        let writer = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            table.append(batch(&[A])).unwrap();
        };
        let (update, ()) = tokio::join!(subscription.next(), writer);
        assert_eq!(update.unwrap().unwrap().step(), 1);

        drop(table);
        assert!(subscription.next().await.is_none(), "the table is gone");
    }

    #[test]
    fn a_lagging_reader_of_a_failed_table_gets_the_failure() {
        let table = LiveTable::new(
            schema(),
            LiveTableOptions::default().with_subscriber_capacity(1),
        );
        let (_, mut subscription) = table.subscribe().unwrap();
        for _ in 0..3 {
            table.append(batch(&[A])).unwrap();
        }
        table.fail("broken");
        let error = subscription.try_next().unwrap().unwrap_err();
        assert!(matches!(error, CoreError::TableFailed { .. }));
        assert!(subscription.try_next().is_none());
        assert!(subscription.is_finished());
    }
}
