//! Translating DataFusion filters into the storage engine's scan [`Predicate`]s.
//!
//! A stored scan skips files and row groups whose statistics prove that no row can match a
//! predicate (docs/format.md). Only the simple shape statistics can answer is translated:
//! `column <op> literal` (or `literal <op> column`) with `=`, `<`, `<=`, `>`, `>=`, on a column
//! whose type the predicate supports with a literal of the same kind. Everything else is left to
//! DataFusion, which re-applies every filter storage does not answer exactly, so a translation may
//! only ever prune rows that the full filter would also reject. A filter whose every part
//! translates with a literal of its column's own type is answered by storage exactly (`exact`),
//! and DataFusion does not evaluate it a second time.

use arrow_schema::{DataType, Schema};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use tableshare_storage::{CompareOp, Literal, Predicate};

/// The storage predicates implied by `filter` (its `AND`ed parts that translate); a row that
/// fails any of them fails `filter`.
pub(crate) fn predicates(filter: &Expr, schema: &Schema) -> Vec<Predicate> {
    datafusion::logical_expr::utils::split_conjunction(filter)
        .into_iter()
        .filter_map(|part| translate(part, schema))
        .collect()
}

/// Whether storage alone answers `filter` exactly, so DataFusion need not re-apply it: every
/// `AND`ed part translates, each with a literal of exactly its column's type (no widening or
/// rounding between them). Storage then keeps a row only where every comparison is true, with
/// the arrow comparison kernels DataFusion's own filter uses (a null compares as not true;
/// floats in IEEE total order), so both keep the same rows.
pub(crate) fn exact(filter: &Expr, schema: &Schema) -> bool {
    datafusion::logical_expr::utils::split_conjunction(filter)
        .into_iter()
        .all(|part| {
            comparison(part).is_some_and(|(column, value, _)| {
                schema.field_with_name(&column.name).is_ok_and(|f| {
                    *f.data_type() == value.data_type()
                        && literal_for(f.data_type(), value).is_some()
                })
            })
        })
}

/// `expr` as one storage predicate, if it has the supported shape.
pub(crate) fn translate(expr: &Expr, schema: &Schema) -> Option<Predicate> {
    let (column, value, op) = comparison(expr)?;
    let field = schema.field_with_name(&column.name).ok()?;
    let literal = literal_for(field.data_type(), value)?;
    Some(Predicate::new(column.name.clone(), op, literal))
}

/// `expr` as `column op literal` (a `literal op column` flipped), if it has that shape.
fn comparison(expr: &Expr) -> Option<(&Column, &ScalarValue, CompareOp)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), Expr::Literal(v, _)) => Some((c, v, compare_op(*op)?)),
        (Expr::Literal(v, _), Expr::Column(c)) => Some((c, v, flipped(compare_op(*op)?))),
        _ => None,
    }
}

fn compare_op(op: Operator) -> Option<CompareOp> {
    Some(match op {
        Operator::Eq => CompareOp::Eq,
        Operator::Lt => CompareOp::Lt,
        Operator::LtEq => CompareOp::LtEq,
        Operator::Gt => CompareOp::Gt,
        Operator::GtEq => CompareOp::GtEq,
        _ => return None,
    })
}

/// `literal op column` as `column op' literal`.
fn flipped(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::LtEq => CompareOp::GtEq,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::GtEq => CompareOp::LtEq,
        other => other,
    }
}

/// The literal for a column of type `column`, only when storage compares them exactly as SQL
/// would: integers with integers, floats with floats, strings with strings. A null literal
/// never translates (SQL's comparison with null is never true; DataFusion folds it away).
fn literal_for(column: &DataType, value: &ScalarValue) -> Option<Literal> {
    use DataType as T;
    use ScalarValue as V;
    let integer_column = matches!(
        column,
        T::Int8 | T::Int16 | T::Int32 | T::Int64 | T::UInt8 | T::UInt16 | T::UInt32 | T::UInt64
    );
    match value {
        V::Int8(Some(v)) if integer_column => Some(Literal::Int(i64::from(*v))),
        V::Int16(Some(v)) if integer_column => Some(Literal::Int(i64::from(*v))),
        V::Int32(Some(v)) if integer_column => Some(Literal::Int(i64::from(*v))),
        V::Int64(Some(v)) if integer_column => Some(Literal::Int(*v)),
        V::UInt8(Some(v)) if integer_column => Some(Literal::UInt(u64::from(*v))),
        V::UInt16(Some(v)) if integer_column => Some(Literal::UInt(u64::from(*v))),
        V::UInt32(Some(v)) if integer_column => Some(Literal::UInt(u64::from(*v))),
        V::UInt64(Some(v)) if integer_column => Some(Literal::UInt(*v)),
        // Float32 literals only for Float32 columns: storage rounds a literal to the column.
        // Never a zero: storage compares floats in IEEE total order, where -0.0 < 0.0, but
        // DataFusion holds -0.0 = 0.0, so `value >= 0.0` would drop its -0.0 rows (and prune
        // row groups on them). Total order agrees with DataFusion for every other literal.
        V::Float32(Some(v)) if matches!(column, T::Float32) && *v != 0.0 => {
            Some(Literal::Float(f64::from(*v)))
        }
        V::Float64(Some(v)) if matches!(column, T::Float64) && *v != 0.0 => {
            Some(Literal::Float(*v))
        }
        V::Utf8(Some(v)) | V::LargeUtf8(Some(v)) | V::Utf8View(Some(v))
            if matches!(column, T::Utf8 | T::LargeUtf8) =>
        {
            Some(Literal::Str(v.clone()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::Field;
    use datafusion::logical_expr::{col, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("value", DataType::Float64, true),
            Field::new("day", DataType::Date32, true),
        ])
    }

    fn check(expr: Expr, expected: Option<Predicate>) {
        assert_eq!(translate(&expr, &schema()), expected, "{expr}");
    }

    // Guards what reaches storage's pruning: only shapes and types it compares exactly as SQL.
    #[test]
    fn translates_only_exact_shapes() {
        check(
            col("id").gt_eq(lit(5i64)),
            Some(Predicate::gt_eq("id", 5i64)),
        );
        check(lit(5i64).lt(col("id")), Some(Predicate::gt("id", 5i64)));
        check(col("name").eq(lit("b")), Some(Predicate::eq("name", "b")));
        check(
            col("value").lt(lit(2.5f64)),
            Some(Predicate::lt("value", 2.5)),
        );
        // Not translated: other operators, other types, expressions, nulls.
        check(col("id").not_eq(lit(5i64)), None);
        check(col("value").lt(lit(2i64)), None);
        check(col("id").lt(lit(2.5f64)), None);
        // A float zero: storage's total order has -0.0 < 0.0, SQL has them equal.
        check(col("value").gt_eq(lit(0.0f64)), None);
        check(col("value").lt(lit(-0.0f64)), None);
        check(col("day").lt(lit(ScalarValue::Date32(Some(3)))), None);
        check((col("id") + lit(1i64)).gt(lit(5i64)), None);
        check(col("id").gt(lit(ScalarValue::Int64(None))), None);
        let both = col("id")
            .gt(lit(1i64))
            .and(col("name").eq(lit("x")).or(col("id").eq(lit(0i64))));
        assert_eq!(
            predicates(&both, &schema()),
            vec![Predicate::gt("id", 1i64)]
        );
    }
}
