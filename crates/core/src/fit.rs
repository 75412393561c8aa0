//! Fitting a batch to a table's schema: the one routine every layer uses to turn rows someone
//! handed over (a caller's batch, a file's contents, an update's added rows) into rows with
//! exactly the table's columns, order and types.
//!
//! Before this module the rule lived three times (the model's own check, the storage engine's
//! insert, the CLI's file reader), and the copies drifted. The rule:
//!
//! * columns are matched **by name**; the output has the schema's columns in the schema's order;
//! * a column the schema does not have is an error naming it ([`CoreError::UnknownColumn`]);
//! * a schema column the batch lacks is filled with nulls if it is nullable and
//!   [`FitOptions::fill_missing_nullable`] allows it, and is an error otherwise
//!   ([`CoreError::MissingColumn`]);
//! * a column of another type is cast when [`FitOptions::cast`] is [`CastMode::Safe`], with
//!   Arrow's checked casts: a value that does not fit is an error naming the column
//!   ([`CoreError::CastFailed`]), never a silent null. With [`CastMode::None`] it is
//!   [`CoreError::ColumnTypeMismatch`];
//! * nulls in a non-nullable column are an error ([`CoreError::NullInNonNullableColumn`]).

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, new_null_array};
use arrow_cast::{CastOptions, can_cast_types, cast_with_options};
use arrow_schema::{ArrowError, Field, SchemaRef};

use crate::error::{CoreError, Result};
use crate::kernels::{batch_with_rows, check_column};

/// Whether [`fit_batch`] converts columns whose type differs from the schema's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CastMode {
    /// Types must already be equal (nested field names and nullability included).
    #[default]
    None,
    /// Arrow's checked casts (`CastOptions { safe: false }`): a value that does not fit the
    /// target type is an error, never a null. Arrow's conversion rules apply otherwise (a
    /// float cast to an integer is truncated toward zero; text is parsed).
    Safe,
}

/// How lenient [`fit_batch`] is. The default is exact: no casts, no filling.
///
/// ```
/// use tableshare_core::{CastMode, FitOptions};
///
/// let strict = FitOptions::default();
/// assert_eq!((strict.cast, strict.fill_missing_nullable), (CastMode::None, false));
/// let lenient = FitOptions::new(CastMode::Safe, true);
/// assert!(lenient.fill_missing_nullable);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct FitOptions {
    /// Whether columns of another type are cast.
    pub cast: CastMode,
    /// Whether nullable schema columns the batch lacks are filled with nulls.
    pub fill_missing_nullable: bool,
}

impl FitOptions {
    /// Options with the given cast mode and filling rule.
    pub const fn new(cast: CastMode, fill_missing_nullable: bool) -> Self {
        Self {
            cast,
            fill_missing_nullable,
        }
    }
}

/// `batch` re-expressed with exactly `schema`, by the rules in the module docs. Returns the batch
/// itself (cheaply cloned) when it already carries `schema`. The row count is kept, also for a
/// schema with no columns.
///
/// # Errors
///
/// [`CoreError::UnknownColumn`], [`CoreError::DuplicateColumn`] (the batch names a column
/// twice), [`CoreError::MissingColumn`], [`CoreError::ColumnTypeMismatch`],
/// [`CoreError::CastFailed`], [`CoreError::NullInNonNullableColumn`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
/// use arrow_schema::{DataType, Field, Schema};
/// use tableshare_core::{CastMode, CoreError, FitOptions, fit_batch};
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("name", DataType::Utf8, true),
/// ]));
/// // Text ids, no `name` column: cast and filled.
/// let batch = RecordBatch::try_from_iter([(
///     "id",
///     Arc::new(StringArray::from(vec!["1", "2"])) as _,
/// )])?;
/// let fitted = fit_batch(&schema, &batch, &FitOptions::new(CastMode::Safe, true))?;
/// assert_eq!(fitted.schema(), schema);
/// assert_eq!(fitted.column(0).as_ref(), &Int64Array::from(vec![1, 2]) as &dyn Array);
/// assert_eq!(fitted.column(1).null_count(), 2);
///
/// // A value that does not fit is an error naming the column, never a null.
/// let bad = RecordBatch::try_from_iter([(
///     "id",
///     Arc::new(StringArray::from(vec!["1", "two"])) as _,
/// )])?;
/// let err = fit_batch(&schema, &bad, &FitOptions::new(CastMode::Safe, true)).unwrap_err();
/// assert!(matches!(err, CoreError::CastFailed { ref column, .. } if column == "id"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fit_batch(
    schema: &SchemaRef,
    batch: &RecordBatch,
    options: &FitOptions,
) -> Result<RecordBatch> {
    if batch.schema_ref() == schema {
        return Ok(batch.clone());
    }
    let found = batch.schema_ref();
    let mut seen = HashSet::with_capacity(found.fields().len());
    for field in found.fields() {
        if schema.column_with_name(field.name()).is_none() {
            return Err(CoreError::UnknownColumn {
                column: field.name().clone(),
            });
        }
        if !seen.insert(field.name().as_str()) {
            return Err(CoreError::DuplicateColumn {
                column: field.name().clone(),
            });
        }
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| match found.column_with_name(field.name()) {
            Some((index, _)) => fit_column(field, batch.column(index), options.cast),
            None if field.is_nullable() && options.fill_missing_nullable => {
                Ok(new_null_array(field.data_type(), batch.num_rows()))
            }
            None => Err(CoreError::MissingColumn {
                column: field.name().clone(),
            }),
        })
        .collect::<Result<Vec<_>>>()?;
    batch_with_rows(Arc::clone(schema), columns, batch.num_rows())
}

