//! [`Catalog`]: directories, tables, views, snapshots and replicas under dotted paths.
//!
//! The catalog is itself a versioned log ([`crate::format::log`]) under `catalog/`: each change (create,
//! move, drop, ...) commits a new catalog manifest holding the whole path → entry map with one
//! conditional create. A change that loses the race is re-applied on the winner, so two
//! processes creating the same path get one success and one [`StorageError::AlreadyExists`].
//! Tables live under `tables/<uuid>/` and are named by the catalog, so moving a table or a
//! directory rewrites no data.
//!
//! Methods take catalog paths as `impl TryInto<TablePath>` (and [`Catalog::open_table`] as
//! `impl TryInto<VersionedPath>`): a `&str` or `String` is parsed here, once, and a program that
//! already holds the parsed value passes it without a second parse. Either way an address that
//! does not parse is [`StorageError::InvalidPath`] with the uri crate's error as its source.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use tableshare_core::TableSchema;
use tableshare_uri::{TablePath, UriError, VersionedPath};
use tracing::{debug, info};
use uuid::Uuid;

use crate::commit::{Round, retry_commits};
use crate::error::{CorruptReason, Result, StorageError};
use crate::format::catalog::{CatalogManifest, EntryRecord};
use crate::format::log::{CommitOutcome, VersionLog};
use crate::format::manifest::{
    FORMAT_VERSION, Operation, TableManifest, check_supported_type, now_ms, with_column_id,
};
use crate::format::store::StoreRoot;
use crate::format::table_dir::{Loaded, TableDir};
use crate::live::TableContext;
use crate::options::CatalogOptions;
use crate::table::{Access, Table};

/// How many times a catalog change that lost a race is re-applied on the winner.
const CATALOG_RETRIES: u32 = 64;

mod namespace;
mod replica;

pub use namespace::Entry;
pub use replica::{ReplicaInfo, ReplicaWriter};

#[derive(Debug)]
pub(crate) struct CatalogShared {
    pub(crate) root: StoreRoot,
    store: Arc<dyn ObjectStore>,
    prefix: String,
    log: VersionLog,
    pub(crate) ctx: Arc<TableContext>,
}

/// A catalog of directories and tables on one object store root. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub(crate) shared: Arc<CatalogShared>,
}

/// Parses a catalog address given as text or as a typed value (see [`Catalog::open_table`]).
fn parse_versioned<A>(address: A) -> Result<VersionedPath>
where
    A: TryInto<VersionedPath>,
    A::Error: Into<UriError>,
{
    address
        .try_into()
        .map_err(|err| StorageError::InvalidPath { source: err.into() })
}

/// Parses a dotted catalog path (no version) given as text or as a [`TablePath`].
pub(crate) fn parse_path(
    path: impl TryInto<TablePath, Error: Into<UriError>>,
) -> Result<TablePath> {
    path.try_into()
        .map_err(|err| StorageError::InvalidPath { source: err.into() })
}

