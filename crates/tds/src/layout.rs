//! Where a service table's rows come from, and how a batch of backend news becomes one step.
//!
//! Each location gets its own range of row keys (`index << 40 ..`), in the order the backend
//! announced the locations, so its rows keep their keys as it grows, its rows can leave in one
//! step when it is retracted, and the whole table stays ordered by location, then offset. The
//! partitioning columns come first; their values repeat the location's partition values.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{FieldRef, Schema};
use futures::future::try_join_all;
use tableshare_core::{AddedRows, LiveTable, RowKey, RowSet, TableSchema, TableUpdate};

use crate::backend::{SubscriptionHandle, TableDataServiceBackend, TableSchemas};
use crate::calls::contract;
use crate::error::{Context, Result, TdsError};
use crate::service::Shared;

/// Row keys per location: a location may hold up to 2^40 rows, a table up to 2^24 locations.
pub(crate) const LOCATION_KEY_BITS: u32 = 40;

/// One location of a table as the service tracks it.
pub(crate) struct Location<L> {
    pub(crate) key: L,
    pub(crate) values: Option<RecordBatch>,
    /// The size the backend last reported.
    pub(crate) reported: u64,
    /// The offsets whose rows the table holds.
    pub(crate) shown: Range<u64>,
    pub(crate) blink: bool,
    pub(crate) retracted: bool,
    /// The size subscription (refreshing tables); dropping it cancels.
    pub(crate) subscription: Option<SubscriptionHandle>,
    /// The location's own table (partitioned tables).
    pub(crate) constituent: Option<LiveTable>,
}

/// The locations of one table and the shape of its rows.
pub(crate) struct Layout<B: TableDataServiceBackend> {
    pub(crate) table: B::TableKey,
    pub(crate) context: Context,
    pub(crate) schema: TableSchema,
    pub(crate) schemas: TableSchemas,
    /// The data columns fetched (all, or those a reader asked for).
    pub(crate) data_fields: Vec<FieldRef>,
    pub(crate) locations: Vec<Location<B::LocationKey>>,
    pub(crate) index: HashMap<B::LocationKey, usize>,
    /// Locations whose rows must change in the next step.
    pub(crate) dirty: BTreeSet<usize>,
}

/// What one step does to the whole table and to each touched location's own table.
pub(crate) struct Step {
    pub(crate) whole: TableUpdate,
    pub(crate) parts: Vec<(usize, TableUpdate)>,
}

impl<B: TableDataServiceBackend> Layout<B> {
    /// The layout of `table` with `schemas`, fetching `columns` (all data columns when `None`).
    pub(crate) fn new(
        table: B::TableKey,
        context: Context,
        schemas: TableSchemas,
        columns: Option<&[String]>,
    ) -> Result<Self> {
        let partition_fields: Vec<FieldRef> = schemas
            .partitioning
            .as_ref()
            .map(|schema| schema.fields().iter().cloned().collect())
            .unwrap_or_default();
        let data_fields: Vec<FieldRef> =
            match columns {
                None => schemas.data.fields().iter().cloned().collect(),
                Some(columns) => {
                    let mut fields = Vec::new();
                    for column in columns {
                        if partition_fields.iter().any(|field| field.name() == column) {
                            continue;
                        }
                        let field = schemas.data.field_with_name(column).map_err(|_| {
                            TdsError::NotFound {
                                context: Box::new(context.column(column)),
                            }
                        })?;
                        fields.push(Arc::new(field.clone()));
                    }
                    fields
                }
            };
        let names: Vec<String> = partition_fields
            .iter()
            .map(|field| field.name().clone())
            .collect();
        let fields: Vec<FieldRef> = partition_fields
            .into_iter()
            .chain(data_fields.iter().cloned())
            .collect();
        let arrow = Arc::new(Schema::new(fields));
        let schema = TableSchema::new(arrow, names).map_err(|source| TdsError::Table {
            context: Box::new(context.clone()),
            error: source,
        })?;
        Ok(Self {
            table,
            context,
            schema,
            schemas,
            data_fields,
            locations: Vec::new(),
            index: HashMap::new(),
            dirty: BTreeSet::new(),
        })
    }

