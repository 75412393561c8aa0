//! The exact difference between two versions of a table: which keys were removed, added or
//! merely moved between files, and which columns of the moved rows really changed. Reads only
//! the files and deletion vectors that differ between the two manifests.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, UInt64Array};
use arrow_schema::{DataType, SortOptions};
use tableshare_core::{AddedRows, ColumnChange, RowSet, TableUpdate};
use tracing::debug;

use crate::error::{CorruptReason, Result, StorageError};
use crate::format::manifest::{DataFileEntry, Operation, TableManifest, public_schema};
use crate::format::table_dir::{Loaded, TableDir};
use crate::read::{Rows, take_rows};

/// The key-level difference between two versions.
#[derive(Debug, Default)]
pub(crate) struct KeyDiff {
    pub(crate) removed: RowSet,
    pub(crate) added: RowSet,
    /// Keys live at both versions but stored differently (in another file, or deleted from one
    /// file and stored again in another): updated rows, and rows a compaction merely moved.
    /// [`TableDir::value_changes`] tells them apart.
    pub(crate) moved: RowSet,
}

/// What [`TableDir::diff_keys`] found, and where the values of the differing rows live.
#[derive(Debug, Default)]
pub(crate) struct DiffPlan {
    pub(crate) keys: KeyDiff,
    /// Files of the newer side holding its values of added and moved keys.
    pub(crate) new_files: Vec<DataFileEntry>,
    /// Files of the older side that held moved keys (entries as at the older side).
    pub(crate) old_files: Vec<DataFileEntry>,
}

/// The new values of one column of rows whose value in that column changed.
#[derive(Debug)]
pub(crate) struct ColumnValues {
    /// Position of the column in the newer side's schema.
    pub(crate) column: usize,
    /// Keys of the changed rows, ascending.
    pub(crate) keys: Vec<u64>,
    /// Their new values, in key order.
    pub(crate) values: ArrayRef,
}

/// The rows (and per row the columns) whose values differ between two versions.
#[derive(Debug, Default)]
pub(crate) struct ValueChanges {
    /// Keys with at least one changed column.
    pub(crate) keys: RowSet,
    pub(crate) columns: Vec<ColumnValues>,
}

impl TableDir {
    /// The key-level difference from version `a` to version `b`, reading only the files and
    /// deletion vectors that differ between the two manifests.
    pub(crate) async fn diff_keys(&self, a: &TableManifest, b: &TableManifest) -> Result<DiffPlan> {
        let schema_a = Arc::new(a.schema.clone());
        let schema_b = Arc::new(b.schema.clone());
        let in_a: HashMap<&str, &DataFileEntry> =
            a.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let in_b: HashMap<&str, &DataFileEntry> =
            b.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let mut gone = RowSet::new();
        let mut appeared = RowSet::new();
        let mut new_files = Vec::new();
        // Files of a whose keys vanished from them, with the keys that vanished.
        let mut old_candidates: Vec<(DataFileEntry, RowSet)> = Vec::new();
        for fa in &a.files {
            match in_b.get(fa.path.as_str()) {
                None => {
                    let keys = self.live_keys(fa, &schema_a).await?;
                    gone.union_with(&keys);
                    old_candidates.push((fa.clone(), keys));
                }
                Some(fb) => {
                    if fa.deletion_vector != fb.deletion_vector {
                        let dva = self.read_dv(fa).await?;
                        let dvb = self.read_dv(fb).await?;
                        let deleted = dvb.difference(&dva);
                        gone.union_with(&deleted);
                        old_candidates.push((fa.clone(), deleted));
                        let back = dva.difference(&dvb);
                        if !back.is_empty() {
                            appeared.union_with(&back);
                            new_files.push((*fb).clone());
                        }
                    }
                }
            }
        }
        for fb in &b.files {
            if !in_a.contains_key(fb.path.as_str()) {
                appeared.union_with(&self.live_keys(fb, &schema_b).await?);
                new_files.push(fb.clone());
            }
        }
        let moved = gone.intersection(&appeared);
        let removed = gone.difference(&moved);
        let added = appeared.difference(&moved);
        let old_files = old_candidates
            .into_iter()
            .filter(|(_, keys)| !keys.is_disjoint(&moved))
            .map(|(f, _)| f)
            .collect();
        debug!(table = %self.name, from = a.version, to = b.version, removed = removed.len(), added = added.len(), moved = moved.len(), "diff");
        Ok(DiffPlan {
            keys: KeyDiff {
                removed,
                added,
                moved,
            },
            new_files,
            old_files,
        })
    }