/// Parses an optional directory path (`""` is the root).
pub(crate) fn parse_dir(path: &str) -> Result<Option<TablePath>> {
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
                ctx: Arc::new(TableContext {
                    options,
                    ..TableContext::default()
                }),
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
        &self.shared.ctx.options
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
    pub(crate) async fn change<F>(&self, operation: String, change: F) -> Result<u64>
    where
        F: Fn(&mut BTreeMap<String, EntryRecord>) -> Result<()> + Send + Sync,
    {
        let (operation, change) = (&operation, &change);
        retry_commits(
            CATALOG_RETRIES,
            0u64,
            |_, attempt| {
                Box::pin(async move {
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
                    let body =
                        serde_json::to_vec(&m).map_err(|source| StorageError::Serialize {
                            what: "catalog manifest",
                            source,
                        })?;
                    match self.shared.log.commit(version, &body, &m.txn_id).await? {
                        CommitOutcome::Committed => {
                            info!(version, %operation, "catalog committed");
                            Ok(Round::Done(version))
                        }
                        CommitOutcome::Lost => {
                            debug!(
                                attempt,
                                version, "catalog change lost the race; re-applying"
                            );
                            Ok(Round::Again(version))
                        }
                    }
                })
            },
            |last| StorageError::VersionConflict {
                table: "catalog".into(),
                attempted: last,
                current: last,
            },
        )
        .await
    }

    pub(crate) fn check_parent(
        entries: &BTreeMap<String, EntryRecord>,
        path: &TablePath,
    ) -> Result<()> {
        if let Some(parent) = path.parent() {
            namespace::require_directory(entries, &parent.to_string())?;
        }
        Ok(())
    }

    pub(crate) fn insert_new(
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

    /// Creates a table with version 0 (no rows) and returns a handle.
    ///
    /// # Errors
    ///
    /// [`StorageError::AlreadyExists`], [`StorageError::NotFound`] for a missing directory,
    /// [`StorageError::InvalidArgument`] for an unsupported column type.
    pub async fn create_table(
        &self,
        path: impl TryInto<TablePath, Error: Into<UriError>>,
        schema: &TableSchema,
    ) -> Result<Table> {
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
            txn_token: None,
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
        let loaded = Loaded::new(Arc::new(manifest), hash);
        Ok(self.handle(store, table_id, Access::Writable, None, loaded))
    }

    pub(crate) fn table_store(&self, table_id: Uuid, name: String) -> TableDir {
        TableDir::new(self.shared.root.clone(), format!("tables/{table_id}"), name)
    }

    fn handle(
        &self,
        store: TableDir,
        id: Uuid,
        access: Access,
        pinned: Option<u64>,
        loaded: Loaded,
    ) -> Table {
        let hooks = crate::live::Hooks::new(Arc::clone(&self.shared.ctx), id, store.clone());
        Table::new(store, id, access, pinned, loaded, hooks)
    }

    /// Opens the table stored under `tables/<table_id>` read-only at its latest version,
    /// without the catalog: the way back to a table's data when the catalog's own manifest is
    /// damaged (the error naming that manifest also leaves every table directory readable).
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] if no such table directory exists; read errors.
    pub async fn open_table_by_id(&self, table_id: Uuid) -> Result<Table> {
        let store = self.table_store(table_id, format!("tables/{table_id}"));
        let loaded = store.load_latest().await?;
        Ok(self.handle(
            store,
            table_id,
            Access::ReadOnly("opened by id"),
            None,
            loaded,
        ))
    }

    /// Opens `path` or `path:N`. A table opens writable at its latest version; `path:N`,
    /// snapshots and replicas open read-only (replicas follow their latest version).
    ///
    /// The address is anything that converts to a [`VersionedPath`]: text (`"dir.table:3"`,
    /// parsed here), or an already parsed [`VersionedPath`] or [`TablePath`]. Text is the common
    /// case and stays a plain string; a program that parsed the address earlier (to show it,
    /// or to pick the version itself) passes the typed value and nothing is parsed twice.
    ///
    /// ```
    /// use tableshare_storage::{Catalog, StorageError};
    /// use tableshare_uri::{TablePath, VersionedPath};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let catalog = Catalog::in_memory();
    /// let schema = tableshare_storage::parse_schema_spec("id:int64")?;
    /// let schema = tableshare_core::TableSchema::unpartitioned(std::sync::Arc::new(schema))?;
    /// catalog.create_table("t", &schema).await?;
    /// // Every catalog method takes a parsed path as well as text.
    /// catalog.create_dir(TablePath::parse("dir")?).await?;
    /// assert!(catalog.get("dir").await?.is_some());
    /// let by_text = catalog.open_table("t:0").await?;
    /// let typed = VersionedPath::new(TablePath::parse("t")?, Some(0));
    /// assert_eq!(catalog.open_table(typed).await?.version(), by_text.version());
    /// assert!(matches!(catalog.open_table("t:x").await, Err(StorageError::InvalidPath { .. })));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidPath`] for an address that does not parse (the source is the
    /// address parser's error), [`StorageError::NotFound`], [`StorageError::WrongKind`] for
    /// directories and views, [`StorageError::SnapshotVersion`] for `snapshot:N`,
    /// [`StorageError::VersionExpired`] / [`StorageError::VersionNotFound`] for `path:N`.
    pub async fn open_table<A>(&self, address: A) -> Result<Table>
    where
        A: TryInto<VersionedPath>,
        A::Error: Into<UriError>,
    {
        let VersionedPath { path: p, version } = parse_versioned(address)?;
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
            (EntryRecord::Snapshot { .. }, Some(version)) => {
                return Err(StorageError::SnapshotVersion { path: key, version });
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
            Some(v) => store.load_checked(v).await?,
            None => store.load_latest().await?,
        };
        Ok(self.handle(store, table_id, access, pinned, loaded))
    }
}
