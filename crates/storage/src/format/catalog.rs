//! The catalog's own manifest: one version of the path → entry map, committed through the same
//! version log as a table ([`super::log`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What kind of thing a catalog path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// A directory.
    Directory,
    /// A table.
    Table,
    /// A view (its definition only; the query layer evaluates it).
    View,
    /// A named, pinned version of a table (read-only).
    Snapshot,
    /// A read-only replica of a table published elsewhere.
    Replica,
}

impl EntryKind {
    /// Lowercase name (`table`, `directory`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Directory => "directory",
            Self::Table => "table",
            Self::View => "view",
            Self::Snapshot => "snapshot",
            Self::Replica => "replica",
        }
    }
}

/// A view's definition, stored as data; the query layer evaluates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ViewDefinition {
    /// Dotted path of the base table (or view).
    pub base: String,
    /// Computed columns as (name, SQL expression).
    pub computed_columns: Vec<(String, String)>,
    /// Optional SQL filter.
    pub filter: Option<String>,
}

impl ViewDefinition {
    /// A view over `base` with no computed columns and no filter.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            computed_columns: Vec::new(),
            filter: None,
        }
    }

    /// Adds a computed column.
    #[must_use]
    pub fn with_column(mut self, name: impl Into<String>, sql: impl Into<String>) -> Self {
        self.computed_columns.push((name.into(), sql.into()));
        self
    }

    /// Sets the filter.
    #[must_use]
    pub fn with_filter(mut self, sql: impl Into<String>) -> Self {
        self.filter = Some(sql.into());
        self
    }
}

/// What a catalog path names, as stored in a catalog manifest (`{"kind": …, …}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntryRecord {
    /// A directory.
    Directory,
    /// A table stored under `tables/<table_id>`.
    Table {
        /// The table's storage id.
        table_id: Uuid,
    },
    /// A view: its definition only.
    View {
        /// What the query layer evaluates.
        definition: ViewDefinition,
    },
    /// A named, pinned version of a table.
    Snapshot {
        /// The storage id of the table it pins.
        table_id: Uuid,
        /// The table's path when the snapshot was made.
        source: String,
        /// The pinned version.
        version: u64,
    },
    /// A read-only replica of a table published elsewhere.
    Replica {
        /// The replica's storage id.
        table_id: Uuid,
        /// The upstream address (`pxt://…`).
        upstream: String,
        /// The upstream version the replica holds, if any yet.
        upstream_version: Option<u64>,
    },
}

impl EntryRecord {
    pub(crate) fn kind(&self) -> EntryKind {
        match self {
            Self::Directory => EntryKind::Directory,
            Self::Table { .. } => EntryKind::Table,
            Self::View { .. } => EntryKind::View,
            Self::Snapshot { .. } => EntryKind::Snapshot,
            Self::Replica { .. } => EntryKind::Replica,
        }
    }

    pub(crate) fn table_id(&self) -> Option<Uuid> {
        match self {
            Self::Table { table_id }
            | Self::Snapshot { table_id, .. }
            | Self::Replica { table_id, .. } => Some(*table_id),
            _ => None,
        }
    }
}

/// One catalog version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CatalogManifest {
    /// The format version that wrote it.
    pub format_version: u32,
    /// This catalog version; must match the file name.
    pub version: u64,
    /// `version - 1` (`None` for version 0).
    pub parent_version: Option<u64>,
    /// BLAKE3 of the parent manifest's body.
    pub parent_hash: Option<String>,
    /// The writing transaction's id (decides ambiguous commits).
    pub txn_id: String,
    /// Commit time, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// A short description of the change (`create_table a.b`).
    pub operation: String,
    /// Every catalog path and what it names.
    pub entries: BTreeMap<String, EntryRecord>,
}
