//! Live tables: keeping a core [`LiveTable`] in step with a stored table.
//!
//! A table's live state is shared by every handle of one [`Catalog`](crate::Catalog) (clones
//! included) through a registry of weak references. Commits made through any of those handles
//! apply their diff directly, before the mutation returns; a watcher task polls the store
//! (cheaply: the latest-version probe of [`crate::log`]) every
//! [`watch_interval`](crate::CatalogOptions::watch_interval) and applies the commits of other
//! processes. Each version becomes one step (`step == version`); a watcher that finds the
//! intermediate versions garbage collected applies one coalesced step.
//!
//! The [`Table`](crate::Table) handles own the live state; the watcher holds only a weak
//! reference, so it stops once the last handle that called `live()` is dropped (the
//! [`LiveTable`]s handed out keep their content but stop ticking).
//!
//! A live table has a fixed schema: a version that changes the schema fails the live table
//! with [`StorageError::InvalidArgument`] as the cause, and the next `live()` call starts a
//! fresh one with the new schema.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tableshare_core::{LiveTable, LiveTableOptions, Snapshot};
use tracing::{debug, warn};
use uuid::Uuid;

pub(crate) use crate::diff::update_between;
use crate::error::{Result, StorageError};
use crate::format::manifest::public_schema;
use crate::format::table_dir::{Loaded, TableDir};
use crate::options::CatalogOptions;
/// The live state of one table in one catalog.
pub(crate) struct LiveState {
    table: LiveTable,
    store: TableDir,
    /// The version the live table reflects.
    applied: tokio::sync::Mutex<Loaded>,
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

    fn insert(&self, id: Uuid, state: &Arc<LiveState>) {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, w| w.strong_count() > 0);
        map.insert(id, Arc::downgrade(state));
    }
}

/// What the handles of one catalog share: the options they write with and the registry of
/// their live tables. A [`Table`](crate::Table) holds this, not the catalog.
#[derive(Debug, Default)]
pub(crate) struct TableContext {
    pub(crate) options: CatalogOptions,
    pub(crate) live: Registry,
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

    pub(crate) fn options(&self) -> &CatalogOptions {
        &self.ctx.options
    }

    /// Called after a handle committed `new` on top of `base`.
    pub(crate) async fn committed(&self, _base: &Loaded, new: &Loaded) {
        if let Some(state) = self.ctx.live.get(self.id)
            && let Err(error) = state.advance(new.clone()).await
        {
            warn!(table = %self.store.name, %error, "live table could not follow a commit");
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

/// Polls the store and applies commits made elsewhere, until the live state is dropped.
async fn watch(state: Weak<LiveState>, interval: std::time::Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(state) = state.upgrade() else {
            debug!("live table dropped; watcher stops");
            return;
        };
        if state.table.failure().is_some() {
            return;
        }
        let result = async {
            let Some(latest) = state.store.log.latest().await? else {
                return Ok(());
            };
            if latest > state.applied.lock().await.version() {
                let loaded = state.store.load(latest).await?;
                state.advance(loaded).await?;
            }
            Ok::<(), StorageError>(())
        }
        .await;
        if let Err(error) = result {
            warn!(table = %state.store.name, %error, "live watcher could not read the store");
        }
    }
}

impl LiveState {
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
            if next.manifest.schema != applied.manifest.schema {
                let error = StorageError::invalid(
                    self.store.name.clone(),
                    format!(
                        "version {} changed the schema; open a new live table",
                        next.version()
                    ),
                );
                self.table.fail(error);
                *applied = target;
                return Ok(());
            }
            let update = update_between(&self.store, &applied, &next).await?;
            self.table
                .apply_at(update)
                .map_err(|source| StorageError::Core {
                    context: format!(
                        "applying version {} of {} to its live table",
                        next.version(),
                        self.store.name
                    ),
                    source,
                })?;
            *applied = next;
        }
        Ok(())
    }
}

/// A version's rows as a core snapshot at step `version`.
pub(crate) async fn snapshot_of(store: &TableDir, loaded: &Loaded) -> Result<Snapshot> {
    let rows = store.scan(loaded).await?;
    let schema = table_schema(store, loaded)?;
    let batch = crate::read::relabel(rows.batch, public_schema(&loaded.manifest.schema))?;
    Snapshot::new(schema, loaded.version(), rows.keys, batch).map_err(|source| StorageError::Core {
        context: format!("snapshot of {}", store.name),
        source,
    })
}

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