    /// Which moved keys of `plan` changed value from `a` to `b`, per column of `b`'s schema.
    /// `new` holds `b`'s rows of exactly the moved keys (in `b`'s schema, ascending).
    ///
    /// One step `a -> a + 1` is decided by the operation: an update changed its named columns
    /// of the rows it rewrote; an insert (possibly compacting), a compaction, a delete or a schema
    /// change never changes a surviving row. Otherwise (several steps, revert) the older values
    /// are read from `plan.old_files` (only the moved keys) and compared column by column with
    /// Arrow kernels; a row that merely moved between files is not a change.
    pub(crate) async fn value_changes(
        &self,
        a: &TableManifest,
        b: &TableManifest,
        plan: &DiffPlan,
        new: &Rows,
    ) -> Result<ValueChanges> {
        let moved = &plan.keys.moved;
        if moved.is_empty() {
            return Ok(ValueChanges::default());
        }
        let one_step = b.version == a.version + 1;
        match &b.operation {
            Operation::Update { columns, .. } if one_step => {
                let mut out = ValueChanges {
                    keys: moved.clone(),
                    columns: Vec::new(),
                };
                for (i, field) in b.schema.fields().iter().enumerate() {
                    if columns.contains(field.name()) {
                        out.columns.push(ColumnValues {
                            column: i,
                            keys: new.keys.clone(),
                            values: Arc::clone(new.batch.column(i)),
                        });
                    }
                }
                return Ok(out);
            }
            Operation::Revert { .. } => {}
            _ if one_step => return Ok(ValueChanges::default()),
            _ => {}
        }
        let schema_b = Arc::new(b.schema.clone());
        let old = self
            .read_rows(&plan.old_files, &schema_b, Some(moved))
            .await?;
        if old.keys != new.keys {
            return Err(StorageError::corrupt(
                self.dir.clone(),
                CorruptReason::Inconsistent("a row live at both versions is missing from one"),
            ));
        }
        let key_array = UInt64Array::from(new.keys.clone());
        let mut out = ValueChanges::default();
        for i in 0..new.batch.num_columns() {
            let (before, after) = (old.batch.column(i), new.batch.column(i));
            let changed = changed_mask(&self.dir, before, after)?;
            if changed.true_count() == 0 {
                continue;
            }
            let filter = |array: &dyn Array| {
                arrow_select::filter::filter(array, &changed)
                    .map_err(StorageError::arrow("selecting changed values"))
            };
            let keys_array = filter(&key_array)?;
            let keys: Vec<u64> = keys_array
                .as_any()
                .downcast_ref::<UInt64Array>()
                .map(|k| k.values().to_vec())
                .unwrap_or_default();
            out.keys.union_with(&keys.iter().copied().collect());
            out.columns.push(ColumnValues {
                column: i,
                keys,
                values: filter(after.as_ref())?,
            });
        }
        debug!(table = %self.name, from = a.version, to = b.version, moved = moved.len(), changed = out.keys.len(), "compared moved rows");
        Ok(out)
    }
}

/// `true` where two equally long arrays of one type differ (nulls equal each other; floats
/// compare by total order). Flat types use the `distinct` kernel; nested ones (lists, structs)
/// a per-row comparator, which is the only per-row path.
/// `dir` names the table directory in errors.
fn changed_mask(dir: &str, before: &ArrayRef, after: &ArrayRef) -> Result<BooleanArray> {
    if before.len() != after.len() || before.data_type() != after.data_type() {
        return Err(StorageError::corrupt(
            dir,
            CorruptReason::Inconsistent(
                "a column's values differ in length or type between versions",
            ),
        ));
    }
    match before.data_type() {
        DataType::Null => Ok(BooleanArray::from(vec![false; before.len()])),
        dt if dt.is_nested() => {
            let cmp = arrow_ord::ord::make_comparator(
                before.as_ref(),
                after.as_ref(),
                SortOptions::default(),
            )
            .map_err(StorageError::arrow("comparing values"))?;
            Ok((0..before.len())
                .map(|i| Some(cmp(i, i) != std::cmp::Ordering::Equal))
                .collect())
        }
        _ => {
            arrow_ord::cmp::distinct(before, after).map_err(StorageError::arrow("comparing values"))
        }
    }
}

