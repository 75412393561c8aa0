//! Publish and push: a local table's versions go to its cloud table, files first (only those
//! the cloud lacks), then each manifest, signed, by one conditional create in version order. A
//! cloud table that moved on without us is a non-fast-forward error; nothing is overwritten.

use futures::{StreamExt, TryStreamExt};
use tableshare_storage::Table;
use tableshare_storage::format::{CreateOutcome, TableManifest, seal};
use tableshare_uri::CloudUri;

use crate::error::{Result, TransportError};
use crate::keys::OrgKeys;
use crate::layout::{Access, CloudTable, ShareInfo};
use crate::progress::{ProgressEvent, TransferReport};
use crate::state::{self, LocalShare};
use crate::transport::{Transport, parse_cloud};
use crate::versions::{
    Known, Moved, ObjectRef, PutVersion, create_version, objects_of, prepare_version,
    put_signature, read_version, upload,
};
use crate::window::{WINDOW_BYTES, windows};

impl Transport {
    /// Publishes the local table `local` at `uri` (`pxt://ORG/dir.table`, no version) with its
    /// full version history, and returns the canonical address. The local table remembers it,
    /// so [`Transport::push`] sends later versions. An interrupted publish is completed by
    /// running it again (before its first version landed) or `push` (after).
    ///
    /// # Errors
    ///
    /// [`TransportError::KeyRequired`] before anything is touched when no key is configured;
    /// [`TransportError::AccessDenied`] if the key is not the org's;
    /// [`TransportError::AlreadyExists`] if another table is published at `uri`;
    /// [`TransportError::WrongState`] for a replica or a table published elsewhere.
    pub async fn publish(&self, local: &str, uri: &str, access: Access) -> Result<CloudUri> {
        let uri = parse_cloud(uri)?;
        let keys = self.require_keys("publish", uri.org())?;
        if uri.version().is_some() {
            return Err(TransportError::WrongState {
                table: local.to_owned(),
                reason: format!("publish takes an address without a version, not {uri}"),
            });
        }
        let table = self.catalog().open_table(local).await?;
        if table.is_read_only() {
            return Err(TransportError::WrongState {
                table: local.to_owned(),
                reason: "a replica or snapshot cannot be published (create an independent \
                         copy with `table create --source`)"
                    .into(),
            });
        }
        let address = uri.clone().with_version(None).to_string();
        if let Some(share) = state::read(self.catalog(), table.id()).await?
            && share.address != address
        {
            return Err(TransportError::WrongState {
                table: local.to_owned(),
                reason: format!("already published as {}", share.address),
            });
        }
        self.check_owner(&uri, &keys).await?;
        let ct = self.cloud_table(&uri)?;
        self.claim(&ct, &table, access).await?;
        let share = LocalShare {
            address: address.clone(),
            access,
            public_key: keys.public_hex(),
        };
        state::write(self.catalog(), table.id(), &share).await?;
        self.push_table(&table, &ct, &keys, access).await?;
        Ok(uri.clone().with_version(None))
    }

    /// Creates `_share.json`, or accepts it if an earlier run of this publish created it.
    async fn claim(&self, ct: &CloudTable, table: &Table, access: Access) -> Result<()> {
        let info = ShareInfo {
            format: 1,
            access,
            publisher_table: table.id().to_string(),
        };
        let bytes = serde_json::to_vec(&info).map_err(|source| {
            tableshare_storage::StorageError::Serialize {
                what: "share record",
                source,
            }
        })?;
        ct.root.require_atomic_create().await?;
        let exists = || TransportError::AlreadyExists {
            what: ct.address.clone(),
        };
        match ct.root.put_create(&ct.share_path(), bytes.into()).await {
            CreateOutcome::Created => Ok(()),
            CreateOutcome::AlreadyExists | CreateOutcome::Unknown(_) => {
                match ct.share_info().await? {
                    // An earlier publish of this table stopped before its first version
                    // landed: resume. Once a version is there, `push` completes it.
                    Some(s)
                        if s.publisher_table == info.publisher_table
                            && s.access == access
                            && ct.log.latest().await?.is_none() =>
                    {
                        Ok(())
                    }
                    Some(_) => Err(exists()),
                    None => Err(TransportError::Storage(
                        tableshare_storage::StorageError::CommitOutcomeUnknown {
                            path: ct.share_path(),
                            source: object_store::Error::NotFound {
                                path: ct.share_path(),
                                source: "the share record could not be created or read".into(),
                            },
                        },
                    )),
                }
            }
        }
    }

