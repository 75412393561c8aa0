//! Replicate, pull and independent copies: cloud versions come into the local catalog one at a
//! time. Each version's manifest is verified (signature against the pinned org key, envelope,
//! names, chain) before any of its files is fetched; each file is verified before it is stored;
//! only then is the version committed locally, so live readers of a replica tick version by
//! version and a failure leaves the replica at the version it had.

use tableshare_storage::format::{Sealed, StoreRoot, TableManifest, seal};
use tableshare_storage::{Catalog, ReplicaWriter, StorageError, Table};
use tableshare_uri::{CloudUri, TablePath};

use crate::error::{Result, TransportError};
use crate::keys::OrgKeys;
use crate::layout::{Access, CloudTable};
use crate::progress::{ProgressEvent, TransferReport};
use crate::state::{self, LocalShare};
use crate::transport::{Transport, parse_cloud};
use crate::versions::{
    Known, Moved, ObjectRef, check_against_known, download, known_of, objects_of, private_denied,
    read_version,
};
use crate::window::{WINDOW_BYTES, windows};

/// What a pull needs to know about its upstream.
struct Upstream {
    ct: CloudTable,
    access: Access,
    pinned: String,
    keys: Option<OrgKeys>,
}

/// One verified cloud version, ready to apply.
struct Checked {
    version: u64,
    sealed: Sealed,
    objects: Vec<ObjectRef>,
}

impl Transport {
    /// Makes a read-only replica of `uri` (`pxt://…[:version]`, latest when no version) at the
    /// local path `local`, pinning the org's public key; it records its upstream address and
    /// version. Every manifest is verified before the replica is created, so a hostile or
    /// unsigned table leaves nothing behind.
    ///
    /// # Errors
    ///
    /// [`TransportError::NotFound`], [`TransportError::AccessDenied`] for a private table
    /// without the key, [`TransportError::Unauthentic`] / [`TransportError::Hostile`] for
    /// versions that do not verify, storage errors naming a corrupt file.
    pub async fn replicate(&self, uri: &str, local: &str) -> Result<TransferReport> {
        let uri = parse_cloud(uri)?;
        let path = TablePath::parse(local)?;
        let up = self.upstream_of(&uri, None).await?;
        let latest = up
            .ct
            .log
            .latest()
            .await?
            .ok_or_else(|| TransportError::NotFound {
                address: up.ct.address.clone(),
            })?;
        let target = uri.version().unwrap_or(latest);
        if target > latest {
            return Err(StorageError::VersionNotFound {
                table: up.ct.address.clone(),
                version: target,
                latest,
            }
            .into());
        }
        let available = up.ct.log.list_versions().await?;
        let first = available
            .iter()
            .copied()
            .filter(|v| *v <= target)
            .min()
            .unwrap_or(target);
        // Verify every manifest before anything is written locally.
        let mut checked = Vec::new();
        let mut parent: Option<String> = None;
        let mut known = Known::new();
        for version in first..=target {
            let c = self
                .check_version(&up, version, parent.as_deref(), &known)
                .await?;
            parent = Some(c.sealed.hash.clone());
            known = known_of(&c.objects);
            checked.push(c);
        }
        let writer = self
            .catalog()
            .create_replica(path.clone(), &up.ct.address)
            .await?;
        let table_id = self.catalog().replica_info(path.clone()).await?.table_id;
        let share = LocalShare {
            address: up.ct.address.clone(),
            access: up.access,
            public_key: up.pinned.clone(),
        };
        let result = async {
            state::write(self.catalog(), table_id, &share).await?;
            let mut report = TransferReport::default();
            let moved = self
                .apply_all(&up, &writer, checked, &Known::new(), &mut report)
                .await?;
            writer.set_upstream_version(report.version).await?;
            finish(&mut report, moved);
            Ok(report)
        }
        .await;
        if result.is_err() {
            // Leave no half-made replica behind (its copied files are unreferenced; GC sweeps).
            let _ignored = self.catalog().drop_table(path, true).await;
        }
        result
    }

