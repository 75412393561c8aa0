//! Live tables: keeping a core [`LiveTable`] in step with a stored table.
//!
//! A table's live state is shared by every handle of one [`Catalog`](crate::Catalog) (clones
//! included) through a registry of weak references. One watcher task per live table applies
//! versions: those committed through any of those handles are handed to it as they commit (the
//! writer does not wait for the diff to be computed and applied), and it polls the store
//! (cheaply: the latest-version probe of [`crate::format::log`]) every
//! [`watch_interval`](crate::CatalogOptions::watch_interval) for the commits of other
//! processes. Each version becomes one step (`step == version`); a watcher that finds the
//! intermediate versions garbage collected applies one coalesced step. An error that means the
//! table cannot be followed (dropped, version expired, corrupt) fails the live table, and so do
//! store errors that persist, so subscribers see the error instead of waiting forever.
//!
//! The [`Table`](crate::Table) handles own the live state; the watcher holds only a weak
//! reference, so it stops once the last handle that called `live()` is dropped (the
//! [`LiveTable`]s handed out keep their content but stop ticking).
//!
//! A version that changes the schema (add, drop or rename a column) is a schema-change step of
//! the live table, which its subscribers receive as an event; a renamed column stays the same
//! column. A single step that would change both the schema and rows (a revert of a schema
//! change, or a jump across expired versions that include one) fails the live table with
//! [`StorageError::InvalidArgument`] as the cause; the next `live()` call starts a fresh one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};

use tableshare_core::{LiveTable, LiveTableOptions, Snapshot};
use tracing::{debug, warn};
use uuid::Uuid;

pub(crate) use crate::diff::update_between;
use crate::error::{Result, StorageError};
use crate::format::manifest::{column_id, public_schema};
use crate::format::table_dir::{Loaded, TableDir};
use crate::options::CatalogOptions;
/// The live state of one table in one catalog.
pub(crate) struct LiveState {
    table: LiveTable,
    store: TableDir,
    /// The version the live table reflects.
    applied: tokio::sync::Mutex<Loaded>,
    /// The newest version committed in this process and not yet applied.
    offered: Mutex<Option<Loaded>>,
    /// Wakes the watcher when a version is offered.
    wake: tokio::sync::Notify,
}

impl std::fmt::Debug for LiveState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveState")
            .field("table", &self.store.name)
            .finish_non_exhaustive()
    }
}

/// Weak references to the live states of a catalog's tables.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    map: Mutex<HashMap<Uuid, Weak<LiveState>>>,
}

impl Registry {
    fn get(&self, id: Uuid) -> Option<Arc<LiveState>> {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(&id).and_then(Weak::upgrade)
    }

    /// Fails the live table of `id`, if one runs.
    pub(crate) fn fail(&self, id: Uuid, error: StorageError) {
        if let Some(state) = self.get(id) {
            state.table.fail(error);
        }
    }

    fn insert(&self, id: Uuid, state: &Arc<LiveState>) {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(id, Arc::downgrade(state));
    }
}

/// What the handles of one catalog share: the options they write with, the registry of their
/// live tables, and which tables have a background compaction running. A
/// [`Table`](crate::Table) holds this, not the catalog.
#[derive(Debug, Default)]
pub(crate) struct TableContext {
    pub(crate) options: CatalogOptions,
    pub(crate) live: Registry,
    pub(crate) compacting: Mutex<HashSet<Uuid>>,
    /// Merges that background compactions offer to the next append
    /// (`operations/merge_offer.rs`).
    pub(crate) offers: Arc<crate::operations::MergeOffers>,
}

/// Marks a table as compacting in the background until dropped.
#[derive(Debug)]
pub(crate) struct CompactionGuard {
    ctx: Arc<TableContext>,
    id: Uuid,
}

