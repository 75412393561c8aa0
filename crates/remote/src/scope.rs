//! [`Scope`]: the named live tables a worker serves.
//!
//! A scope is shared between the embedding program and the worker: tables added or replaced
//! while the worker runs are served from then on. Each entry has an *incarnation*, the identity
//! of the table's step numbering: a client resuming after a reconnect is sent only what came
//! after its step when the incarnation matches, and one atomic replacement otherwise (a restarted
//! worker that rebuilt a table in code starts a new incarnation; a catalog table keeps its id,
//! because its steps are its versions).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tableshare_core::LiveTable;

/// One table of a scope.
#[derive(Clone)]
pub(crate) struct ScopeEntry {
    pub(crate) table: LiveTable,
    pub(crate) incarnation: String,
}

/// The named live tables of a worker. Cloning gives another handle to the same scope.
///
/// ```
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// use tableshare_core::{LiveTable, LiveTableOptions, TableSchema};
/// use tableshare_remote::Scope;
///
/// let schema = TableSchema::unpartitioned(Arc::new(Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
/// ])))?;
/// let scope = Scope::new();
/// scope.insert("quotes", LiveTable::new(schema, LiveTableOptions::default()));
/// assert_eq!(scope.names(), ["quotes"]);
/// # Ok::<(), tableshare_core::CoreError>(())
/// ```
#[derive(Clone, Default)]
pub struct Scope {
    tables: Arc<RwLock<BTreeMap<String, ScopeEntry>>>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("tables", &self.names())
            .finish()
    }
}

impl Scope {
    /// An empty scope.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `table` under `name` with a fresh incarnation (replacing any table of that name):
    /// for tables made in code, whose steps start over when the program restarts.
    pub fn insert(&self, name: impl Into<String>, table: LiveTable) {
        let incarnation = uuid::Uuid::new_v4().to_string();
        self.insert_with_incarnation(name, table, incarnation);
    }

    /// Serves `table` under `name` with a given incarnation: the same incarnation after a
    /// restart promises the same steps hold the same contents (a catalog table, whose steps are
    /// its versions, uses its table id), so reconnecting clients resume instead of reloading.
    pub fn insert_with_incarnation(
        &self,
        name: impl Into<String>,
        table: LiveTable,
        incarnation: impl Into<String>,
    ) {
        let entry = ScopeEntry {
            table,
            incarnation: incarnation.into(),
        };
        self.write().insert(name.into(), entry);
    }

    /// Stops serving `name`; returns its table.
    pub fn remove(&self, name: &str) -> Option<LiveTable> {
        self.write().remove(name).map(|entry| entry.table)
    }

    /// The table served under `name`.
    pub fn get(&self, name: &str) -> Option<LiveTable> {
        self.entry(name).map(|entry| entry.table)
    }

    /// The names served, in order.
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    pub(crate) fn entry(&self, name: &str) -> Option<ScopeEntry> {
        self.read().get(name).cloned()
    }

    pub(crate) fn entries(&self) -> Vec<(String, ScopeEntry)> {
        self.read()
            .iter()
            .map(|(name, entry)| (name.clone(), entry.clone()))
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, ScopeEntry>> {
        self.tables
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, ScopeEntry>> {
        self.tables
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
