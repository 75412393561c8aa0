//! [`Tableshare`]: one handle on a tableshare home, with the functions of the seeds as methods
//! (`create_dir`, `create_table`, `get_table`, `list_tables`, `publish`, `replicate`,
//! `resolve`, …), so a program reads like the walkthroughs it follows.
//!
//! A home is a folder: the local catalog under `catalog/`, `config.toml` (cloud roots, the org
//! key, the worker directory), the embedded default cloud root under `cloud/` when none is
//! configured, and the worker directory under `workers/` when none is configured (see
//! [`worker_directory`](crate::worker_directory)). The command-line tool uses the same layout, so a program and the
//! `tableshare` binary pointed at one home see the same tables.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use tableshare_core::TableSchema;
use tableshare_query::QueryContext;
use tableshare_remote::{ClientConfig, Directory, Resolved};
use tableshare_storage::{Catalog, EntryKind, ViewDefinition};
use tableshare_transport::{Access, CloudConfig, Transport};
use tableshare_uri::{CloudUri, TableUri};

use crate::error::{Error, Result};
use crate::shared_table::SharedTable;

/// A tableshare home: the local catalog, the cloud it shares through, and the worker directory
/// that `pq://` addresses resolve in. Cheap to clone.
///
/// ```
/// # async fn demo() -> tableshare::Result<()> {
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// use tableshare::{Access, TableSchema, Tableshare};
///
/// let home = tempfile::tempdir().expect("a scratch folder");
/// // The org key (TABLESHARE_API_KEY works too); the cloud is the embedded default, HOME/cloud.
/// std::fs::write(home.path().join("config.toml"), "api_key = \"my-org-key\"\n").expect("writable");
/// let ts = Tableshare::open(home.path())?;
/// ts.create_dir("shared_demo").await?;
/// let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
/// let table = ts
///     .create_table("shared_demo.sample_data", &TableSchema::unpartitioned(schema)?)
///     .await?;
/// let uri = ts
///     .publish("shared_demo.sample_data", "pxt://me/demo.sample", Access::Public)
///     .await?;
/// let replica = ts.replicate(&uri.to_string(), "shared_demo.replica").await?;
/// assert!(replica.is_read_only());
/// # drop(table);
/// # Ok(())
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Tableshare {
    home: Option<PathBuf>,
    transport: Arc<Transport>,
    directory: Option<Directory>,
    query: QueryContext,
}

impl Tableshare {
    /// Opens the home folder `home`, creating it (and its catalog) on first use, and reads its
    /// `config.toml` and the environment for the cloud (`TABLESHARE_CLOUD_ROOT`,
    /// `TABLESHARE_API_KEY`).
    ///
    /// # Errors
    ///
    /// [`Error::Home`] if the folder cannot be created; the catalog's or the configuration's
    /// error if either cannot be read.
    pub fn open(home: impl AsRef<Path>) -> Result<Self> {
        let home = home.as_ref();
        Self::open_with_cloud(home, CloudConfig::load(home)?)
    }

    /// Opens the home folder `home` as [`open`](Self::open) does, but shares through `cloud`
    /// instead of what the home's configuration says (a program that holds the org key itself,
    /// a cloud on a store the program built).
    ///
    /// # Errors
    ///
    /// [`Error::Home`] if the folder cannot be created; the catalog's error if it cannot be
    /// read.
    pub fn open_with_cloud(home: impl AsRef<Path>, cloud: CloudConfig) -> Result<Self> {
        let home = home.as_ref();
        let failed = |message: String| Error::Home {
            home: home.display().to_string(),
            message,
        };
        let catalog_dir = home.join("catalog");
        std::fs::create_dir_all(&catalog_dir)
            .map_err(|e| failed(format!("cannot create `{}`: {e}", catalog_dir.display())))?;
        let catalog = Catalog::open_local(&catalog_dir)?;
        let directory = crate::home::worker_directory(home)?;
        Ok(Self {
            home: Some(home.to_path_buf()),
            query: QueryContext::with_catalog(catalog.clone()),
            transport: Arc::new(Transport::new(catalog, cloud)),
            directory: Some(directory),
        })
    }

