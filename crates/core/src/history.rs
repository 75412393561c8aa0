//! The bounded history of recent steps that every subscriber of a live table reads from.
//!
//! # Why one history and per-subscriber cursors
//!
//! A writer must do the same small amount of work per step however many subscribers there are
//! and however far behind they are. So the table keeps exactly one queue of its most recent
//! steps (an `Arc` per entry, pushed in O(1), the oldest dropped once the queue holds
//! [`history_capacity`](crate::LiveTableOptions::history_capacity) entries), and a subscriber is
//! nothing but a cursor into it: the last step it delivered. Reading clones the `Arc`s after the
//! cursor (under the table's state lock, O(entries read)) and coalesces them outside the lock.
//!
//! Each subscriber has its own capacity
//! ([`SubscribeOptions::capacity`](crate::SubscribeOptions::capacity)): how many steps it may
//! fall behind before it stops catching up by coalescing and resyncs instead. A subscriber whose
//! cursor fell off the history resyncs whatever its capacity. Memory is the history (bounded by
//! its capacity times the size of an update), never a function of a reader's lag.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::schema::TableSchema;
use crate::schema_change::ColumnId;
use crate::update::{Step, TableUpdate};

/// A schema change as the history keeps it: the schema and column identities before and after.
#[derive(Debug)]
pub(crate) struct SchemaEntry {
    pub(crate) schema: TableSchema,
    pub(crate) columns: Arc<[ColumnId]>,
    pub(crate) previous: TableSchema,
    pub(crate) previous_columns: Arc<[ColumnId]>,
}

/// One step of the history.
#[derive(Clone, Debug)]
pub(crate) enum Entry {
    /// Rows changed.
    Update(Arc<TableUpdate>),
    /// The schema changed.
    Schema(Arc<SchemaEntry>),
}

/// The most recent steps of a table, oldest first.
#[derive(Debug)]
pub(crate) struct History {
    entries: VecDeque<(Step, Entry)>,
    /// Every step after this one is in `entries`: the step before the oldest entry kept.
    base: Step,
    capacity: usize,
}

impl History {
    /// An empty history of a table at `step`, keeping up to `capacity` (at least 1) entries.
    pub(crate) fn new(step: Step, capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            // One spare slot: a push may briefly exceed the capacity before the pop.
            entries: VecDeque::with_capacity(capacity + 1),
            base: step,
            capacity,
        }
    }

    /// Records the step `step` (after every step recorded so far). O(1): no reallocation, at
    /// most one entry dropped.
    pub(crate) fn push(&mut self, step: Step, entry: Entry) {
        self.entries.push_back((step, entry));
        if self.entries.len() > self.capacity
            && let Some((dropped, _)) = self.entries.pop_front()
        {
            self.base = dropped;
        }
    }

    /// The entries after `step`, oldest first; `None` if some of them were already dropped.
    pub(crate) fn since(
        &self,
        step: Step,
    ) -> Option<impl ExactSizeIterator<Item = &(Step, Entry)>> {
        if step < self.base {
            return None;
        }
        let first = self.entries.partition_point(|(s, _)| *s <= step);
        Some(self.entries.range(first..))
    }

    /// The first schema change after `step`, if the history still holds every step after it.
    pub(crate) fn first_schema_change_after(&self, step: Step) -> Option<&SchemaEntry> {
        self.since(step)?.find_map(|(_, entry)| match entry {
            Entry::Schema(schema) => Some(schema.as_ref()),
            Entry::Update(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_capacity_steps() {
        let schema = arrow_schema::Schema::empty();
        let empty = || Entry::Update(Arc::new(TableUpdate::empty(0, Arc::new(schema.clone()))));
        let mut history = History::new(10, 3);
        assert_eq!(history.since(10).map(|e| e.len()), Some(0));
        for step in [11, 12, 15, 16] {
            history.push(step, empty());
        }
        // Steps 11 was dropped: a reader at 10 is out of reach, one at 11 is not.
        assert!(history.since(10).is_none());
        let steps = |from| {
            history
                .since(from)
                .map(|e| e.map(|(s, _)| *s).collect::<Vec<_>>())
        };
        assert_eq!(steps(11), Some(vec![12, 15, 16]));
        assert_eq!(steps(13), Some(vec![15, 16]));
        assert_eq!(steps(16), Some(vec![]));
    }
}
