//! The table side of the commit protocol: one commit-and-retry loop for every table operation.
//!
//! An operation describes itself by a *build* step (the next manifest on a given base version,
//! doing whatever IO that needs) and a [`Footprint`] (what it touches). [`Table::commit_change`]
//! builds on the version the handle last saw and commits with one conditional create
//! ([`crate::format::log`]). When a rival committed first, the rival versions are checked
//! against the footprint:
//!
//! * an append conflicts with nothing (it gets fresh row keys on the new base);
//! * an update or delete conflicts only with a rival that removed or modified some of the same
//!   rows ([`StorageError::RowConflict`]); rival appends, compactions and changes to other rows
//!   are rebased onto;
//! * a schema change conflicts only with a rival schema change
//!   ([`StorageError::VersionConflict`]);
//! * a compaction re-plans on the new base and never fails a rival;
//! * a revert conflicts with any rival (it undoes one specific version).
//!
//! # Stale bases
//!
//! Garbage collection may delete the manifest of a version once its successor is older than the
//! collection's age guard (`operations/gc.rs`), which frees that version *number*. A writer
//! whose base is older than that could otherwise create the freed number again and fork the
//! chain. So a base is trusted only for [`CatalogOptions::max_commit_duration`] after it was
//! read: a commit attempted on an older base re-reads the latest version first (and rebases or
//! conflicts as with any rival). The age guard of every collector must exceed that duration
//! (the defaults: 1 hour and 5 minutes).
//!
//! [`CatalogOptions::max_commit_duration`]: crate::CatalogOptions::max_commit_duration

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tableshare_core::RowSet;
use tracing::{debug, info};
use uuid::Uuid;

use crate::error::{Result, StorageError};
use crate::format::log::CommitOutcome;
use crate::format::manifest::{Operation, TableManifest, now_ms};
use crate::format::table_dir::Loaded;
use crate::table::Table;

/// How many times a change that lost a commit race is rebuilt on the winner.
const COMMIT_RETRIES: u32 = 64;

/// A short random pause after losing a race (up to 1 ms doubling per loss, at most 64 ms), so
/// that two busy writers stop colliding in lockstep.
async fn backoff(attempt: u32) {
    let cap_us = 1000u64 << attempt.min(6);
    let us = Uuid::new_v4().as_u64_pair().0 % cap_us;
    tokio::time::sleep(std::time::Duration::from_micros(us)).await;
}

/// One attempt's result in [`retry_commits`].
pub(crate) enum Round<S, T> {
    /// Committed (or nothing to commit): the result.
    Done(T),
    /// A rival committed first: try again from this state.
    Again(S),
}

/// The retry loop of every commit, tables' and the catalog's alike: runs `round` until it is
/// done, at most `retries` times, with a short random backoff after each lost race; `exhausted`
/// makes the error when every attempt lost. A round's error ends the loop.
pub(crate) async fn retry_commits<'a, S, T>(
    retries: u32,
    mut state: S,
    mut round: impl FnMut(S, u32) -> Pin<Box<dyn Future<Output = Result<Round<S, T>>> + Send + 'a>>,
    exhausted: impl FnOnce(S) -> StorageError,
) -> Result<T> {
    for attempt in 0..retries {
        match round(state, attempt).await? {
            Round::Done(t) => return Ok(t),
            Round::Again(next) => {
                state = next;
                backoff(attempt).await;
            }
        }
    }
    Err(exhausted(state))
}

/// What a change touches, which decides whether a rival commit conflicts with it.
#[derive(Debug, Clone)]
pub(crate) enum Footprint {
    /// New rows under fresh keys: no rival conflicts (the build step itself refuses a base
    /// whose schema no longer has a column being inserted into).
    Append,
    /// Changes or removes these rows. `schema_sensitive` also makes a rival schema change a
    /// conflict (an update names the columns it writes).
    Rows {
        keys: RowSet,
        schema_sensitive: bool,
    },
    /// Changes the schema: conflicts with a rival schema change.
    Schema,
    /// Re-plans from scratch on every base (compaction): never conflicts.
    Replan,
    /// Depends on the exact base (revert): any rival conflicts.
    Exact,
}

/// The future of a build step: boxed and `Send`, so that every table operation's future is
/// `Send` (spawnable on a multi-threaded runtime).
pub(crate) type BuildFuture<'c> = Pin<Box<dyn Future<Output = Result<Built>> + Send + 'c>>;

/// What a build step made of a base version.
#[derive(Debug)]
pub(crate) enum Built {
    /// Commit this manifest (the version after the base).
    Commit(Box<TableManifest>),
    /// Nothing to commit: the change is already in this version (or there is nothing to do,
    /// and it is the base's version).
    Done(u64),
}

impl Table {
    /// The manifest of the version after `base`, with `operation` and a fresh transaction id;
    /// the caller fills in what the operation changes.
    pub(crate) fn next_manifest(base: &Loaded, operation: Operation) -> TableManifest {
        let mut m = base.manifest.as_ref().clone();
        m.version = base.version() + 1;
        m.parent_version = Some(base.version());
        m.parent_hash = Some(base.hash.clone());
        m.txn_id = Uuid::new_v4().to_string();
        m.txn_token = None;
        m.timestamp_ms = now_ms().max(base.manifest.timestamp_ms);
        m.operation = operation;
        m.rows_added = 0;
        m.rows_removed = 0;
        m.rows_updated = 0;
        m
    }

