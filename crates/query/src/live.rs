//! [`LiveSource`]: a DataFusion table provider over a core [`LiveTable`] or a fixed
//! [`Snapshot`]: the form every other kind of table takes in memory (a replica's live table, a
//! remote subscription, a data-service table, a live view).
//!
//! Each scan takes the table's current snapshot once, so a query sees exactly one step, never
//! half of one; it then iterates the snapshot's chunks as batches (zero-copy slices), projected
//! to the columns asked for, stopping at DataFusion's limit. Filters are left to DataFusion.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use tableshare_core::{LiveTable, RowKey, Snapshot};

/// Rows per batch handed to DataFusion (a chunk larger than this is sliced).
const BATCH_ROWS: usize = 8192;

/// Where a [`LiveSource`] takes its snapshot from.
#[derive(Clone)]
enum Source {
    Live(LiveTable),
    Fixed(Snapshot),
}

/// A live table (its snapshot at each query) or a fixed snapshot, as a DataFusion table.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Int64Array, RecordBatch};
/// use arrow_schema::{DataType, Field, Schema};
/// use tableshare_core::{LiveTable, LiveTableOptions, TableSchema};
/// use tableshare_query::QueryContext;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let arrow = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
/// let live = LiveTable::new(TableSchema::unpartitioned(arrow.clone())?, LiveTableOptions::default());
/// live.append(RecordBatch::try_new(arrow, vec![Arc::new(Int64Array::from(vec![1, 2, 3]))])?)?;
/// let ctx = QueryContext::new();
/// ctx.register_live("pq://worker/scope/ticks", live.clone());
/// let rows = ctx.sql(r#"SELECT sum(x) AS s FROM "pq://worker/scope/ticks""#).await?;
/// let s = rows[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0);
/// assert_eq!(s, 6);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct LiveSource {
    source: Source,
    schema: SchemaRef,
}

impl fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.source {
            Source::Live(_) => "live",
            Source::Fixed(_) => "snapshot",
        };
        f.debug_struct("LiveSource")
            .field("kind", &kind)
            .field("schema", &self.schema)
            .finish()
    }
}

impl LiveSource {
    /// Queries see `table`'s snapshot as of the moment each query runs.
    pub fn live(table: LiveTable) -> Self {
        let schema = Arc::clone(table.schema().arrow());
        Self {
            source: Source::Live(table),
            schema,
        }
    }

    /// Queries see these rows.
    pub fn snapshot(snapshot: Snapshot) -> Self {
        let schema = Arc::clone(snapshot.schema().arrow());
        Self {
            source: Source::Fixed(snapshot),
            schema,
        }
    }

    /// The snapshot a scan reads now; an error if the table's schema changed since it was
    /// registered.
    pub(crate) fn current(&self) -> DfResult<Snapshot> {
        let snapshot = match &self.source {
            Source::Live(table) => table
                .snapshot()
                .map_err(|e| DataFusionError::External(Box::new(e)))?,
            Source::Fixed(snapshot) => snapshot.clone(),
        };
        if snapshot.schema().arrow().fields() != self.schema.fields() {
            return Err(DataFusionError::Execution(
                "the live table's schema changed since it was registered; register it again"
                    .to_owned(),
            ));
        }
        Ok(snapshot)
    }
}

#[async_trait]
impl TableProvider for LiveSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let projected = match projection {
            Some(indices) => Arc::new(self.schema.project(indices)?),
            None => Arc::clone(&self.schema),
        };
        let partition = Arc::new(SnapshotPartition {
            snapshot: self.current()?,
            keys: None,
            projection: projection.cloned(),
            schema: Arc::clone(&projected),
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

/// A partition of a snapshot scan: the whole snapshot, or the rows of one key range of it (a
/// part of a partitioned table, `partitioned.rs`).
pub(crate) struct SnapshotPartition {
    pub(crate) snapshot: Snapshot,
    /// The key range read; `None` reads every row.
    pub(crate) keys: Option<Range<RowKey>>,
    pub(crate) projection: Option<Vec<usize>>,
    pub(crate) schema: SchemaRef,
}

impl fmt::Debug for SnapshotPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotPartition")
            .field("step", &self.snapshot.step())
            .field("rows", &self.snapshot.num_rows())
            .field("keys", &self.keys)
            .field("projection", &self.projection)
            .finish()
    }
}

impl PartitionStream for SnapshotPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let schema = Arc::clone(&self.schema);
        let projection = self.projection.clone();
        // Zero-copy slices of the chunks; the snapshot keeps them alive.
        let parts: Vec<RecordBatch> = match &self.keys {
            None => self.snapshot.row_batches(BATCH_ROWS).collect(),
            Some(keys) => self
                .snapshot
                .rows_in(keys.clone())
                .flat_map(|batch| {
                    let rows = batch.num_rows();
                    (0..rows)
                        .step_by(BATCH_ROWS)
                        .map(move |offset| batch.slice(offset, BATCH_ROWS.min(rows - offset)))
                        .collect::<Vec<_>>()
                })
                .collect(),
        };
        let stream = futures::stream::iter(parts.into_iter().map(move |batch| {
            let rows = batch.num_rows();
            let columns = match &projection {
                Some(indices) => indices
                    .iter()
                    .map(|i| Arc::clone(batch.column(*i)))
                    .collect(),
                None => batch.columns().to_vec(),
            };
            let options = RecordBatchOptions::new().with_row_count(Some(rows));
            RecordBatch::try_new_with_options(Arc::clone(&schema), columns, &options)
                .map_err(DataFusionError::from)
        }));
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        ))
    }
}
