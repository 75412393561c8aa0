//! [`TableDataService`]: a backend made into tables. It holds the backend, the options every
//! call obeys and the page cache its tables share.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::TableDataServiceBackend;
use crate::cache::PageCache;
use crate::calls::Caller;
use crate::driver::{self, Spec};
use crate::error::Result;
use crate::table::{PartitionedTable, ServiceTable};

/// How a [`TableDataService`] talks to its backend.
///
/// ```
/// use std::time::Duration;
/// use tableshare_tds::ServiceOptions;
///
/// let options = ServiceOptions::default()
///     .with_page_size(1024)
///     .with_timeout(Duration::from_secs(5))
///     .with_cache_budget(64 << 20);
/// assert_eq!(options.page_size, 1024);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceOptions {
    /// Rows per page of column values (default 65,536, as the original).
    pub page_size: u64,
    /// How long any one backend call may take before the table fails (default 60 s).
    pub timeout: Duration,
    /// Bytes of cached pages the service keeps (default 256 MiB); least recently used pages go
    /// first. Zero caches nothing.
    pub cache_budget: usize,
    /// How many `column_values` calls may run at once (default 8).
    pub concurrency: usize,
}

impl ServiceOptions {
    /// The default page size.
    pub const DEFAULT_PAGE_SIZE: u64 = 65_536;

    /// With pages of `rows` rows (at least 1).
    pub fn with_page_size(mut self, rows: u64) -> Self {
        self.page_size = rows.max(1);
        self
    }

    /// With a timeout of `timeout` for every backend call.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With a cache of at most `bytes` bytes.
    pub fn with_cache_budget(mut self, bytes: usize) -> Self {
        self.cache_budget = bytes;
        self
    }

    /// With at most `calls` concurrent `column_values` calls (at least 1).
    pub fn with_concurrency(mut self, calls: usize) -> Self {
        self.concurrency = calls.max(1);
        self
    }
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            page_size: Self::DEFAULT_PAGE_SIZE,
            timeout: Duration::from_secs(60),
            cache_budget: 256 << 20,
            concurrency: 8,
        }
    }
}

/// What the tables of one service share.
#[derive(Debug)]
pub(crate) struct Shared<B: TableDataServiceBackend> {
    pub(crate) caller: Caller<B>,
    pub(crate) cache: PageCache<B>,
    pub(crate) options: ServiceOptions,
}

impl<B: TableDataServiceBackend> Shared<B> {
    pub(crate) fn backend(&self) -> &B {
        &self.caller.backend
    }
}

/// A backend made into tables (seed 002's `TableDataService`).
///
/// Tables are core [`LiveTable`](tableshare_core::LiveTable)s: partitioning columns first, then
/// the data columns; static tables hold what the backend had when made, refreshing ones grow
/// in atomic steps as the backend reports new locations and sizes. Must be used within a tokio
/// runtime (refreshing tables run a task, every call has a timer).
#[derive(Debug)]
pub struct TableDataService<B: TableDataServiceBackend> {
    shared: Arc<Shared<B>>,
}

impl<B: TableDataServiceBackend> Clone for TableDataService<B> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<B: TableDataServiceBackend> TableDataService<B> {
    /// A service over `backend` with default options.
    pub fn new(backend: B) -> Self {
        Self::with_options(Arc::new(backend), ServiceOptions::default())
    }

    /// A service over a shared `backend` with `options`.
    pub fn with_options(backend: Arc<B>, options: ServiceOptions) -> Self {
        let caller = Caller::new(backend, options.timeout);
        let cache = PageCache::new(options.cache_budget, options.page_size, options.concurrency);
        Self {
            shared: Arc::new(Shared {
                caller,
                cache,
                options,
            }),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<B> {
        &self.shared.caller.backend
    }

    /// The options.
    pub fn options(&self) -> &ServiceOptions {
        &self.shared.options
    }

    /// Bytes of column values cached now.
    pub fn cached_bytes(&self) -> usize {
        self.shared.cache.bytes()
    }

    /// The table `key`, all columns, static or `refreshing`, after its first step.
    ///
    /// # Errors
    ///
    /// A [`TdsError`](crate::TdsError) naming the backend, table, location and column when the
    /// backend fails, times out or breaks its contract while the table is made.
    pub async fn make_table(&self, key: B::TableKey, refreshing: bool) -> Result<ServiceTable<B>> {
        self.make(key, refreshing, None, false).await
    }

    /// As [`make_table`](Self::make_table), fetching only the data columns `columns` (the
    /// partitioning columns are always there and cost no backend call).
    ///
    /// # Errors
    ///
    /// As [`make_table`](Self::make_table); [`TdsError::NotFound`](crate::TdsError::NotFound)
    /// for a column the table does not have.
    pub async fn make_table_columns(
        &self,
        key: B::TableKey,
        refreshing: bool,
        columns: &[&str],
    ) -> Result<ServiceTable<B>> {
        let columns = columns.iter().map(|column| column.to_string()).collect();
        self.make(key, refreshing, Some(columns), false).await
    }

    /// The table `key` as one constituent table per location, keyed by partition values, and
    /// the merged whole; a refreshing table gains constituents as locations appear.
    ///
    /// # Errors
    ///
    /// As [`make_table`](Self::make_table).
    pub async fn make_partitioned_table(
        &self,
        key: B::TableKey,
        refreshing: bool,
    ) -> Result<PartitionedTable<B>> {
        let table = self.make(key, refreshing, None, true).await?;
        Ok(PartitionedTable::new(table))
    }

    async fn make(
        &self,
        key: B::TableKey,
        refreshing: bool,
        columns: Option<Vec<String>>,
        partitioned: bool,
    ) -> Result<ServiceTable<B>> {
        let spec = Spec {
            key,
            refreshing,
            columns,
            partitioned,
        };
        let running = driver::start(self.shared.clone(), &spec).await?;
        Ok(ServiceTable::new(self.shared.clone(), spec, running))
    }
}