impl Drop for CompactionGuard {
    fn drop(&mut self) {
        self.ctx
            .compacting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// What a [`Table`](crate::Table) handle needs to keep live tables in step.
#[derive(Debug)]
pub(crate) struct Hooks {
    ctx: Arc<TableContext>,
    id: Uuid,
    store: TableDir,
    /// The live state this handle created or joined (keeps it and its watcher alive).
    owned: Mutex<Option<Arc<LiveState>>>,
}

impl Hooks {
    pub(crate) fn new(ctx: Arc<TableContext>, id: Uuid, store: TableDir) -> Self {
        Self {
            ctx,
            id,
            store,
            owned: Mutex::new(None),
        }
    }

    /// Hooks for another handle of the same table (sharing the live state, not owning it).
    pub(crate) fn sibling(&self) -> Self {
        Self::new(Arc::clone(&self.ctx), self.id, self.store.clone())
    }

    pub(crate) fn options(&self) -> &CatalogOptions {
        &self.ctx.options
    }

    /// Marks the table as compacting in the background; `None` if a compaction already runs.
    pub(crate) fn start_compaction(&self) -> Option<CompactionGuard> {
        let mut running = self
            .ctx
            .compacting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running.insert(self.id).then(|| CompactionGuard {
            ctx: Arc::clone(&self.ctx),
            id: self.id,
        })
    }

    /// Offers a finished merge of this table to the appends of this process until the guard
    /// drops (`operations/merge_offer.rs`); `None` for a merge that wrote nothing.
    pub(crate) fn offer_merge(
        &self,
        replaced: Vec<crate::format::manifest::DataFileEntry>,
        written: Vec<crate::format::manifest::DataFileEntry>,
    ) -> Option<crate::operations::OfferGuard> {
        self.ctx.offers.offer(self.id, replaced, written)
    }

    /// The merge a compaction of this table currently offers, if any.
    pub(crate) fn merge_offer(&self) -> Option<crate::operations::MergeOffer> {
        self.ctx.offers.get(self.id)
    }

    /// Called after a handle committed `new`: hands the version to the live table's watcher,
    /// which applies it. The writer never waits for that work.
    pub(crate) fn committed(&self, _base: &Loaded, new: &Loaded) {
        if let Some(state) = self.ctx.live.get(self.id) {
            state.offer(new.clone());
        }
    }

    /// The live table of this handle's table, starting at `current` if none runs yet.
    pub(crate) async fn live(&self, current: Loaded, pinned: bool) -> Result<LiveTable> {
        if pinned {
            let snapshot = snapshot_of(&self.store, &current).await?;
            return Ok(LiveTable::from_snapshot(
                snapshot,
                LiveTableOptions::default(),
            ));
        }
        if let Some(state) = self.ctx.live.get(self.id)
            && state.table.failure().is_none()
        {
            state.advance(current).await?;
            *self
                .owned
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::clone(&state));
            return Ok(state.table.clone());
        }
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| StorageError::NoRuntime {
                what: "a live table's watcher",
            })?;
        let snapshot = snapshot_of(&self.store, &current).await?;
        let table = LiveTable::from_snapshot(snapshot, LiveTableOptions::default());
        let state = Arc::new(LiveState {
            table: table.clone(),
            store: self.store.clone(),
            applied: tokio::sync::Mutex::new(current),
            offered: Mutex::new(None),
            wake: tokio::sync::Notify::new(),
        });
        self.ctx.live.insert(self.id, &state);
        *self
            .owned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::clone(&state));
        let weak = Arc::downgrade(&state);
        let interval = self.ctx.options.watch_interval;
        runtime.spawn(watch(weak, interval));
        Ok(table)
    }
}

/// How many watch rounds in a row may fail on a store error before the live table fails.
const MAX_FAILED_ROUNDS: u32 = 25;

/// Whether an error means the table cannot be followed any more (as opposed to a store
/// hiccup worth retrying).
fn is_persistent(error: &StorageError) -> bool {
    matches!(
        error,
        StorageError::NotFound { .. }
            | StorageError::VersionExpired { .. }
            | StorageError::Corrupt { .. }
            | StorageError::UnsupportedFormat { .. }
            | StorageError::Core { .. }
    )
}

