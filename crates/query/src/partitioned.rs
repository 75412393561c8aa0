//! [`PartitionedSource`]: a DataFusion table provider over a partitioned live table (a
//! data-service table made with `make_partitioned_table`), reading only the parts whose
//! partition values pass the query's filters on partitioning columns.
//!
//! The table is a merged live table whose parts each own a range of its row keys, and a list of
//! the parts with their partition values (one row in the partitioning columns). A scan takes
//! the merged table's snapshot once, so it sees one step, as every scan does; it evaluates each
//! filter that names only partitioning columns on each part's partition values and skips the
//! key ranges of the parts that fail; it reads the rest (`Snapshot::rows_in`: a binary search,
//! then zero-copy slices), one DataFusion partition per part read and per stretch of keys no
//! listed part covers, when it holds rows. Such filters are reported `Inexact`: DataFusion
//! still applies them to the rows, so a part whose values cannot be evaluated is simply read.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::DFSchema;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use tableshare_core::{LiveTable, RowKey};

use crate::live::{LiveSource, SnapshotPartition};

/// One part of a partitioned table: its partition values and the row keys its rows take in
/// the merged table.
#[derive(Clone, Debug)]
pub struct Part {
    /// One row in (a subset of) the partitioning columns, named as in the merged table; `None`
    /// when the part has none (it is then read by every query).
    pub values: Option<RecordBatch>,
    /// The part's key range in the merged table.
    pub keys: Range<RowKey>,
}

/// The parts of a partitioned table as they are now (asked once per query).
pub type PartList = Arc<dyn Fn() -> Vec<Part> + Send + Sync>;

/// A partitioned live table as a DataFusion table: scans read only the parts that filters on
/// partitioning columns keep.
#[derive(Clone)]
pub struct PartitionedSource {
    merged: LiveSource,
    schema: SchemaRef,
    partitioning: Vec<String>,
    parts: PartList,
}

impl fmt::Debug for PartitionedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartitionedSource")
            .field("schema", &self.schema)
            .field("partitioning", &self.partitioning)
            .finish_non_exhaustive()
    }
}

impl PartitionedSource {
    /// The table `merged` (its partitioning columns are those of its schema) made of the parts
    /// `parts` lists.
    pub fn new(merged: LiveTable, parts: PartList) -> Self {
        let schema = Arc::clone(merged.schema().arrow());
        let partitioning = merged.schema().partition_columns().to_vec();
        Self {
            merged: LiveSource::live(merged),
            schema,
            partitioning,
            parts,
        }
    }

    /// Whether `filter` names only partitioning columns (and at least one).
    fn prunes(&self, filter: &Expr) -> bool {
        let columns = filter.column_refs();
        !columns.is_empty()
            && columns
                .iter()
                .all(|column| self.partitioning.contains(&column.name))
    }

    /// Whether `part` may hold rows passing every filter of `filters` (all of them prune).
    fn keeps(&self, state: &dyn Session, part: &Part, filters: &[&Expr]) -> bool {
        let Some(values) = &part.values else {
            return true;
        };
        let Ok(schema) = DFSchema::try_from(values.schema().as_ref().clone()) else {
            return true;
        };
        filters.iter().all(|filter| {
            // A filter the values cannot answer (a column the part's values lack, an error)
            // keeps the part: pruning only ever skips what cannot match.
            let Ok(expr) = state.create_physical_expr((*filter).clone(), &schema) else {
                return true;
            };
            let Ok(result) = expr.evaluate(values).and_then(|v| v.into_array(1)) else {
                return true;
            };
            match result.as_any().downcast_ref::<BooleanArray>() {
                // SQL keeps a row only where the filter is true: false and null both drop.
                Some(passed) => passed.len() != 1 || (passed.is_valid(0) && passed.value(0)),
                None => true,
            }
        })
    }
}

#[async_trait]
impl TableProvider for PartitionedSource {
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
            .map(|filter| {
                if self.prunes(filter) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let snapshot = self.merged.current()?;
        let pruning: Vec<&Expr> = filters.iter().filter(|f| self.prunes(f)).collect();
        let projected = match projection {
            Some(indices) => Arc::new(self.schema.project(indices)?),
            None => Arc::clone(&self.schema),
        };
        // Only a listed part whose values fail a filter is skipped. The key ranges no listed
        // part covers are read too: the parts are listed apart from the snapshot, so a location
        // retracted (or added) between the two still has its rows read, and the filters, being
        // `Inexact`, are applied to every row read anyway.
        let mut parts = (self.parts)();
        parts.sort_by_key(|part| part.keys.start);
        let mut ranges: Vec<Range<RowKey>> = Vec::new();
        let mut covered: RowKey = 0;
        for part in &parts {
            if part.keys.start > covered {
                ranges.push(covered..part.keys.start);
            }
            if self.keeps(state, part, &pruning) {
                ranges.push(part.keys.clone());
            }
            covered = covered.max(part.keys.end);
        }
        ranges.push(covered..RowKey::MAX);
        let partitions: Vec<Arc<dyn PartitionStream>> = ranges
            .into_iter()
            .filter(|keys| snapshot.rank(keys.end) > snapshot.rank(keys.start))
            .map(|keys| {
                Arc::new(SnapshotPartition {
                    snapshot: snapshot.clone(),
                    keys: Some(keys),
                    projection: projection.cloned(),
                    schema: Arc::clone(&projected),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        tracing::debug!(parts = partitions.len(), "partitioned scan");
        Ok(Arc::new(StreamingTableExec::try_new(
            projected,
            partitions,
            None,
            Vec::new(),
            false,
            limit,
        )?))
    }
}
