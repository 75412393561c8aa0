//! The Parquet backend: a hive-layout folder of Parquet files on any object store
//! (`…/Ticker=GOOG/Exchange=NYSE/*.parquet`, as pyarrow and Spark write them) as a data service.
//!
//! * **Tables** are folders under the backend's root, named by their path relative to it (`""`
//!   is the root itself).
//! * **Locations** are partition folders (`Ticker=GOOG/Exchange=NYSE`), their partition values
//!   parsed from the folder names (int64 when every value is an integer, as pyarrow infers, else
//!   utf8); files directly in the table folder form the location `""`.
//! * **Sizes** are the row counts in the files' footers, read by ranged GETs and cached per file
//!   version; a location's rows are its files' rows in file-name order.
//! * **Column values** are read by ranged GETs of only the row groups and the column needed.
//! * **Refreshing** is by polling the listing: a new partition folder is a new location, a new
//!   file sorting after a location's files grows it, any other change to a location's files
//!   (a file removed, rewritten, or sorting before others) retracts the location and announces
//!   it again with its new rows.

mod listing;
mod reader;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arrow_array::{Array, ArrayRef};
use arrow_schema::Schema;
use async_trait::async_trait;
use object_store::ObjectStore;
use object_store::path::Path;

use crate::backend::{
    BackendError, LocationEntry, LocationSink, SizeSink, SubscriptionHandle,
    TableDataServiceBackend, TableSchemas,
};
use listing::{FileEntry, Listing};
use reader::Reader;

/// How often a refreshing table's folder is listed by default.
const DEFAULT_POLL: Duration = Duration::from_secs(1);

/// Decoded row-group columns kept by default.
const DEFAULT_GROUP_CACHE: usize = 256;

/// Listing failures in a row after which subscribers are told.
const POLL_FAILURES: u32 = 3;

/// Parquet files in hive layout on an object store, as a [`TableDataServiceBackend`].
///
/// ```
/// use std::sync::Arc;
/// use object_store::memory::InMemory;
/// use object_store::path::Path;
/// use tableshare_tds::ParquetBackend;
///
/// let backend = ParquetBackend::new(Arc::new(InMemory::new()), Path::from("datasets"));
/// ```
#[derive(Clone)]
pub struct ParquetBackend {
    inner: Arc<Inner>,
}

struct Inner {
    reader: Reader,
    root: Path,
    poll: Duration,
    tables: Mutex<HashMap<String, TableState>>,
}

#[derive(Default)]
struct TableState {
    schemas: Option<TableSchemas>,
    listing: Listing,
    locations: HashMap<u64, LocationSink<String>>,
    sizes: HashMap<u64, (String, SizeSink)>,
    next_id: u64,
    task: Option<tokio::task::AbortHandle>,
}

impl std::fmt::Debug for ParquetBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetBackend")
            .field("root", &self.inner.root)
            .field("poll", &self.inner.poll)
            .finish_non_exhaustive()
    }
}

impl ParquetBackend {
    /// The tables under `root` of `store`, polled every second when refreshing.
    pub fn new(store: Arc<dyn ObjectStore>, root: Path) -> Self {
        Self::with_poll_interval(store, root, DEFAULT_POLL)
    }

    /// As [`new`](Self::new), polling every `poll`.
    pub fn with_poll_interval(store: Arc<dyn ObjectStore>, root: Path, poll: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                reader: Reader::new(store, DEFAULT_GROUP_CACHE),
                root,
                poll,
                tables: Mutex::new(HashMap::new()),
            }),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    /// The store and folder of `table`, for messages.
    fn describe(&self, table: &str) -> String {
        format!("{}/{}", self.reader.store, self.prefix(table))
    }

    fn prefix(&self, table: &str) -> Path {
        table
            .split('/')
            .filter(|part| !part.is_empty())
            .fold(self.root.clone(), |path, part| path.join(part))
    }

    /// Lists `table` now and records the listing.
    async fn refresh(&self, table: &str) -> Result<Listing, BackendError> {
        let listing = listing::list(self.reader.store.as_ref(), &self.prefix(table)).await?;
        lock(&self.tables)
            .entry(table.to_string())
            .or_default()
            .listing = listing.clone();
        Ok(listing)
    }

    /// The files of `location` as last listed (listing again when it is not known).
    async fn files(&self, table: &str, location: &str) -> Result<Vec<FileEntry>, BackendError> {
        let known = lock(&self.tables)
            .get(table)
            .and_then(|state| state.listing.get(location).cloned());
        match known {
            Some(files) => Ok(files),
            None => self
                .refresh(table)
                .await?
                .get(location)
                .cloned()
                .ok_or_else(|| {
                    format!("location {location:?} of table {table:?} does not exist").into()
                }),
        }
    }

    async fn rows(&self, files: &[FileEntry]) -> Result<u64, BackendError> {
        let mut rows = 0;
        for file in files {
            rows += self.reader.footer(file).await?.rows;
        }
        Ok(rows)
    }

    async fn schemas(&self, table: &str) -> Result<TableSchemas, BackendError> {
        if let Some(schemas) = lock(&self.tables)
            .get(table)
            .and_then(|state| state.schemas.clone())
        {
            return Ok(schemas);
        }
        let listing = self.refresh(table).await?;
        let partitioning = listing::partitioning_schema(&listing)?;
        let first = listing
            .values()
            .flat_map(|files| files.first())
            .next()
            .ok_or_else(|| format!("no Parquet files under {}", self.describe(table)))?;
        let meta = self.reader.footer(first).await?;
        let partition_names: Vec<&String> = partitioning
            .iter()
            .flat_map(|schema| schema.fields().iter().map(|field| field.name()))
            .collect();
        let fields: Vec<_> = meta
            .schema()
            .fields()
            .iter()
            .filter(|field| !partition_names.contains(&field.name()))
            .map(|field| field.as_ref().clone().with_metadata(HashMap::new()))
            .collect();
        let schemas = TableSchemas::new(Arc::new(Schema::new(fields)), partitioning);
        lock(&self.tables)
            .entry(table.to_string())
            .or_default()
            .schemas = Some(schemas.clone());
        Ok(schemas)
    }

    async fn entries(
        &self,
        table: &str,
        listing: &Listing,
    ) -> Result<Vec<LocationEntry<String>>, BackendError> {
        let schemas = self.schemas(table).await?;
        listing
            .keys()
            .map(|location| {
                let values = listing::partition_values(location, schemas.partitioning.as_ref())?;
                Ok((location.clone(), values))
            })
            .collect()
    }
}

