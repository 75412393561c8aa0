//! [`Catalog`]: directories, tables, views, snapshots and replicas under dotted paths.
//!
//! The catalog is itself a versioned log ([`crate::log`]) under `catalog/`: each change (create,
//! move, drop, ...) commits a new catalog manifest holding the whole path → entry map with one
//! conditional create. A change that loses the race is re-applied on the winner, so two
//! processes creating the same path get one success and one [`StorageError::AlreadyExists`].
//! Tables live under `tables/<uuid>/` and are named by the catalog, so moving a table or a
//! directory rewrites no data.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use serde::{Deserialize, Serialize};
use tableshare_core::TableSchema;
use tableshare_uri::TablePath;
use tracing::{debug, info};
use uuid::Uuid;

use crate::engine::{Loaded, TableStore};
use crate::error::{CorruptReason, Result, StorageError};
use crate::io::StoreRoot;
use crate::log::{CommitOutcome, VersionLog};
use crate::manifest::{
    FORMAT_VERSION, Operation, TableManifest, check_supported_type, now_ms, with_column_id,
};
use crate::table::{Access, Table};

/// How many times a catalog change that lost a race is re-applied on the winner.
const CATALOG_RETRIES: usize = 64;

/// What kind of thing a catalog path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// A directory.
    Directory,
    /// A table.
    Table,
    /// A view (its definition only; the query layer evaluates it).
    View,
    /// A named, pinned version of a table (read-only).
    Snapshot,
    /// A read-only replica of a table published elsewhere.
    Replica,
}

impl EntryKind {
    /// Lowercase name (`table`, `directory`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Directory => "directory",
            Self::Table => "table",
            Self::View => "view",
            Self::Snapshot => "snapshot",
            Self::Replica => "replica",
        }
    }
}

/// One line of [`Catalog::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// Dotted path.
    pub path: String,
    /// What it names.
    pub kind: EntryKind,
}

/// A view's definition, stored as data; the query layer evaluates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ViewDefinition {
    /// Dotted path of the base table (or view).
    pub base: String,
    /// Computed columns as (name, SQL expression).
    pub computed_columns: Vec<(String, String)>,
    /// Optional SQL filter.
    pub filter: Option<String>,
}

impl ViewDefinition {
    /// A view over `base` with no computed columns and no filter.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            computed_columns: Vec::new(),
            filter: None,
        }
    }

    /// Adds a computed column.
    #[must_use]
    pub fn with_column(mut self, name: impl Into<String>, sql: impl Into<String>) -> Self {
        self.computed_columns.push((name.into(), sql.into()));
        self
    }

    /// Sets the filter.
    #[must_use]
    pub fn with_filter(mut self, sql: impl Into<String>) -> Self {
        self.filter = Some(sql.into());
        self
    }
}

/// What the catalog records about a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaInfo {
    /// The upstream address (a `pxt://` URI).
    pub upstream: String,
    /// The upstream version the replica holds, if any yet.
    pub upstream_version: Option<u64>,
    /// The replica's storage id.
    pub table_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum EntryRecord {
    Directory,
    Table {
        table_id: Uuid,
    },
    View {
        definition: ViewDefinition,
    },
    Snapshot {
        table_id: Uuid,
        source: String,
        version: u64,
    },
    Replica {
        table_id: Uuid,
        upstream: String,
        upstream_version: Option<u64>,
    },
}

impl EntryRecord {
    fn kind(&self) -> EntryKind {
        match self {
            Self::Directory => EntryKind::Directory,
            Self::Table { .. } => EntryKind::Table,
            Self::View { .. } => EntryKind::View,
            Self::Snapshot { .. } => EntryKind::Snapshot,
            Self::Replica { .. } => EntryKind::Replica,
        }
    }

    pub(crate) fn table_id(&self) -> Option<Uuid> {
        match self {
            Self::Table { table_id }
            | Self::Snapshot { table_id, .. }
            | Self::Replica { table_id, .. } => Some(*table_id),
            _ => None,
        }
    }
}

