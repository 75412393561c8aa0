//! Row-keyed wrappers around the arrow-select kernels.
//!
//! Everything that moves row values in this crate (applying an update, coalescing two updates,
//! overlaying a column change) comes down to a few shapes: drop the rows whose keys are in a set
//! (`filter`), merge two key-sorted row sets into one (`interleave`, or `concat` when one simply
//! follows the other), and overwrite some rows of a column with new values (`interleave` over
//! the old column and the new values). The work per row is computing index vectors from sorted
//! `u64` keys; the values themselves are only ever moved by Arrow kernels, never one boxed
//! scalar at a time.
//!
//! These helpers keep batches with zero columns correct (their row count lives in
//! `RecordBatchOptions`, which the record-batch conveniences of arrow-select drop), because a
//! projection to no columns is a legitimate way to follow only which keys exist.

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow_schema::{Field, SchemaRef};
use arrow_select::concat::concat;
use arrow_select::filter::{FilterBuilder, FilterPredicate};
use arrow_select::interleave::interleave;

use crate::error::{CoreError, Result};
use crate::row_set::{RowKey, RowSet};

/// Values of one column labelled by ascending row keys (the shape of a column change).
pub(crate) type KeyedValues = (Vec<RowKey>, ArrayRef);

/// A batch of `schema` from `columns` that holds `rows` rows (also when there are no columns).
pub(crate) fn batch_with_rows(
    schema: SchemaRef,
    columns: Vec<ArrayRef>,
    rows: usize,
) -> Result<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema, columns, &options)
        .map_err(CoreError::arrow("assembling a batch"))
}

/// Checks that `values` may be stored in a column described by `field`: the very same type and
/// no nulls in a non-nullable column.
///
/// Types must be equal, nested field names and nullability included, not merely
/// [`equals_datatype`](arrow_schema::DataType::equals_datatype): the kernels that merge rows of
/// two arrays (`interleave`, `concat`) require identical types, and a column whose nested field
/// is named differently from its schema's would fail the next update instead of this one.
pub(crate) fn check_column(field: &Field, values: &dyn Array) -> Result<()> {
    if values.data_type() != field.data_type() {
        return Err(CoreError::ColumnTypeMismatch {
            column: field.name().clone(),
            expected: field.data_type().clone(),
            found: values.data_type().clone(),
        });
    }
    let nulls = values.logical_null_count();
    if !field.is_nullable() && nulls > 0 {
        return Err(CoreError::NullInNonNullableColumn {
            column: field.name().clone(),
            nulls,
        });
    }
    Ok(())
}

/// `batch` re-expressed with `schema`: columns matched by name and put in `schema`'s order, each
/// checked with [`check_column`]; no casts, no filling ([`crate::fit_batch`] with the default,
/// exact options). Returns the batch itself when it already carries `schema`.
pub(crate) fn conform_batch(schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    crate::fit::fit_batch(schema, batch, &crate::fit::FitOptions::default())
}

/// The rows of `keys`/`batch` whose keys are not in `drop`. Shares the input when nothing is
/// dropped.
pub(crate) fn drop_rows(
    keys: &[RowKey],
    batch: &RecordBatch,
    drop: &RowSet,
) -> Result<(Vec<RowKey>, RecordBatch)> {
    let keep: Vec<bool> = keys.iter().map(|key| !drop.contains(*key)).collect();
    if keep.iter().all(|kept| *kept) {
        return Ok((keys.to_vec(), batch.clone()));
    }
    let kept_keys = keys
        .iter()
        .zip(&keep)
        .filter(|(_, kept)| **kept)
        .map(|(k, _)| *k)
        .collect();
    let predicate = predicate(keep);
    let columns = batch
        .columns()
        .iter()
        .map(|column| predicate.filter(column))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(CoreError::arrow("dropping rows"))?;
    let batch = batch_with_rows(batch.schema(), columns, predicate.count())?;
    Ok((kept_keys, batch))
}

/// Splits a column change (ascending `keys` with `values`) by whether each key is in `set`:
/// `(inside, outside)`, each as keys and values.
pub(crate) fn split_values(
    keys: &[RowKey],
    values: &ArrayRef,
    set: &RowSet,
) -> Result<(KeyedValues, KeyedValues)> {
    let inside: Vec<bool> = keys.iter().map(|key| set.contains(*key)).collect();
    let count = inside.iter().filter(|inside| **inside).count();
    if count == 0 {
        return Ok((
            (Vec::new(), values.slice(0, 0)),
            (keys.to_vec(), values.clone()),
        ));
    }
    if count == keys.len() {
        return Ok((
            (keys.to_vec(), values.clone()),
            (Vec::new(), values.slice(0, 0)),
        ));
    }
    let pick = |want: bool| -> Result<KeyedValues> {
        let picked_keys = keys
            .iter()
            .zip(&inside)
            .filter(|(_, i)| **i == want)
            .map(|(k, _)| *k)
            .collect();
        let mask = predicate(inside.iter().map(|i| *i == want).collect());
        let picked = mask
            .filter(values)
            .map_err(CoreError::arrow("splitting a column change"))?;
        Ok((picked_keys, picked))
    };
    Ok((pick(true)?, pick(false)?))
}