    /// Brings the replica `local` up to its upstream's latest version, committing each new
    /// version locally as its own step.
    ///
    /// # Errors
    ///
    /// As [`Transport::replicate`]; [`TransportError::WrongState`] if `local` is not a replica.
    pub async fn pull(&self, local: &str) -> Result<TransferReport> {
        let info = self
            .catalog()
            .replica_info(local)
            .await
            .map_err(|e| match e {
                StorageError::WrongKind { .. } => TransportError::WrongState {
                    table: local.to_owned(),
                    reason: "not a replica: only replicas pull".into(),
                },
                other => other.into(),
            })?;
        let share = state::read(self.catalog(), info.table_id)
            .await?
            .ok_or_else(|| TransportError::WrongState {
                table: local.to_owned(),
                reason: "the replica has no pinned org key: replicate it again".into(),
            })?;
        let uri = parse_cloud(&share.address)?;
        let up = self.upstream_of(&uri, Some(&share)).await?;
        let writer = self.catalog().replica_writer(local).await?;
        let (root, dir) = self.replica_dir(&writer);
        let log = tableshare_storage::format::VersionLog::new(root, dir);
        let have = log.latest().await?;
        let remote = up
            .ct
            .log
            .latest()
            .await?
            .ok_or_else(|| TransportError::NotFound {
                address: up.ct.address.clone(),
            })?;
        let mut report = TransferReport {
            version: have.unwrap_or(0),
            ..TransferReport::default()
        };
        if let Some(have) = have {
            if remote < have {
                return Err(TransportError::WrongState {
                    table: local.to_owned(),
                    reason: format!(
                        "the upstream {} is at version {remote}, behind the replica's {have}",
                        up.ct.address
                    ),
                });
            }
            // A run killed between the local commit and recording it: record it now.
            if info.upstream_version != Some(have) {
                writer.set_upstream_version(have).await?;
            }
        }
        // The version the replica holds: its hash (the next version's parent) and its objects.
        let (mut parent, mut known) = match have {
            Some(v) => match log.read(v).await? {
                Some(s) => {
                    let rel = log.version_path(v);
                    let m = TableManifest::decode(&rel, &s.body, v)?;
                    (Some(s.hash), known_of(&objects_of(&up.ct.address, &m)?))
                }
                None => (None, Known::new()),
            },
            None => (None, Known::new()),
        };
        // Every new version is verified before any is applied (manifests are small).
        let before = known.clone();
        let mut checked = Vec::new();
        for version in have.map_or(0, |h| h + 1)..=remote {
            let c = self
                .check_version(&up, version, parent.as_deref(), &known)
                .await?;
            parent = Some(c.sealed.hash.clone());
            known = known_of(&c.objects);
            checked.push(c);
        }
        let moved = self
            .apply_all(&up, &writer, checked, &before, &mut report)
            .await?;
        // Recorded once per pull: the replica's own versions are the truth, and a pull killed
        // before this line is corrected by the next one (above).
        if !report.versions.is_empty() {
            writer.set_upstream_version(report.version).await?;
        }
        finish(&mut report, moved);
        Ok(report)
    }

    /// Creates an independent, writable table at `local` holding the rows of `uri`
    /// (`pxt://…[:version]`), with no upstream. The cloud versions are verified as by
    /// [`Transport::replicate`] (into a scratch in-memory catalog) before the table is made.
    ///
    /// # Errors
    ///
    /// As [`Transport::replicate`]; [`StorageError::AlreadyExists`] if `local` is taken.
    pub async fn create_copy(&self, local: &str, uri: &str) -> Result<Table> {
        let path = TablePath::parse(local)?;
        let scratch = Transport::new(Catalog::in_memory(), self.config().clone());
        scratch.share_roots_with(self)?;
        scratch.replicate(uri, "copy").await?;
        let staged = scratch.catalog().open_table("copy").await?;
        let data = staged.scan().await?;
        let table = self
            .catalog()
            .create_table(path, &staged.table_schema()?)
            .await?;
        if data.batch.num_rows() > 0 {
            table.insert(&data.batch).await?;
        }
        Ok(table)
    }

