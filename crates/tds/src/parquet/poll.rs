//! Refreshing by polling: while any subscription of a table is active, one task per table lists
//! its folder every poll interval and tells the subscribers what changed. The last handle
//! dropped stops the task.

use std::sync::{Arc, Weak};

use super::listing::{self, Listing};
use super::{Inner, POLL_FAILURES, ParquetBackend, lock};
use crate::backend::{BackendError, SubscriptionHandle};

/// What one poll found for one location.
enum Change {
    Added(String),
    Grown(String, u64),
    Replaced(String),
    Removed(String),
}

impl ParquetBackend {
    /// Keeps the table's poll task running while subscription `id` lives.
    pub(super) fn watch(&self, table: &str, id: u64) -> SubscriptionHandle {
        {
            let mut tables = lock(&self.inner.tables);
            let state = tables.entry(table.to_string()).or_default();
            if state.task.is_none() {
                let weak = Arc::downgrade(&self.inner);
                let task = tokio::spawn(run(weak, table.to_string(), self.inner.poll));
                state.task = Some(task.abort_handle());
            }
        }
        let inner = Arc::downgrade(&self.inner);
        let table = table.to_string();
        SubscriptionHandle::new(move || {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let mut tables = lock(&inner.tables);
            if let Some(state) = tables.get_mut(&table) {
                state.locations.remove(&id);
                state.sizes.remove(&id);
                if state.locations.is_empty()
                    && state.sizes.is_empty()
                    && let Some(task) = state.task.take()
                {
                    task.abort();
                }
            }
        })
    }
}

async fn run(inner: Weak<Inner>, table: String, every: std::time::Duration) {
    let mut failures = 0;
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        match poll(&inner, &table).await {
            Ok(()) => failures = 0,
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, table, "listing the Parquet folder failed");
                if failures >= POLL_FAILURES {
                    let message = format!("listing failed {failures} times in a row: {error}");
                    let tables = lock(&inner.tables);
                    if let Some(state) = tables.get(&table) {
                        state
                            .locations
                            .values()
                            .for_each(|sink| sink.fail(message.clone()));
                        state
                            .sizes
                            .values()
                            .for_each(|(_, sink)| sink.fail(message.clone()));
                    }
                }
            }
        }
    }
}

/// One poll: list, compare with the last listing, read the new files' footers, tell.
async fn poll(inner: &Inner, table: &str) -> Result<(), BackendError> {
    let new = listing::list(inner.reader.store.as_ref(), &inner.prefix(table)).await?;
    let (old, schemas) = {
        let tables = lock(&inner.tables);
        let state = tables.get(table);
        (
            state.map(|state| state.listing.clone()).unwrap_or_default(),
            state.and_then(|state| state.schemas.clone()),
        )
    };
    let changes = diff(&old, &new);
    if changes.is_empty() {
        return Ok(());
    }
    let mut sized = Vec::with_capacity(changes.len());
    for change in changes {
        let change = match change {
            Change::Grown(location, _) => {
                let rows = inner
                    .rows(new.get(&location).map(Vec::as_slice).unwrap_or_default())
                    .await?;
                Change::Grown(location, rows)
            }
            Change::Added(location) | Change::Replaced(location) => {
                // Read the footers now, so the size subscription that follows is quick.
                inner
                    .rows(new.get(&location).map(Vec::as_slice).unwrap_or_default())
                    .await?;
                if old.contains_key(&location) {
                    Change::Replaced(location)
                } else {
                    Change::Added(location)
                }
            }
            removed => removed,
        };
        sized.push(change);
    }
    let partitioning = schemas.and_then(|schemas| schemas.partitioning);
    let mut tables = lock(&inner.tables);
    let state = tables.entry(table.to_string()).or_default();
    state.listing = new;
    for change in sized {
        match change {
            Change::Added(location) | Change::Replaced(location) => {
                if old.contains_key(&location) {
                    state
                        .locations
                        .values()
                        .for_each(|sink| sink.retract(location.clone()));
                }
                match listing::partition_values(&location, partitioning.as_ref()) {
                    Ok(values) => state
                        .locations
                        .values()
                        .for_each(|sink| sink.add(location.clone(), values.clone())),
                    Err(error) => state
                        .locations
                        .values()
                        .for_each(|sink| sink.fail(error.to_string())),
                }
            }
            Change::Grown(location, rows) => state
                .sizes
                .values()
                .filter(|(watched, _)| *watched == location)
                .for_each(|(_, sink)| sink.size(rows)),
            Change::Removed(location) => state
                .locations
                .values()
                .for_each(|sink| sink.retract(location.clone())),
        }
    }
    Ok(())
}

fn diff(old: &Listing, new: &Listing) -> Vec<Change> {
    let mut changes = Vec::new();
    for (location, files) in new {
        match old.get(location) {
            None => changes.push(Change::Added(location.clone())),
            Some(before) if before == files => {}
            Some(before) if files.starts_with(before) => {
                changes.push(Change::Grown(location.clone(), 0));
            }
            Some(_) => changes.push(Change::Replaced(location.clone())),
        }
    }
    for location in old.keys() {
        if !new.contains_key(location) {
            changes.push(Change::Removed(location.clone()));
        }
    }
    changes
}
