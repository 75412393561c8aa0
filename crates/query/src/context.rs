//! [`QueryContext`]: SQL over the tables of a catalog and over live tables registered by name.
//!
//! Tables are named in SQL by their catalog paths: `shared_demo.sample_data` as written (up to
//! three parts unquoted), any path quoted whole (`"a.b.c.d"`, `"shared_demo.sample_data:3"` for
//! version 3). Live tables (remote subscriptions, data-service tables, anything a caller holds
//! as a [`LiveTable`]) are registered under a name of the caller's choosing, typically their
//! address: `SELECT * FROM "pq://worker/scope/quotes"`. Identifiers are case-sensitive.
//!
//! Each query resolves the names it uses when it is planned: a stored table is read at its
//! latest version at that moment (one version for the whole query), a view is planned over its
//! base, a live table is read at its step at that moment. Only queries run: DDL, DML and other
//! statements are refused as [`QueryError::Sql`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::catalog::{MemoryCatalogProvider, MemorySchemaProvider};
use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::TableProvider;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use futures::TryStreamExt;
use tableshare_core::{LiveTable, Snapshot};
use tableshare_storage::{Catalog, StorageError, Table, ViewDefinition};

use crate::error::{QueryError, Result};
use crate::expr::{session, session_with_partitions};
use crate::live::LiveSource;
use crate::live_view::LiveView;
use crate::stored::StoredTable;
use crate::view::ViewProgram;

/// How deep views may be stacked on views (a guard against a cycle in a damaged catalog).
const MAX_VIEW_DEPTH: usize = 32;

/// SQL over a catalog's tables and registered live tables (see the module docs).
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float64Array, Int64Array, RecordBatch};
/// use tableshare_core::TableSchema;
/// use tableshare_query::QueryContext;
/// use tableshare_storage::{Catalog, parse_schema_spec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let catalog = Catalog::in_memory();
/// catalog.create_dir("demo").await?;
/// let arrow = Arc::new(parse_schema_spec("id:int64,value:float64")?);
/// let table = catalog.create_table("demo.prices", &TableSchema::unpartitioned(arrow.clone())?).await?;
/// table.insert(&RecordBatch::try_new(arrow, vec![
///     Arc::new(Int64Array::from(vec![1, 2, 3])),
///     Arc::new(Float64Array::from(vec![10.0, 20.0, 30.0])),
/// ])?).await?;
///
/// let ctx = QueryContext::with_catalog(catalog);
/// let rows = ctx.sql("SELECT sum(value) AS total FROM demo.prices WHERE id >= 2").await?;
/// let total = rows[0].column(0).as_any().downcast_ref::<Float64Array>().unwrap().value(0);
/// assert_eq!(total, 50.0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default, Clone)]
pub struct QueryContext {
    catalog: Option<Catalog>,
    registered: Arc<Mutex<HashMap<String, Arc<dyn TableProvider>>>>,
}

impl QueryContext {
    /// A context with no catalog: only registered tables can be queried.
    pub fn new() -> Self {
        Self::default()
    }

    /// A context over `catalog`'s tables, replicas, snapshots and views.
    pub fn with_catalog(catalog: Catalog) -> Self {
        Self {
            catalog: Some(catalog),
            registered: Arc::default(),
        }
    }

    /// The catalog, if any.
    pub fn catalog(&self) -> Option<&Catalog> {
        self.catalog.as_ref()
    }

    /// Registers `table` under `name` (for instance its `pq://` address): queries read its
    /// snapshot at the moment they run. A registered name hides a catalog path of that name.
    pub fn register_live(&self, name: impl Into<String>, table: LiveTable) {
        self.register_provider(name, Arc::new(LiveSource::live(table)));
    }