/// One column fitted to `field`: cast if `cast` allows and the type differs, then checked
/// (exact type; no nulls in a non-nullable column). Storage uses it for the new values of an
/// update.
///
/// # Errors
///
/// [`CoreError::ColumnTypeMismatch`], [`CoreError::CastFailed`],
/// [`CoreError::NullInNonNullableColumn`].
pub fn fit_column(field: &Field, column: &ArrayRef, cast: CastMode) -> Result<ArrayRef> {
    let column = match cast {
        CastMode::Safe if column.data_type() != field.data_type() => cast_column(field, column)?,
        _ => Arc::clone(column),
    };
    check_column(field, column.as_ref())?;
    Ok(column)
}

fn cast_column(field: &Field, column: &ArrayRef) -> Result<ArrayRef> {
    let (from, to) = (column.data_type(), field.data_type());
    if !can_cast_types(from, to) {
        return Err(CoreError::ColumnTypeMismatch {
            column: field.name().clone(),
            expected: to.clone(),
            found: from.clone(),
        });
    }
    let failed = |source| CoreError::CastFailed {
        column: field.name().clone(),
        from: from.clone(),
        to: to.clone(),
        source: Box::new(source),
    };
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let cast = cast_with_options(column, to, &options).map_err(failed)?;
    // Checked casts report values that do not fit; this guards the promise for any cast that
    // would still turn a value into a null.
    let (before, after) = (column.logical_null_count(), cast.logical_null_count());
    if after > before {
        return Err(failed(ArrowError::CastError(format!(
            "{} values became null",
            after - before
        ))));
    }
    Ok(cast)
}

