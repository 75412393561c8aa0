//! Predicates of a streaming scan: `column <op> literal`.
//!
//! A predicate is used twice: to skip row groups (and whole files) whose Parquet statistics
//! prove that no row can match, before anything is fetched, and to filter the decoded rows
//! exactly. It is deliberately small (one column, one comparison, one literal; several
//! predicates on a scan are ANDed), which is what statistics can answer.
//!
//! Semantics, the same for pruning and filtering:
//!
//! - A null value never matches (as in SQL).
//! - The literal must fit the column: integer columns take integer literals that fit their
//!   type; float columns take float literals (rounded to `f32` for a Float32 column) and
//!   integer literals (converted); string columns take string literals. Anything else, and
//!   columns of other types, is [`StorageError::InvalidArgument`] when the scan starts.
//! - Values compare as Arrow's comparison kernels do: strings by bytes, floats by IEEE total
//!   order (so NaN is greater than every number and equal to itself).

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array,
    Int64Array, LargeStringArray, Scalar, StringArray, UInt8Array, UInt16Array, UInt32Array,
    UInt64Array,
};
use arrow_schema::{DataType, Schema};

use crate::error::{Result, StorageError};
use crate::format::manifest::column_id;

/// A comparison of a [`Predicate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompareOp {
    /// `column = literal`
    Eq,
    /// `column < literal`
    Lt,
    /// `column <= literal`
    LtEq,
    /// `column > literal`
    Gt,
    /// `column >= literal`
    GtEq,
}

/// The literal a [`Predicate`] compares a column with.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Literal {
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
}

impl From<i32> for Literal {
    fn from(v: i32) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<i64> for Literal {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<u32> for Literal {
    fn from(v: u32) -> Self {
        Self::UInt(u64::from(v))
    }
}

impl From<u64> for Literal {
    fn from(v: u64) -> Self {
        Self::UInt(v)
    }
}

impl From<f64> for Literal {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}

impl From<&str> for Literal {
    fn from(v: &str) -> Self {
        Self::Str(v.to_owned())
    }
}

impl From<String> for Literal {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}

/// `column <op> literal`: a filter of a streaming scan (see the module docs for semantics).
///
/// ```
/// use tableshare_storage::{CompareOp, Predicate};
///
/// let p = Predicate::gt_eq("value", 2.5);
/// assert_eq!((p.column(), p.op()), ("value", CompareOp::GtEq));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    column: String,
    op: CompareOp,
    value: Literal,
}

impl Predicate {
    /// `column <op> value`.
    pub fn new(column: impl Into<String>, op: CompareOp, value: impl Into<Literal>) -> Self {
        Self {
            column: column.into(),
            op,
            value: value.into(),
        }
    }

    /// `column = value`.
    pub fn eq(column: impl Into<String>, value: impl Into<Literal>) -> Self {
        Self::new(column, CompareOp::Eq, value)
    }

    /// `column < value`.
    pub fn lt(column: impl Into<String>, value: impl Into<Literal>) -> Self {
        Self::new(column, CompareOp::Lt, value)
    }

    /// `column <= value`.
    pub fn lt_eq(column: impl Into<String>, value: impl Into<Literal>) -> Self {
        Self::new(column, CompareOp::LtEq, value)
    }

    /// `column > value`.
    pub fn gt(column: impl Into<String>, value: impl Into<Literal>) -> Self {
        Self::new(column, CompareOp::Gt, value)
    }

    /// `column >= value`.
    pub fn gt_eq(column: impl Into<String>, value: impl Into<Literal>) -> Self {
        Self::new(column, CompareOp::GtEq, value)
    }

    /// The column's name (in the schema of the version scanned).
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The comparison.
    pub fn op(&self) -> CompareOp {
        self.op
    }

    /// The literal.
    pub fn value(&self) -> &Literal {
        &self.value
    }

