//! The read and write machinery of one table directory, below the public [`crate::Table`]
//! handle: loading verified manifests, reading data files and deletion vectors, computing the
//! live rows of a version, and the key-level difference between two versions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use tableshare_core::RowSet;
use tracing::debug;

use crate::datafile::{DecodedRows, EncodedFile, decode_data_file, decode_dv, encode_dv};
use crate::error::{Result, StorageError};
use crate::io::StoreRoot;
use crate::log::{CommitOutcome, VersionLog};
use crate::manifest::{DataFileEntry, DeletionVectorEntry, TableManifest};

/// A verified manifest and the BLAKE3 of its body.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub(crate) manifest: Arc<TableManifest>,
    pub(crate) hash: String,
}

impl Loaded {
    pub(crate) fn version(&self) -> u64 {
        self.manifest.version
    }
}

/// Live rows of one version: keys ascending and the matching rows.
#[derive(Debug, Clone)]
pub(crate) struct Rows {
    pub(crate) keys: Vec<u64>,
    pub(crate) batch: RecordBatch,
}

/// The key-level difference between two versions.
#[derive(Debug, Default)]
pub(crate) struct KeyDiff {
    pub(crate) removed: RowSet,
    pub(crate) added: RowSet,
    pub(crate) modified: RowSet,
}

/// One table directory (`tables/<uuid>`) in a store root.
#[derive(Debug, Clone)]
pub(crate) struct TableStore {
    pub(crate) root: StoreRoot,
    pub(crate) dir: String,
    pub(crate) log: VersionLog,
    /// The table's catalog path, for error messages.
    pub(crate) name: String,
}

impl TableStore {
    pub(crate) fn new(root: StoreRoot, dir: String, name: String) -> Self {
        let log = VersionLog::new(root.clone(), dir.clone());
        Self {
            root,
            dir,
            log,
            name,
        }
    }

    pub(crate) fn rel(&self, file: &str) -> String {
        format!("{}/{file}", self.dir)
    }

    /// Loads and verifies version `version`; says whether a missing one expired or never was.
    pub(crate) async fn load(&self, version: u64) -> Result<Loaded> {
        match self.log.read(version).await? {
            Some(sealed) => {
                let rel = self.log.version_path(version);
                let manifest = TableManifest::decode(&rel, &sealed.body, version)?;
                Ok(Loaded {
                    manifest: Arc::new(manifest),
                    hash: sealed.hash,
                })
            }
            None => {
                let latest = self.log.latest().await?;
                match latest {
                    Some(latest) if version < latest => Err(StorageError::VersionExpired {
                        table: self.name.clone(),
                        version,
                    }),
                    Some(latest) => Err(StorageError::VersionNotFound {
                        table: self.name.clone(),
                        version,
                        latest,
                    }),
                    None => Err(StorageError::NotFound {
                        path: self.name.clone(),
                    }),
                }
            }
        }
    }

    /// Loads the latest version (bounded number of requests, see [`VersionLog::latest`]).
    pub(crate) async fn load_latest(&self) -> Result<Loaded> {
        let latest = self
            .log
            .latest()
            .await?
            .ok_or_else(|| StorageError::NotFound {
                path: self.name.clone(),
            })?;
        self.load(latest).await
    }

    /// Loads the parent of `child` and checks it against the hash `child` recorded.
    pub(crate) async fn load_parent(&self, child: &Loaded) -> Result<Option<Loaded>> {
        let Some(parent_version) = child.manifest.parent_version else {
            return Ok(None);
        };
        let parent = self.load(parent_version).await?;
        if child.manifest.parent_hash.as_deref() != Some(parent.hash.as_str()) {
            return Err(StorageError::corrupt(
                self.log.version_path(parent_version),
                crate::error::CorruptReason::Inconsistent(
                    "manifest hash differs from the one its child recorded",
                ),
            ));
        }
        Ok(Some(parent))
    }

    /// Commits a manifest; returns the outcome and the BLAKE3 of its body.
    pub(crate) async fn commit(&self, manifest: &TableManifest) -> Result<(CommitOutcome, String)> {
        let body = manifest.encode()?;
        let outcome = self
            .log
            .commit(manifest.version, &body, &manifest.txn_id)
            .await?;
        Ok((outcome, crate::io::blake3_hex(&body)))
    }

