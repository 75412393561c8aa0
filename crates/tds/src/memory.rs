//! The in-memory backend of seed 002 (`TestBackend` / `TestTable`), correct where the seed's
//! sample is not: its `table_locations` iterates a dict as pairs, so the seed's own static
//! `make_table` fails; this one serves static and refreshing tables alike. Beyond the seed, a
//! location can be retracted or marked blink. Tests, examples and the conformance suite use it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use async_trait::async_trait;

use crate::backend::{
    BackendError, LocationEntry, LocationSink, SizeSink, SubscriptionHandle,
    TableDataServiceBackend, TableSchemas,
};

/// What the in-memory backend refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// `add_table` with a key already present.
    #[error("table {table} already exists")]
    TableExists {
        /// The key.
        table: String,
    },
    /// A table key the backend does not have.
    #[error("table {table} does not exist")]
    NoSuchTable {
        /// The key.
        table: String,
    },
    /// `add_location` with a key already present.
    #[error("location {location} already exists")]
    LocationExists {
        /// The key.
        location: String,
    },
    /// A location key the table does not have.
    #[error("location {location} does not exist")]
    NoSuchLocation {
        /// The key.
        location: String,
    },
    /// Rows whose schema is not the table's data schema.
    #[error("rows with schema [{found}] do not fit the data schema [{expected}]")]
    SchemaMismatch {
        /// The table's data schema.
        expected: SchemaRef,
        /// The rows' schema.
        found: SchemaRef,
    },
    /// A column the table does not have, or rows past the end of a location.
    #[error("{0}")]
    BadRequest(String),
}

#[derive(Default)]
struct LocationData {
    partition_values: Option<RecordBatch>,
    batches: Vec<RecordBatch>,
    rows: u64,
    sizes: HashMap<u64, SizeSink>,
}

struct TableData {
    schemas: TableSchemas,
    order: Vec<String>,
    locations: HashMap<String, LocationData>,
    watchers: HashMap<u64, LocationSink<String>>,
    next_id: u64,
}

/// One table of a [`MemoryBackend`] (seed 002's `TestTable`); clones share the table.
#[derive(Clone)]
pub struct MemoryTable {
    inner: Arc<Mutex<TableData>>,
}

impl std::fmt::Debug for MemoryTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let data = self.lock();
        f.debug_struct("MemoryTable")
            .field("locations", &data.order)
            .finish_non_exhaustive()
    }
}