    /// Registers a newly announced location; returns its index.
    pub(crate) fn add(
        &mut self,
        key: B::LocationKey,
        values: Option<RecordBatch>,
        operation: &'static str,
    ) -> Result<usize> {
        if self.index.contains_key(&key) {
            return Err(contract(
                &self.context.at(&key),
                operation,
                "the location was announced twice".into(),
            ));
        }
        let index = self.locations.len();
        if index >= 1 << (64 - LOCATION_KEY_BITS) {
            return Err(contract(
                &self.context.at(&key),
                operation,
                "more locations than a table can hold (2^24)".into(),
            ));
        }
        self.index.insert(key.clone(), index);
        self.locations.push(Location {
            key,
            values,
            reported: 0,
            shown: 0..0,
            blink: false,
            retracted: false,
            subscription: None,
            constituent: None,
        });
        Ok(index)
    }

    /// Records a size the backend reported for location `index`; sizes never shrink.
    pub(crate) fn resize(
        &mut self,
        index: usize,
        size: u64,
        operation: &'static str,
    ) -> Result<()> {
        let Some(location) = self.locations.get_mut(index) else {
            return Ok(());
        };
        if location.retracted {
            return Ok(());
        }
        let context = self.context.at(&location.key);
        if size < location.reported {
            return Err(contract(
                &context,
                operation,
                format!("the size shrank from {} to {size} rows", location.reported),
            ));
        }
        if size >= 1 << LOCATION_KEY_BITS {
            return Err(contract(
                &context,
                operation,
                format!("{size} rows is more than a location can hold (2^40)"),
            ));
        }
        if size > location.reported {
            location.reported = size;
            self.dirty.insert(index);
        }
        Ok(())
    }

    /// Withdraws location `key`: its rows leave in the next step; its key may come back as a new
    /// location.
    pub(crate) fn retract(&mut self, key: &B::LocationKey) -> Result<usize> {
        let index = self.index.remove(key).ok_or_else(|| {
            contract(
                &self.context.at(key),
                "subscribe_to_table_locations",
                "retracted a location that was never announced".into(),
            )
        })?;
        if let Some(location) = self.locations.get_mut(index) {
            location.retracted = true;
            location.subscription = None;
        }
        self.dirty.insert(index);
        Ok(index)
    }

    /// Marks location `key` blink.
    pub(crate) fn blink(&mut self, key: &B::LocationKey) -> Result<()> {
        let index = *self.index.get(key).ok_or_else(|| {
            contract(
                &self.context.at(key),
                "subscribe_to_table_locations",
                "marked blink a location that was never announced".into(),
            )
        })?;
        if let Some(location) = self.locations.get_mut(index) {
            location.blink = true;
        }
        Ok(())
    }