    pub(crate) async fn put_file(&self, file: &EncodedFile) -> Result<()> {
        self.root
            .put_content(
                &self.rel(&file.entry.path),
                file.bytes.clone(),
                &file.entry.blake3,
            )
            .await
    }

    /// Writes a deletion vector and returns its entry.
    pub(crate) async fn put_dv(&self, set: &RowSet) -> Result<DeletionVectorEntry> {
        let (bytes, entry) = encode_dv(&self.name, set)?;
        self.root
            .put_content(&self.rel(&entry.path), bytes, &entry.blake3)
            .await?;
        Ok(entry)
    }

    /// Reads one data file (verified) shaped to `schema`, all rows including deleted ones.
    pub(crate) async fn read_file(
        &self,
        entry: &DataFileEntry,
        schema: &SchemaRef,
    ) -> Result<DecodedRows> {
        let rel = self.rel(&entry.path);
        let bytes = self
            .root
            .get_verified(&rel, entry.size, &entry.blake3)
            .await?;
        decode_data_file(&rel, bytes, entry, schema)
    }

    /// Reads a file's deletion vector (empty if none).
    pub(crate) async fn read_dv(&self, entry: &DataFileEntry) -> Result<RowSet> {
        match &entry.deletion_vector {
            None => Ok(RowSet::new()),
            Some(dv) => {
                let rel = self.rel(&dv.path);
                let bytes = self.root.get_verified(&rel, dv.size, &dv.blake3).await?;
                decode_dv(&rel, &bytes, dv)
            }
        }
    }

    /// All keys stored in a file (known from the manifest for dense files).
    pub(crate) async fn file_keys(
        &self,
        entry: &DataFileEntry,
        schema: &SchemaRef,
    ) -> Result<RowSet> {
        if entry.keys_are_dense() {
            return Ok(RowSet::from_range(
                entry.key_min..entry.key_max.saturating_add(1),
            ));
        }
        let rows = self.read_file(entry, schema).await?;
        Ok(rows.keys.into_iter().collect())
    }

    /// Keys of a file that are live at the version the entry belongs to.
    pub(crate) async fn live_keys(
        &self,
        entry: &DataFileEntry,
        schema: &SchemaRef,
    ) -> Result<RowSet> {
        let mut keys = self.file_keys(entry, schema).await?;
        keys.difference_with(&self.read_dv(entry).await?);
        Ok(keys)
    }

    /// Live rows of the given files, restricted to `only` if given, sorted by key.
    pub(crate) async fn read_rows<'a>(
        &self,
        files: impl IntoIterator<Item = &'a DataFileEntry>,
        schema: &SchemaRef,
        only: Option<&RowSet>,
    ) -> Result<Rows> {
        let mut parts: Vec<(Vec<u64>, RecordBatch)> = Vec::new();
        for entry in files {
            if let Some(only) = only {
                let range = RowSet::from_range(entry.key_min..entry.key_max.saturating_add(1));
                if only.is_disjoint(&range) {
                    continue;
                }
            }
            let rows = self.read_file(entry, schema).await?;
            let dv = self.read_dv(entry).await?;
            let mut keep = Vec::new();
            let mut keys = Vec::new();
            for (i, k) in rows.keys.iter().enumerate() {
                if !dv.contains(*k) && only.is_none_or(|o| o.contains(*k)) {
                    keep.push(i as u32);
                    keys.push(*k);
                }
            }
            if keys.is_empty() {
                continue;
            }
            let batch = if keys.len() == rows.keys.len() {
                rows.batch
            } else {
                take_rows(&rows.batch, &keep)?
            };
            parts.push((keys, batch));
        }
        concat_sorted(schema, parts)
    }

    /// Live rows of a whole version.
    pub(crate) async fn scan(&self, loaded: &Loaded) -> Result<Rows> {
        let schema = loaded.manifest.schema_ref();
        self.read_rows(&loaded.manifest.files, &schema, None).await
    }

    /// The key-level difference from version `a` to version `b`, reading only the files and
    /// deletion vectors that differ between the two manifests.
    pub(crate) async fn diff_keys(
        &self,
        a: &TableManifest,
        b: &TableManifest,
    ) -> Result<(KeyDiff, Vec<DataFileEntry>)> {
        let schema_a = Arc::new(a.schema.clone());
        let schema_b = Arc::new(b.schema.clone());
        let in_a: HashMap<&str, &DataFileEntry> =
            a.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let in_b: HashMap<&str, &DataFileEntry> =
            b.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let mut gone = RowSet::new();
        let mut appeared = RowSet::new();
        // Files of b the added/modified values must be read from.
        let mut sources = Vec::new();
        for fa in &a.files {
            match in_b.get(fa.path.as_str()) {
                None => gone.union_with(&self.live_keys(fa, &schema_a).await?),
                Some(fb) => {
                    if fa.deletion_vector != fb.deletion_vector {
                        let dva = self.read_dv(fa).await?;
                        let dvb = self.read_dv(fb).await?;
                        gone.union_with(&dvb.difference(&dva));
                        let back = dva.difference(&dvb);
                        if !back.is_empty() {
                            appeared.union_with(&back);
                            sources.push((*fb).clone());
                        }
                    }
                }
            }
        }
        for fb in &b.files {
            if !in_a.contains_key(fb.path.as_str()) {
                appeared.union_with(&self.live_keys(fb, &schema_b).await?);
                sources.push(fb.clone());
            }
        }
        let modified = gone.intersection(&appeared);
        let removed = gone.difference(&modified);
        let added = appeared.difference(&modified);
        debug!(table = %self.name, from = a.version, to = b.version, removed = removed.len(), added = added.len(), modified = modified.len(), "diff");
        Ok((
            KeyDiff {
                removed,
                added,
                modified,
            },
            sources,
        ))
    }
}