/// One catalog version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CatalogManifest {
    pub(crate) format_version: u32,
    pub(crate) version: u64,
    pub(crate) parent_version: Option<u64>,
    pub(crate) parent_hash: Option<String>,
    pub(crate) txn_id: String,
    pub(crate) timestamp_ms: u64,
    /// A short description of the change (`create_table a.b`).
    pub(crate) operation: String,
    pub(crate) entries: BTreeMap<String, EntryRecord>,
}

/// Options of a [`Catalog`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CatalogOptions {
    /// How often live handles check the store for commits made by other processes.
    pub watch_interval: Duration,
    /// At most this many rows per data file: a bigger insert is cut into several files,
    /// encoded in parallel (default 1,048,576, one Parquet row group).
    pub max_rows_per_file: usize,
    /// About this many bytes of in-memory Arrow data per data file (default 128 MiB).
    pub max_bytes_per_file: usize,
    /// A data file whose live rows take fewer bytes than this is *small* (default 8 MiB).
    pub small_file_bytes: u64,
    /// When an insert would leave more small files than this, it also merges the smallest
    /// ones, in the same version, until an eighth of this many remain (default 64, so about one
    /// small append in 56 merges; `usize::MAX` turns automatic compaction off). See
    /// docs/format.md, "Compaction".
    pub max_small_files: usize,
}

impl Default for CatalogOptions {
    fn default() -> Self {
        Self {
            watch_interval: Duration::from_millis(200),
            max_rows_per_file: 1 << 20,
            max_bytes_per_file: 128 << 20,
            small_file_bytes: 8 << 20,
            max_small_files: 64,
        }
    }
}

impl CatalogOptions {
    /// Sets [`CatalogOptions::watch_interval`].
    #[must_use]
    pub fn with_watch_interval(mut self, interval: Duration) -> Self {
        self.watch_interval = interval;
        self
    }

    /// Sets [`CatalogOptions::max_rows_per_file`] and [`CatalogOptions::max_bytes_per_file`]
    /// (each at least 1).
    #[must_use]
    pub fn with_file_limits(mut self, max_rows: usize, max_bytes: usize) -> Self {
        self.max_rows_per_file = max_rows.max(1);
        self.max_bytes_per_file = max_bytes.max(1);
        self
    }

    /// Sets [`CatalogOptions::small_file_bytes`] and [`CatalogOptions::max_small_files`]
    /// (at least 2).
    #[must_use]
    pub fn with_compaction(mut self, small_file_bytes: u64, max_small_files: usize) -> Self {
        self.small_file_bytes = small_file_bytes;
        self.max_small_files = max_small_files.max(2);
        self
    }

    pub(crate) fn file_limits(&self) -> crate::datafile::FileLimits {
        crate::datafile::FileLimits {
            max_rows: self.max_rows_per_file.max(1),
            max_bytes: self.max_bytes_per_file.max(1),
        }
    }
}

#[derive(Debug)]
pub(crate) struct CatalogShared {
    pub(crate) root: StoreRoot,
    store: Arc<dyn ObjectStore>,
    prefix: String,
    log: VersionLog,
    pub(crate) options: CatalogOptions,
    pub(crate) live: crate::live::Registry,
}

/// A catalog of directories and tables on one object store root. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub(crate) shared: Arc<CatalogShared>,
}

/// A parsed `dir.table[:version]`.
fn parse_versioned(path: &str) -> Result<(TablePath, Option<u64>)> {
    let (p, version) = match path.rsplit_once(':') {
        Some((p, v)) => {
            let v = v.parse::<u64>().map_err(|_| StorageError::InvalidPath {
                path: path.to_owned(),
                reason: "the version after ':' must be a number",
            })?;
            (p, Some(v))
        }
        None => (path, None),
    };
    Ok((parse_path(p)?, version))
}

fn parse_path(path: &str) -> Result<TablePath> {
    TablePath::parse(path).map_err(|_| StorageError::InvalidPath {
        path: path.to_owned(),
        reason: "names are identifiers (ASCII letters, digits, _; not starting with a digit) joined by '.'",
    })
}

/// Parses an optional directory path (`""` is the root).
fn parse_dir(path: &str) -> Result<Option<TablePath>> {
    if path.is_empty() {
        Ok(None)
    } else {
        parse_path(path).map(Some)
    }
}