#[cfg(test)]
mod tests {
    use arrow_array::{Float64Array, Int32Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Schema};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("value", DataType::Float64, true),
        ]))
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    fn ints(values: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(Int64Array::from(values))
    }

    fn texts(values: Vec<Option<&str>>) -> ArrayRef {
        Arc::new(StringArray::from(values))
    }

    /// Fits `input` with `options`; `expected` is the fitted columns (compared as arrays, in
    /// schema order) or a predicate on the error.
    fn check(
        input: RecordBatch,
        options: FitOptions,
        expected: std::result::Result<Vec<ArrayRef>, fn(&CoreError) -> bool>,
    ) {
        match (fit_batch(&schema(), &input, &options), expected) {
            (Ok(got), Ok(columns)) => {
                assert_eq!(got.schema(), schema());
                assert_eq!(got.num_rows(), input.num_rows());
                assert_eq!(got.columns(), columns.as_slice(), "{input:?}");
            }
            (Err(err), Err(is_expected)) => assert!(is_expected(&err), "{input:?}: {err:?}"),
            (got, expected) => panic!("{input:?}: got {got:?}, expected {expected:?}"),
        }
    }

    // Guards the fitting rules every layer relies on: by name, in schema order, unknown and
    // missing columns, filling, exact types unless casting, checked casts, nullability.
    #[test]
    fn fitting_rules() {
        let exact = FitOptions::default();
        let fill = FitOptions::new(CastMode::None, true);
        let lenient = FitOptions::new(CastMode::Safe, true);
        let null_values = || Arc::new(Float64Array::from(vec![None, None])) as ArrayRef;
        let full = || {
            batch(vec![
                (
                    "value",
                    Arc::new(Float64Array::from(vec![0.5, 1.5])) as ArrayRef,
                ),
                ("id", ints(vec![Some(1), Some(2)])),
                ("name", texts(vec![Some("a"), None])),
            ])
        };
        // Any order in, schema order out.
        check(
            full(),
            exact,
            Ok(vec![
                ints(vec![Some(1), Some(2)]),
                texts(vec![Some("a"), None]),
                Arc::new(Float64Array::from(vec![0.5, 1.5])),
            ]),
        );
        // Missing nullable columns: filled only when allowed.
        let only_id = || batch(vec![("id", ints(vec![Some(1), Some(2)]))]);
        check(
            only_id(),
            fill,
            Ok(vec![
                ints(vec![Some(1), Some(2)]),
                texts(vec![None, None]),
                null_values(),
            ]),
        );
        check(
            only_id(),
            exact,
            Err(|e| matches!(e, CoreError::MissingColumn { column } if column == "name")),
        );
        // A missing non-null column is an error even when filling.
        check(
            batch(vec![("name", texts(vec![Some("a")]))]),
            lenient,
            Err(|e| matches!(e, CoreError::MissingColumn { column } if column == "id")),
        );
        // Unknown columns are named.
        check(
            batch(vec![
                ("id", ints(vec![Some(1)])),
                ("colour", texts(vec![Some("red")])),
            ]),
            lenient,
            Err(|e| matches!(e, CoreError::UnknownColumn { column } if column == "colour")),
        );
        // Other types: refused without casting, cast with it.
        let small = || {
            batch(vec![(
                "id",
                Arc::new(Int32Array::from(vec![7, 8])) as ArrayRef,
            )])
        };
        check(
            small(),
            fill,
            Err(|e| matches!(e, CoreError::ColumnTypeMismatch { column, .. } if column == "id")),
        );
        check(
            small(),
            lenient,
            Ok(vec![
                ints(vec![Some(7), Some(8)]),
                texts(vec![None, None]),
                null_values(),
            ]),
        );
        check(
            batch(vec![("id", texts(vec![Some("3"), Some("4")]))]),
            lenient,
            Ok(vec![
                ints(vec![Some(3), Some(4)]),
                texts(vec![None, None]),
                null_values(),
            ]),
        );
        // A value that does not fit is an error, not a null.
        check(
            batch(vec![("id", texts(vec![Some("3"), Some("x")]))]),
            lenient,
            Err(|e| matches!(e, CoreError::CastFailed { column, .. } if column == "id")),
        );
        check(
            batch(vec![(
                "id",
                Arc::new(Float64Array::from(vec![1e30])) as ArrayRef,
            )]),
            lenient,
            Err(|e| matches!(e, CoreError::CastFailed { column, .. } if column == "id")),
        );
        // No cast exists between the types.
        check(
            batch(vec![(
                "id",
                Arc::new(arrow_array::ListArray::new_null(
                    Arc::new(Field::new("item", DataType::Int64, true)),
                    1,
                )) as ArrayRef,
            )]),
            lenient,
            Err(|e| matches!(e, CoreError::ColumnTypeMismatch { .. })),
        );
        // Nulls in a non-null column.
        check(
            batch(vec![("id", ints(vec![Some(1), None]))]),
            lenient,
            Err(
                |e| matches!(e, CoreError::NullInNonNullableColumn { column, nulls: 1 } if column == "id"),
            ),
        );
    }

    // Guards that a batch naming a column twice is refused rather than half read.
    #[test]
    fn duplicate_columns_are_refused() {
        let fields = vec![
            Field::new("id", DataType::Int64, false),
            Field::new("id", DataType::Int64, false),
        ];
        let input = RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            vec![ints(vec![Some(1)]), ints(vec![Some(2)])],
        )
        .unwrap();
        let err = fit_batch(&schema(), &input, &FitOptions::new(CastMode::Safe, true)).unwrap_err();
        assert!(matches!(err, CoreError::DuplicateColumn { column } if column == "id"));
    }
}