    /// Commits `manifest`; `Ok(None)` if a rival won the version.
    async fn try_commit(&self, base: &Loaded, manifest: TableManifest) -> Result<Option<u64>> {
        let (outcome, hash) = self.store.commit(&manifest).await?;
        match outcome {
            CommitOutcome::Committed => {
                let v = manifest.version;
                info!(table = %self.path(), version = v, operation = manifest.operation.name(), "committed");
                let loaded = Loaded::new(Arc::new(manifest), hash);
                self.set_current(loaded.clone());
                self.hooks.committed(base, &loaded);
                Ok(Some(v))
            }
            CommitOutcome::Lost => Ok(None),
        }
    }

    /// Builds a change on the latest version the handle knows and commits it, rebuilding on
    /// each rival that does not conflict with `footprint` (see the module docs). Returns the
    /// committed version, or the one `build` said the change is already in.
    pub(crate) async fn commit_change<'c>(
        &'c self,
        footprint: &'c Footprint,
        build: impl FnMut(Loaded) -> BuildFuture<'c> + Send + 'c,
    ) -> Result<u64> {
        let max_age = self.options().max_commit_duration;
        let mut base = self.current();
        if base.read_at.elapsed() > max_age {
            base = self.store.load_latest().await?;
            self.set_current(base.clone());
        }
        let build = std::sync::Mutex::new(build);
        let build = &build;
        // The state between rounds: the base of the last attempt, and whether a rival won it
        // (then the next round, after the backoff, re-reads the latest version first, so it
        // builds on a fresh base).
        retry_commits(
            COMMIT_RETRIES,
            (base, false),
            |(mut base, lost): (Loaded, bool), attempt| {
                Box::pin(async move {
                    if lost {
                        let latest = self.store.load_latest().await?;
                        self.check_rivals(&base, &latest, footprint).await?;
                        self.set_current(latest.clone());
                        base = latest;
                    }
                    let future = {
                        let mut build = build
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        (*build)(base.clone())
                    };
                    let manifest = match future.await? {
                        Built::Commit(m) => *m,
                        Built::Done(v) => return Ok(Round::Done(v)),
                    };
                    if base.read_at.elapsed() <= max_age {
                        if let Some(v) = self.try_commit(&base, manifest).await? {
                            return Ok(Round::Done(v));
                        }
                        debug!(table = %self.path(), attempt, version = base.version() + 1, "a rival committed first");
                    } else {
                        debug!(table = %self.path(), "the base is too old to commit on; re-reading the latest version");
                    }
                    Ok(Round::Again((base, true)))
                })
            },
            |(base, _)| StorageError::VersionConflict {
                table: self.path().to_owned(),
                attempted: base.version() + 1,
                current: base.version(),
            },
        )
        .await
    }

    /// Checks every version after `base` up to `latest` against `footprint`.
    async fn check_rivals(
        &self,
        base: &Loaded,
        latest: &Loaded,
        footprint: &Footprint,
    ) -> Result<()> {
        if matches!(footprint, Footprint::Append | Footprint::Replan) {
            return Ok(());
        }
        let mut parent = base.clone();
        for v in base.version() + 1..=latest.version() {
            let rival = if v == latest.version() {
                latest.clone()
            } else {
                match self.store.load(v).await {
                    Ok(l) => l,
                    // What it did can no longer be known: assume the worst.
                    Err(StorageError::VersionExpired { .. }) => {
                        return Err(self.version_conflict(v, latest.version()));
                    }
                    Err(e) => return Err(e),
                }
            };
            self.check_rival(&parent, &rival, footprint, latest.version())
                .await?;
            parent = rival;
        }
        Ok(())
    }

    /// Whether the rival version `rival` (committed on `parent`) conflicts with `footprint`.
    async fn check_rival(
        &self,
        parent: &Loaded,
        rival: &Loaded,
        footprint: &Footprint,
        latest: u64,
    ) -> Result<()> {
        let schema_changed = rival.manifest.schema != parent.manifest.schema;
        match footprint {
            Footprint::Append | Footprint::Replan => Ok(()),
            Footprint::Exact => Err(self.version_conflict(rival.version(), latest)),
            Footprint::Schema if schema_changed => {
                Err(self.version_conflict(rival.version(), latest))
            }
            Footprint::Schema => Ok(()),
            Footprint::Rows {
                schema_sensitive: true,
                ..
            } if schema_changed => Err(self.version_conflict(rival.version(), latest)),
            Footprint::Rows { keys, .. } => match rival.manifest.operation {
                // Appends add fresh keys; compactions and schema changes move or relabel rows
                // without changing their values.
                Operation::Insert { .. }
                | Operation::Compact { .. }
                | Operation::AddColumn { .. }
                | Operation::DropColumn { .. }
                | Operation::RenameColumn { .. } => Ok(()),
                _ => {
                    let plan = self
                        .store
                        .diff_keys(&parent.manifest, &rival.manifest)
                        .await?;
                    let touched = plan.keys.removed.union(&plan.keys.moved);
                    match touched.intersection(keys).min() {
                        None => Ok(()),
                        Some(key) => Err(StorageError::RowConflict {
                            table: self.path().to_owned(),
                            rival_version: rival.version(),
                            rival_operation: rival.manifest.operation.name(),
                            key,
                        }),
                    }
                }
            },
        }
    }

    fn version_conflict(&self, attempted: u64, current: u64) -> StorageError {
        StorageError::VersionConflict {
            table: self.path().to_owned(),
            attempted,
            current,
        }
    }
}