    /// Opens the default home: `$TABLESHARE_HOME`, else `~/.tableshare` (what the command-line
    /// tool uses without `--home`).
    ///
    /// # Errors
    ///
    /// [`Error::Home`] when neither variable is set; then as [`Tableshare::open`].
    pub fn open_default() -> Result<Self> {
        let dir = match std::env::var_os("TABLESHARE_HOME") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => match std::env::var_os("HOME") {
                Some(home) if !home.is_empty() => Path::new(&home).join(".tableshare"),
                _ => {
                    return Err(Error::Home {
                        home: "~/.tableshare".into(),
                        message: "neither TABLESHARE_HOME nor HOME is set".into(),
                    });
                }
            },
        };
        Self::open(dir)
    }

    /// A session over a catalog and a cloud configuration given directly (an in-memory catalog
    /// in tests, a catalog on S3, a cloud on a store the program built). It has no worker
    /// directory until [`with_directory`](Self::with_directory).
    pub fn from_parts(catalog: Catalog, cloud: CloudConfig) -> Self {
        Self {
            home: None,
            query: QueryContext::with_catalog(catalog.clone()),
            transport: Arc::new(Transport::new(catalog, cloud)),
            directory: None,
        }
    }

    /// Uses `directory` to resolve `pq://` addresses (a shared one on an object store lets
    /// programs on different machines find each other's workers).
    #[must_use]
    pub fn with_directory(mut self, directory: Directory) -> Self {
        self.directory = Some(directory);
        self
    }

    /// The home folder, when the session was opened on one.
    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }

    /// The local catalog (every catalog operation, including those the facade does not wrap).
    pub fn catalog(&self) -> &Catalog {
        self.transport.catalog()
    }

    /// The transport between the catalog and the cloud.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The query context over the catalog: register live tables (remote subscriptions,
    /// data-service tables) under names to join them with the catalog's tables.
    pub fn query_context(&self) -> &QueryContext {
        &self.query
    }

    /// Registers a partitioned data-service table under `name` for SQL: a query reads only the
    /// locations whose partition values pass its filters on partitioning columns, from one
    /// snapshot of the merged table.
    pub fn register_partitioned<B: tableshare_tds::TableDataServiceBackend>(
        &self,
        name: impl Into<String>,
        table: Arc<tableshare_tds::PartitionedTable<B>>,
    ) {
        let merged = table.merged();
        let parts: tableshare_query::PartList = Arc::new(move || {
            table
                .constituents()
                .into_iter()
                .map(|constituent| tableshare_query::Part {
                    values: constituent.partition_values().cloned(),
                    keys: constituent.merged_keys(),
                })
                .collect()
        });
        self.query.register_partitioned(name, merged, parts);
    }

    /// The worker directory, if the session has one.
    pub fn directory(&self) -> Option<&Directory> {
        self.directory.as_ref()
    }

    /// Creates a directory (its parent must exist).
    ///
    /// # Errors
    ///
    /// The catalog's: it exists, its parent is missing, the path is invalid.
    pub async fn create_dir(&self, path: &str) -> Result<()> {
        Ok(self.catalog().create_dir(path).await?)
    }

    /// Drops a directory; one with entries only if `force` (which drops everything under it).
    ///
    /// # Errors
    ///
    /// The catalog's: not found, not a directory, not empty.
    pub async fn drop_dir(&self, path: &str, force: bool) -> Result<()> {
        Ok(self.catalog().drop_dir(path, force).await?)
    }

    /// Creates an empty table with `schema`.
    ///
    /// # Errors
    ///
    /// The catalog's: the path exists, its directory is missing, the path is invalid.
    pub async fn create_table(&self, path: &str, schema: &TableSchema) -> Result<SharedTable> {
        let table = self.catalog().create_table(path, schema).await?;
        Ok(SharedTable::new(table, Arc::clone(&self.transport)))
    }

    /// Creates an independent, writable copy of a cloud table (`pxt://…[:version]`), with its
    /// history and no upstream.
    ///
    /// # Errors
    ///
    /// The transport's: the address does not exist, the table is private and no key is set,
    /// the path exists.
    pub async fn create_table_from(&self, path: &str, source: &str) -> Result<SharedTable> {
        let table = self.transport.create_copy(path, source).await?;
        Ok(SharedTable::new(table, Arc::clone(&self.transport)))
    }

    /// A handle on the table or replica at `path` (`path:N` opens version N, read-only).
    ///
    /// # Errors
    ///
    /// The catalog's: not found, not a table.
    pub async fn get_table(&self, path: &str) -> Result<SharedTable> {
        let table = self.catalog().open_table(path).await?;
        Ok(SharedTable::new(table, Arc::clone(&self.transport)))
    }

    /// The paths of the tables and replicas under `dir` (`""` for all), at every depth, sorted.
    ///
    /// # Errors
    ///
    /// The catalog's: `dir` is not a directory.
    pub async fn list_tables(&self, dir: &str) -> Result<Vec<String>> {
        let entries = self.catalog().list(dir, true).await?;
        Ok(entries
            .into_iter()
            .filter(|e| matches!(e.kind, EntryKind::Table | EntryKind::Replica))
            .map(|e| e.path)
            .collect())
    }

    /// Publishes the local table at `path` to the cloud address `uri` with its whole history;
    /// returns the canonical address. The local table remembers it, so
    /// [`SharedTable::push`] sends later versions.
    ///
    /// # Errors
    ///
    /// The transport's: no org key, the address exists, the table is a replica.
    pub async fn publish(&self, path: &str, uri: &str, access: Access) -> Result<CloudUri> {
        Ok(self.transport.publish(path, uri, access).await?)
    }

    /// Makes a read-only replica of the cloud table `uri` (`pxt://…[:version]`) at `path`.
    /// Reads of it work offline; [`SharedTable::pull`] brings later versions.
    ///
    /// # Errors
    ///
    /// The transport's: the address does not exist, private without the key, a version that
    /// does not verify, the path exists.
    pub async fn replicate(&self, uri: &str, path: &str) -> Result<SharedTable> {
        self.transport.replicate(uri, path).await?;
        self.get_table(path).await
    }

    /// Runs a SQL query over the catalog's tables, replicas, snapshots and views (named by
    /// their dotted paths, quoted when needed) and the live tables registered on the
    /// [`query_context`](Self::query_context); returns the result's batches.
    ///
    /// # Errors
    ///
    /// [`Error::Query`]: SQL that does not parse or plan (an unknown table or column), a
    /// statement that writes, a read that fails.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.query.sql(sql).await?)
    }

    /// Creates the view `path` over `base` (a table, replica, snapshot or view): the base's
    /// columns, then `columns` computed by SQL expressions, keeping the rows `filter` (a SQL
    /// predicate) holds for. Views over replicas work offline and tick as the replica pulls.
    ///
    /// # Errors
    ///
    /// The catalog's (the path exists, the base is missing) and [`Error::Query`] for
    /// expressions that do not compile against the base's columns.
    pub async fn create_view<N, E>(
        &self,
        path: &str,
        base: &str,
        columns: impl IntoIterator<Item = (N, E)>,
        filter: Option<&str>,
    ) -> Result<()>
    where
        N: Into<String>,
        E: Into<String>,
    {
        let mut definition = ViewDefinition::new(base);
        for (name, expression) in columns {
            definition = definition.with_column(name, expression);
        }
        if let Some(filter) = filter {
            definition = definition.with_filter(filter);
        }
        Ok(self.query.create_view(path, definition).await?)
    }

    /// Resolves a worker address (`pq://NAME/scope/table?…`, `ts://host:port/table?…`) to a
    /// live subscription, or to a static snapshot with `snapshot=true`, through the session's
    /// worker directory.
    ///
    /// # Errors
    ///
    /// [`Error::Uri`] for an address that does not parse; the remote client's error otherwise
    /// (worker down past the retry window, unknown table or column).
    pub async fn resolve(&self, uri: &str) -> Result<Resolved> {
        let uri = TableUri::parse(uri)?;
        let mut config = ClientConfig::default();
        if let Some(directory) = &self.directory {
            config = config.with_directory(directory.clone());
        }
        Ok(tableshare_remote::resolve(&uri, config).await?)
    }
}