/// Follows the table until the live state is dropped or fails: applies versions committed in
/// this process as soon as they are offered, and polls the store every `interval` for the
/// commits of other processes. A persistent error (table gone, version expired, corrupt
/// manifest), or store errors in [`MAX_FAILED_ROUNDS`] rounds in a row, fail the live table
/// with that error, so its subscribers see it instead of waiting forever.
async fn watch(state: Weak<LiveState>, interval: std::time::Duration) {
    let mut failed_rounds = 0;
    loop {
        let Some(strong) = state.upgrade() else {
            debug!("live table dropped; watcher stops");
            return;
        };
        if strong.table.failure().is_some() {
            return;
        }
        let notified = strong.wake.notified();
        let result = async {
            let offered = strong
                .offered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            let target = match offered {
                Some(loaded) => Some(loaded),
                None => match strong.store.log.latest().await? {
                    Some(latest) if latest > strong.applied.lock().await.version() => {
                        Some(strong.store.load(latest).await?)
                    }
                    Some(_) => None,
                    None => {
                        return Err(StorageError::NotFound {
                            path: strong.store.name.clone(),
                        });
                    }
                },
            };
            if let Some(target) = target {
                strong.advance(target).await?;
            }
            Ok::<(), StorageError>(())
        }
        .await;
        match result {
            Ok(()) => failed_rounds = 0,
            Err(error) if is_persistent(&error) => {
                warn!(table = %strong.store.name, %error, "live table fails: its table cannot be followed");
                strong.table.fail(error);
                return;
            }
            Err(error) => {
                failed_rounds += 1;
                warn!(table = %strong.store.name, %error, failed_rounds, "live watcher could not read the store");
                if failed_rounds >= MAX_FAILED_ROUNDS {
                    strong.table.fail(error);
                    return;
                }
            }
        }
        let pending = strong
            .offered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some();
        if !pending {
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

impl LiveState {
    /// Offers a version committed in this process to the watcher (keeping the newest).
    fn offer(&self, loaded: Loaded) {
        let mut offered = self
            .offered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if offered
            .as_ref()
            .is_none_or(|o| o.version() < loaded.version())
        {
            *offered = Some(loaded);
        }
        drop(offered);
        self.wake.notify_one();
    }

    /// Applies every version after the applied one up to `target`, one step per version.
    async fn advance(&self, target: Loaded) -> Result<()> {
        let mut applied = self.applied.lock().await;
        while applied.version() < target.version() {
            let next_version = applied.version() + 1;
            let next = if next_version == target.version() {
                target.clone()
            } else {
                match self.store.load(next_version).await {
                    Ok(l) => l,
                    Err(StorageError::VersionExpired { .. }) => target.clone(),
                    Err(e) => return Err(e),
                }
            };
            let core_err = |source| StorageError::Core {
                context: format!(
                    "applying version {} of {} to its live table",
                    next.version(),
                    self.store.name
                ),
                source,
            };
            if next.manifest.schema != applied.manifest.schema {
                // A schema change is a step of the live table (an event its subscribers
                // receive); renamed columns stay the same columns (matched by column id).
                let update = update_between(&self.store, &applied, &next).await?;
                if !update.is_empty() {
                    // One version that changes both the schema and rows (a revert of a schema
                    // change, or several versions at once because the ones between expired)
                    // would be two steps of the live table for one version.
                    let error = StorageError::invalid(
                        self.store.name.clone(),
                        format!(
                            "version {} changed the schema and rows at once; open a new live table",
                            next.version()
                        ),
                    );
                    self.table.fail(error);
                    *applied = target;
                    return Ok(());
                }
                let renames = renames_between(&applied.manifest.schema, &next.manifest.schema);
                let renames: Vec<(&str, &str)> = renames
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                self.table
                    .change_schema(table_schema(&self.store, &next)?, &renames)
                    .map_err(core_err)?;
                *applied = next;
                continue;
            }
            let update = update_between(&self.store, &applied, &next).await?;
            self.table.apply_at(update).map_err(core_err)?;
            *applied = next;
        }
        Ok(())
    }
}

/// Columns whose name changed between two schemas, as (old name, new name), matched by their
/// stable column ids.
fn renames_between(
    old: &arrow_schema::Schema,
    new: &arrow_schema::Schema,
) -> Vec<(String, String)> {
    new.fields()
        .iter()
        .filter_map(|f| {
            let id = column_id(f)?;
            let before = old.fields().iter().find(|o| column_id(o) == Some(id))?;
            (before.name() != f.name()).then(|| (before.name().clone(), f.name().clone()))
        })
        .collect()
}

/// A version's rows as a core snapshot at step `version`.
///
/// The rows are streamed (verified ranged reads, in key order; see `crate::scan`), one batch
/// per chunk: the whole table is never concatenated into one batch.
pub(crate) async fn snapshot_of(store: &TableDir, loaded: &Loaded) -> Result<Snapshot> {
    use futures::TryStreamExt;
    let schema = table_schema(store, loaded)?;
    let options = crate::scan::ScanOptions::default().batch_size(SNAPSHOT_BATCH_ROWS);
    let parts: Vec<(Vec<u64>, arrow_array::RecordBatch)> =
        crate::scan::scan_stream(store, loaded, options)?
            .map_ok(|b| (b.keys, b.batch))
            .try_collect()
            .await?;
    Snapshot::from_batches(schema, loaded.version(), parts).map_err(|source| StorageError::Core {
        context: format!("snapshot of {}", store.name),
        source,
    })
}

/// Rows per streamed batch when a live table is built (one chunk each: core's default chunk
/// size, and the row-group size of data files).
const SNAPSHOT_BATCH_ROWS: usize = 65_536;

fn table_schema(store: &TableDir, loaded: &Loaded) -> Result<tableshare_core::TableSchema> {
    tableshare_core::TableSchema::new(
        public_schema(&loaded.manifest.schema),
        loaded.manifest.partition_columns.iter().cloned(),
    )
    .map_err(|source| StorageError::Core {
        context: format!("schema of {}", store.name),
        source,
    })
}