    /// Resolves the column in `schema` (fields with column ids) and types the literal.
    pub(crate) fn bind(&self, table: &str, schema: &Schema) -> Result<BoundPredicate> {
        let field = schema
            .fields()
            .iter()
            .find(|f| f.name() == &self.column)
            .ok_or_else(|| {
                StorageError::invalid(table, format!("filter on unknown column {}", self.column))
            })?;
        let id = column_id(field).ok_or_else(|| {
            StorageError::invalid(table, format!("column {} has no id", self.column))
        })?;
        let value = typed_literal(field.data_type(), &self.value).ok_or_else(|| {
            StorageError::invalid(
                table,
                format!(
                    "column {} of type {} cannot be compared with {:?} (filters take integer, \
                     float and string columns and a literal that fits the column's type)",
                    self.column,
                    field.data_type(),
                    self.value
                ),
            )
        })?;
        let float = matches!(field.data_type(), DataType::Float32 | DataType::Float64);
        let nan = matches!(self.value, Literal::Float(v) if v.is_nan());
        Ok(BoundPredicate {
            column_id: id,
            data_type: field.data_type().clone(),
            op: self.op,
            scalar: Scalar::new(value),
            // Parquet statistics leave NaN out, so an upper bound says nothing about whether a
            // NaN (the greatest float in total order) is there.
            max_is_bound: !float || (!nan && !matches!(self.op, CompareOp::Gt | CompareOp::GtEq)),
        })
    }
}

/// A predicate resolved against a schema: the column's id and the literal as a one-element
/// array of the column's type.
#[derive(Debug, Clone)]
pub(crate) struct BoundPredicate {
    pub(crate) column_id: u32,
    /// The column's type (what the file must store).
    pub(crate) data_type: DataType,
    op: CompareOp,
    scalar: Scalar<ArrayRef>,
    /// Whether a row group's max statistic bounds every value the predicate can match.
    max_is_bound: bool,
}

impl BoundPredicate {
    /// Which values match (null where the value is null, which filtering treats as no match).
    pub(crate) fn evaluate(&self, values: &ArrayRef) -> Result<BooleanArray> {
        compare(values, self.op, &self.scalar)
    }

