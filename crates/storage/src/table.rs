//! [`Table`]: the handle through which a program reads, changes and follows one table.
//!
//! Every mutation builds the next manifest on the version the handle last saw and commits it
//! through the commit protocol ([`crate::log`]). An append that loses the race rebuilds itself
//! on the winner and retries; any other change whose base is no longer the latest fails with
//! [`StorageError::VersionConflict`] (re-read with [`Table::refresh`] and try again).
//!
//! Big inserts are cut into several data files encoded in parallel; an insert that would leave
//! too many small files also compacts the smallest ones in the same version, and
//! [`Table::compact`] compacts explicitly (docs/format.md, "Compaction").

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use arrow_array::{
    Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array, UInt64Array, new_null_array,
};
use arrow_schema::{Field, Schema, SchemaRef};
use serde::Serialize;
use tableshare_core::RowSet;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::catalog::CatalogOptions;
use crate::engine::{Loaded, Rows, TableStore, locate_keys};
use crate::error::{Result, StorageError};
use crate::log::CommitOutcome;
use crate::manifest::{
    DataFileEntry, Operation, TableManifest, check_supported_type, column_id, now_ms,
    public_schema, with_column_id,
};

/// How many times an append that lost a commit race is rebuilt on the winner.
const APPEND_RETRIES: usize = 16;

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
    pub(crate) store: TableStore,
    pub(crate) id: Uuid,
    pub(crate) access: Access,
    pub(crate) pinned: Option<u64>,
    pub(crate) state: Mutex<Loaded>,
    pub(crate) hooks: crate::live::Hooks,
}