#[async_trait]
impl TableDataServiceBackend for ParquetBackend {
    type TableKey = String;
    type LocationKey = String;

    fn name(&self) -> String {
        format!("parquet {}", self.inner.describe(""))
    }

    async fn table_schema(&self, table: &String) -> Result<TableSchemas, BackendError> {
        self.inner.schemas(table).await
    }

    async fn table_locations(
        &self,
        table: &String,
    ) -> Result<Vec<LocationEntry<String>>, BackendError> {
        let listing = self.inner.refresh(table).await?;
        if listing.is_empty() {
            return Err(format!("no Parquet files under {}", self.inner.describe(table)).into());
        }
        self.inner.entries(table, &listing).await
    }

    async fn table_location_size(
        &self,
        table: &String,
        location: &String,
    ) -> Result<u64, BackendError> {
        let files = self.inner.files(table, location).await?;
        self.inner.rows(&files).await
    }

    async fn column_values(
        &self,
        table: &String,
        location: &String,
        column: &str,
        offset: u64,
        min_rows: usize,
        _max_rows: usize,
    ) -> Result<ArrayRef, BackendError> {
        let files = self.inner.files(table, location).await?;
        let end = offset + min_rows as u64;
        let mut parts: Vec<ArrayRef> = Vec::new();
        let mut file_start = 0u64;
        for file in &files {
            if file_start >= end {
                break;
            }
            let meta = self.inner.reader.footer(file).await?;
            if file_start + meta.rows <= offset {
                file_start += meta.rows;
                continue;
            }
            let index = meta
                .schema()
                .index_of(column)
                .map_err(|_| format!("{} has no column {column}", file.path))?;
            let mut group_start = file_start;
            for (group, rows) in meta.groups.iter().enumerate() {
                let group_end = group_start + rows;
                if group_end > offset && group_start < end {
                    let values = self
                        .inner
                        .reader
                        .group_column(file, &meta, group, index)
                        .await?;
                    let from = offset.max(group_start) - group_start;
                    let to = end.min(group_end) - group_start;
                    parts.push(values.slice(usize::try_from(from)?, usize::try_from(to - from)?));
                }
                group_start = group_end;
            }
            file_start += meta.rows;
        }
        if file_start < end && files.is_empty() {
            return Err(format!("location {location:?} has no files").into());
        }
        let parts: Vec<&dyn Array> = parts.iter().map(|part| part.as_ref()).collect();
        match parts.as_slice() {
            [one] => Ok(arrow_array::make_array(one.to_data())),
            [] => Err(
                format!("rows {offset}..{end} are past the end of location {location:?}").into(),
            ),
            _ => Ok(arrow_select::concat::concat(&parts)?),
        }
    }

    async fn subscribe_to_table_locations(
        &self,
        table: &String,
        sink: LocationSink<String>,
    ) -> Result<SubscriptionHandle, BackendError> {
        self.inner.schemas(table).await?;
        let running = lock(&self.inner.tables)
            .get(table)
            .is_some_and(|state| state.task.is_some());
        let listing = if running {
            lock(&self.inner.tables)
                .get(table)
                .map(|state| state.listing.clone())
                .unwrap_or_default()
        } else {
            self.inner.refresh(table).await?
        };
        let entries = self.inner.entries(table, &listing).await?;
        let id = {
            let mut tables = lock(&self.inner.tables);
            let state = tables.entry(table.clone()).or_default();
            for (location, values) in entries {
                sink.add(location, values);
            }
            let id = state.next_id;
            state.next_id += 1;
            state.locations.insert(id, sink);
            id
        };
        Ok(self.watch(table, id))
    }

    async fn subscribe_to_table_location_size(
        &self,
        table: &String,
        location: &String,
        sink: SizeSink,
    ) -> Result<SubscriptionHandle, BackendError> {
        let files = self.inner.files(table, location).await?;
        let rows = self.inner.rows(&files).await?;
        let id = {
            let mut tables = lock(&self.inner.tables);
            let state = tables.entry(table.clone()).or_default();
            sink.size(rows);
            let id = state.next_id;
            state.next_id += 1;
            state.sizes.insert(id, (location.clone(), sink));
            id
        };
        Ok(self.watch(table, id))
    }
}

mod poll;