/// The [`TableUpdate`] from version `a` to version `b` (step `b`), in `b`'s schema, reading
/// only the files and deletion vectors that differ. Rows a compaction merely moved to another
/// file are not reported; modified rows are reported per column, only where the value changed.
pub(crate) async fn update_between(
    store: &TableDir,
    a: &Loaded,
    b: &Loaded,
) -> Result<TableUpdate> {
    let plan = store.diff_keys(&a.manifest, &b.manifest).await?;
    let schema = b.manifest.schema_ref();
    let public = public_schema(&b.manifest.schema);
    let diff = &plan.keys;
    let wanted = diff.added.union(&diff.moved);
    let rows = store
        .read_rows(&plan.new_files, &schema, Some(&wanted))
        .await?;
    let (mut added_idx, mut added_keys, mut moved_idx, mut moved_keys) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, k) in rows.keys.iter().enumerate() {
        if diff.added.contains(*k) {
            added_idx.push(i as u32);
            added_keys.push(*k);
        } else {
            moved_idx.push(i as u32);
            moved_keys.push(*k);
        }
    }
    let core_err = |source| StorageError::Core {
        context: format!(
            "diff of {} from {} to {}",
            store.name,
            a.version(),
            b.version()
        ),
        source,
    };
    let added_batch =
        crate::read::relabel(take_rows(&rows.batch, &added_idx)?, Arc::clone(&public))?;
    let added = AddedRows::new(added_keys, added_batch).map_err(core_err)?;
    let moved = Rows {
        keys: moved_keys,
        batch: take_rows(&rows.batch, &moved_idx)?,
    };
    let changes = store
        .value_changes(&a.manifest, &b.manifest, &plan, &moved)
        .await?;
    let mut modified = Vec::with_capacity(changes.columns.len());
    for c in changes.columns {
        let name = public.field(c.column).name().clone();
        modified.push(ColumnChange::new(name, c.keys, c.values).map_err(core_err)?);
    }
    TableUpdate::new(b.version(), diff.removed.clone(), added, modified).map_err(core_err)
}

#[cfg(test)]
mod tests {
    use arrow_array::types::Int32Type;
    use arrow_array::{Float64Array, Int64Array, ListArray, StringArray};

    use super::*;

    // Guards the value comparison of diffs: nulls equal nulls, NaN equals NaN (total order),
    // and nested columns compare whole values.
    #[test]
    fn changed_mask_cases() {
        fn check(before: ArrayRef, after: ArrayRef, expected: &[bool]) {
            let got = changed_mask("t", &before, &after).unwrap();
            let got: Vec<bool> = (0..got.len()).map(|i| got.value(i)).collect();
            assert_eq!(got, expected, "{before:?} vs {after:?}");
        }
        check(
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3), None])),
            Arc::new(Int64Array::from(vec![Some(1), None, Some(4), Some(0)])),
            &[false, false, true, true],
        );
        check(
            Arc::new(Float64Array::from(vec![f64::NAN, 1.0])),
            Arc::new(Float64Array::from(vec![f64::NAN, 1.5])),
            &[false, true],
        );
        check(
            Arc::new(StringArray::from(vec![Some("a"), None])),
            Arc::new(StringArray::from(vec![Some("a"), Some("b")])),
            &[false, true],
        );
        check(
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                Some(vec![Some(1), Some(2)]),
                None,
                Some(vec![Some(1)]),
            ])),
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                Some(vec![Some(1), Some(2)]),
                None,
                Some(vec![Some(1), None]),
            ])),
            &[false, false, true],
        );
        assert!(
            changed_mask(
                "t",
                &(Arc::new(Int64Array::from(vec![1])) as ArrayRef),
                &(Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef)
            )
            .is_err()
        );
    }
}