impl Table {
    pub(crate) fn new(
        store: TableStore,
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

    /// The catalog path the handle was opened with (with `:N` for a pinned version).
    pub fn path(&self) -> &str {
        &self.store.name
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

    fn set_current(&self, loaded: Loaded) {
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

    /// Reads the live rows at the handle's version.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] naming the file if any file fails verification.
    pub async fn scan(&self) -> Result<TableData> {
        let loaded = self.current();
        self.data_of(&loaded).await
    }

    /// Reads the live rows at `version` (time travel).
    ///
    /// # Errors
    ///
    /// [`StorageError::VersionExpired`] if garbage collection removed it,
    /// [`StorageError::VersionNotFound`] if it was never committed.
    pub async fn scan_at(&self, version: u64) -> Result<TableData> {
        let loaded = self.load_version(version).await?;
        self.data_of(&loaded).await
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

    async fn data_of(&self, loaded: &Loaded) -> Result<TableData> {
        let Rows { keys, batch } = self.store.scan(loaded).await?;
        let schema = public_schema(&loaded.manifest.schema);
        let batch = crate::engine::relabel(batch, schema)?;
        Ok(TableData {
            version: loaded.version(),
            keys,
            batch,
        })
    }

    fn writable(&self, operation: &'static str) -> Result<()> {
        match self.access {
            Access::Writable => Ok(()),
            Access::ReadOnly(why) => Err(StorageError::ReadOnly {
                table: self.path().to_owned(),
                operation,
                why,
            }),
        }
    }

    fn next_manifest(base: &Loaded, operation: Operation) -> TableManifest {
        let mut m = base.manifest.as_ref().clone();
        m.version = base.version() + 1;
        m.parent_version = Some(base.version());
        m.parent_hash = Some(base.hash.clone());
        m.txn_id = Uuid::new_v4().to_string();
        m.timestamp_ms = now_ms().max(base.manifest.timestamp_ms);
        m.operation = operation;
        m.rows_added = 0;
        m.rows_removed = 0;
        m.rows_updated = 0;
        m
    }

    /// Commits `manifest`; `Ok(None)` if a rival won the version.
    async fn try_commit(&self, base: &Loaded, manifest: TableManifest) -> Result<Option<u64>> {
        let (outcome, hash) = self.store.commit(&manifest).await?;
        match outcome {
            CommitOutcome::Committed => {
                let v = manifest.version;
                info!(table = %self.path(), version = v, operation = manifest.operation.name(), "committed");
                let loaded = Loaded {
                    manifest: Arc::new(manifest),
                    hash,
                };
                self.set_current(loaded.clone());
                self.hooks.committed(base, &loaded).await;
                Ok(Some(v))
            }
            CommitOutcome::Lost => Ok(None),
        }
    }

    /// Commits a change that cannot be rebased: losing is a [`StorageError::VersionConflict`].
    async fn commit_or_conflict(&self, base: &Loaded, manifest: TableManifest) -> Result<u64> {
        let attempted = manifest.version;
        match self.try_commit(base, manifest).await? {
            Some(v) => Ok(v),
            None => {
                let current = self.store.log.latest().await?.unwrap_or(attempted);
                Err(StorageError::VersionConflict {
                    table: self.path().to_owned(),
                    attempted,
                    current,
                })
            }
        }
    }

    /// Appends rows; they get fresh row keys. Returns the new version (the current one if
    /// `batch` is empty). Columns are matched by name; nullable columns may be omitted.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] for a batch that does not
    /// fit the schema, [`StorageError::VersionConflict`] if a rival dropped a column being
    /// inserted into (other rivals are retried on automatically).
    pub async fn insert(&self, batch: &RecordBatch) -> Result<u64> {
        self.writable("insert")?;
        let mut base = self.current();
        let aligned = align_batch(self.path(), &base.manifest.schema, batch)?;
        let n = aligned.num_rows() as u64;
        if n == 0 {
            return Ok(base.version());
        }
        let ids: Vec<u32> = aligned
            .schema()
            .fields()
            .iter()
            .filter_map(|f| column_id(f))
            .collect();
        for attempt in 0..APPEND_RETRIES {
            let schema = &base.manifest.schema;
            if let Some(missing) = ids
                .iter()
                .find(|id| !schema.fields().iter().any(|f| column_id(f) == Some(**id)))
            {
                debug!(
                    column_id = missing,
                    "a rival dropped a column being inserted into"
                );
                return Err(StorageError::VersionConflict {
                    table: self.path().to_owned(),
                    attempted: base.version() + 1,
                    current: base.version(),
                });
            }
            let first = base.manifest.next_row_key;
            let keys = UInt64Array::from_iter_values(first..first + n);
            let options = self.options();
            let entries = self
                .store
                .write_rows(&keys, &aligned, options.file_limits())
                .await?;
            let mut m = Self::next_manifest(&base, Operation::Insert { rows: n });
            m.next_row_key = first + n;
            m.row_count += n;
            m.rows_added = n;
            self.auto_compact(&mut m, &entries, options).await;
            m.files.extend(entries);
            if let Some(v) = self.try_commit(&base, m).await? {
                return Ok(v);
            }
            debug!(table = %self.path(), attempt, "append lost the race; rebasing on the winner");
            base = self.store.load_latest().await?;
            self.set_current(base.clone());
        }
        Err(StorageError::VersionConflict {
            table: self.path().to_owned(),
            attempted: base.version() + 1,
            current: base.version(),
        })
    }

    /// Appends rows given as serde values (structs or maps keyed by column name), converted
    /// through the table's Arrow schema. JSON-marked columns accept any JSON value.
    ///
    /// # Errors
    ///
    /// As [`Table::insert`], plus [`StorageError::InvalidArgument`] for rows that do not fit.
    pub async fn insert_rows<T: Serialize>(&self, rows: &[T]) -> Result<u64> {
        self.writable("insert")?;
        let schema = public_schema(&self.current().manifest.schema);
        let batch = crate::rows::rows_to_batch(self.path(), &schema, rows)?;
        self.insert(&batch).await
    }

    /// Resolves a selection to live keys at `base`.
    async fn resolve(&self, base: &Loaded, selection: &Selection) -> Result<RowSet> {
        match selection {
            Selection::Keys(keys) => Ok(keys.clone()),
            Selection::Mask(mask) => {
                let rows = self.store.scan(base).await?;
                if mask.len() != rows.keys.len() {
                    return Err(StorageError::invalid(
                        self.path(),
                        format!(
                            "mask has {} entries but version {} has {} rows",
                            mask.len(),
                            base.version(),
                            rows.keys.len()
                        ),
                    ));
                }
                Ok(rows
                    .keys
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask.is_valid(*i) && mask.value(*i))
                    .map(|(_, k)| *k)
                    .collect())
            }
        }
    }

    /// Replaces values of selected rows. `values` holds the changed columns (by name) with one
    /// row per selected row in ascending key order, or a single row applied to all of them.
    /// Row keys stay the same. Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] (unknown column, wrong type
    /// or row count, a key that is not live), [`StorageError::VersionConflict`] if another
    /// version was committed since the handle's version.
    pub async fn update(&self, selection: &Selection, values: &RecordBatch) -> Result<u64> {
        self.writable("update")?;
        let base = self.current();
        let keys = self.resolve(&base, selection).await?;
        if keys.is_empty() {
            return Ok(base.version());
        }
        let schema = base.manifest.schema_ref();
        // Which columns change, and their positions in the table schema.
        let mut changes: Vec<(usize, ArrayRef)> = Vec::new();
        let mut names = Vec::new();
        for (field, column) in values.schema().fields().iter().zip(values.columns()) {
            let (i, target) = schema.column_with_name(field.name()).ok_or_else(|| {
                StorageError::invalid(self.path(), format!("unknown column {}", field.name()))
            })?;
            check_values(self.path(), target, column)?;
            changes.push((i, Arc::clone(column)));
            names.push(field.name().clone());
        }
        let n = keys.len() as usize;
        if values.num_rows() != n && values.num_rows() != 1 {
            return Err(StorageError::invalid(
                self.path(),
                format!("{} value rows for {n} selected rows", values.num_rows()),
            ));
        }
        let (by_file, missing) =
            locate_keys(&self.store, &base.manifest.files, &schema, &keys).await?;
        if let Some(k) = missing.min() {
            return Err(StorageError::invalid(
                self.path(),
                format!("row key {k} is not live at version {}", base.version()),
            ));
        }
        let files: Vec<_> = by_file
            .keys()
            .map(|i| base.manifest.files[*i].clone())
            .collect();
        let old = self.store.read_rows(&files, &schema, Some(&keys)).await?;
        let mut columns: Vec<ArrayRef> = old.batch.columns().to_vec();
        for (i, values) in changes {
            columns[i] = if values.len() == n {
                values
            } else {
                let idx = UInt32Array::from(vec![0u32; n]);
                arrow_select::take::take(values.as_ref(), &idx, None)
                    .map_err(StorageError::arrow("broadcasting values"))?
            };
        }
        let new_batch = RecordBatch::try_new(Arc::clone(&schema), columns)
            .map_err(StorageError::arrow("update"))?;
        let keys = UInt64Array::from(old.keys);
        let written = self
            .store
            .write_rows(&keys, &new_batch, self.options().file_limits())
            .await?;
        let mut m = Self::next_manifest(
            &base,
            Operation::Update {
                rows: n as u64,
                columns: names,
            },
        );
        self.apply_deletions(&mut m, &by_file).await?;
        m.files.extend(written);
        m.rows_updated = n as u64;
        self.commit_or_conflict(&base, m).await
    }

    /// Deletes selected rows. Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] for a key that is not live,
    /// [`StorageError::VersionConflict`] if another version was committed since the handle's.
    pub async fn delete(&self, selection: &Selection) -> Result<u64> {
        self.writable("delete")?;
        let base = self.current();
        let keys = self.resolve(&base, selection).await?;
        if keys.is_empty() {
            return Ok(base.version());
        }
        let schema = base.manifest.schema_ref();
        let (by_file, missing) =
            locate_keys(&self.store, &base.manifest.files, &schema, &keys).await?;
        if let Some(k) = missing.min() {
            return Err(StorageError::invalid(
                self.path(),
                format!("row key {k} is not live at version {}", base.version()),
            ));
        }
        let n = keys.len();
        let mut m = Self::next_manifest(&base, Operation::Delete { rows: n });
        self.apply_deletions(&mut m, &by_file).await?;
        m.row_count -= n;
        m.rows_removed = n;
        self.commit_or_conflict(&base, m).await
    }

    /// Adds `keys` (grouped by file index) to the files' deletion vectors in `m`, dropping files
    /// whose rows are all deleted.
    async fn apply_deletions(
        &self,
        m: &mut TableManifest,
        by_file: &std::collections::BTreeMap<usize, RowSet>,
    ) -> Result<()> {
        let mut drop = BTreeSet::new();
        for (i, keys) in by_file {
            let entry = &m.files[*i];
            let mut dv = self.store.read_dv(entry).await?;
            dv.union_with(keys);
            if dv.len() >= entry.rows {
                drop.insert(*i);
            } else {
                let dv_entry = self.store.put_dv(&dv).await?;
                m.files[*i].deletion_vector = Some(dv_entry);
            }
        }
        let mut i = 0;
        m.files.retain(|_| {
            let keep = !drop.contains(&i);
            i += 1;
            keep
        });
        Ok(())
    }

    /// Adds a nullable column (existing rows read as null). Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] (name taken, not nullable,
    /// unsupported type), [`StorageError::VersionConflict`].
    pub async fn add_column(&self, field: Field) -> Result<u64> {
        self.writable("add_column")?;
        let base = self.current();
        check_supported_type(self.path(), &field)?;
        if !field.is_nullable() {
            return Err(StorageError::invalid(
                self.path(),
                format!("added column {} must be nullable", field.name()),
            ));
        }
        if base
            .manifest
            .schema
            .column_with_name(field.name())
            .is_some()
        {
            return Err(StorageError::invalid(
                self.path(),
                format!("column {} already exists", field.name()),
            ));
        }
        let mut m = Self::next_manifest(
            &base,
            Operation::AddColumn {
                name: field.name().clone(),
            },
        );
        let mut fields: Vec<Field> = m
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(with_column_id(&field, m.next_column_id));
        m.next_column_id += 1;
        m.schema = Schema::new_with_metadata(fields, m.schema.metadata().clone());
        self.commit_or_conflict(&base, m).await
    }

    /// Drops a column (older versions keep it). Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] (unknown, partition or only
    /// column), [`StorageError::VersionConflict`].
    pub async fn drop_column(&self, name: &str) -> Result<u64> {
        self.writable("drop_column")?;
        let base = self.current();
        let schema = &base.manifest.schema;
        if schema.column_with_name(name).is_none() {
            return Err(StorageError::invalid(
                self.path(),
                format!("unknown column {name}"),
            ));
        }
        if base.manifest.partition_columns.iter().any(|p| p == name) {
            return Err(StorageError::invalid(
                self.path(),
                format!("column {name} is a partition column"),
            ));
        }
        if schema.fields().len() == 1 {
            return Err(StorageError::invalid(
                self.path(),
                "cannot drop the only column",
            ));
        }
        let mut m = Self::next_manifest(
            &base,
            Operation::DropColumn {
                name: name.to_owned(),
            },
        );
        let fields: Vec<Field> = m
            .schema
            .fields()
            .iter()
            .filter(|f| f.name() != name)
            .map(|f| f.as_ref().clone())
            .collect();
        m.schema = Schema::new_with_metadata(fields, m.schema.metadata().clone());
        self.commit_or_conflict(&base, m).await
    }

    /// Renames a column (data is kept: files are read by column id). Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] (unknown, name taken,
    /// reserved), [`StorageError::VersionConflict`].
    pub async fn rename_column(&self, from: &str, to: &str) -> Result<u64> {
        self.writable("rename_column")?;
        let base = self.current();
        let schema = &base.manifest.schema;
        if schema.column_with_name(from).is_none() {
            return Err(StorageError::invalid(
                self.path(),
                format!("unknown column {from}"),
            ));
        }
        if to.is_empty() || schema.column_with_name(to).is_some() {
            return Err(StorageError::invalid(
                self.path(),
                format!("column name {to:?} is empty or taken"),
            ));
        }
        let mut m = Self::next_manifest(
            &base,
            Operation::RenameColumn {
                from: from.to_owned(),
                to: to.to_owned(),
            },
        );
        let fields: Vec<Field> = m
            .schema
            .fields()
            .iter()
            .map(|f| {
                if f.name() == from {
                    f.as_ref().clone().with_name(to)
                } else {
                    f.as_ref().clone()
                }
            })
            .collect();
        check_supported_type(
            self.path(),
            &Field::new(to, arrow_schema::DataType::Null, true),
        )?;
        m.schema = Schema::new_with_metadata(fields, m.schema.metadata().clone());
        for p in &mut m.partition_columns {
            if p == from {
                *p = to.to_owned();
            }
        }
        self.commit_or_conflict(&base, m).await
    }

    /// Merges the small data files (live rows below
    /// [`CatalogOptions::small_file_bytes`]) into as few files as the file limits allow, as
    /// its own `compact` version: same rows, keys and values; rows deleted by deletion vectors
    /// are dropped from the rewritten files. Older versions keep reading the old files until
    /// garbage collection expires them. Returns the new version, or the current one if there is
    /// nothing to merge (fewer than two small files, and none with deleted rows).
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::Corrupt`] for a damaged file,
    /// [`StorageError::VersionConflict`] if another version was committed since the handle's.
    pub async fn compact(&self) -> Result<u64> {
        self.writable("compact")?;
        let base = self.current();
        let options = self.options();
        let small: Vec<usize> = base
            .manifest
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.live_bytes() < options.small_file_bytes)
            .map(|(i, _)| i)
            .collect();
        let worth_it = small.len() >= 2
            || small
                .iter()
                .any(|i| base.manifest.files[*i].deletion_vector.is_some());
        if !worth_it {
            return Ok(base.version());
        }
        let mut m = Self::next_manifest(
            &base,
            Operation::Compact {
                files_rewritten: small.len() as u64,
                files_written: 0,
            },
        );
        let written = self.merge_files(&mut m, &small, options).await?;
        m.operation = Operation::Compact {
            files_rewritten: small.len() as u64,
            files_written: written as u64,
        };
        self.commit_or_conflict(&base, m).await
    }

    /// The catalog options this handle writes with.
    fn options(&self) -> &CatalogOptions {
        self.hooks.catalog().options()
    }

    /// The automatic compaction of an insert (best effort: a failure is logged and the insert
    /// commits without it). If `m`'s files plus the `new` ones hold more than
    /// `max_small_files` small files, the smallest of `m`'s small files are merged, so that
    /// an eighth of `max_small_files` small files remain (size-tiered: big merged files are left
    /// alone until they are among the smallest, so a row is rewritten a logarithmic number of
    /// times). Same version: the insert's one conditional create commits both.
    async fn auto_compact(
        &self,
        m: &mut TableManifest,
        new: &[DataFileEntry],
        options: &CatalogOptions,
    ) {
        let small_bytes = options.small_file_bytes;
        let is_small = |f: &DataFileEntry| f.live_bytes() < small_bytes;
        let mut small: Vec<usize> = (0..m.files.len())
            .filter(|i| is_small(&m.files[*i]))
            .collect();
        let total = small.len() + new.iter().filter(|f| is_small(f)).count();
        if total <= options.max_small_files || small.len() < 2 {
            return;
        }
        let keep = (options.max_small_files / 8).max(1);
        let merge = (total + 1).saturating_sub(keep).clamp(2, small.len());
        small.sort_by_key(|i| (m.files[*i].live_bytes(), *i));
        small.truncate(merge);
        small.sort_unstable();
        let mut compacted = m.clone();
        match self.merge_files(&mut compacted, &small, options).await {
            Ok(written) => {
                info!(table = %self.path(), version = m.version, files_rewritten = small.len(), files_written = written, "insert compacts small files");
                *m = compacted;
            }
            Err(error) => {
                warn!(table = %self.path(), version = m.version, %error, "compaction skipped; the insert commits without it");
            }
        }
    }

    /// Rewrites the live rows of `m.files[i]` for `i` in `chosen` (ascending) into new files
    /// (keys kept, current schema), replacing them in `m`. Returns how many files were written.
    async fn merge_files(
        &self,
        m: &mut TableManifest,
        chosen: &[usize],
        options: &CatalogOptions,
    ) -> Result<usize> {
        let files: Vec<DataFileEntry> = chosen.iter().map(|i| m.files[*i].clone()).collect();
        let schema = m.schema_ref();
        let rows = self.store.read_rows(&files, &schema, None).await?;
        let written = if rows.keys.is_empty() {
            Vec::new()
        } else {
            let keys = UInt64Array::from(rows.keys);
            self.store
                .write_rows(&keys, &rows.batch, options.file_limits())
                .await?
        };
        let count = written.len();
        let mut i = 0;
        m.files.retain(|_| {
            let keep = chosen.binary_search(&i).is_err();
            i += 1;
            keep
        });
        m.files.extend(written);
        Ok(count)
    }

    /// Undoes the latest version by committing a new version with the content (rows and schema)
    /// of its parent. Row keys are never reused. Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] at version 0,
    /// [`StorageError::VersionExpired`] if the parent was garbage collected,
    /// [`StorageError::VersionConflict`].
    pub async fn revert(&self) -> Result<u64> {
        self.writable("revert")?;
        let base = self.current();
        let Some(target) = self.store.load_parent(&base).await? else {
            return Err(StorageError::invalid(
                self.path(),
                "version 0 cannot be reverted",
            ));
        };
        let plan = self
            .store
            .diff_keys(&base.manifest, &target.manifest)
            .await?;
        // Rows a compaction merely moved are not updates: compare the moved rows' values.
        let moved = self
            .store
            .read_rows(
                &plan.new_files,
                &target.manifest.schema_ref(),
                Some(&plan.keys.moved),
            )
            .await?;
        let changes = self
            .store
            .value_changes(&base.manifest, &target.manifest, &plan, &moved)
            .await?;
        let mut m = Self::next_manifest(
            &base,
            Operation::Revert {
                to_version: target.version(),
                reverted_version: base.version(),
            },
        );
        let t = &target.manifest;
        m.schema = t.schema.clone();
        m.partition_columns = t.partition_columns.clone();
        m.files = t.files.clone();
        m.row_count = t.row_count;
        m.next_row_key = m.next_row_key.max(t.next_row_key);
        m.next_column_id = m.next_column_id.max(t.next_column_id);
        m.rows_added = plan.keys.added.len();
        m.rows_removed = plan.keys.removed.len();
        m.rows_updated = changes.keys.len();
        self.commit_or_conflict(&base, m).await
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
        crate::live::update_between(&self.store, &la, &lb).await
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

/// Checks a column of values against a table field.
fn check_values(table: &str, target: &Field, column: &ArrayRef) -> Result<()> {
    if column.data_type() != target.data_type() {
        return Err(StorageError::invalid(
            table,
            format!(
                "column {} has type {}, table has {}",
                target.name(),
                column.data_type(),
                target.data_type()
            ),
        ));
    }
    if !target.is_nullable() && column.null_count() > 0 {
        return Err(StorageError::invalid(
            table,
            format!("column {} is not nullable", target.name()),
        ));
    }
    Ok(())
}

/// Shapes a caller's batch to the table schema (fields with column ids), by column name.
fn align_batch(table: &str, schema: &Schema, batch: &RecordBatch) -> Result<RecordBatch> {
    let given = batch.schema();
    for f in given.fields() {
        if schema.column_with_name(f.name()).is_none() {
            return Err(StorageError::invalid(
                table,
                format!("unknown column {}", f.name()),
            ));
        }
    }
    let mut columns = Vec::with_capacity(schema.fields().len());
    for target in schema.fields() {
        let column = match given.column_with_name(target.name()) {
            Some((i, _)) => {
                let c = batch.column(i);
                check_values(table, target, c)?;
                Arc::clone(c)
            }
            None if target.is_nullable() => new_null_array(target.data_type(), batch.num_rows()),
            None => {
                return Err(StorageError::invalid(
                    table,
                    format!("missing column {}", target.name()),
                ));
            }
        };
        columns.push(column);
    }
    RecordBatch::try_new_with_options(
        Arc::new(schema.clone()),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
    .map_err(StorageError::arrow("aligning inserted rows"))
}
