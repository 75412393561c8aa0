//! Every call into a backend goes through here: time-limited, panic-proof, and checked against
//! the contract, so a misbehaving backend becomes a [`TdsError`] naming what broke, never a
//! hang, a crash of the service's task or a wrong row.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema, SchemaRef};
use futures::FutureExt;

use crate::backend::{BackendError, LocationEntry, TableDataServiceBackend, TableSchemas};
use crate::error::{Context, Result, TdsError};

/// A backend with the service's timeout and checks around it.
#[derive(Debug)]
pub(crate) struct Caller<B> {
    pub(crate) backend: Arc<B>,
    pub(crate) name: String,
    pub(crate) timeout: Duration,
}

impl<B: TableDataServiceBackend> Caller<B> {
    pub(crate) fn new(backend: Arc<B>, timeout: Duration) -> Self {
        let name = backend.name();
        Self {
            backend,
            name,
            timeout,
        }
    }

    pub(crate) fn context(&self, table: &B::TableKey) -> Context {
        Context::table(&self.name, table)
    }

    /// Runs one backend call under the timeout; a panic in the backend is an error too.
    pub(crate) async fn guarded<T>(
        &self,
        context: &Context,
        operation: &'static str,
        call: impl Future<Output = Result<T, BackendError>>,
    ) -> Result<T> {
        let call = AssertUnwindSafe(call).catch_unwind();
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(TdsError::Timeout {
                context: Box::new(context.clone()),
                operation,
                after: self.timeout,
            }),
            Ok(Err(panic)) => Err(TdsError::Backend {
                context: Box::new(context.clone()),
                operation,
                error: panic_message(panic).into(),
            }),
            Ok(Ok(Err(source))) => Err(TdsError::Backend {
                context: Box::new(context.clone()),
                operation,
                error: source,
            }),
            Ok(Ok(Ok(value))) => Ok(value),
        }
    }

    /// `table_schema`, checked: no column both a data and a partitioning column.
    pub(crate) async fn table_schema(&self, table: &B::TableKey) -> Result<TableSchemas> {
        let context = self.context(table);
        let schemas = self
            .guarded(&context, "table_schema", self.backend.table_schema(table))
            .await?;
        if let Some(partitioning) = &schemas.partitioning {
            for field in partitioning.fields() {
                if schemas.data.field_with_name(field.name()).is_ok() {
                    return Err(contract(
                        &context.column(field.name()),
                        "table_schema",
                        "the column is both a data column and a partitioning column".into(),
                    ));
                }
            }
        }
        Ok(schemas)
    }

    /// `table_locations`, each location's partition values checked.
    pub(crate) async fn table_locations(
        &self,
        table: &B::TableKey,
        schemas: &TableSchemas,
    ) -> Result<Vec<LocationEntry<B::LocationKey>>> {
        let context = self.context(table);
        let entries = self
            .guarded(
                &context,
                "table_locations",
                self.backend.table_locations(table),
            )
            .await?;
        entries
            .into_iter()
            .map(|(location, values)| {
                let values = check_partition_values(
                    &context.at(&location),
                    "table_locations",
                    schemas.partitioning.as_ref(),
                    values,
                )?;
                Ok((location, values))
            })
            .collect()
    }

    /// `table_location_size`.
    pub(crate) async fn table_location_size(
        &self,
        table: &B::TableKey,
        location: &B::LocationKey,
    ) -> Result<u64> {
        let context = self.context(table).at(location);
        self.guarded(
            &context,
            "table_location_size",
            self.backend.table_location_size(table, location),
        )
        .await
    }

    /// `column_values`, checked: the row count within `min_rows..=max_rows`, the type and
    /// nullability of `field`.
    #[allow(clippy::too_many_arguments)] // one per coordinate of the value range asked for
    pub(crate) async fn column_values(
        &self,
        table: &B::TableKey,
        location: &B::LocationKey,
        field: &Field,
        offset: u64,
        min_rows: usize,
        max_rows: usize,
    ) -> Result<ArrayRef> {
        let context = self.context(table).at(location).column(field.name());
        let operation = "column_values";
        let values = self
            .guarded(
                &context,
                operation,
                self.backend.column_values(
                    table,
                    location,
                    field.name(),
                    offset,
                    min_rows,
                    max_rows,
                ),
            )
            .await?;
        if values.len() < min_rows || values.len() > max_rows {
            return Err(contract(
                &context,
                operation,
                format!(
                    "asked for rows {offset}.. ({min_rows} to {max_rows} rows), got {} rows",
                    values.len()
                ),
            ));
        }
        if values.data_type() != field.data_type() {
            return Err(contract(
                &context,
                operation,
                format!(
                    "values have type {}, the schema says {}",
                    values.data_type(),
                    field.data_type()
                ),
            ));
        }
        if !field.is_nullable() && values.null_count() > 0 {
            return Err(contract(
                &context,
                operation,
                format!(
                    "{} null values in a non-nullable column",
                    values.null_count()
                ),
            ));
        }
        Ok(values)
    }
}

pub(crate) fn contract(context: &Context, operation: &'static str, problem: String) -> TdsError {
    TdsError::Contract {
        context: Box::new(context.clone()),
        operation,
        problem,
    }
}

/// Checks that `values` is one row in `partitioning` (columns matched by name, in the
/// partitioning schema's order on return), or absent when the table has no partitioning columns.
pub(crate) fn check_partition_values(
    context: &Context,
    operation: &'static str,
    partitioning: Option<&SchemaRef>,
    values: Option<RecordBatch>,
) -> Result<Option<RecordBatch>> {
    let Some(partitioning) = partitioning.filter(|schema| !schema.fields().is_empty()) else {
        return match values {
            Some(batch) if batch.num_columns() > 0 => Err(contract(
                context,
                operation,
                format!(
                    "partition values [{}] for a table without partitioning columns",
                    batch.schema()
                ),
            )),
            _ => Ok(None),
        };
    };
    let Some(values) = values else {
        return Err(contract(
            context,
            operation,
            format!("no partition values; the partitioning schema is [{partitioning}]"),
        ));
    };
    if values.num_rows() != 1 {
        return Err(contract(
            context,
            operation,
            format!(
                "partition values must be one row, got {} rows",
                values.num_rows()
            ),
        ));
    }
    if values.num_columns() != partitioning.fields().len() {
        return Err(contract(
            context,
            operation,
            format!(
                "partition values have columns [{}], the partitioning schema is [{partitioning}]",
                values.schema()
            ),
        ));
    }
    let mut columns = Vec::with_capacity(partitioning.fields().len());
    for field in partitioning.fields() {
        let column = values.column_by_name(field.name()).ok_or_else(|| {
            contract(
                &context.column(field.name()),
                operation,
                "the partition values lack this partitioning column".into(),
            )
        })?;
        if column.data_type() != field.data_type() {
            return Err(contract(
                &context.column(field.name()),
                operation,
                format!(
                    "the partition value has type {}, the partitioning schema says {}",
                    column.data_type(),
                    field.data_type()
                ),
            ));
        }
        if !field.is_nullable() && column.null_count() > 0 {
            return Err(contract(
                &context.column(field.name()),
                operation,
                "a null partition value for a non-nullable partitioning column".into(),
            ));
        }
        columns.push(column.clone());
    }
    let schema = Arc::new(Schema::new(partitioning.fields().clone()));
    RecordBatch::try_new(schema, columns)
        .map(Some)
        .map_err(|error| contract(context, operation, error.to_string()))
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".into());
    format!("the backend panicked: {text}")
}
