//! [`Table`]: the handle through which a program reads, changes and follows one table.
//!
//! Every mutation builds the next manifest on the version the handle last saw and commits it
//! through the commit protocol ([`crate::format::log`]). An append that loses the race rebuilds itself
//! on the winner and retries; any other change whose base is no longer the latest fails with
//! [`StorageError::VersionConflict`] (re-read with [`Table::refresh`] and try again).
//!
//! Big inserts are cut into several data files encoded in parallel; an insert that would leave
//! too many small files also compacts the smallest ones in the same version, and
//! [`Table::compact`] compacts explicitly (docs/format.md, "Compaction").

use std::sync::Mutex;

use arrow_array::{BooleanArray, RecordBatch};
use arrow_schema::SchemaRef;
use tableshare_core::RowSet;
use uuid::Uuid;

use crate::options::CatalogOptions;

use crate::error::{Result, StorageError};
use crate::format::manifest::{Operation, public_schema};
use crate::format::table_dir::{Loaded, TableDir};
use crate::scan::{ScanOptions, ScanStream};

/// Which rows an update or delete applies to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Selection {
    /// These row keys (each must be live at the handle's version).
    Keys(RowSet),
    /// `true` entries of a mask over the rows of [`Table::scan`] at the handle's version
    /// (ascending row key order); null counts as `false`.
    Mask(BooleanArray),
}

/// The live rows of one table version, in ascending row-key order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TableData {
    /// The version read.
    pub version: u64,
    /// Row keys, ascending; `keys[i]` is the key of row `i`.
    pub keys: Vec<u64>,
    /// The rows, in the version's schema.
    pub batch: RecordBatch,
}

/// One line of [`Table::history`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryEntry {
    /// The version.
    pub version: u64,
    /// Commit time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// What the version did.
    pub operation: Operation,
    /// Rows added by the version.
    pub rows_added: u64,
    /// Rows removed by the version.
    pub rows_removed: u64,
    /// Rows whose values the version changed.
    pub rows_updated: u64,
    /// Live rows after the version.
    pub row_count: u64,
}

/// Why a handle refuses mutations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Writable,
    ReadOnly(&'static str),
}

/// A handle on one table (or a snapshot, a replica, or a pinned `path:N` version).
///
/// Cheap to share behind an `Arc`: every method takes `&self`.
#[derive(Debug)]
pub struct Table {
    pub(crate) store: TableDir,
    pub(crate) id: Uuid,
    pub(crate) access: Access,
    pub(crate) pinned: Option<u64>,
    pub(crate) state: Mutex<Loaded>,
    pub(crate) hooks: crate::live::Hooks,
}

impl Table {
    pub(crate) fn new(
        store: TableDir,
        id: Uuid,
        access: Access,
        pinned: Option<u64>,
        loaded: Loaded,
        hooks: crate::live::Hooks,
    ) -> Self {
        Self {
            store,
            id,
            access,
            pinned,
            state: Mutex::new(loaded),
            hooks,
        }
    }

    /// Another writable handle on the same table at the same version, sharing this one's live
    /// state (for work that outlives the call that started it, like background compaction).
    pub(crate) fn sibling(&self) -> Self {
        Self::new(
            self.store.clone(),
            self.id,
            self.access,
            self.pinned,
            self.current(),
            self.hooks.sibling(),
        )
    }

    /// The catalog path the handle was opened with (with `:N` for a pinned version).
    pub fn path(&self) -> &str {
        &self.store.name
    }

    /// The table's directory on its store, through the public format tier.
    pub fn dir(&self) -> &TableDir {
        &self.store
    }

    /// The table's storage id (its directory `tables/<id>`).
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Whether mutations are refused (replica, snapshot, pinned version).
    pub fn is_read_only(&self) -> bool {
        self.access != Access::Writable
    }