    /// Sends the versions of the published table `local` that the cloud lacks.
    ///
    /// # Errors
    ///
    /// [`TransportError::KeyRequired`] before anything is touched when no key is configured;
    /// [`TransportError::NonFastForward`] naming both versions if the cloud holds a version the
    /// local table does not; [`TransportError::WrongState`] if the table is not published.
    pub async fn push(&self, local: &str) -> Result<TransferReport> {
        if self.config().api_key().is_none() {
            return Err(TransportError::KeyRequired {
                operation: "push",
                config: self.config().config_file_name(),
            });
        }
        let table = self.catalog().open_table(local).await?;
        let share = state::read(self.catalog(), table.id())
            .await?
            .ok_or_else(|| TransportError::WrongState {
                table: local.to_owned(),
                reason: "not published: publish it first".into(),
            })?;
        let uri = parse_cloud(&share.address)?;
        let keys = self.require_keys("push", uri.org())?;
        self.check_owner(&uri, &keys).await?;
        let ct = self.cloud_table(&uri)?;
        if ct.share_info().await?.is_none() {
            return Err(TransportError::NotFound {
                address: share.address,
            });
        }
        self.push_table(&table, &ct, &keys, share.access).await
    }

    async fn push_table(
        &self,
        table: &Table,
        ct: &CloudTable,
        keys: &OrgKeys,
        access: Access,
    ) -> Result<TransferReport> {
        let dir = table.dir();
        let log = dir.log();
        let versions = log.list_versions().await?;
        let (Some(&first), Some(&local_latest)) = (versions.first(), versions.last()) else {
            return Err(TransportError::WrongState {
                table: table.path().to_owned(),
                reason: "the table has no versions".into(),
            });
        };
        let non_ff = |remote_version| TransportError::NonFastForward {
            address: ct.address.clone(),
            table: table.path().to_owned(),
            local_version: local_latest,
            remote_version,
        };
        let start = match ct.log.latest().await? {
            None => first,
            Some(remote) if remote > local_latest => return Err(non_ff(remote)),
            Some(remote) => {
                let theirs = read_version(ct, remote, &keys.public_hex(), Some(keys), access)
                    .await?
                    .ok_or_else(|| non_ff(remote))?;
                let ours = match log.read(remote).await? {
                    Some(s) => Some(s.hash),
                    // Expired locally: the next version records its hash.
                    None => match log.read(remote + 1).await? {
                        Some(next) => {
                            let rel = log.version_path(remote + 1);
                            TableManifest::decode(&rel, &next.body, remote + 1)?.parent_hash
                        }
                        None => None,
                    },
                };
                if ours.as_deref() != Some(theirs.hash.as_str()) {
                    return Err(non_ff(remote));
                }
                remote + 1
            }
        };
        let mut report = TransferReport {
            version: start.saturating_sub(1),
            ..TransferReport::default()
        };
        let mut moved = Moved::default();
        let local_root = dir.root();
        let mut pending = Vec::new();
        for version in start..=local_latest {
            let rel = log.version_path(version);
            let sealed = log.read(version).await?.ok_or_else(|| {
                tableshare_storage::StorageError::VersionExpired {
                    table: table.path().to_owned(),
                    version,
                }
            })?;
            let manifest = TableManifest::decode(&rel, &sealed.body, version)?;
            let objects = objects_of(&ct.address, &manifest)?;
            pending.push((version, sealed, objects));
        }
        // The files of several versions go up in one parallel pass (crate::window); each
        // version is created in the cloud only after every file it names is there.
        let listed: Vec<(u64, &[ObjectRef])> = pending
            .iter()
            .map(|(version, _, objects)| (*version, objects.as_slice()))
            .collect();
        let groups = windows(&ct.address, &listed, &Known::new(), WINDOW_BYTES)?;
        for group in groups {
            let last = pending
                .get(group.versions.end.saturating_sub(1))
                .map_or(start, |(version, _, _)| *version);
            moved.add(
                upload(
                    self,
                    last,
                    local_root,
                    dir.dir(),
                    ct,
                    &group.objects,
                    keys,
                    access,
                )
                .await?,
            );
            // The window's signatures go up at once; its manifests are then created one by
            // one, in order (each a conditional create: the step that can lose a race).
            let prepared = pending
                .get(group.versions.clone())
                .unwrap_or_default()
                .iter()
                .map(|(version, sealed, _)| {
                    prepare_version(ct, *version, seal(&sealed.body), &sealed.hash, keys, access)
                })
                .collect::<Result<Vec<_>>>()?;
            futures::stream::iter(prepared.iter().map(|p| put_signature(ct, p)))
                .buffer_unordered(self.parallelism)
                .try_collect::<Vec<()>>()
                .await?;
            let mut created = None;
            for p in prepared {
                let version = p.version();
                match create_version(ct, p, keys, access).await? {
                    PutVersion::Created | PutVersion::Same => {}
                    PutVersion::Different => return Err(non_ff(version)),
                }
                created = Some(version);
                self.emit(ProgressEvent::Committed { version });
                report.versions.push(version);
                report.version = version;
            }
            if let Some(version) = created {
                ct.log.write_hint(version).await;
            }
        }
        report.files_sent = moved.files;
        report.bytes_sent = moved.bytes;
        report.files_skipped = moved.skipped;
        Ok(report)
    }
}