/// The same columns under another schema of the same types (e.g. without column ids).
pub(crate) fn relabel(batch: RecordBatch, schema: SchemaRef) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    RecordBatch::try_new_with_options(
        schema,
        batch.columns().to_vec(),
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(StorageError::arrow("relabelling a batch"))
}

/// Takes rows of a batch by index.
pub(crate) fn take_rows(batch: &RecordBatch, indices: &[u32]) -> Result<RecordBatch> {
    let idx = UInt32Array::from(indices.to_vec());
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &idx, None))
        .collect::<std::result::Result<_, _>>()
        .map_err(StorageError::arrow("selecting rows"))?;
    RecordBatch::try_new_with_options(
        batch.schema(),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(indices.len())),
    )
    .map_err(StorageError::arrow("selecting rows"))
}

/// Concatenates (keys, rows) parts and sorts the result by key.
pub(crate) fn concat_sorted(
    schema: &SchemaRef,
    parts: Vec<(Vec<u64>, RecordBatch)>,
) -> Result<Rows> {
    let keys: Vec<u64> = parts.iter().flat_map(|(k, _)| k.iter().copied()).collect();
    let batches: Vec<RecordBatch> = parts.into_iter().map(|(_, b)| b).collect();
    let batch = if batches.is_empty() {
        RecordBatch::new_empty(Arc::clone(schema))
    } else {
        arrow_select::concat::concat_batches(schema, &batches)
            .map_err(StorageError::arrow("concatenating rows"))?
    };
    if keys.windows(2).all(|w| w[0] < w[1]) {
        return Ok(Rows { keys, batch });
    }
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    order.sort_unstable_by_key(|&i| keys[i as usize]);
    let sorted_keys: Vec<u64> = order.iter().map(|&i| keys[i as usize]).collect();
    let batch = take_rows(&batch, &order)?;
    Ok(Rows {
        keys: sorted_keys,
        batch,
    })
}

/// Groups `keys` by the file (index into `files`) that holds them live, reading key sets as
/// needed. Keys found in no file are returned separately.
pub(crate) async fn locate_keys(
    store: &TableStore,
    files: &[DataFileEntry],
    schema: &SchemaRef,
    keys: &RowSet,
) -> Result<(BTreeMap<usize, RowSet>, RowSet)> {
    let mut found = BTreeMap::new();
    let mut rest = keys.clone();
    for (i, f) in files.iter().enumerate() {
        if rest.is_empty() {
            break;
        }
        let range = RowSet::from_range(f.key_min..f.key_max.saturating_add(1));
        if rest.is_disjoint(&range) {
            continue;
        }
        let live = store.live_keys(f, schema).await?;
        let here = rest.intersection(&live);
        if !here.is_empty() {
            rest.difference_with(&here);
            found.insert(i, here);
        }
    }
    Ok((found, rest))
}
