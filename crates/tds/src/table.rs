//! The handles a service gives out: [`ServiceTable`] (a live table and the means to retry it)
//! and [`PartitionedTable`] (constituents keyed by partition values, and the merged whole).

use std::ops::Range;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_cast::display::array_value_to_string;
use tableshare_core::{LiveTable, RowKey};

use crate::backend::TableDataServiceBackend;
use crate::driver::{self, Running, Spec, lock};
use crate::error::Result;
use crate::layout::LOCATION_KEY_BITS;
use crate::service::Shared;

/// A table made by a [`TableDataService`](crate::TableDataService).
///
/// [`live`](Self::live) is the core live table readers snapshot and subscribe to. When the
/// backend fails, times out or breaks its contract, that table fails with a
/// [`TdsError`](crate::TdsError) naming what broke; [`retry`](Self::retry) makes it again from
/// the backend (readers then take the new [`live`](Self::live) table). Dropping the last handle
/// stops the refreshing task and cancels the backend subscriptions.
pub struct ServiceTable<B: TableDataServiceBackend> {
    shared: Arc<Shared<B>>,
    spec: Spec<B::TableKey>,
    running: Mutex<Running>,
}

impl<B: TableDataServiceBackend> std::fmt::Debug for ServiceTable<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceTable")
            .field("key", &self.spec.key)
            .field("refreshing", &self.spec.refreshing)
            .field("live", &lock(&self.running).live)
            .finish()
    }
}

impl<B: TableDataServiceBackend> ServiceTable<B> {
    pub(crate) fn new(shared: Arc<Shared<B>>, spec: Spec<B::TableKey>, running: Running) -> Self {
        Self {
            shared,
            spec,
            running: Mutex::new(running),
        }
    }

    /// The table's key.
    pub fn key(&self) -> &B::TableKey {
        &self.spec.key
    }

    /// Whether the table refreshes.
    pub fn is_refreshing(&self) -> bool {
        self.spec.refreshing
    }

    /// The live table (after a [`retry`](Self::retry), the new one).
    pub fn live(&self) -> LiveTable {
        lock(&self.running).live.clone()
    }

    /// Why the table failed, if it did.
    pub fn failure(&self) -> Option<Arc<dyn std::error::Error + Send + Sync>> {
        lock(&self.running).live.failure()
    }

    /// Makes a failed table again from the backend: a new live table, new subscriptions. Does
    /// nothing to a table that has not failed; returns whether it retried.
    ///
    /// # Errors
    ///
    /// As [`make_table`](crate::TableDataService::make_table); the failed table stays.
    pub async fn retry(&self) -> Result<bool> {
        if self.failure().is_none() {
            return Ok(false);
        }
        let running = driver::start(self.shared.clone(), &self.spec).await?;
        *lock(&self.running) = running;
        Ok(true)
    }

    pub(crate) fn constituents(&self) -> Vec<Constituent> {
        lock(&lock(&self.running).constituents).clone()
    }
}

/// One location's table within a [`PartitionedTable`].
#[derive(Clone, Debug)]
pub struct Constituent {
    pub(crate) index: usize,
    location: String,
    partition_values: Option<RecordBatch>,
    key: Vec<String>,
    table: LiveTable,
}

impl Constituent {
    pub(crate) fn new(
        index: usize,
        location: String,
        partition_values: Option<RecordBatch>,
        table: LiveTable,
    ) -> Self {
        let key = match &partition_values {
            Some(values) => values
                .columns()
                .iter()
                .map(|column| {
                    array_value_to_string(column.as_ref(), 0).unwrap_or_else(|_| String::new())
                })
                .collect(),
            None => vec![location.clone()],
        };
        Self {
            index,
            location,
            partition_values,
            key,
            table,
        }
    }

    /// The location key, displayed.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The partition values: one row in the partitioning schema.
    pub fn partition_values(&self) -> Option<&RecordBatch> {
        self.partition_values.as_ref()
    }

    /// The partition values displayed, one per partitioning column (the location key when the
    /// table has no partitioning columns): the constituent's key.
    pub fn key(&self) -> &[String] {
        &self.key
    }

    /// The row keys this constituent's rows take in the merged table: every location has a
    /// key range of its own there, so a reader of the merged table finds the location's rows in
    /// this range of one consistent snapshot (`Snapshot::rows_in`), the way SQL over a
    /// partitioned table reads only the locations its filters keep.
    pub fn merged_keys(&self) -> Range<RowKey> {
        let base = (self.index as u64) << LOCATION_KEY_BITS;
        base..base + (1 << LOCATION_KEY_BITS)
    }

    /// The constituent's live table (partitioning columns included).
    pub fn table(&self) -> &LiveTable {
        &self.table
    }
}

/// A table made by [`make_partitioned_table`](crate::TableDataService::make_partitioned_table):
/// one constituent per location, keyed by partition values, and the merged whole.
///
/// A step that adds a location adds its constituent before the merged table ticks, so a reader
/// woken by the merged table finds the new constituent.
#[derive(Debug)]
pub struct PartitionedTable<B: TableDataServiceBackend> {
    table: ServiceTable<B>,
}

impl<B: TableDataServiceBackend> PartitionedTable<B> {
    pub(crate) fn new(table: ServiceTable<B>) -> Self {
        Self { table }
    }

    /// The merged whole.
    pub fn merged(&self) -> LiveTable {
        self.table.live()
    }

    /// The constituents now, in the order their locations appeared.
    pub fn constituents(&self) -> Vec<Constituent> {
        self.table.constituents()
    }

    /// The constituent whose partition values display as `key`.
    pub fn constituent(&self, key: &[&str]) -> Option<Constituent> {
        self.constituents().into_iter().find(|constituent| {
            constituent
                .key
                .iter()
                .map(String::as_str)
                .eq(key.iter().copied())
        })
    }

    /// The underlying service table (its failure, its retry).
    pub fn table(&self) -> &ServiceTable<B> {
        &self.table
    }
}
