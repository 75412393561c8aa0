//! Fitting a caller's batch to a table schema: columns matched by name, missing nullable
//! columns filled with nulls, types and nullability checked.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, new_null_array};
use arrow_schema::{Field, Schema};

use crate::error::{Result, StorageError};

/// Checks a column of values against a table field.
pub(crate) fn check_values(table: &str, target: &Field, column: &ArrayRef) -> Result<()> {
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
pub(crate) fn align_batch(
    table: &str,
    schema: &Schema,
    batch: &RecordBatch,
) -> Result<RecordBatch> {
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
