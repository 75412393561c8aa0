//! Column values, fetched page by page and cached within a memory budget.
//!
//! A location's rows are cut into pages of `page_size` rows; each (table, location, column,
//! page) is one cache entry holding a contiguous run of that page's rows. A reader asking for a
//! range gets the cached part and the backend is asked only for what is missing (a location that
//! grew is asked for its new rows only). Each entry has its own async lock, so two readers
//! wanting the same page wait for one fetch instead of making two: while a page is cached, no
//! range of it is ever fetched twice. Entries least recently used go first when the cached bytes
//! pass the budget.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::{Array, ArrayRef};
use arrow_schema::Field;
use futures::future::try_join_all;
use tokio::sync::Semaphore;

use crate::backend::TableDataServiceBackend;
use crate::calls::Caller;
use crate::error::{Result, TdsError};

type PageId<B> = (
    <B as TableDataServiceBackend>::TableKey,
    <B as TableDataServiceBackend>::LocationKey,
    String,
    u64,
);

/// One cached run of rows `start..start + values.len()` of a page.
struct Run {
    start: u64,
    values: ArrayRef,
}

struct Entry {
    run: tokio::sync::Mutex<Option<Run>>,
    last_used: AtomicU64,
    bytes: AtomicUsize,
}

/// The page cache of one service, shared by all its tables.
pub(crate) struct PageCache<B: TableDataServiceBackend> {
    entries: Mutex<HashMap<PageId<B>, Arc<Entry>>>,
    bytes: AtomicUsize,
    clock: AtomicU64,
    budget: usize,
    page_size: u64,
    fetches: Semaphore,
}

impl<B: TableDataServiceBackend> std::fmt::Debug for PageCache<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("bytes", &self.bytes.load(Ordering::Relaxed))
            .field("budget", &self.budget)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

