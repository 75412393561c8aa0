//! [`StoredTable`]: a DataFusion table provider over one version of a stored table (a local
//! table, a replica, a snapshot or a pinned `path:N`).
//!
//! A query never copies the table: the scan streams the version's batches through the storage
//! engine's verified, pruned reader (`Table::scan_stream_at`), asking only for the projected
//! columns, with the filters that translate into storage predicates (see `pushdown`) so whole
//! files and row groups are skipped, and with DataFusion's row limit so a `LIMIT` stops reading.
//! Filters are reported as inexact: DataFusion applies every filter again on the rows it gets.

use std::fmt;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::{Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use futures::{StreamExt, TryStreamExt};
use tableshare_storage::{Predicate, ScanOptions, Table};

use crate::error::{Result, to_df};
use crate::pushdown;

/// One version of a stored table as a DataFusion table (see the module docs).
///
/// ```
/// use std::sync::Arc;
/// use tableshare_query::{QueryContext, StoredTable};
/// use tableshare_storage::{Catalog, parse_schema_spec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let catalog = Catalog::in_memory();
/// let schema = tableshare_core::TableSchema::unpartitioned(Arc::new(parse_schema_spec("id:int64")?))?;
/// let table = Arc::new(catalog.create_table("t", &schema).await?);
/// let provider = StoredTable::latest(table).await?;
/// assert_eq!(provider.version(), 0);
/// let ctx = QueryContext::new();
/// ctx.register_provider("numbers", Arc::new(provider));
/// let rows = ctx.sql("SELECT count(*) AS n FROM numbers").await?;
/// assert_eq!(rows[0].num_rows(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct StoredTable {
    table: Arc<Table>,
    version: u64,
    schema: SchemaRef,
}

impl StoredTable {
    /// The table's latest version (re-read from the store now; a pinned handle keeps its
    /// version).
    ///
    /// # Errors
    ///
    /// Store errors while reading the latest version.
    pub async fn latest(table: Arc<Table>) -> Result<Self> {
        let version = table.refresh().await?;
        Self::at(table, version).await
    }

    /// Version `version` of the table (time travel).
    ///
    /// # Errors
    ///
    /// [`StorageError::VersionExpired`](tableshare_storage::StorageError::VersionExpired) /
    /// [`StorageError::VersionNotFound`](tableshare_storage::StorageError::VersionNotFound).
    pub async fn at(table: Arc<Table>, version: u64) -> Result<Self> {
        let stored = table.schema_at(version).await?;
        // Plain fields: the engine's per-column metadata is its own business.
        let schema = Arc::new(Schema::new(
            stored
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_metadata(Default::default()))
                .collect::<Vec<_>>(),
        ));
        Ok(Self {
            table,
            version,
            schema,
        })
    }

    /// The version this provider reads.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The table handle.
    pub fn table(&self) -> &Arc<Table> {
        &self.table
    }
}

#[async_trait]
impl TableProvider for StoredTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if pushdown::exact(f, &self.schema) {
                    TableProviderFilterPushDown::Exact
                } else if pushdown::predicates(f, &self.schema).is_empty() {
                    TableProviderFilterPushDown::Unsupported
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let projected = match projection {
            Some(indices) => Arc::new(self.schema.project(indices)?),
            None => Arc::clone(&self.schema),
        };
        let columns: Vec<String> = projected
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let predicates: Vec<Predicate> = filters
            .iter()
            .flat_map(|f| pushdown::predicates(f, &self.schema))
            .collect();
        let partition = Arc::new(StoredPartition {
            table: Arc::clone(&self.table),
            version: self.version,
            schema: Arc::clone(&projected),
            columns,
            predicates,
            limit,
        });
        Ok(Arc::new(StreamingTableExec::try_new(
            projected,
            vec![partition],
            None,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

/// The one partition of a stored scan: a storage scan stream started when DataFusion executes it.
struct StoredPartition {
    table: Arc<Table>,
    version: u64,
    schema: SchemaRef,
    columns: Vec<String>,
    predicates: Vec<Predicate>,
    limit: Option<usize>,
}

impl fmt::Debug for StoredPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredPartition")
            .field("table", &self.table.path())
            .field("version", &self.version)
            .field("columns", &self.columns)
            .field("predicates", &self.predicates)
            .field("limit", &self.limit)
            .finish()
    }
}

impl PartitionStream for StoredPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut options = ScanOptions::default().columns(self.columns.iter().cloned());
        for p in &self.predicates {
            options = options.filter(p.clone());
        }
        if let Some(limit) = self.limit {
            options = options.limit(limit);
        }
        let table = Arc::clone(&self.table);
        let version = self.version;
        let schema = Arc::clone(&self.schema);
        let out = Arc::clone(&self.schema);
        let stream = futures::stream::once(async move {
            table.scan_stream_at(version, options).await.map_err(to_df)
        })
        .map_ok(move |scan| {
            let schema = Arc::clone(&schema);
            scan.map(move |part| {
                let part = part.map_err(to_df)?;
                // The engine's batches carry its schema metadata; give DataFusion its own. The
                // keys count the rows, also when no column is read (`count(*)`).
                let options = RecordBatchOptions::new().with_row_count(Some(part.keys.len()));
                RecordBatch::try_new_with_options(
                    Arc::clone(&schema),
                    part.batch.columns().to_vec(),
                    &options,
                )
                .map_err(DataFusionError::from)
            })
        })
        .try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(out, stream))
    }
}