    /// Registers the partitioned table `merged`, made of the parts `parts` lists, under
    /// `name`: queries read only the parts whose partition values pass their filters on
    /// partitioning columns (see [`PartitionedSource`](crate::PartitionedSource)).
    pub fn register_partitioned(
        &self,
        name: impl Into<String>,
        merged: LiveTable,
        parts: crate::PartList,
    ) {
        self.register_provider(name, Arc::new(crate::PartitionedSource::new(merged, parts)));
    }

    /// Registers fixed rows under `name`.
    pub fn register_snapshot(&self, name: impl Into<String>, snapshot: Snapshot) {
        self.register_provider(name, Arc::new(LiveSource::snapshot(snapshot)));
    }

    /// Registers any DataFusion table under `name`.
    pub fn register_provider(&self, name: impl Into<String>, provider: Arc<dyn TableProvider>) {
        let mut registered = match self.registered.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        registered.insert(name.into(), provider);
    }

    /// Removes a registered table; returns whether it was there.
    pub fn deregister(&self, name: &str) -> bool {
        let mut registered = match self.registered.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        registered.remove(name).is_some()
    }

    fn registered(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        let registered = match self.registered.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        registered.get(name).cloned()
    }

    /// Runs a query and collects its rows.
    ///
    /// # Errors
    ///
    /// [`QueryError::Sql`] for text that does not parse or plan or is not a query,
    /// [`QueryError::TableNotFound`], storage errors while reading, [`QueryError::Execution`].
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.sql_stream(sql)
            .await?
            .try_collect()
            .await
            .map_err(QueryError::exec)
    }

    /// Runs a query, streaming its rows.
    ///
    /// # Errors
    ///
    /// As [`QueryContext::sql`]; errors while reading end the stream.
    pub async fn sql_stream(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        self.dataframe(sql)
            .await?
            .execute_stream()
            .await
            .map_err(QueryError::exec)
    }

    /// Plans a query as a DataFusion [`DataFrame`] (to explain it, or refine it further).
    ///
    /// # Errors
    ///
    /// As [`QueryContext::sql`], for what is known before running.
    pub async fn dataframe(&self, sql: &str) -> Result<DataFrame> {
        let ctx = session();
        let state = ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let statement = state
            .sql_to_statement(sql, &dialect)
            .map_err(QueryError::sql("query"))?;
        if !is_query(&statement) {
            return Err(QueryError::Sql {
                what: "query".to_owned(),
                source: Box::new(DataFusionError::Plan(
                    "only queries (SELECT, WITH, VALUES, EXPLAIN) run here; nothing was changed"
                        .to_owned(),
                )),
            });
        }
        let references = state
            .resolve_table_references(&statement)
            .map_err(QueryError::sql("query"))?;
        for reference in references {
            let name = dotted(&reference);
            let provider = self
                .resolve(&name)
                .await?
                .ok_or(QueryError::TableNotFound { name })?;
            register(&ctx, reference, provider)?;
        }
        let plan = ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(QueryError::sql("query"))?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(QueryError::sql("query"))?;
        ctx.execute_logical_plan(plan)
            .await
            .map_err(QueryError::sql("query"))
    }

    /// The DataFusion table a name stands for: a registered table, else the catalog entry at
    /// that path (a table, replica or snapshot at its latest version, `path:N` at version N, a
    /// view planned over its base); `None` when there is none.
    ///
    /// # Errors
    ///
    /// Storage errors while opening, [`QueryError::InvalidView`] for a view that cannot be
    /// evaluated (its base is gone, or it names columns its base lacks).
    pub async fn resolve(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(provider) = self.registered(name) {
            return Ok(Some(provider));
        }
        match &self.catalog {
            Some(catalog) => resolve_path(catalog, name, 0).await,
            None => Ok(None),
        }
    }

    /// The rows of the table or view `name` (as [`QueryContext::resolve`] finds it), at most
    /// `limit`, in row-key order for stored tables and views over them: the way to show one.
    ///
    /// # Errors
    ///
    /// [`QueryError::TableNotFound`], and as [`QueryContext::sql`].
    pub async fn rows(
        &self,
        name: &str,
        limit: Option<usize>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let provider = self
            .resolve(name)
            .await?
            .ok_or_else(|| QueryError::TableNotFound {
                name: name.to_owned(),
            })?;
        // One partition: nothing is repartitioned, so rows keep the scan's key order.
        let ctx = session_with_partitions(1);
        let mut df = ctx.read_table(provider).map_err(QueryError::sql("table"))?;
        if let Some(limit) = limit {
            df = df.limit(0, Some(limit)).map_err(QueryError::sql("table"))?;
        }
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(QueryError::exec)?;
        Ok((schema, batches))
    }

    /// Stores the view `definition` at `path` after checking that it can be evaluated: its base
    /// exists (a table, replica, snapshot or view of the catalog) and its expressions and filter
    /// compile against the base's columns.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] for a missing base, [`QueryError::Sql`] for expressions that
    /// do not compile, and the catalog's errors (`AlreadyExists`, `NotFound` for a missing
    /// directory).
    pub async fn create_view(&self, path: &str, definition: ViewDefinition) -> Result<()> {
        let catalog = self
            .catalog
            .as_ref()
            .ok_or_else(|| StorageError::NotFound {
                path: path.to_owned(),
            })?;
        let base = resolve_path(catalog, &definition.base, 0)
            .await?
            .ok_or_else(|| StorageError::NotFound {
                path: definition.base.clone(),
            })?;
        ViewProgram::compile(path, base.schema(), &definition)?;
        catalog.create_view(path, definition).await?;
        Ok(())
    }

    /// The view at `path` as a live table that ticks with its base (see [`LiveView`]): the
    /// base's live form (a stored table's or a replica's, ticking on its commits; another
    /// view's live view), evaluated once, then again only on the rows each step changes.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] / [`StorageError::WrongKind`] if `path` is not a view,
    /// [`QueryError::InvalidView`], storage errors.
    pub async fn live_view(&self, path: &str) -> Result<LiveView> {
        let catalog = self
            .catalog
            .as_ref()
            .ok_or_else(|| StorageError::NotFound {
                path: path.to_owned(),
            })?;
        live_view_at(catalog, path, 0).await
    }
}

