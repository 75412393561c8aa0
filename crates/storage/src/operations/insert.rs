//! Insert: appending rows under fresh row keys, rebased on a rival's commit when it loses the
//! race, with the size-tiered compaction that an insert may do in its own version.

use arrow_array::{RecordBatch, UInt64Array};
use serde::Serialize;
use tracing::{debug, info, warn};

use crate::align::align_batch;
use crate::error::{Result, StorageError};
use crate::format::manifest::{DataFileEntry, Operation, TableManifest, column_id, public_schema};
use crate::options::CatalogOptions;
use crate::table::Table;

/// How many times an append that lost a commit race is rebuilt on the winner.
const APPEND_RETRIES: usize = 16;

impl Table {
    /// Appends rows; they get fresh row keys. Returns the new version (the current one if
    /// `batch` is empty). Columns are matched by name; nullable columns may be omitted.
    ///
    /// # Errors
    ///
    /// [`StorageError::ReadOnly`], [`StorageError::InvalidArgument`] for a batch that does not
    /// fit the schema, [`StorageError::VersionConflict`] if a rival dropped a column being
    /// inserted into (other rivals are retried on automatically).
    pub async fn insert(&self, batch: &RecordBatch) -> Result<u64> {
        self.writable("insert")?;
        let mut base = self.current();
        let aligned = align_batch(self.path(), &base.manifest.schema, batch)?;
        let n = aligned.num_rows() as u64;
        if n == 0 {
            return Ok(base.version());
        }
        let ids: Vec<u32> = aligned
            .schema()
            .fields()
            .iter()
            .filter_map(|f| column_id(f))
            .collect();
        for attempt in 0..APPEND_RETRIES {
            let schema = &base.manifest.schema;
            if let Some(missing) = ids
                .iter()
                .find(|id| !schema.fields().iter().any(|f| column_id(f) == Some(**id)))
            {
                debug!(
                    column_id = missing,
                    "a rival dropped a column being inserted into"
                );
                return Err(StorageError::VersionConflict {
                    table: self.path().to_owned(),
                    attempted: base.version() + 1,
                    current: base.version(),
                });
            }
            let first = base.manifest.next_row_key;
            let keys = UInt64Array::from_iter_values(first..first + n);
            let options = self.options();
            let entries = self
                .store
                .write_rows(&keys, &aligned, options.file_limits())
                .await?;
            let mut m = Self::next_manifest(&base, Operation::Insert { rows: n });
            m.next_row_key = first + n;
            m.row_count += n;
            m.rows_added = n;
            self.auto_compact(&mut m, &entries, options).await;
            m.files.extend(entries);
            if let Some(v) = self.try_commit(&base, m).await? {
                return Ok(v);
            }
            debug!(table = %self.path(), attempt, "append lost the race; rebasing on the winner");
            base = self.store.load_latest().await?;
            self.set_current(base.clone());
        }
        Err(StorageError::VersionConflict {
            table: self.path().to_owned(),
            attempted: base.version() + 1,
            current: base.version(),
        })
    }

    /// Appends rows given as serde values (structs or maps keyed by column name), converted
    /// through the table's Arrow schema. JSON-marked columns accept any JSON value.
    ///
    /// # Errors
    ///
    /// As [`Table::insert`], plus [`StorageError::InvalidArgument`] for rows that do not fit.
    pub async fn insert_rows<T: Serialize>(&self, rows: &[T]) -> Result<u64> {
        self.writable("insert")?;
        let schema = public_schema(&self.current().manifest.schema);
        let batch = crate::rows::rows_to_batch(self.path(), &schema, rows)?;
        self.insert(&batch).await
    }

    /// The automatic compaction of an insert (best effort: a failure is logged and the insert
    /// commits without it). If `m`'s files plus the `new` ones hold more than
    /// `max_small_files` small files, the smallest of `m`'s small files are merged, so that
    /// an eighth of `max_small_files` small files remain (size-tiered: big merged files are left
    /// alone until they are among the smallest, so a row is rewritten a logarithmic number of
    /// times). Same version: the insert's one conditional create commits both.
    pub(crate) async fn auto_compact(
        &self,
        m: &mut TableManifest,
        new: &[DataFileEntry],
        options: &CatalogOptions,
    ) {
        let small_bytes = options.small_file_bytes;
        let is_small = |f: &DataFileEntry| f.live_bytes() < small_bytes;
        let mut small: Vec<usize> = (0..m.files.len())
            .filter(|i| is_small(&m.files[*i]))
            .collect();
        let total = small.len() + new.iter().filter(|f| is_small(f)).count();
        if total <= options.max_small_files || small.len() < 2 {
            return;
        }
        let keep = (options.max_small_files / 8).max(1);
        let merge = (total + 1).saturating_sub(keep).clamp(2, small.len());
        small.sort_by_key(|i| (m.files[*i].live_bytes(), *i));
        small.truncate(merge);
        small.sort_unstable();
        let mut compacted = m.clone();
        match self.merge_files(&mut compacted, &small, options).await {
            Ok(written) => {
                info!(table = %self.path(), version = m.version, files_rewritten = small.len(), files_written = written, "insert compacts small files");
                *m = compacted;
            }
            Err(error) => {
                warn!(table = %self.path(), version = m.version, %error, "compaction skipped; the insert commits without it");
            }
        }
    }
}
