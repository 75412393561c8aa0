//! Update: replacing values of selected rows under the same row keys (new files for the
//! rewritten rows, deletion vectors for the old ones).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array, UInt64Array};
use tableshare_core::RowSet;

use crate::align::check_values;
use crate::commit::{Built, Footprint};
use crate::error::{Result, StorageError};
use crate::format::manifest::Operation;
use crate::format::table_dir::Loaded;
use crate::read::locate_keys;
use crate::table::{Selection, Table};

impl Table {
    /// Resolves a selection to live keys at `base`.
    pub(crate) async fn resolve(&self, base: &Loaded, selection: &Selection) -> Result<RowSet> {
        match selection {
            Selection::Keys(keys) => Ok(keys.clone()),
            Selection::Mask(mask) => {
                let rows = self.store.scan(base).await?;
                if mask.len() != rows.keys.len() {
                    return Err(StorageError::invalid(
                        self.path(),
                        format!(
                            "mask has {} entries but version {} has {} rows",
                            mask.len(),
                            base.version(),
                            rows.keys.len()
                        ),
                    ));
                }
                Ok(rows
                    .keys
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask.is_valid(*i) && mask.value(*i))
                    .map(|(_, k)| *k)
                    .collect())
            }
        }
    }

    /// Replaces values of selected rows. `values` holds the changed columns (by name) with one
    /// row per selected row in ascending key order, or a single row applied to all of them.
    /// Row keys stay the same. Returns the new version.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::RowsDoNotFit`] (unknown column, wrong
    /// type), [`StorageError::InvalidArgument`] (wrong row count, a key that is not live), [`StorageError::RowConflict`] if a rival
    /// committed since the handle's version removed or changed one of the rows, and
    /// [`StorageError::VersionConflict`] if a rival changed the schema (other rivals are
    /// rebased onto).
    pub async fn update(&self, selection: &Selection, values: &RecordBatch) -> Result<u64> {
        self.writable("update")?;
        let base = self.current();
        let keys = self.resolve(&base, selection).await?;
        if keys.is_empty() {
            return Ok(base.version());
        }
        let schema = base.manifest.schema_ref();
        // Which columns change, and their positions in the table schema.
        let mut changes: Vec<(usize, ArrayRef)> = Vec::new();
        let mut names = Vec::new();
        for (field, column) in values.schema().fields().iter().zip(values.columns()) {
            let (i, target) = schema.column_with_name(field.name()).ok_or_else(|| {
                StorageError::invalid(self.path(), format!("unknown column {}", field.name()))
            })?;
            check_values(self.path(), target, column)?;
            changes.push((i, Arc::clone(column)));
            names.push(field.name().clone());
        }
        let n = keys.len() as usize;
        if values.num_rows() != n && values.num_rows() != 1 {
            return Err(StorageError::invalid(
                self.path(),
                format!("{} value rows for {n} selected rows", values.num_rows()),
            ));
        }
        let by_file = self.locate_live(&base, &keys).await?;
        let files: Vec<_> = by_file
            .keys()
            .map(|i| base.manifest.files[*i].clone())
            .collect();
        let old = self.store.read_rows(&files, &schema, Some(&keys)).await?;
        let mut columns: Vec<ArrayRef> = old.batch.columns().to_vec();
        for (i, values) in changes {
            columns[i] = if values.len() == n {
                values
            } else {
                let idx = UInt32Array::from(vec![0u32; n]);
                arrow_select::take::take(values.as_ref(), &idx, None)
                    .map_err(StorageError::arrow("broadcasting values"))?
            };
        }
        let new_batch = RecordBatch::try_new(Arc::clone(&schema), columns)
            .map_err(StorageError::arrow("update"))?;
        let keys_set = keys;
        let keys = UInt64Array::from(old.keys);
        let written = self
            .store
            .write_rows(&keys, &new_batch, self.options().file_limits())
            .await?;
        let footprint = Footprint::Rows {
            keys: keys_set.clone(),
            schema_sensitive: true,
        };
        let first_version = base.version();
        let by_file = &by_file;
        let keys_set = &keys_set;
        let names = &names;
        let written = &written;
        self.commit_change(&footprint, |b: Loaded| {
            Box::pin(async move {
                let b = &b;
                let by_file = self.located_on(b, first_version, by_file, keys_set).await?;
                let mut m = Self::next_manifest(
                    b,
                    Operation::Update {
                        rows: n as u64,
                        columns: names.clone(),
                    },
                );
                self.apply_deletions(&mut m, &by_file).await?;
                m.files.extend(written.iter().cloned());
                m.rows_updated = n as u64;
                Ok(Built::Commit(Box::new(m)))
            })
        })
        .await
    }

    /// The files holding `keys` on `base`: `found` (computed on version `found_at`) when that
    /// is `base`, else located again (a rival that did not conflict may have moved them, e.g. by
    /// a compaction).
    pub(crate) async fn located_on(
        &self,
        base: &Loaded,
        found_at: u64,
        found: &BTreeMap<usize, RowSet>,
        keys: &RowSet,
    ) -> Result<BTreeMap<usize, RowSet>> {
        if base.version() == found_at {
            Ok(found.clone())
        } else {
            self.locate_live(base, keys).await
        }
    }

    /// Groups `keys` by the index of the file of `base` that holds them; a key that is not
    /// live at `base` is an error naming it.
    pub(crate) async fn locate_live(
        &self,
        base: &Loaded,
        keys: &RowSet,
    ) -> Result<BTreeMap<usize, RowSet>> {
        let schema = base.manifest.schema_ref();
        let (by_file, missing) =
            locate_keys(&self.store, &base.manifest.files, &schema, keys).await?;
        if let Some(k) = missing.min() {
            return Err(StorageError::invalid(
                self.path(),
                format!("row key {k} is not live at version {}", base.version()),
            ));
        }
        Ok(by_file)
    }
}
