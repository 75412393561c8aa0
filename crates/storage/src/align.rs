//! Fitting a caller's rows to a table's stored schema, through the table model's one routine
//! ([`tableshare_core::fit_batch`]): columns matched by name, missing nullable columns filled
//! with nulls, types and nullability checked. The engine never casts: a caller who wants values
//! converted (a file's text columns, say) fits with casting first, as
//! [`crate::import::read_file`] does.

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use tableshare_core::{CastMode, FitOptions, fit_batch, fit_column};

use crate::error::{Result, StorageError};

/// How the engine fits inserted rows: exact types, missing nullable columns filled.
const INSERT: FitOptions = FitOptions::new(CastMode::None, true);

/// Checks a column of new values against a table field (exact type, nullability).
pub(crate) fn check_values(table: &str, target: &Field, column: &ArrayRef) -> Result<()> {
    fit_column(target, column, CastMode::None)
        .map(drop)
        .map_err(|source| StorageError::RowsDoNotFit {
            table: table.to_owned(),
            source,
        })
}

/// Shapes a caller's batch to the table schema (fields with column ids), by column name.
pub(crate) fn align_batch(
    table: &str,
    schema: &Schema,
    batch: &RecordBatch,
) -> Result<RecordBatch> {
    fit_batch(&std::sync::Arc::new(schema.clone()), batch, &INSERT).map_err(|source| {
        StorageError::RowsDoNotFit {
            table: table.to_owned(),
            source,
        }
    })
}