    async fn upstream_of(&self, uri: &CloudUri, pinned: Option<&LocalShare>) -> Result<Upstream> {
        let ct = self.cloud_table(uri)?;
        let info = ct
            .share_info()
            .await?
            .ok_or_else(|| TransportError::NotFound {
                address: ct.address.clone(),
            })?;
        let keys = self.optional_keys(uri.org())?;
        let access = pinned.map_or(info.access, |p| p.access);
        if access == Access::Private && keys.is_none() {
            return Err(private_denied(&ct.address));
        }
        let pinned = match pinned {
            Some(p) => p.public_key.clone(),
            None => self.org_public_key(uri.org()).await?.ok_or_else(|| {
                TransportError::Unauthentic {
                    address: ct.address.clone(),
                    version: 0,
                    reason: format!("org `{}` has no public key", uri.org()),
                }
            })?,
        };
        if let (Access::Private, Some(k)) = (access, &keys)
            && k.public_hex() != pinned
        {
            return Err(TransportError::AccessDenied {
                address: ct.address.clone(),
                reason: format!("the key given is not the key of org `{}`", uri.org()),
            });
        }
        Ok(Upstream {
            ct,
            access,
            pinned,
            keys,
        })
    }

    /// Reads and verifies one cloud version (signature, envelope, manifest, names, and its link
    /// to `parent`, the hash of the version before it when known).
    async fn check_version(
        &self,
        up: &Upstream,
        version: u64,
        parent: Option<&str>,
        known: &Known,
    ) -> Result<Checked> {
        let sealed = read_version(&up.ct, version, &up.pinned, up.keys.as_ref(), up.access)
            .await?
            .ok_or_else(|| StorageError::VersionExpired {
                table: up.ct.address.clone(),
                version,
            })?;
        let rel = up.ct.log.version_path(version);
        let manifest = TableManifest::decode(&rel, &sealed.body, version)?;
        if let Some(parent) = parent
            && manifest.parent_hash.as_deref() != Some(parent)
        {
            return Err(TransportError::Hostile {
                address: up.ct.address.clone(),
                version,
                reason: "its parent hash is not the hash of the version before it".into(),
            });
        }
        let objects = objects_of(&up.ct.address, &manifest)?;
        check_against_known(&up.ct.address, version, &objects, known)?;
        Ok(Checked {
            version,
            sealed,
            objects,
        })
    }

    fn replica_dir(&self, writer: &ReplicaWriter) -> (StoreRoot, String) {
        let (store, prefix) = self.catalog().location();
        (StoreRoot::new(store, prefix), writer.table_dir())
    }

    /// Applies verified versions to the replica in order: the files a window of versions adds
    /// are fetched in one parallel pass (`crate::window`), then each of its versions is
    /// committed as its own step. `before` names the objects of the version the replica holds.
    async fn apply_all(
        &self,
        up: &Upstream,
        writer: &ReplicaWriter,
        checked: Vec<Checked>,
        before: &Known,
        report: &mut TransferReport,
    ) -> Result<Moved> {
        let (root, dir) = self.replica_dir(writer);
        let listed: Vec<(u64, &[ObjectRef])> = checked
            .iter()
            .map(|c| (c.version, c.objects.as_slice()))
            .collect();
        let groups = windows(&up.ct.address, &listed, before, WINDOW_BYTES)?;
        let mut moved = Moved::default();
        for group in groups {
            let Some(window) = checked.get(group.versions.clone()) else {
                continue;
            };
            let last = window.last().map_or(0, |c| c.version);
            moved.add(
                download(
                    self,
                    last,
                    &up.ct,
                    &root,
                    &dir,
                    &group.objects,
                    before,
                    up.keys.as_ref(),
                    up.access,
                )
                .await?,
            );
            for c in window {
                writer
                    .commit_manifest(c.version, seal(&c.sealed.body))
                    .await?;
                self.emit(ProgressEvent::Committed { version: c.version });
                report.versions.push(c.version);
                report.version = c.version;
            }
        }
        Ok(moved)
    }

    /// Uses the same opened cloud roots as `other` (so `memory://` roots are shared).
    fn share_roots_with(&self, other: &Transport) -> Result<()> {
        let theirs = other.roots_snapshot()?;
        self.set_roots(theirs)
    }
}

fn finish(report: &mut TransferReport, moved: Moved) {
    report.files_sent = moved.files;
    report.bytes_sent = moved.bytes;
    report.files_skipped = moved.skipped;
}