impl<B: TableDataServiceBackend> PageCache<B> {
    pub(crate) fn new(budget: usize, page_size: u64, concurrency: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            bytes: AtomicUsize::new(0),
            clock: AtomicU64::new(0),
            budget,
            page_size: page_size.max(1),
            fetches: Semaphore::new(concurrency.max(1)),
        }
    }

    /// Bytes held now.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PageId<B>, Arc<Entry>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Rows `rows` of `field` at `location`, whose size is `size`: the pages concurrently, each
    /// from the cache or the backend, returned as they are (one array per page the range
    /// touches, in order; none for an empty range), so that no page is copied to join them.
    /// Every column read over the same range is cut at the same page bounds.
    pub(crate) async fn read(
        &self,
        caller: &Caller<B>,
        table: &B::TableKey,
        location: &B::LocationKey,
        field: &Field,
        rows: Range<u64>,
        size: u64,
    ) -> Result<Vec<ArrayRef>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let pages = self.page_ranges(rows).into_iter().map(|(page, need)| {
            let page_start = page * self.page_size;
            let limit = size.min(page_start + self.page_size);
            self.page(caller, table, location, field, page, need, limit)
        });
        try_join_all(pages).await
    }

    /// The pages `rows` touches: each page's number and the part of `rows` in it.
    pub(crate) fn page_ranges(&self, rows: Range<u64>) -> Vec<(u64, Range<u64>)> {
        if rows.is_empty() {
            return Vec::new();
        }
        let first = rows.start / self.page_size;
        let last = (rows.end - 1) / self.page_size;
        (first..=last)
            .map(|page| {
                let page_start = page * self.page_size;
                let need = rows.start.max(page_start)..rows.end.min(page_start + self.page_size);
                (page, need)
            })
            .collect()
    }

    /// Rows `need` of one page; the backend may be asked for up to `limit` (the page end or the
    /// location's size, whichever is first).
    #[allow(clippy::too_many_arguments)] // one per coordinate of the page
    async fn page(
        &self,
        caller: &Caller<B>,
        table: &B::TableKey,
        location: &B::LocationKey,
        field: &Field,
        page: u64,
        need: Range<u64>,
        limit: u64,
    ) -> Result<ArrayRef> {
        let id: PageId<B> = (table.clone(), location.clone(), field.name().clone(), page);
        let entry = self
            .lock()
            .entry(id.clone())
            .or_insert_with(|| {
                Arc::new(Entry {
                    run: tokio::sync::Mutex::new(None),
                    last_used: AtomicU64::new(0),
                    bytes: AtomicUsize::new(0),
                })
            })
            .clone();
        entry.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        let mut run = entry.run.lock().await;
        let context = || caller.context(table).at(location).column(field.name());
        let (start, values) = match run.take() {
            Some(held)
                if held.start <= need.start
                    && held.start + held.values.len() as u64 >= need.end =>
            {
                (held.start, held.values)
            }
            Some(held)
                if held.start <= need.start
                    && held.start + held.values.len() as u64 >= need.start =>
            {
                let from = held.start + held.values.len() as u64;
                let more = self
                    .fetch(caller, table, location, field, from..need.end, limit)
                    .await?;
                let joined = arrow_select::concat::concat(&[held.values.as_ref(), more.as_ref()])
                    .map_err(|error| TdsError::Contract {
                    context: Box::new(context()),
                    operation: "column_values",
                    problem: format!("values do not concatenate: {error}"),
                })?;
                (held.start, joined)
            }
            _ => {
                let values = self
                    .fetch(caller, table, location, field, need.clone(), limit)
                    .await?;
                (need.start, values)
            }
        };
        let from = usize::try_from(need.start - start).unwrap_or(usize::MAX);
        let len = usize::try_from(need.end - need.start).unwrap_or(usize::MAX);
        let wanted = values.slice(from, len);
        let bytes = values.get_array_memory_size();
        *run = Some(Run { start, values });
        drop(run);
        self.account(&id, &entry, bytes);
        Ok(wanted)
    }

    async fn fetch(
        &self,
        caller: &Caller<B>,
        table: &B::TableKey,
        location: &B::LocationKey,
        field: &Field,
        rows: Range<u64>,
        limit: u64,
    ) -> Result<ArrayRef> {
        let _permit = self
            .fetches
            .acquire()
            .await
            .map_err(|_| TdsError::NotFound {
                context: Box::new(caller.context(table)),
            })?;
        let min_rows = usize::try_from(rows.end - rows.start).unwrap_or(usize::MAX);
        let max_rows = usize::try_from(limit.max(rows.end) - rows.start).unwrap_or(usize::MAX);
        let values = caller
            .column_values(table, location, field, rows.start, min_rows, max_rows)
            .await?;
        Ok(compact(values))
    }

    /// Records `entry`'s new size and evicts the least recently used entries past the budget.
    fn account(&self, id: &PageId<B>, entry: &Arc<Entry>, bytes: usize) {
        let mut entries = self.lock();
        let current = entries.get(id).is_some_and(|held| Arc::ptr_eq(held, entry));
        if !current {
            return;
        }
        let before = entry.bytes.swap(bytes, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.bytes.fetch_sub(before, Ordering::Relaxed);
        while self.bytes.load(Ordering::Relaxed) > self.budget {
            let Some(victim) = entries
                .iter()
                .min_by_key(|(_, held)| held.last_used.load(Ordering::Relaxed))
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some(gone) = entries.remove(&victim) {
                self.bytes
                    .fetch_sub(gone.bytes.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
    }

    /// Drops every page of `location` (it was retracted; its rows may come back different).
    pub(crate) fn forget(&self, table: &B::TableKey, location: &B::LocationKey) {
        let mut entries = self.lock();
        entries.retain(|(t, l, _, _), held| {
            let keep = t != table || l != location;
            if !keep {
                self.bytes
                    .fetch_sub(held.bytes.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            keep
        });
    }
}

/// `values` in buffers of its own when it is a small slice (under a quarter) of larger buffers
/// (a backend may answer with a slice of everything it holds): the cache then keeps only what
/// it uses. A larger slice is kept as it is, with no copy; the cache counts the whole buffers
/// it holds on to (`get_array_memory_size`), so the budget still bounds the memory pinned.
fn compact(values: ArrayRef) -> ArrayRef {
    let used = values.to_data().get_slice_memory_size().unwrap_or(0);
    if values.get_array_memory_size() <= used.saturating_mul(4) {
        return values;
    }
    // `concat` of one array hands it back as it is; with an empty second one it copies.
    let empty = arrow_array::new_empty_array(values.data_type());
    arrow_select::concat::concat(&[values.as_ref(), empty.as_ref()]).unwrap_or(values)
}