/// The values of a column change restricted to keys not in `drop`.
pub(crate) fn drop_values(
    keys: &[RowKey],
    values: &ArrayRef,
    drop: &RowSet,
) -> Result<KeyedValues> {
    let (_, outside) = split_values(keys, values, drop)?;
    Ok(outside)
}

fn predicate(mask: Vec<bool>) -> FilterPredicate {
    FilterBuilder::new(&BooleanArray::from(mask))
        .optimize()
        .build()
}

/// How to merge two key-sorted row sets with disjoint keys.
pub(crate) enum Merge {
    /// Every key of the second follows every key of the first: concatenate.
    Concat,
    /// Rows drawn by `(input, row)` pairs, in key order.
    Interleave(Vec<(usize, usize)>),
}

/// Merges ascending `left` and `right` (disjoint) into ascending keys, with the plan for moving
/// their rows accordingly.
pub(crate) fn merge_keys(left: &[RowKey], right: &[RowKey]) -> (Vec<RowKey>, Merge) {
    match (left.last(), right.first()) {
        (None, _) | (_, None) => return ([left, right].concat(), Merge::Concat),
        (Some(last), Some(first)) if last < first => {
            return ([left, right].concat(), Merge::Concat);
        }
        _ => {}
    }
    let mut keys = Vec::with_capacity(left.len() + right.len());
    let mut plan = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (0, 0);
    while l < left.len() || r < right.len() {
        let take_left = match (left.get(l), right.get(r)) {
            (Some(a), Some(b)) => a < b,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if take_left {
            keys.push(left[l]);
            plan.push((0, l));
            l += 1;
        } else {
            keys.push(right[r]);
            plan.push((1, r));
            r += 1;
        }
    }
    (keys, Merge::Interleave(plan))
}

/// Moves the rows of two batches with the same schema according to `plan`.
pub(crate) fn merge_batches(
    left: &RecordBatch,
    right: &RecordBatch,
    plan: &Merge,
) -> Result<RecordBatch> {
    let rows = left.num_rows() + right.num_rows();
    let columns = left
        .columns()
        .iter()
        .zip(right.columns())
        .map(|(l, r)| merge_columns(l, r, plan))
        .collect::<Result<Vec<_>>>()?;
    batch_with_rows(left.schema(), columns, rows)
}

/// Moves the values of two arrays of the same type according to `plan`.
pub(crate) fn merge_columns(left: &ArrayRef, right: &ArrayRef, plan: &Merge) -> Result<ArrayRef> {
    match plan {
        Merge::Concat if right.is_empty() => Ok(left.clone()),
        Merge::Concat if left.is_empty() => Ok(right.clone()),
        Merge::Concat => {
            concat(&[left.as_ref(), right.as_ref()]).map_err(CoreError::arrow("concatenating rows"))
        }
        Merge::Interleave(indices) => interleave(&[left.as_ref(), right.as_ref()], indices)
            .map_err(CoreError::arrow("merging rows by key")),
    }
}

/// Merges two column changes of the same column (ascending keys each, possibly overlapping);
/// where both have a key, `later` wins.
pub(crate) fn merge_later_wins(
    earlier: (&[RowKey], &ArrayRef),
    later: (&[RowKey], &ArrayRef),
) -> Result<KeyedValues> {
    let ((left, left_values), (right, right_values)) = (earlier, later);
    let mut keys = Vec::with_capacity(left.len() + right.len());
    let mut plan = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (0, 0);
    while l < left.len() || r < right.len() {
        match (left.get(l), right.get(r)) {
            (Some(a), Some(b)) if a == b => {
                keys.push(*b);
                plan.push((1, r));
                l += 1;
                r += 1;
            }
            (Some(a), Some(b)) if a < b => {
                keys.push(*a);
                plan.push((0, l));
                l += 1;
            }
            (Some(a), None) => {
                keys.push(*a);
                plan.push((0, l));
                l += 1;
            }
            (_, Some(b)) => {
                keys.push(*b);
                plan.push((1, r));
                r += 1;
            }
            (None, None) => break,
        }
    }
    let values = merge_columns(left_values, right_values, &Merge::Interleave(plan))?;
    Ok((keys, values))
}

/// `column` (whose rows are labelled by ascending `column_keys`) with the rows of `change_keys`
/// (ascending, a subset of `column_keys`) replaced by `values`.
pub(crate) fn overlay(
    column: &ArrayRef,
    column_keys: &[RowKey],
    change_keys: &[RowKey],
    values: &ArrayRef,
) -> Result<ArrayRef> {
    if change_keys.is_empty() {
        return Ok(column.clone());
    }
    if change_keys == column_keys {
        // Every row changes.
        return Ok(values.clone());
    }
    let mut plan: Vec<(usize, usize)> = (0..column_keys.len()).map(|row| (0, row)).collect();
    let mut row = 0;
    for (index, key) in change_keys.iter().enumerate() {
        while column_keys.get(row).is_some_and(|k| k < key) {
            row += 1;
        }
        match column_keys.get(row) {
            Some(k) if k == key => plan[row] = (1, index),
            _ => return Err(CoreError::KeyNotPresent { key: *key }),
        }
    }
    interleave(&[column.as_ref(), values.as_ref()], &plan)
        .map_err(CoreError::arrow("overlaying changed values"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::Int64Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    use super::*;

    fn ints(values: &[i64]) -> ArrayRef {
        Arc::new(Int64Array::from(values.to_vec()))
    }

    fn values(array: &ArrayRef) -> Vec<i64> {
        array.as_primitive::<Int64Type>().values().to_vec()
    }

    /// Merges two key/value lists (values equal to keys times ten, to see where they came from)
    /// and compares the merged keys and values.
    fn check(left: &[RowKey], right: &[RowKey], expected_keys: &[RowKey]) {
        let tag = |keys: &[RowKey], by: i64| {
            ints(&keys.iter().map(|k| *k as i64 * 10 + by).collect::<Vec<_>>())
        };
        let (keys, plan) = merge_keys(left, right);
        assert_eq!(keys, expected_keys);
        let merged = merge_columns(&tag(left, 0), &tag(right, 1), &plan).unwrap();
        let expected: Vec<i64> = expected_keys
            .iter()
            .map(|k| *k as i64 * 10 + i64::from(right.contains(k)))
            .collect();
        assert_eq!(values(&merged), expected);
    }

    #[test]
    fn merging_sorted_keys() {
        check(&[], &[], &[]);
        check(&[1, 2], &[], &[1, 2]);
        check(&[], &[1, 2], &[1, 2]);
        check(&[1, 2], &[5, 6], &[1, 2, 5, 6]);
        check(&[5, 6], &[1, 2], &[1, 2, 5, 6]);
        check(&[1, 4, 9], &[2, 3, 10], &[1, 2, 3, 4, 9, 10]);
    }

    #[test]
    fn later_wins() {
        let check = |earlier: &[RowKey], later: &[RowKey], expected: &[(RowKey, i64)]| {
            let tag = |keys: &[RowKey], by: i64| {
                ints(&keys.iter().map(|k| *k as i64 * 10 + by).collect::<Vec<_>>())
            };
            let (earlier_values, later_values) = (tag(earlier, 0), tag(later, 1));
            let (keys, merged) =
                merge_later_wins((earlier, &earlier_values), (later, &later_values)).unwrap();
            let got: Vec<(RowKey, i64)> = keys.into_iter().zip(values(&merged)).collect();
            assert_eq!(got, expected);
        };
        check(&[1, 2], &[2, 3], &[(1, 10), (2, 21), (3, 31)]);
        check(&[], &[2], &[(2, 21)]);
        check(&[4], &[], &[(4, 40)]);
    }

    #[test]
    fn overlay_replaces_rows_by_key() {
        let column = ints(&[10, 20, 30, 40]);
        let got = overlay(&column, &[1, 2, 3, 4], &[2, 4], &ints(&[-2, -4])).unwrap();
        assert_eq!(values(&got), [10, -2, 30, -4]);
        let error = overlay(&column, &[1, 2, 3, 4], &[5], &ints(&[0])).unwrap_err();
        assert!(matches!(error, CoreError::KeyNotPresent { key: 5 }));
    }

    #[test]
    fn zero_column_batches_keep_their_row_count() {
        let schema = Arc::new(arrow_schema::Schema::empty());
        let batch = batch_with_rows(schema.clone(), vec![], 3).unwrap();
        let (keys, kept) = drop_rows(&[1, 2, 3], &batch, &[2].into_iter().collect()).unwrap();
        assert_eq!((keys, kept.num_rows()), (vec![1, 3], 2));
        let (_, plan) = merge_keys(&[1, 3], &[2]);
        let other = batch_with_rows(schema, vec![], 1).unwrap();
        assert_eq!(merge_batches(&kept, &other, &plan).unwrap().num_rows(), 3);
    }
}
