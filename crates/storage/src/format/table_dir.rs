//! One table directory (`tables/<uuid>`) on a store root: its version log and its verified
//! objects. This is what both the local engine and the transport read and write: loading a
//! version checks the manifest's envelope and hash, the link to its parent, and every data file
//! or deletion vector read is checked against the size and BLAKE3 its manifest records.

use std::sync::Arc;
use std::time::Instant;

use tableshare_core::RowSet;

use super::datafile::{DecodedRows, EncodedFile, decode_data_file, decode_dv, encode_dv};
use super::log::{CommitOutcome, VersionLog};
use super::manifest::{DataFileEntry, DeletionVectorEntry, TableManifest};
use super::store::StoreRoot;
use crate::error::{CorruptReason, Result, StorageError};
use arrow_schema::SchemaRef;

/// A verified manifest, the BLAKE3 of its body, and when it was read.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The decoded manifest.
    pub manifest: Arc<TableManifest>,
    /// BLAKE3 of the manifest's body (what its child records as `parent_hash`).
    pub hash: String,
    /// When this manifest was read (or committed): a commit trusts a base only for a while
    /// (see `crate::commit`, "Stale bases").
    pub(crate) read_at: Instant,
}

impl Loaded {
    /// A manifest read (or committed) just now, with the hash of its body.
    pub fn new(manifest: Arc<TableManifest>, hash: String) -> Self {
        Self {
            manifest,
            hash,
            read_at: Instant::now(),
        }
    }

    /// The manifest's version.
    pub fn version(&self) -> u64 {
        self.manifest.version
    }
}

/// One table directory (`tables/<uuid>`) in a store root.
#[derive(Debug, Clone)]
pub struct TableDir {
    pub(crate) root: StoreRoot,
    pub(crate) dir: String,
    pub(crate) log: VersionLog,
    /// The table's catalog path, for error messages.
    pub(crate) name: String,
}

impl TableDir {
    /// The store root the directory is on.
    pub fn root(&self) -> &StoreRoot {
        &self.root
    }

    /// The directory, relative to the root.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// The directory's version log.
    pub fn log(&self) -> &VersionLog {
        &self.log
    }

    /// The table directory `dir` (relative to `root`, e.g. `tables/<uuid>`); `name` is what
    /// errors call the table.
    pub fn new(root: StoreRoot, dir: String, name: String) -> Self {
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
    pub async fn load(&self, version: u64) -> Result<Loaded> {
        match self.log.read(version).await? {
            Some(sealed) => {
                let rel = self.log.version_path(version);
                let manifest = TableManifest::decode(&rel, &sealed.body, version)?;
                Ok(Loaded::new(Arc::new(manifest), sealed.hash))
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
    pub async fn load_latest(&self) -> Result<Loaded> {
        let latest = self
            .log
            .latest()
            .await?
            .ok_or_else(|| StorageError::NotFound {
                path: self.name.clone(),
            })?;
        self.load_checked(latest).await
    }

    /// Loads `version` and checks the link it stands on: the hash its manifest records for its
    /// parent must be the hash of the parent's manifest (when the parent has not expired). A
    /// forked or spliced chain is [`StorageError::Corrupt`] with
    /// [`CorruptReason::ChainBroken`] naming both versions. One more GET than [`TableDir::load`].
    pub async fn load_checked(&self, version: u64) -> Result<Loaded> {
        let loaded = self.load(version).await?;
        match self.load_parent(&loaded).await {
            Ok(_) | Err(StorageError::VersionExpired { .. }) => Ok(loaded),
            Err(e) => Err(e),
        }
    }

    /// Loads the parent of `child` and checks it against the hash `child` recorded.
    pub async fn load_parent(&self, child: &Loaded) -> Result<Option<Loaded>> {
        let Some(parent_version) = child.manifest.parent_version else {
            return Ok(None);
        };
        let parent = self.load(parent_version).await?;
        if child.manifest.parent_hash.as_deref() != Some(parent.hash.as_str()) {
            return Err(StorageError::corrupt(
                self.log.version_path(child.version()),
                CorruptReason::ChainBroken {
                    version: child.version(),
                    parent: parent_version,
                },
            ));
        }
        Ok(Some(parent))
    }

    /// Commits a manifest; returns the outcome and the BLAKE3 of its body.
    pub async fn commit(&self, manifest: &TableManifest) -> Result<(CommitOutcome, String)> {
        let body = manifest.encode()?;
        let outcome = self
            .log
            .commit(manifest.version, &body, &manifest.txn_id)
            .await?;
        Ok((outcome, crate::format::store::blake3_hex(&body)))
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

    /// Copies a data file (and its deletion vector) of another version under fresh names, so a
    /// version that takes it back (revert) references only objects its base references or
    /// that were just written (see [`super::datafile::object_name`]). The bytes are verified
    /// on the way.
    pub(crate) async fn copy_fresh(&self, entry: &DataFileEntry) -> Result<DataFileEntry> {
        let mut out = entry.clone();
        let bytes = self
            .root
            .get_verified(&self.rel(&entry.path), entry.size, &entry.blake3)
            .await?;
        out.path = super::datafile::object_name(
            super::datafile::DATA_DIR,
            &entry.blake3,
            super::datafile::DATA_EXT,
        );
        self.root
            .put_content(&self.rel(&out.path), bytes, &entry.blake3)
            .await?;
        if let Some(dv) = &entry.deletion_vector {
            out.deletion_vector = Some(self.copy_dv_fresh(dv).await?);
        }
        Ok(out)
    }

    /// Copies a deletion vector under a fresh name (as [`TableDir::copy_fresh`]).
    pub(crate) async fn copy_dv_fresh(
        &self,
        dv: &DeletionVectorEntry,
    ) -> Result<DeletionVectorEntry> {
        let bytes = self
            .root
            .get_verified(&self.rel(&dv.path), dv.size, &dv.blake3)
            .await?;
        let mut out = dv.clone();
        out.path = super::datafile::object_name(
            super::datafile::DV_DIR,
            &dv.blake3,
            super::datafile::DV_EXT,
        );
        self.root
            .put_content(&self.rel(&out.path), bytes, &dv.blake3)
            .await?;
        Ok(out)
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
    pub async fn read_dv(&self, entry: &DataFileEntry) -> Result<RowSet> {
        match &entry.deletion_vector {
            None => Ok(RowSet::new()),
            Some(dv) => {
                let rel = self.rel(&dv.path);
                let bytes = self.root.get_verified(&rel, dv.size, &dv.blake3).await?;
                decode_dv(&rel, &bytes, dv)
            }
        }
    }
}