    /// Builds the step for the dirty locations (fetching their new rows), or `None` when
    /// nothing changes. The layout records the step as done: apply it or fail the table.
    pub(crate) async fn step(&mut self, shared: &Shared<B>) -> Result<Option<Step>> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut plans = Vec::new();
        for index in dirty {
            let Some(location) = self.locations.get(index) else {
                continue;
            };
            let base = (index as u64) << LOCATION_KEY_BITS;
            let keys = |range: &Range<u64>| base + range.start..base + range.end;
            let (removed, added, shown) = if location.retracted {
                (keys(&location.shown), 0..0, 0..0)
            } else if location.blink {
                let added = location.shown.end..location.reported;
                (keys(&location.shown), added.clone(), added)
            } else {
                let added = location.shown.end..location.reported;
                (0..0, added, location.shown.start..location.reported)
            };
            if removed.is_empty() && added.is_empty() {
                continue;
            }
            plans.push((index, removed, added, shown));
        }
        if plans.is_empty() {
            return Ok(None);
        }
        // The step's keys are one range per location (plans are in location order, so the
        // ranges ascend): held as ranges, a step of millions of rows costs no key memory.
        let key_ranges: Vec<Range<RowKey>> = plans
            .iter()
            .map(|(index, _, added, _)| {
                let base = (*index as u64) << LOCATION_KEY_BITS;
                base + added.start..base + added.end
            })
            .collect();
        let batches = try_join_all(
            plans
                .iter()
                .map(|(index, _, added, _)| self.rows(shared, *index, added.clone())),
        )
        .await?;
        let arrow = self.schema.arrow().clone();
        let mut whole_removed = RowSet::new();
        let mut parts = Vec::with_capacity(plans.len());
        for ((index, removed, added, shown), batch) in plans.into_iter().zip(batches.iter()) {
            let base = (index as u64) << LOCATION_KEY_BITS;
            let removed = RowSet::from_range(removed);
            let keys = base + added.start..base + added.end;
            whole_removed.union_with(&removed);
            // A location's own step, for its constituent table (partitioned tables only).
            let constituent = self
                .locations
                .get(index)
                .is_some_and(|location| location.constituent.is_some());
            if constituent {
                let rows = AddedRows::from_key_ranges(arrow.clone(), [keys], batch.clone())
                    .map_err(|e| self.refused(e))?;
                let part =
                    TableUpdate::new(0, removed, rows, Vec::new()).map_err(|e| self.refused(e))?;
                parts.push((index, part));
            }
            if let Some(location) = self.locations.get_mut(index) {
                location.shown = shown;
            }
        }
        // The whole table's step holds every location's pages as they are: no copy.
        let chunks: Vec<RecordBatch> = batches.into_iter().flatten().collect();
        let rows =
            AddedRows::from_key_ranges(arrow, key_ranges, chunks).map_err(|e| self.refused(e))?;
        let whole =
            TableUpdate::new(0, whole_removed, rows, Vec::new()).map_err(|e| self.refused(e))?;
        Ok(Some(Step { whole, parts }))
    }

    fn refused(&self, source: tableshare_core::CoreError) -> TdsError {
        TdsError::Table {
            context: Box::new(self.context.clone()),
            error: source,
        }
    }

    /// The rows at offsets `range` of location `index`, in the table's schema, as one batch per
    /// page of the range (the pages as the cache holds them: nothing is copied to join them).
    async fn rows(
        &self,
        shared: &Shared<B>,
        index: usize,
        range: Range<u64>,
    ) -> Result<Vec<RecordBatch>> {
        let arrow = self.schema.arrow().clone();
        let Some(location) = self.locations.get(index) else {
            return Ok(Vec::new());
        };
        let pages = shared.cache.page_ranges(range.clone());
        let count_of =
            |rows: &Range<u64>| usize::try_from(rows.end - rows.start).unwrap_or(usize::MAX);
        // The partition values repeated once, as long as the longest page; each page takes a
        // slice.
        let longest = pages
            .iter()
            .map(|(_, rows)| count_of(rows))
            .max()
            .unwrap_or(0);
        let mut repeated: Vec<ArrayRef> = Vec::new();
        if let Some(values) = &location.values {
            let zeros = UInt32Array::from(vec![0u32; longest]);
            for column in values.columns() {
                let column =
                    arrow_select::take::take(column.as_ref(), &zeros, None).map_err(|error| {
                        contract(
                            &self.context.at(&location.key),
                            "table_locations",
                            error.to_string(),
                        )
                    })?;
                repeated.push(column);
            }
        }
        let data = try_join_all(self.data_fields.iter().map(|field| {
            shared.cache.read(
                &shared.caller,
                &self.table,
                &location.key,
                field,
                range.clone(),
                location.reported,
            )
        }))
        .await?;
        let mut batches = Vec::with_capacity(pages.len());
        for (number, (_, rows)) in pages.iter().enumerate() {
            let count = count_of(rows);
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(arrow.fields().len());
            columns.extend(repeated.iter().map(|column| column.slice(0, count)));
            for (field, pages) in self.data_fields.iter().zip(&data) {
                let page = pages.get(number).ok_or_else(|| {
                    contract(
                        &self.context.at(&location.key).column(field.name()),
                        "column_values",
                        format!("no values for rows {}..{}", rows.start, rows.end),
                    )
                })?;
                columns.push(page.clone());
            }
            let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(count));
            let batch = RecordBatch::try_new_with_options(arrow.clone(), columns, &options)
                .map_err(|error| {
                    contract(
                        &self.context.at(&location.key),
                        "column_values",
                        format!("the columns do not form rows: {error}"),
                    )
                })?;
            batches.push(batch);
        }
        Ok(batches)
    }
}