/// Whether `statement` only reads: a query, or `EXPLAIN` of one.
fn is_query(statement: &DfStatement) -> bool {
    match statement {
        DfStatement::Statement(inner) => match inner.as_ref() {
            SqlStatement::Query(_) => true,
            SqlStatement::Explain { statement, .. } => {
                matches!(statement.as_ref(), SqlStatement::Query(_))
            }
            _ => false,
        },
        DfStatement::Explain(explain) => is_query(&explain.statement),
        _ => false,
    }
}

/// The catalog path a table reference spells (`a.b` as written, or one quoted name).
fn dotted(reference: &TableReference) -> String {
    match reference {
        TableReference::Bare { table } => table.to_string(),
        TableReference::Partial { schema, table } => format!("{schema}.{table}"),
        TableReference::Full {
            catalog,
            schema,
            table,
        } => format!("{catalog}.{schema}.{table}"),
    }
}

/// Registers `provider` under `reference` in `ctx`, creating the DataFusion catalog and schema
/// a dotted name needs.
fn register(
    ctx: &SessionContext,
    reference: TableReference,
    provider: Arc<dyn TableProvider>,
) -> Result<()> {
    let default_catalog = ctx
        .state()
        .config()
        .options()
        .catalog
        .default_catalog
        .clone();
    let (catalog_name, schema_name) = match &reference {
        TableReference::Bare { .. } => (None, None),
        TableReference::Partial { schema, .. } => (None, Some(schema.to_string())),
        TableReference::Full {
            catalog, schema, ..
        } => (Some(catalog.to_string()), Some(schema.to_string())),
    };
    if let Some(schema_name) = schema_name {
        let catalog_name = catalog_name.unwrap_or(default_catalog);
        let catalog = match ctx.catalog(&catalog_name) {
            Some(catalog) => catalog,
            None => {
                let catalog = Arc::new(MemoryCatalogProvider::new());
                ctx.register_catalog(&catalog_name, Arc::clone(&catalog) as _);
                catalog
            }
        };
        if catalog.schema(&schema_name).is_none() {
            catalog
                .register_schema(&schema_name, Arc::new(MemorySchemaProvider::new()))
                .map_err(QueryError::sql("table name"))?;
        }
    }
    ctx.register_table(reference, provider)
        .map_err(QueryError::sql("table name"))?;
    Ok(())
}