    pub(crate) fn current(&self) -> Loaded {
        match self.state.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn set_current(&self, loaded: Loaded) {
        let mut g = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if loaded.version() >= g.version() {
            *g = loaded;
        }
    }

    /// The version this handle reads (the latest it has seen, or the pinned one).
    pub fn version(&self) -> u64 {
        self.current().version()
    }

    /// The schema at the handle's version.
    pub fn schema(&self) -> SchemaRef {
        public_schema(&self.current().manifest.schema)
    }

    /// The partition columns.
    pub fn partition_columns(&self) -> Vec<String> {
        self.current().manifest.partition_columns.clone()
    }

    /// The schema at the handle's version as the core table model's [`TableSchema`](tableshare_core::TableSchema).
    ///
    /// # Errors
    ///
    /// [`StorageError::Core`] if core rejects the stored schema (it should not).
    pub fn table_schema(&self) -> Result<tableshare_core::TableSchema> {
        let m = self.current().manifest;
        tableshare_core::TableSchema::new(
            public_schema(&m.schema),
            m.partition_columns.iter().cloned(),
        )
        .map_err(|source| StorageError::Core {
            context: format!("schema of {}", self.path()),
            source,
        })
    }

    /// Live rows at the handle's version.
    pub fn row_count(&self) -> u64 {
        self.current().manifest.row_count
    }

    /// Data files at the handle's version (bounded by compaction; see [`Table::compact`]).
    pub fn file_count(&self) -> usize {
        self.current().manifest.files.len()
    }

    /// Re-reads the latest version (a no-op for pinned handles) and returns it.
    ///
    /// # Errors
    ///
    /// Store errors, or [`StorageError::Corrupt`] for a damaged manifest.
    pub async fn refresh(&self) -> Result<u64> {
        if self.pinned.is_some() {
            return Ok(self.version());
        }
        let latest = self.store.load_latest().await?;
        let v = latest.version();
        self.set_current(latest);
        Ok(v)
    }

    /// Reads the live rows at the handle's version as one batch: every column of every row,
    /// concatenated from [`Table::scan_stream`] with default options. Memory grows with the
    /// table; prefer the stream for big tables or when only some rows or columns are needed.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] naming the file if any file fails verification.
    pub async fn scan(&self) -> Result<TableData> {
        let loaded = self.current();
        self.data_of(&loaded).await
    }

    /// Reads the live rows at `version` (time travel) as one batch, like [`Table::scan`].
    ///
    /// # Errors
    ///
    /// [`StorageError::VersionExpired`] if garbage collection removed it,
    /// [`StorageError::VersionNotFound`] if it was never committed.
    pub async fn scan_at(&self, version: u64) -> Result<TableData> {
        let loaded = self.load_version(version).await?;
        self.data_of(&loaded).await
    }

    /// Streams the live rows at the handle's version: batches of keys and rows, keys
    /// ascending across the stream, reading only what `options` asks for. Only the requested
    /// columns are decoded; files and row groups that cannot hold wanted rows (key range,
    /// filters on Parquet statistics) are not fetched; a limit stops reading once it is
    /// reached. Every byte read is verified before it is decoded (docs/format.md).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{Int64Array, RecordBatch, StringArray};
    /// use arrow_schema::{DataType, Field, Schema};
    /// use futures::TryStreamExt;
    /// use tableshare_core::TableSchema;
    /// use tableshare_storage::{Catalog, Predicate, ScanOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let catalog = Catalog::in_memory();
    /// let arrow = Arc::new(Schema::new(vec![
    ///     Field::new("id", DataType::Int64, false),
    ///     Field::new("name", DataType::Utf8, true),
    /// ]));
    /// let table = catalog.create_table("t", &TableSchema::unpartitioned(arrow.clone())?).await?;
    /// let ids = Int64Array::from_iter_values(0..100);
    /// let names = StringArray::from_iter_values((0..100).map(|i| format!("n{i}")));
    /// table.insert(&RecordBatch::try_new(arrow, vec![Arc::new(ids), Arc::new(names)])?).await?;
    ///
    /// let options = ScanOptions::default()
    ///     .columns(["name"])
    ///     .filter(Predicate::gt_eq("id", 90))
    ///     .limit(5)
    ///     .batch_size(2);
    /// let batches: Vec<_> = table.scan_stream(options)?.try_collect().await?;
    /// let keys: Vec<u64> = batches.iter().flat_map(|b| b.keys.clone()).collect();
    /// assert_eq!(keys, vec![90, 91, 92, 93, 94]);
    /// assert_eq!(batches[0].batch.schema().field(0).name(), "name");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidArgument`] for an unknown column or a filter that does not fit
    /// its column (before anything is read). The stream yields [`StorageError::Corrupt`]
    /// naming the file if a piece read fails verification, and store errors.
    pub fn scan_stream(&self, options: ScanOptions) -> Result<ScanStream> {
        crate::scan::scan_stream(&self.store, &self.current(), options)
    }

    /// Streams the live rows at `version` (time travel), like [`Table::scan_stream`]; column
    /// names are those of that version.
    ///
    /// # Errors
    ///
    /// As [`Table::scan_at`] and [`Table::scan_stream`].
    pub async fn scan_stream_at(&self, version: u64, options: ScanOptions) -> Result<ScanStream> {
        let loaded = self.load_version(version).await?;
        crate::scan::scan_stream(&self.store, &loaded, options)
    }

    /// The schema at `version` (columns as they were then).
    ///
    /// # Errors
    ///
    /// As [`Table::scan_at`].
    pub async fn schema_at(&self, version: u64) -> Result<SchemaRef> {
        Ok(public_schema(
            &self.load_version(version).await?.manifest.schema,
        ))
    }

    pub(crate) async fn load_version(&self, version: u64) -> Result<Loaded> {
        let current = self.current();
        if current.version() == version {
            return Ok(current);
        }
        self.store.load(version).await
    }

    /// A whole version in one batch, built on the stream.
    pub(crate) async fn data_of(&self, loaded: &Loaded) -> Result<TableData> {
        crate::scan::scan_stream(&self.store, loaded, ScanOptions::default())?
            .concat()
            .await
    }

    /// The catalog options this handle writes with.
    pub(crate) fn options(&self) -> &CatalogOptions {
        self.hooks.options()
    }

    pub(crate) fn writable(&self, operation: &'static str) -> Result<()> {
        match self.access {
            Access::Writable => Ok(()),
            Access::ReadOnly(why) => Err(StorageError::ReadOnly {
                table: self.path().to_owned(),
                operation,
                why,
            }),
        }
    }

    /// The versions from the handle's version back to the oldest one not garbage collected,
    /// newest first. Each parent is checked against the hash its child recorded.
    ///
    /// # Errors
    ///
    /// Store errors or [`StorageError::Corrupt`].
    pub async fn history(&self) -> Result<Vec<HistoryEntry>> {
        let mut out = Vec::new();
        let mut at = Some(self.current());
        while let Some(loaded) = at {
            let m = &loaded.manifest;
            out.push(HistoryEntry {
                version: m.version,
                timestamp_ms: m.timestamp_ms,
                operation: m.operation.clone(),
                rows_added: m.rows_added,
                rows_removed: m.rows_removed,
                rows_updated: m.rows_updated,
                row_count: m.row_count,
            });
            at = match self.store.load_parent(&loaded).await {
                Ok(p) => p,
                Err(StorageError::VersionExpired { .. }) => None,
                Err(e) => return Err(e),
            };
        }
        Ok(out)
    }

    /// The rows at the handle's version as a core [`Snapshot`](tableshare_core::Snapshot)
    /// (step = version).
    ///
    /// # Errors
    ///
    /// As [`Table::scan`].
    pub async fn snapshot(&self) -> Result<tableshare_core::Snapshot> {
        crate::live::snapshot_of(&self.store, &self.current()).await
    }

    /// The [`TableUpdate`](tableshare_core::TableUpdate) taking version `a` to version `b`
    /// (its step is `b`; rows are in `b`'s schema). Computed from the two manifests and their
    /// deletion vectors, reading only the data files that differ: removed keys, added rows, and
    /// modified rows (all columns, or only the updated ones when `b` is one update after `a`).
    ///
    /// # Errors
    ///
    /// [`StorageError::VersionExpired`] / [`StorageError::VersionNotFound`] for either version,
    /// [`StorageError::Corrupt`].
    pub async fn diff(&self, a: u64, b: u64) -> Result<tableshare_core::TableUpdate> {
        let la = self.load_version(a).await?;
        let lb = self.load_version(b).await?;
        crate::diff::update_between(&self.store, &la, &lb).await
    }

    /// A core [`LiveTable`](tableshare_core::LiveTable) holding this table's rows at the
    /// handle's version that ticks (one step per version, `step == version`) on every commit
    /// made through this catalog's handles, and on commits by other processes seen by a watcher
    /// polling every [`watch_interval`](crate::CatalogOptions::watch_interval). Handles of the
    /// same table share one live table. A pinned handle returns a live table that never ticks.
    ///
    /// The watcher runs while a handle that called `live()` exists. A version that changes the
    /// schema fails the live table; call `live()` again for one with the new schema.
    ///
    /// # Errors
    ///
    /// [`StorageError::NoRuntime`] outside a tokio runtime; read errors as [`Table::scan`].
    pub async fn live(&self) -> Result<tableshare_core::LiveTable> {
        self.hooks.live(self.current(), self.pinned.is_some()).await
    }
}