impl MemoryTable {
    /// An empty table with `data` columns and optional `partitioning` columns.
    pub fn new(data: SchemaRef, partitioning: Option<SchemaRef>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(TableData {
                schemas: TableSchemas::new(data, partitioning),
                order: Vec::new(),
                locations: HashMap::new(),
                watchers: HashMap::new(),
                next_id: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TableData> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds location `key` with its partition values and first rows; subscribers hear of it.
    ///
    /// # Errors
    ///
    /// [`MemoryError::LocationExists`], [`MemoryError::SchemaMismatch`].
    pub fn add_location(
        &self,
        key: impl Into<String>,
        partition_values: Option<RecordBatch>,
        rows: RecordBatch,
    ) -> Result<(), MemoryError> {
        let key = key.into();
        let mut data = self.lock();
        if data.locations.contains_key(&key) {
            return Err(MemoryError::LocationExists { location: key });
        }
        check_rows(&data.schemas.data, &rows)?;
        let location = LocationData {
            partition_values: partition_values.clone(),
            rows: rows.num_rows() as u64,
            batches: vec![rows],
            sizes: HashMap::new(),
        };
        data.locations.insert(key.clone(), location);
        data.order.push(key.clone());
        for sink in data.watchers.values() {
            sink.add(key.clone(), partition_values.clone());
        }
        Ok(())
    }

    /// Appends rows to location `key` (seed 002's `append_table_location`); size subscribers
    /// hear the new size.
    ///
    /// # Errors
    ///
    /// [`MemoryError::NoSuchLocation`], [`MemoryError::SchemaMismatch`].
    pub fn append(&self, key: &str, rows: RecordBatch) -> Result<(), MemoryError> {
        let mut data = self.lock();
        check_rows(&data.schemas.data, &rows)?;
        let location = data
            .locations
            .get_mut(key)
            .ok_or_else(|| MemoryError::NoSuchLocation {
                location: key.to_string(),
            })?;
        location.rows += rows.num_rows() as u64;
        location.batches.push(rows);
        for sink in location.sizes.values() {
            sink.size(location.rows);
        }
        Ok(())
    }

    /// Withdraws location `key`: subscribers drop its rows in one step.
    ///
    /// # Errors
    ///
    /// [`MemoryError::NoSuchLocation`].
    pub fn retract(&self, key: &str) -> Result<(), MemoryError> {
        let mut data = self.lock();
        if data.locations.remove(key).is_none() {
            return Err(MemoryError::NoSuchLocation {
                location: key.to_string(),
            });
        }
        data.order.retain(|held| held != key);
        for sink in data.watchers.values() {
            sink.retract(key.to_string());
        }
        Ok(())
    }

    /// Marks location `key` blink for current subscribers: each append then replaces its rows.
    ///
    /// # Errors
    ///
    /// [`MemoryError::NoSuchLocation`].
    pub fn mark_blink(&self, key: &str) -> Result<(), MemoryError> {
        let data = self.lock();
        if !data.locations.contains_key(key) {
            return Err(MemoryError::NoSuchLocation {
                location: key.to_string(),
            });
        }
        for sink in data.watchers.values() {
            sink.blink(key.to_string());
        }
        Ok(())
    }

    /// Sends a failure to every subscriber of the table and its locations (a backend that lost
    /// its source, as seed 002's `failure_cb`).
    pub fn fail_subscribers(&self, message: &str) {
        let data = self.lock();
        for sink in data.watchers.values() {
            sink.fail(message);
        }
        for location in data.locations.values() {
            for sink in location.sizes.values() {
                sink.fail(message);
            }
        }
    }

    /// How many location and size subscriptions are active (cancelled ones are gone).
    pub fn subscriber_count(&self) -> usize {
        let data = self.lock();
        data.watchers.len()
            + data
                .locations
                .values()
                .map(|location| location.sizes.len())
                .sum::<usize>()
    }
}

fn check_rows(schema: &SchemaRef, rows: &RecordBatch) -> Result<(), MemoryError> {
    if rows.schema().fields() != schema.fields() {
        return Err(MemoryError::SchemaMismatch {
            expected: schema.clone(),
            found: rows.schema(),
        });
    }
    Ok(())
}

/// Seed 002's `TestBackend`: tables in memory, keyed by name; locations keyed by name.
#[derive(Clone, Default)]
pub struct MemoryBackend {
    tables: Arc<Mutex<HashMap<String, MemoryTable>>>,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend").finish_non_exhaustive()
    }
}

impl MemoryBackend {
    /// A backend without tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `table` under `key`; returns it (a handle sharing the table).
    ///
    /// # Errors
    ///
    /// [`MemoryError::TableExists`].
    pub fn add_table(
        &self,
        key: impl Into<String>,
        table: MemoryTable,
    ) -> Result<MemoryTable, MemoryError> {
        let key = key.into();
        let mut tables = self.lock();
        if tables.contains_key(&key) {
            return Err(MemoryError::TableExists { table: key });
        }
        tables.insert(key, table.clone());
        Ok(table)
    }

    /// The table `key`.
    ///
    /// # Errors
    ///
    /// [`MemoryError::NoSuchTable`].
    pub fn table(&self, key: &str) -> Result<MemoryTable, MemoryError> {
        self.lock()
            .get(key)
            .cloned()
            .ok_or_else(|| MemoryError::NoSuchTable {
                table: key.to_string(),
            })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, MemoryTable>> {
        self.tables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl TableDataServiceBackend for MemoryBackend {
    type TableKey = String;
    type LocationKey = String;

    fn name(&self) -> String {
        "memory".into()
    }

    async fn table_schema(&self, table: &String) -> Result<TableSchemas, BackendError> {
        Ok(self.table(table)?.lock().schemas.clone())
    }

    async fn table_locations(
        &self,
        table: &String,
    ) -> Result<Vec<LocationEntry<String>>, BackendError> {
        let table = self.table(table)?;
        let data = table.lock();
        Ok(data
            .order
            .iter()
            .filter_map(|key| {
                let location = data.locations.get(key)?;
                Some((key.clone(), location.partition_values.clone()))
            })
            .collect())
    }

    async fn table_location_size(
        &self,
        table: &String,
        location: &String,
    ) -> Result<u64, BackendError> {
        let table = self.table(table)?;
        let data = table.lock();
        let location = data
            .locations
            .get(location)
            .ok_or_else(|| MemoryError::NoSuchLocation {
                location: location.clone(),
            })?;
        Ok(location.rows)
    }

    async fn column_values(
        &self,
        table: &String,
        location: &String,
        column: &str,
        offset: u64,
        min_rows: usize,
        max_rows: usize,
    ) -> Result<ArrayRef, BackendError> {
        let table = self.table(table)?;
        let data = table.lock();
        let index = data
            .schemas
            .data
            .index_of(column)
            .map_err(|_| MemoryError::BadRequest(format!("no column {column}")))?;
        let held = data
            .locations
            .get(location)
            .ok_or_else(|| MemoryError::NoSuchLocation {
                location: location.clone(),
            })?;
        let available = held.rows.saturating_sub(offset);
        if (min_rows as u64) > available {
            return Err(MemoryError::BadRequest(format!(
                "rows {offset}..{} asked of location {location}, which holds {}",
                offset + min_rows as u64,
                held.rows
            ))
            .into());
        }
        let take = usize::try_from(available)
            .unwrap_or(usize::MAX)
            .min(max_rows);
        let parts: Vec<&dyn Array> = held
            .batches
            .iter()
            .map(|batch| batch.column(index).as_ref())
            .collect();
        let all = arrow_select::concat::concat(&parts)?;
        let start = usize::try_from(offset)?;
        Ok(all.slice(start, take))
    }

    async fn subscribe_to_table_locations(
        &self,
        table: &String,
        sink: LocationSink<String>,
    ) -> Result<SubscriptionHandle, BackendError> {
        let table = self.table(table)?;
        let id = {
            let mut data = table.lock();
            for key in &data.order {
                if let Some(location) = data.locations.get(key) {
                    sink.add(key.clone(), location.partition_values.clone());
                }
            }
            let id = data.next_id;
            data.next_id += 1;
            data.watchers.insert(id, sink);
            id
        };
        Ok(SubscriptionHandle::new(move || {
            table.lock().watchers.remove(&id);
        }))
    }

    async fn subscribe_to_table_location_size(
        &self,
        table: &String,
        location: &String,
        sink: SizeSink,
    ) -> Result<SubscriptionHandle, BackendError> {
        let table = self.table(table)?;
        let id = {
            let mut data = table.lock();
            let id = data.next_id;
            data.next_id += 1;
            let held =
                data.locations
                    .get_mut(location)
                    .ok_or_else(|| MemoryError::NoSuchLocation {
                        location: location.clone(),
                    })?;
            sink.size(held.rows);
            held.sizes.insert(id, sink);
            id
        };
        let location = location.clone();
        Ok(SubscriptionHandle::new(move || {
            if let Some(held) = table.lock().locations.get_mut(&location) {
                held.sizes.remove(&id);
            }
        }))
    }
}