type Resolved<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Arc<dyn TableProvider>>>> + Send + 'a>>;

/// The provider of the catalog entry at `name` (see [`QueryContext::resolve`]).
fn resolve_path<'a>(catalog: &'a Catalog, name: &'a str, depth: usize) -> Resolved<'a> {
    Box::pin(async move {
        match catalog.open_table(name).await {
            Ok(table) => {
                let provider = StoredTable::latest(Arc::new(table)).await?;
                Ok(Some(Arc::new(provider) as Arc<dyn TableProvider>))
            }
            Err(StorageError::WrongKind { found: "view", .. }) => {
                let (program, base) = view_over(catalog, name, depth).await?;
                Ok(Some(program.provider(base)?))
            }
            Err(
                StorageError::NotFound { .. }
                | StorageError::InvalidPath { .. }
                | StorageError::WrongKind { .. },
            ) => Ok(None),
            Err(err) => Err(err.into()),
        }
    })
}

/// The view at `path` compiled over its base, and the base's provider.
async fn view_over(
    catalog: &Catalog,
    path: &str,
    depth: usize,
) -> Result<(ViewProgram, Arc<dyn TableProvider>)> {
    if depth >= MAX_VIEW_DEPTH {
        return Err(QueryError::InvalidView {
            view: path.to_owned(),
            reason: format!("views stacked more than {MAX_VIEW_DEPTH} deep (a cycle?)"),
        });
    }
    let definition = catalog.view(path).await?;
    let base = resolve_path(catalog, &definition.base, depth + 1)
        .await?
        .ok_or_else(|| QueryError::InvalidView {
            view: path.to_owned(),
            reason: format!("its base {} does not exist", definition.base),
        })?;
    let program = ViewProgram::compile(path, base.schema(), &definition)?;
    Ok((program, base))
}

type LiveFuture<'a> = Pin<Box<dyn Future<Output = Result<LiveView>> + Send + 'a>>;

/// The live view at `path` (see [`QueryContext::live_view`]).
fn live_view_at<'a>(catalog: &'a Catalog, path: &'a str, depth: usize) -> LiveFuture<'a> {
    Box::pin(async move {
        if depth >= MAX_VIEW_DEPTH {
            return Err(QueryError::InvalidView {
                view: path.to_owned(),
                reason: format!("views stacked more than {MAX_VIEW_DEPTH} deep (a cycle?)"),
            });
        }
        let definition = catalog.view(path).await?;
        match catalog.open_table(definition.base.as_str()).await {
            Ok(table) => {
                let live = table.live().await?;
                let program =
                    ViewProgram::compile(path, Arc::clone(live.schema().arrow()), &definition)?;
                let table: Arc<Table> = Arc::new(table);
                Ok(LiveView::start(live, program)?.keep(Box::new(table)))
            }
            Err(StorageError::WrongKind { found: "view", .. }) => {
                let inner = live_view_at(catalog, &definition.base, depth + 1).await?;
                let live = inner.table().clone();
                let program =
                    ViewProgram::compile(path, Arc::clone(live.schema().arrow()), &definition)?;
                Ok(LiveView::start(live, program)?.keep(Box::new(inner)))
            }
            Err(StorageError::NotFound { .. }) => Err(QueryError::InvalidView {
                view: path.to_owned(),
                reason: format!("its base {} does not exist", definition.base),
            }),
            Err(err) => Err(err.into()),
        }
    })
}