    /// For each row group, whether it may hold a match, given its min and max statistics
    /// (arrays of the column's type; null where unknown).
    pub(crate) fn may_match(&self, mins: &ArrayRef, maxes: &ArrayRef) -> Result<Vec<bool>> {
        let lower = |op| compare(mins, op, &self.scalar);
        let upper = |op| compare(maxes, op, &self.scalar);
        let checks: Vec<BooleanArray> = match self.op {
            CompareOp::Lt => vec![lower(CompareOp::Lt)?],
            CompareOp::LtEq => vec![lower(CompareOp::LtEq)?],
            CompareOp::Eq if self.max_is_bound => {
                vec![lower(CompareOp::LtEq)?, upper(CompareOp::GtEq)?]
            }
            CompareOp::Gt if self.max_is_bound => vec![upper(CompareOp::Gt)?],
            CompareOp::GtEq if self.max_is_bound => vec![upper(CompareOp::GtEq)?],
            CompareOp::Eq | CompareOp::Gt | CompareOp::GtEq => Vec::new(),
        };
        Ok((0..mins.len())
            .map(|i| checks.iter().all(|c| c.is_null(i) || c.value(i)))
            .collect())
    }
}

/// `values <op> scalar` with Arrow's comparison kernels.
fn compare(values: &ArrayRef, op: CompareOp, scalar: &Scalar<ArrayRef>) -> Result<BooleanArray> {
    use arrow_ord::cmp;
    let result = match op {
        CompareOp::Eq => cmp::eq(values, scalar),
        CompareOp::Lt => cmp::lt(values, scalar),
        CompareOp::LtEq => cmp::lt_eq(values, scalar),
        CompareOp::Gt => cmp::gt(values, scalar),
        CompareOp::GtEq => cmp::gt_eq(values, scalar),
    };
    result.map_err(StorageError::arrow(
        "comparing a column with a filter's literal",
    ))
}

/// The literal as a one-element array of `data_type`, if it fits (see the module docs).
fn typed_literal(data_type: &DataType, literal: &Literal) -> Option<ArrayRef> {
    macro_rules! integer {
        ($native:ty, $array:ty) => {
            match literal {
                Literal::Int(v) => <$native>::try_from(*v).ok(),
                Literal::UInt(v) => <$native>::try_from(*v).ok(),
                _ => None,
            }
            .map(|v| Arc::new(<$array>::from(vec![v])) as ArrayRef)
        };
    }
    let float = || match literal {
        Literal::Float(v) => Some(*v),
        Literal::Int(v) => Some(*v as f64),
        Literal::UInt(v) => Some(*v as f64),
        Literal::Str(_) => None,
    };
    let text = || match literal {
        Literal::Str(s) => Some(s.as_str()),
        _ => None,
    };
    match data_type {
        DataType::Int8 => integer!(i8, Int8Array),
        DataType::Int16 => integer!(i16, Int16Array),
        DataType::Int32 => integer!(i32, Int32Array),
        DataType::Int64 => integer!(i64, Int64Array),
        DataType::UInt8 => integer!(u8, UInt8Array),
        DataType::UInt16 => integer!(u16, UInt16Array),
        DataType::UInt32 => integer!(u32, UInt32Array),
        DataType::UInt64 => integer!(u64, UInt64Array),
        DataType::Float32 => {
            float().map(|v| Arc::new(Float32Array::from(vec![v as f32])) as ArrayRef)
        }
        DataType::Float64 => float().map(|v| Arc::new(Float64Array::from(vec![v])) as ArrayRef),
        DataType::Utf8 => text().map(|s| Arc::new(StringArray::from(vec![s])) as ArrayRef),
        DataType::LargeUtf8 => {
            text().map(|s| Arc::new(LargeStringArray::from(vec![s])) as ArrayRef)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use arrow_schema::Field;

    use super::*;
    use crate::format::manifest::with_column_id;

    fn schema() -> Schema {
        Schema::new(vec![
            with_column_id(&Field::new("i", DataType::Int32, true), 0),
            with_column_id(&Field::new("u", DataType::UInt8, true), 1),
            with_column_id(&Field::new("f", DataType::Float64, true), 2),
            with_column_id(&Field::new("s", DataType::Utf8, true), 3),
            with_column_id(&Field::new("b", DataType::Boolean, true), 4),
        ])
    }

    // Guards binding: literals must fit the column's type, unknown columns and unsupported
    // types are refused up front.
    #[test]
    fn binding_checks_types() {
        let cases: Vec<(Predicate, bool)> = vec![
            (Predicate::eq("i", 5), true),
            (Predicate::eq("i", 5_000_000_000_i64), false),
            (Predicate::eq("i", 1.5), false),
            (Predicate::eq("u", -1), false),
            (Predicate::eq("u", 255_u32), true),
            (Predicate::lt("f", 3), true),
            (Predicate::lt("f", 3.5), true),
            (Predicate::gt("s", "m"), true),
            (Predicate::gt("s", 1), false),
            (Predicate::eq("b", 1), false),
            (Predicate::eq("missing", 1), false),
        ];
        for (p, ok) in cases {
            assert_eq!(p.bind("t", &schema()).is_ok(), ok, "{p:?}");
        }
    }

    // Guards the two uses of a predicate: exact row filtering (nulls never match) and row group
    // pruning by min/max (unknown statistics never prune; float maxima do not bound NaN).
    #[test]
    fn evaluate_and_prune() {
        let values: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), None, Some(5), Some(9)]));
        let mins: ArrayRef = Arc::new(Int32Array::from(vec![Some(0), Some(6), None]));
        let maxes: ArrayRef = Arc::new(Int32Array::from(vec![Some(4), Some(9), None]));
        type Case = (Predicate, Vec<Option<bool>>, Vec<bool>);
        let cases: Vec<Case> = vec![
            (
                Predicate::eq("i", 5),
                vec![Some(false), None, Some(true), Some(false)],
                vec![false, false, true],
            ),
            (
                Predicate::lt("i", 5),
                vec![Some(true), None, Some(false), Some(false)],
                vec![true, false, true],
            ),
            (
                Predicate::lt_eq("i", 5),
                vec![Some(true), None, Some(true), Some(false)],
                vec![true, false, true],
            ),
            (
                Predicate::gt("i", 5),
                vec![Some(false), None, Some(false), Some(true)],
                vec![false, true, true],
            ),
            (
                Predicate::gt_eq("i", 9),
                vec![Some(false), None, Some(false), Some(true)],
                vec![false, true, true],
            ),
        ];
        for (p, rows, groups) in cases {
            let bound = p.bind("t", &schema()).unwrap();
            let got: Vec<Option<bool>> = bound.evaluate(&values).unwrap().iter().collect();
            assert_eq!(got, rows, "{p:?}");
            assert_eq!(bound.may_match(&mins, &maxes).unwrap(), groups, "{p:?}");
        }
        let fmins: ArrayRef = Arc::new(Float64Array::from(vec![0.0]));
        let fmaxes: ArrayRef = Arc::new(Float64Array::from(vec![1.0]));
        let nan_safe = Predicate::gt("f", 2.0).bind("t", &schema()).unwrap();
        assert_eq!(nan_safe.may_match(&fmins, &fmaxes).unwrap(), vec![true]);
        let below = Predicate::lt("f", -1.0).bind("t", &schema()).unwrap();
        assert_eq!(below.may_match(&fmins, &fmaxes).unwrap(), vec![false]);
    }
}
