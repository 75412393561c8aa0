//! Replicas in the catalog: the entry that records a replica's upstream, and the writer through
//! which the transport fills it.

use bytes::Bytes;
use uuid::Uuid;

use crate::error::{Result, StorageError};
use crate::format::catalog::EntryRecord;
use crate::format::log::CommitOutcome;
use crate::format::manifest::TableManifest;

use tableshare_uri::{TablePath, UriError};

use super::{Catalog, parse_path};

/// What the catalog records about a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaInfo {
    /// The upstream address (a `pxt://` URI).
    pub upstream: String,
    /// The upstream version the replica holds, if any yet.
    pub upstream_version: Option<u64>,
    /// The replica's storage id.
    pub table_id: Uuid,
}

impl Catalog {
    /// Creates an empty replica entry at `path` recording its upstream address, and returns the
    /// writer the transport fills it through.
    ///
    /// # Errors
    ///
    /// [`StorageError::AlreadyExists`], [`StorageError::NotFound`] for a missing directory.
    pub async fn create_replica(
        &self,
        path: impl TryInto<TablePath, Error: Into<UriError>>,
        upstream: &str,
    ) -> Result<ReplicaWriter> {
        let p = parse_path(path)?;
        let table_id = Uuid::new_v4();
        let upstream = upstream.to_owned();
        self.change(format!("create_replica {p}"), |e| {
            Self::insert_new(
                e,
                &p,
                EntryRecord::Replica {
                    table_id,
                    upstream: upstream.clone(),
                    upstream_version: None,
                },
            )
        })
        .await?;
        Ok(ReplicaWriter {
            catalog: self.clone(),
            path: p.to_string(),
            table_id,
        })
    }

    /// The writer of an existing replica.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::WrongKind`].
    pub async fn replica_writer(
        &self,
        path: impl TryInto<TablePath, Error: Into<UriError>>,
    ) -> Result<ReplicaWriter> {
        let key = parse_path(path)?.to_string();
        match self.entries().await?.get(&key) {
            Some(EntryRecord::Replica { table_id, .. }) => Ok(ReplicaWriter {
                catalog: self.clone(),
                path: key,
                table_id: *table_id,
            }),
            Some(other) => Err(StorageError::WrongKind {
                path: key,
                expected: "replica",
                found: other.kind().name(),
            }),
            None => Err(StorageError::NotFound { path: key }),
        }
    }

    /// What the catalog records about the replica at `path`.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::WrongKind`].
    pub async fn replica_info(
        &self,
        path: impl TryInto<TablePath, Error: Into<UriError>>,
    ) -> Result<ReplicaInfo> {
        let key = parse_path(path)?.to_string();
        match self.entries().await?.remove(&key) {
            Some(EntryRecord::Replica {
                table_id,
                upstream,
                upstream_version,
            }) => Ok(ReplicaInfo {
                upstream,
                upstream_version,
                table_id,
            }),
            Some(other) => Err(StorageError::WrongKind {
                path: key,
                expected: "replica",
                found: other.kind().name(),
            }),
            None => Err(StorageError::NotFound { path: key }),
        }
    }
}

/// How the transport advances a replica: it copies objects into [`ReplicaWriter::table_dir`]
/// through the public format tier ([`crate::format`], same format on both sides), then commits
/// each upstream manifest here in version order with a conditional create, and records the
/// upstream version.
#[derive(Debug, Clone)]
pub struct ReplicaWriter {
    catalog: Catalog,
    path: String,
    table_id: Uuid,
}

impl ReplicaWriter {
    /// The replica's table directory, relative to the catalog root (`tables/<uuid>`).
    pub fn table_dir(&self) -> String {
        format!("tables/{}", self.table_id)
    }

    /// Commits an upstream manifest file (its exact sealed bytes, as
    /// [`crate::format::seal`] makes them) as `version`. Committing the same bytes twice
    /// succeeds; different bytes for an existing version are a
    /// [`StorageError::VersionConflict`].
    ///
    /// # Errors
    ///
    /// [`StorageError::Corrupt`] if the bytes are not a valid manifest for `version`.
    pub async fn commit_manifest(&self, version: u64, sealed: Bytes) -> Result<()> {
        let store = self.catalog.table_store(self.table_id, self.path.clone());
        let rel = store.log.version_path(version);
        let s = crate::format::log::unseal(&rel, &sealed)?;
        let m = TableManifest::decode(&rel, &s.body, version)?;
        match store.log.commit(version, &s.body, &m.txn_id).await? {
            CommitOutcome::Committed => Ok(()),
            CommitOutcome::Lost => {
                let current = store.log.latest().await?.unwrap_or(version);
                Err(StorageError::VersionConflict {
                    table: self.path.clone(),
                    attempted: version,
                    current,
                })
            }
        }
    }

    /// Records the upstream version the replica now holds.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] if the replica was dropped.
    pub async fn set_upstream_version(&self, version: u64) -> Result<()> {
        let key = self.path.clone();
        let id = self.table_id;
        self.catalog
            .change(
                format!("set_upstream_version {key} {version}"),
                |e| match e.get_mut(&key) {
                    Some(EntryRecord::Replica {
                        table_id,
                        upstream_version,
                        ..
                    }) if *table_id == id => {
                        *upstream_version = Some(version);
                        Ok(())
                    }
                    _ => Err(StorageError::NotFound { path: key.clone() }),
                },
            )
            .await?;
        Ok(())
    }
}