impl Catalog {
    /// A catalog on any object store under `prefix` (`""` for the store's root). No IO happens
    /// until the first call; an empty store is an empty catalog.
    pub fn open(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self::open_with_options(store, prefix, CatalogOptions::default())
    }

    /// [`Catalog::open`] with options.
    pub fn open_with_options(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        options: CatalogOptions,
    ) -> Self {
        let root = StoreRoot::new(Arc::clone(&store), prefix);
        let log = VersionLog::new(root.clone(), "catalog");
        Self {
            shared: Arc::new(CatalogShared {
                root,
                store,
                prefix: prefix.trim_matches('/').to_owned(),
                log,
                options,
                live: crate::live::Registry::default(),
            }),
        }
    }

    /// A durable catalog in a local directory (created if missing), with fsync on.
    ///
    /// # Errors
    ///
    /// [`StorageError::Store`] if the directory cannot be created or opened.
    pub fn open_local(dir: impl AsRef<std::path::Path>) -> Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| StorageError::Store {
            operation: "create_dir",
            path: dir.display().to_string(),
            source: object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(e),
            },
        })?;
        let fs = LocalFileSystem::new_with_prefix(dir)
            .map_err(StorageError::store("open", &dir.display()))?
            .with_fsync(true);
        Ok(Self::open(Arc::new(fs), ""))
    }

    /// A catalog in memory (tests, scratch work).
    pub fn in_memory() -> Self {
        Self::open(Arc::new(InMemory::new()), "")
    }

    /// The object store and prefix this catalog lives on.
    pub fn location(&self) -> (Arc<dyn ObjectStore>, &str) {
        (Arc::clone(&self.shared.store), &self.shared.prefix)
    }

    /// The catalog's options.
    pub fn options(&self) -> &CatalogOptions {
        &self.shared.options
    }

    async fn load(&self) -> Result<Option<(CatalogManifest, String)>> {
        let Some(v) = self.shared.log.latest().await? else {
            return Ok(None);
        };
        let rel = self.shared.log.version_path(v);
        let sealed = self
            .shared
            .log
            .read(v)
            .await?
            .ok_or_else(|| StorageError::corrupt(&rel, CorruptReason::Missing))?;
        let m: CatalogManifest =
            serde_json::from_slice(&sealed.body).map_err(|e| StorageError::undecodable(&rel, e))?;
        if m.format_version > FORMAT_VERSION {
            return Err(StorageError::UnsupportedFormat {
                path: rel,
                found: m.format_version,
                supported: FORMAT_VERSION,
            });
        }
        if m.version != v {
            return Err(StorageError::corrupt(
                rel,
                CorruptReason::Inconsistent("catalog version differs from its name"),
            ));
        }
        Ok(Some((m, sealed.hash)))
    }

    pub(crate) async fn entries(&self) -> Result<BTreeMap<String, EntryRecord>> {
        Ok(self
            .load()
            .await?
            .map(|(m, _)| m.entries)
            .unwrap_or_default())
    }

    /// The catalog's current version (`None` before the first change).
    ///
    /// # Errors
    ///
    /// Store errors or a corrupt catalog manifest.
    pub async fn version(&self) -> Result<Option<u64>> {
        self.shared.log.latest().await
    }

    /// Applies `change` to the latest entries and commits; re-applies on the winner if a rival
    /// committed first.
    async fn change<F>(&self, operation: String, change: F) -> Result<u64>
    where
        F: Fn(&mut BTreeMap<String, EntryRecord>) -> Result<()>,
    {
        let mut last = 0;
        for attempt in 0..CATALOG_RETRIES {
            let base = self.load().await?;
            let (mut entries, version, parent_hash) = match base {
                Some((m, hash)) => (m.entries, m.version + 1, Some(hash)),
                None => (BTreeMap::new(), 0, None),
            };
            change(&mut entries)?;
            let m = CatalogManifest {
                format_version: FORMAT_VERSION,
                version,
                parent_version: version.checked_sub(1),
                parent_hash,
                txn_id: Uuid::new_v4().to_string(),
                timestamp_ms: now_ms(),
                operation: operation.clone(),
                entries,
            };
            let body = serde_json::to_vec(&m).map_err(|source| StorageError::Serialize {
                what: "catalog manifest",
                source,
            })?;
            match self.shared.log.commit(version, &body, &m.txn_id).await? {
                CommitOutcome::Committed => {
                    info!(version, %operation, "catalog committed");
                    return Ok(version);
                }
                CommitOutcome::Lost => {
                    debug!(
                        attempt,
                        version, "catalog change lost the race; re-applying"
                    );
                    last = version;
                }
            }
        }
        Err(StorageError::VersionConflict {
            table: "catalog".into(),
            attempted: last,
            current: last,
        })
    }

    fn check_parent(entries: &BTreeMap<String, EntryRecord>, path: &TablePath) -> Result<()> {
        if let Some(parent) = path.parent() {
            require_directory(entries, &parent.to_string())?;
        }
        Ok(())
    }

    fn insert_new(
        entries: &mut BTreeMap<String, EntryRecord>,
        path: &TablePath,
        record: EntryRecord,
    ) -> Result<()> {
        Self::check_parent(entries, path)?;
        let key = path.to_string();
        if entries.contains_key(&key) {
            return Err(StorageError::AlreadyExists { path: key });
        }
        entries.insert(key, record);
        Ok(())
    }

    /// Creates a directory; its parent must exist.
    ///
    /// # Errors
    ///
    /// [`StorageError::AlreadyExists`], [`StorageError::NotFound`] for a missing parent,
    /// [`StorageError::InvalidPath`].
    pub async fn create_dir(&self, path: &str) -> Result<()> {
        let p = parse_path(path)?;
        self.change(format!("create_dir {p}"), |e| {
            Self::insert_new(e, &p, EntryRecord::Directory)
        })
        .await?;
        Ok(())
    }

    /// Drops a directory. A directory with entries is refused unless `force`, which drops
    /// everything under it (table data is reclaimed by [`Catalog::gc`]).
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::WrongKind`], [`StorageError::NotEmpty`].
    pub async fn drop_dir(&self, path: &str, force: bool) -> Result<()> {
        let p = parse_path(path)?;
        let key = p.to_string();
        let prefix = format!("{key}.");
        self.change(format!("drop_dir {key}"), |e| {
            require_directory(e, &key)?;
            let children: Vec<String> = e
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned()
                .collect();
            if !children.is_empty() && !force {
                return Err(StorageError::NotEmpty { path: key.clone() });
            }
            let mut dropped: std::collections::BTreeSet<String> = children.into_iter().collect();
            dropped.insert(key.clone());
            remove_with_dependents(e, &key, dropped, force)
        })
        .await?;
        Ok(())
    }

    /// Lists the entries in a directory (`""` for the root), with everything below it if
    /// `recursive`. Sorted by path.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] / [`StorageError::WrongKind`] if `dir` is not a directory.
    pub async fn list(&self, dir: &str, recursive: bool) -> Result<Vec<Entry>> {
        let d = parse_dir(dir)?;
        let entries = self.entries().await?;
        let prefix = match &d {
            None => String::new(),
            Some(d) => {
                let key = d.to_string();
                require_directory(&entries, &key)?;
                format!("{key}.")
            }
        };
        Ok(entries
            .iter()
            .filter(|(k, _)| {
                k.starts_with(&prefix) && (recursive || !k[prefix.len()..].contains('.'))
            })
            .map(|(k, r)| Entry {
                path: k.clone(),
                kind: r.kind(),
            })
            .collect())
    }

    /// What `path` names, if anything.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidPath`] or store errors.
    pub async fn get(&self, path: &str) -> Result<Option<Entry>> {
        let p = parse_path(path)?.to_string();
        Ok(self.entries().await?.get(&p).map(|r| Entry {
            path: p.clone(),
            kind: r.kind(),
        }))
    }

    /// Creates a table with version 0 (no rows) and returns a handle.
    ///
    /// # Errors
    ///
    /// [`StorageError::AlreadyExists`], [`StorageError::NotFound`] for a missing directory,
    /// [`StorageError::InvalidArgument`] for an unsupported column type.
    pub async fn create_table(&self, path: &str, schema: &TableSchema) -> Result<Table> {
        let p = parse_path(path)?;
        let key = p.to_string();
        // Cheap pre-check so the common refusal leaves no orphaned table directory behind.
        let entries = self.entries().await?;
        Self::check_parent(&entries, &p)?;
        if entries.contains_key(&key) {
            return Err(StorageError::AlreadyExists { path: key });
        }
        let arrow = schema.arrow();
        let mut fields = Vec::with_capacity(arrow.fields().len());
        for (i, f) in arrow.fields().iter().enumerate() {
            check_supported_type(&key, f)?;
            fields.push(with_column_id(f, i as u32));
        }
        let table_id = Uuid::new_v4();
        let manifest = TableManifest {
            format_version: FORMAT_VERSION,
            table_id,
            version: 0,
            parent_version: None,
            parent_hash: None,
            txn_id: Uuid::new_v4().to_string(),
            timestamp_ms: now_ms(),
            operation: Operation::Create,
            schema: arrow_schema::Schema::new_with_metadata(fields, arrow.metadata().clone()),
            partition_columns: schema.partition_columns().to_vec(),
            next_column_id: arrow.fields().len() as u32,
            next_row_key: 0,
            row_count: 0,
            rows_added: 0,
            rows_removed: 0,
            rows_updated: 0,
            files: Vec::new(),
        };
        let store = self.table_store(table_id, key.clone());
        let (outcome, hash) = store.commit(&manifest).await?;
        if outcome != CommitOutcome::Committed {
            return Err(StorageError::corrupt(
                store.log.version_path(0),
                CorruptReason::Inconsistent("fresh table id already used"),
            ));
        }
        self.change(format!("create_table {key}"), |e| {
            Self::insert_new(e, &p, EntryRecord::Table { table_id })
        })
        .await?;
        let loaded = Loaded {
            manifest: Arc::new(manifest),
            hash,
        };
        Ok(self.handle(store, table_id, Access::Writable, None, loaded))
    }

    pub(crate) fn table_store(&self, table_id: Uuid, name: String) -> TableStore {
        TableStore::new(self.shared.root.clone(), format!("tables/{table_id}"), name)
    }

    fn handle(
        &self,
        store: TableStore,
        id: Uuid,
        access: Access,
        pinned: Option<u64>,
        loaded: Loaded,
    ) -> Table {
        let hooks = crate::live::Hooks::new(self.clone(), id, store.clone());
        Table::new(store, id, access, pinned, loaded, hooks)
    }

    /// Opens `path` or `path:N`. A table opens writable at its latest version; `path:N`,
    /// snapshots and replicas open read-only (replicas follow their latest version).
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::WrongKind`] for directories and views,
    /// [`StorageError::VersionExpired`] / [`StorageError::VersionNotFound`] for `path:N`.
    pub async fn open_table(&self, path: &str) -> Result<Table> {
        let (p, version) = parse_versioned(path)?;
        let key = p.to_string();
        let entries = self.entries().await?;
        let record = entries
            .get(&key)
            .ok_or_else(|| StorageError::NotFound { path: key.clone() })?;
        let (table_id, access, pinned) = match (record, version) {
            (EntryRecord::Table { table_id }, None) => (*table_id, Access::Writable, None),
            (EntryRecord::Table { table_id }, Some(v)) => {
                (*table_id, Access::ReadOnly("pinned version"), Some(v))
            }
            (EntryRecord::Replica { table_id, .. }, v) => {
                (*table_id, Access::ReadOnly("replica"), v)
            }
            (
                EntryRecord::Snapshot {
                    table_id,
                    version: sv,
                    ..
                },
                None,
            ) => (*table_id, Access::ReadOnly("snapshot"), Some(*sv)),
            (EntryRecord::Snapshot { .. }, Some(_)) => {
                return Err(StorageError::InvalidPath {
                    path: path.to_owned(),
                    reason: "a snapshot has no versions",
                });
            }
            (other, _) => {
                return Err(StorageError::WrongKind {
                    path: key,
                    expected: "table",
                    found: other.kind().name(),
                });
            }
        };
        let name = match version {
            Some(v) => format!("{key}:{v}"),
            None => key,
        };
        let store = self.table_store(table_id, name);
        let loaded = match pinned {
            Some(v) => store.load(v).await?,
            None => store.load_latest().await?,
        };
        Ok(self.handle(store, table_id, access, pinned, loaded))
    }

    /// Moves (renames) a table, view, snapshot, replica or directory (with everything in it).
    /// Views defined on a moved entry are updated to name its new path.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::AlreadyExists`], [`StorageError::InvalidPath`]
    /// when moving a directory into itself.
    pub async fn move_entry(&self, from: &str, to: &str) -> Result<()> {
        let f = parse_path(from)?;
        let t = parse_path(to)?;
        let (fk, tk) = (f.to_string(), t.to_string());
        if tk == fk || tk.starts_with(&format!("{fk}.")) {
            return Err(StorageError::InvalidPath {
                path: tk,
                reason: "cannot move an entry into itself",
            });
        }
        self.change(format!("move {fk} {tk}"), |e| {
            let record = e
                .remove(&fk)
                .ok_or_else(|| StorageError::NotFound { path: fk.clone() })?;
            Self::insert_new(e, &t, record)?;
            let prefix = format!("{fk}.");
            let children: Vec<String> = e
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned()
                .collect();
            for c in children {
                if let Some(r) = e.remove(&c) {
                    e.insert(format!("{tk}.{}", &c[prefix.len()..]), r);
                }
            }
            // Views follow what they are defined on.
            for record in e.values_mut() {
                if let EntryRecord::View { definition } = record {
                    if definition.base == fk {
                        definition.base.clone_from(&tk);
                    } else if let Some(rest) = definition.base.strip_prefix(&prefix) {
                        definition.base = format!("{tk}.{rest}");
                    }
                }
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Drops a table, view, snapshot or replica (not a directory: see [`Catalog::drop_dir`]).
    /// Views defined on it (directly or through other views) would be left pointing at nothing,
    /// so they block the drop unless `force`, which drops them too. Snapshots and replicas pin
    /// their own data and are unaffected. The data is reclaimed by [`Catalog::gc`] once nothing
    /// references it.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::WrongKind`] for a directory,
    /// [`StorageError::HasDependents`] when views depend on it and `force` is false.
    pub async fn drop_table(&self, path: &str, force: bool) -> Result<()> {
        let key = parse_path(path)?.to_string();
        self.change(format!("drop {key}"), |e| {
            match e.get(&key) {
                None => return Err(StorageError::NotFound { path: key.clone() }),
                Some(EntryRecord::Directory) => {
                    return Err(StorageError::WrongKind {
                        path: key.clone(),
                        expected: "table",
                        found: "directory",
                    });
                }
                Some(_) => {}
            }
            let dropped = std::collections::BTreeSet::from([key.clone()]);
            remove_with_dependents(e, &key, dropped, force)
        })
        .await?;
        Ok(())
    }

    /// Stores a view definition at `path`.
    ///
    /// # Errors
    ///
    /// [`StorageError::AlreadyExists`], [`StorageError::NotFound`] for a missing directory.
    pub async fn create_view(&self, path: &str, definition: ViewDefinition) -> Result<()> {
        let p = parse_path(path)?;
        self.change(format!("create_view {p}"), |e| {
            Self::insert_new(
                e,
                &p,
                EntryRecord::View {
                    definition: definition.clone(),
                },
            )
        })
        .await?;
        Ok(())
    }

    /// The definition of the view at `path`.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::WrongKind`].
    pub async fn view(&self, path: &str) -> Result<ViewDefinition> {
        let key = parse_path(path)?.to_string();
        match self.entries().await?.remove(&key) {
            Some(EntryRecord::View { definition }) => Ok(definition),
            Some(other) => Err(StorageError::WrongKind {
                path: key,
                expected: "view",
                found: other.kind().name(),
            }),
            None => Err(StorageError::NotFound { path: key }),
        }
    }

    /// Creates a snapshot at `path`: a read-only name for version `version` (latest if `None`)
    /// of the table at `table_path`. Garbage collection keeps the version while the snapshot
    /// exists.
    ///
    /// # Errors
    ///
    /// [`StorageError::AlreadyExists`], [`StorageError::NotFound`], [`StorageError::WrongKind`],
    /// [`StorageError::VersionExpired`] / [`StorageError::VersionNotFound`].
    pub async fn create_snapshot(
        &self,
        path: &str,
        table_path: &str,
        version: Option<u64>,
    ) -> Result<u64> {
        let p = parse_path(path)?;
        let source = self.open_table(table_path).await?;
        let version = match version {
            Some(v) => {
                source.load_version(v).await?;
                v
            }
            None => source.refresh().await?,
        };
        let table_id = source.id();
        let source_path = source.path().to_owned();
        self.change(format!("create_snapshot {p}"), |e| {
            Self::insert_new(
                e,
                &p,
                EntryRecord::Snapshot {
                    table_id,
                    source: source_path.clone(),
                    version,
                },
            )
        })
        .await?;
        Ok(version)
    }

    /// Creates an empty replica entry at `path` recording its upstream address, and returns the
    /// writer the transport fills it through.
    ///
    /// # Errors
    ///
    /// [`StorageError::AlreadyExists`], [`StorageError::NotFound`] for a missing directory.
    pub async fn create_replica(&self, path: &str, upstream: &str) -> Result<ReplicaWriter> {
        let p = parse_path(path)?;
        let table_id = Uuid::new_v4();
        let upstream = upstream.to_owned();
        self.change(format!("create_replica {p}"), |e| {
            Self::insert_new(
                e,
                &p,
                EntryRecord::Replica {
                    table_id,
                    upstream: upstream.clone(),
                    upstream_version: None,
                },
            )
        })
        .await?;
        Ok(ReplicaWriter {
            catalog: self.clone(),
            path: p.to_string(),
            table_id,
        })
    }

    /// The writer of an existing replica.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::WrongKind`].
    pub async fn replica_writer(&self, path: &str) -> Result<ReplicaWriter> {
        let key = parse_path(path)?.to_string();
        match self.entries().await?.get(&key) {
            Some(EntryRecord::Replica { table_id, .. }) => Ok(ReplicaWriter {
                catalog: self.clone(),
                path: key,
                table_id: *table_id,
            }),
            Some(other) => Err(StorageError::WrongKind {
                path: key,
                expected: "replica",
                found: other.kind().name(),
            }),
            None => Err(StorageError::NotFound { path: key }),
        }
    }

    /// What the catalog records about the replica at `path`.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::WrongKind`].
    pub async fn replica_info(&self, path: &str) -> Result<ReplicaInfo> {
        let key = parse_path(path)?.to_string();
        match self.entries().await?.remove(&key) {
            Some(EntryRecord::Replica {
                table_id,
                upstream,
                upstream_version,
            }) => Ok(ReplicaInfo {
                upstream,
                upstream_version,
                table_id,
            }),
            Some(other) => Err(StorageError::WrongKind {
                path: key,
                expected: "replica",
                found: other.kind().name(),
            }),
            None => Err(StorageError::NotFound { path: key }),
        }
    }
}

/// How the transport fills and advances a replica: objects are copied in as they are (same
/// format on both sides), manifests committed in version order with a conditional create.
#[derive(Debug, Clone)]
pub struct ReplicaWriter {
    catalog: Catalog,
    path: String,
    table_id: Uuid,
}

impl ReplicaWriter {
    /// The replica's table directory, relative to the catalog root (`tables/<uuid>`).
    pub fn table_dir(&self) -> String {
        format!("tables/{}", self.table_id)
    }

    /// Stores a content-addressed object (`data/<hash>.parquet` or `dv/<hash>.roaring`, relative
    /// to the table directory) after checking it against the hash in its name; an object already
    /// present is verified instead of rewritten.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidPath`] for other names, [`StorageError::Corrupt`] if the bytes do
    /// not match their name.
    pub async fn put_object(&self, rel: &str, bytes: Bytes) -> Result<()> {
        let hash = rel
            .strip_prefix("data/")
            .and_then(|r| r.strip_suffix(".parquet"))
            .or_else(|| {
                rel.strip_prefix("dv/")
                    .and_then(|r| r.strip_suffix(".roaring"))
            })
            .ok_or(StorageError::InvalidPath {
                path: rel.to_owned(),
                reason: "not a data file or deletion vector name",
            })?;
        let full = format!("{}/{rel}", self.table_dir());
        crate::io::verify(&full, &bytes, bytes.len() as u64, hash)?;
        self.catalog
            .shared
            .root
            .put_content(&full, bytes, hash)
            .await
    }

    /// Commits an upstream manifest file (its exact bytes) as `version`. Committing the same
    /// bytes twice succeeds; different bytes for an existing version are a
    /// [`StorageError::VersionConflict`].
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] if the bytes are not a valid manifest for `version`.
    pub async fn commit_manifest(&self, version: u64, sealed: Bytes) -> Result<()> {
        let store = self.catalog.table_store(self.table_id, self.path.clone());
        let rel = store.log.version_path(version);
        let s = crate::log::unseal(&rel, &sealed)?;
        let m = TableManifest::decode(&rel, &s.body, version)?;
        match store.log.commit(version, &s.body, &m.txn_id).await? {
            CommitOutcome::Committed => Ok(()),
            CommitOutcome::Lost => {
                let current = store.log.latest().await?.unwrap_or(version);
                Err(StorageError::VersionConflict {
                    table: self.path.clone(),
                    attempted: version,
                    current,
                })
            }
        }
    }

    /// Records the upstream version the replica now holds.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] if the replica was dropped.
    pub async fn set_upstream_version(&self, version: u64) -> Result<()> {
        let key = self.path.clone();
        let id = self.table_id;
        self.catalog
            .change(
                format!("set_upstream_version {key} {version}"),
                |e| match e.get_mut(&key) {
                    Some(EntryRecord::Replica {
                        table_id,
                        upstream_version,
                        ..
                    }) if *table_id == id => {
                        *upstream_version = Some(version);
                        Ok(())
                    }
                    _ => Err(StorageError::NotFound { path: key.clone() }),
                },
            )
            .await?;
        Ok(())
    }
}

/// The raw sealed manifest bytes of a table version (what [`ReplicaWriter::commit_manifest`]
/// takes), for the transport's publish and push.
///
/// # Errors
///
/// [`StorageError::VersionExpired`] / [`StorageError::VersionNotFound`].
pub async fn manifest_bytes(table: &Table, version: u64) -> Result<Bytes> {
    let rel = table.store.log.version_path(version);
    match table.store.root.get_opt(&rel).await? {
        Some(b) => {
            // Hand out only verified bytes.
            crate::log::unseal(&rel, &b)?;
            Ok(b)
        }
        // Missing: `load` says whether it expired or never existed.
        None => match table.store.load(version).await {
            Err(e) => Err(e),
            Ok(_) => Err(StorageError::NotFound { path: rel }),
        },
    }
}

/// `Ok` if `key` names a directory; otherwise `NotFound` or `WrongKind` naming it.
fn require_directory(entries: &BTreeMap<String, EntryRecord>, key: &str) -> Result<()> {
    match entries.get(key) {
        Some(EntryRecord::Directory) => Ok(()),
        Some(other) => Err(StorageError::WrongKind {
            path: key.to_owned(),
            expected: "directory",
            found: other.kind().name(),
        }),
        None => Err(StorageError::NotFound {
            path: key.to_owned(),
        }),
    }
}

/// Views whose base is in `roots`, directly or through other views (the transitive closure),
/// excluding `roots` themselves.
fn dependent_views(
    entries: &BTreeMap<String, EntryRecord>,
    roots: &std::collections::BTreeSet<String>,
) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    loop {
        let before = found.len();
        for (path, record) in entries {
            if let EntryRecord::View { definition } = record
                && !roots.contains(path)
                && (roots.contains(&definition.base) || found.contains(&definition.base))
            {
                found.insert(path.clone());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// Removes `dropped` (which names `path` and, for a directory, its contents) and the views that
/// depend on any of them: refused with [`StorageError::HasDependents`] unless `force`.
fn remove_with_dependents(
    entries: &mut BTreeMap<String, EntryRecord>,
    path: &str,
    dropped: std::collections::BTreeSet<String>,
    force: bool,
) -> Result<()> {
    let dependents = dependent_views(entries, &dropped);
    if !dependents.is_empty() && !force {
        return Err(StorageError::HasDependents {
            path: path.to_owned(),
            dependents: dependents.into_iter().collect(),
        });
    }
    for p in dropped.iter().chain(&dependents) {
        entries.remove(p);
    }
    Ok(())
}
