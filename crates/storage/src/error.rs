//! The one error type of the storage engine.
//!
//! Every variant says what went wrong and where (the catalog path, the table, the object path),
//! and keeps the underlying error as its `source` instead of flattening it into a string, so a
//! caller can both show a useful message and match on the cause (a CLI maps `NotFound` to one
//! exit code, `VersionConflict` to another, transport retries `CommitOutcomeUnknown`, ...).

use std::fmt;

/// A boxed error kept as the `source` of a [`StorageError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used throughout the storage engine.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Everything that can go wrong in the storage engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A catalog entry, version or object does not exist.
    #[error("not found: {path}")]
    NotFound {
        /// The catalog path (or object path) that was looked up.
        path: String,
    },

    /// A catalog entry already exists at this path (a rival may have created it concurrently).
    #[error("already exists: {path}")]
    AlreadyExists {
        /// The catalog path that is taken.
        path: String,
    },

    /// A directory holds entries and was not dropped with `force`.
    #[error("directory {path} is not empty (drop it with force to remove its contents)")]
    NotEmpty {
        /// The directory's catalog path.
        path: String,
    },

    /// Views are defined on the entry being dropped, and the drop was not forced.
    #[error(
        "{path} has dependent views ({}); drop them first or drop with force to remove them too",
        dependents.join(", ")
    )]
    HasDependents {
        /// The entry being dropped.
        path: String,
        /// The views that depend on it, directly or through other views.
        dependents: Vec<String>,
    },

    /// The catalog entry at `path` is of another kind than the operation needs.
    #[error("{path} is a {found}, not a {expected}")]
    WrongKind {
        /// The catalog path.
        path: String,
        /// What the operation needs (`table`, `directory`, ...).
        expected: &'static str,
        /// What the catalog holds there.
        found: &'static str,
    },

    /// A catalog path or address (`dir.table`, `dir.table:N`) does not parse. The source says
    /// what is wrong and where, quoting the text.
    #[error("invalid catalog path")]
    InvalidPath {
        /// The address parser's error.
        #[source]
        source: tableshare_uri::UriError,
    },

    /// A move would put an entry (a directory) inside itself.
    #[error("cannot move {from} to {to}: that is inside itself")]
    MoveIntoItself {
        /// The entry being moved.
        from: String,
        /// The destination.
        to: String,
    },

    /// `path:N` names a catalog snapshot, which is one fixed version and has no others.
    #[error("{path} is a snapshot, which has no versions to choose with :{version}")]
    SnapshotVersion {
        /// The snapshot's catalog path.
        path: String,
        /// The version asked for.
        version: u64,
    },

    /// An object name handed to a replica writer is not a data file or deletion vector name
    /// (`data/<hash>.parquet`, `dv/<hash>.roaring`).
    #[error("`{name}` is not a data file or deletion vector name")]
    InvalidObjectName {
        /// The name as given.
        name: String,
    },

    /// Another writer committed a version this change cannot be rebased on.
    #[error(
        "version conflict on {table}: tried to commit version {attempted} but version {current} \
         is now the latest (re-read the table and try again)"
    )]
    VersionConflict {
        /// The table (or `catalog`).
        table: String,
        /// The version this writer tried to create.
        attempted: u64,
        /// The latest version, created by another writer.
        current: u64,
    },

    /// A change lost the race to a rival version that removed or modified some of the same
    /// rows. Re-read the table and decide again.
    #[error(
        "conflict on {table}: version {rival_version} ({rival_operation}) changed or removed row \
         {key}, which this change also touches (re-read the table and try again)"
    )]
    RowConflict {
        /// The table.
        table: String,
        /// The rival version.
        rival_version: u64,
        /// What the rival version did.
        rival_operation: &'static str,
        /// One row key both changes touch (the smallest).
        key: u64,
    },

    /// A transaction token's text form is malformed.
    #[error("invalid transaction token {token:?} (expected MILLIS-UUID, as TxnToken prints)")]
    InvalidToken {
        /// The text given.
        token: String,
    },

    /// A mutation of a read-only handle (replica, snapshot, `path:N`).
    #[error("{table} is read-only ({why}): {operation} refused")]
    ReadOnly {
        /// The table's catalog path (with `:N` for a pinned version).
        table: String,
        /// The refused operation (`insert`, `update`, ...).
        operation: &'static str,
        /// Why the handle is read-only (`replica`, `snapshot`, `pinned version`).
        why: &'static str,
    },

    /// A version existed but was removed by garbage collection.
    #[error("version {version} of {table} has expired (removed by garbage collection)")]
    VersionExpired {
        /// The table.
        table: String,
        /// The requested version.
        version: u64,
    },

    /// A version that has never been committed.
    #[error("version {version} of {table} does not exist (latest is {latest})")]
    VersionNotFound {
        /// The table.
        table: String,
        /// The requested version.
        version: u64,
        /// The latest committed version.
        latest: u64,
    },

    /// Stored bytes do not match what the manifest recorded, or cannot be decoded.
    #[error("corrupt object {path}: {reason}")]
    Corrupt {
        /// The object path (relative to the store root).
        path: String,
        /// What is wrong with it.
        reason: CorruptReason,
        /// The decoding error, when there is one.
        #[source]
        source: Option<BoxError>,
    },

    /// A commit request failed in a way that leaves its outcome unknown, and reading the
    /// version back did not settle it. Nothing was deleted; retrying the operation is safe.
    #[error("outcome of committing {path} is unknown")]
    CommitOutcomeUnknown {
        /// The manifest path.
        path: String,
        /// The last store error.
        #[source]
        source: object_store::Error,
    },

    /// The object store cannot be committed to safely: it lacks atomic conditional create
    /// (`PutMode::Create`), so two writers could both win one version. Found by the probe a
    /// catalog runs before its first write; retrying does not help, use another store.
    #[error("object store {store} is not supported for writing: it lacks {lacks}")]
    UnsupportedStore {
        /// The store, as it displays itself (`AmazonS3(bucket)`, `LocalFileSystem(...)`).
        store: String,
        /// What it lacks.
        lacks: &'static str,
        /// The store's answer, when it refused with an error (`NotImplemented`).
        #[source]
        source: Option<object_store::Error>,
    },

    /// The arguments do not fit the table (schema mismatch, wrong row count, ...).
    #[error("invalid argument for {table}: {reason}")]
    InvalidArgument {
        /// The table (or catalog path).
        table: String,
        /// What is wrong.
        reason: String,
    },

    /// Rows handed to a table do not fit its schema: a column it lacks, a required column
    /// missing, another type, nulls in a non-nullable column. The source names the column.
    #[error("the rows do not fit the schema of {table}")]
    RowsDoNotFit {
        /// The table.
        table: String,
        /// What does not fit, from the table model's fitting rules.
        #[source]
        source: tableshare_core::CoreError,
    },

    /// The stored format is newer than this build understands.
    #[error("{path} uses format version {found}; this build reads up to {supported}")]
    UnsupportedFormat {
        /// The manifest path.
        path: String,
        /// The format version found.
        found: u32,
        /// The highest version this build reads.
        supported: u32,
    },

    /// The object store failed.
    #[error("object store {operation} of {path} failed")]
    Store {
        /// The store operation (`get`, `put`, `list`, ...).
        operation: &'static str,
        /// The object path.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },

    /// Arrow failed while building or reshaping record batches.
    #[error("arrow error while {context}")]
    Arrow {
        /// What was being done.
        context: String,
        /// Arrow's error.
        #[source]
        source: arrow_schema::ArrowError,
    },

    /// Writing a Parquet data file failed.
    #[error("writing parquet data for {table} failed")]
    ParquetWrite {
        /// The table.
        table: String,
        /// Parquet's error.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// Serializing a manifest or row failed.
    #[error("serializing {what} failed")]
    Serialize {
        /// What was serialized.
        what: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },

    /// The shared table model (`tableshare-core`) refused something.
    #[error("{context}")]
    Core {
        /// What was being done.
        context: String,
        /// The core error.
        #[source]
        source: tableshare_core::CoreError,
    },

    /// A background task could not be started (no tokio runtime).
    #[error("{what} needs a running tokio runtime")]
    NoRuntime {
        /// What needed the runtime.
        what: &'static str,
    },
}

/// Why an object is considered corrupt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptReason {
    /// The object's size differs from the size the manifest recorded.
    SizeMismatch {
        /// Recorded size.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// The object's BLAKE3 hash differs from the recorded hash.
    HashMismatch {
        /// Recorded hash (hex).
        expected: String,
        /// Actual hash (hex).
        actual: String,
    },
    /// The object is referenced by a manifest but missing from the store.
    Missing,
    /// The bytes cannot be decoded (truncated, not Parquet / JSON / roaring).
    Undecodable,
    /// The bytes decode but contradict the manifest or themselves.
    Inconsistent(&'static str),
    /// Version `version` records a parent hash that is not the hash of the manifest stored as
    /// version `parent`: the chain was forked or spliced.
    ChainBroken {
        /// The child version (whose manifest records the hash).
        version: u64,
        /// The parent version whose manifest differs.
        parent: u64,
    },
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SizeMismatch { expected, actual } => {
                write!(f, "size is {actual} bytes, manifest records {expected}")
            }
            Self::HashMismatch { expected, actual } => {
                write!(f, "BLAKE3 is {actual}, manifest records {expected}")
            }
            Self::Missing => f.write_str("referenced but missing"),
            Self::Undecodable => f.write_str("cannot be decoded"),
            Self::Inconsistent(what) => write!(f, "inconsistent: {what}"),
            Self::ChainBroken { version, parent } => write!(
                f,
                "version {version} records a parent hash that is not the hash of version \
                 {parent}'s manifest (the chain was forked or spliced)"
            ),
        }
    }
}

impl StorageError {
    pub(crate) fn store(
        operation: &'static str,
        path: &impl fmt::Display,
    ) -> impl FnOnce(object_store::Error) -> Self {
        let path = path.to_string();
        move |source| Self::Store {
            operation,
            path,
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<String>, reason: CorruptReason) -> Self {
        Self::Corrupt {
            path: path.into(),
            reason,
            source: None,
        }
    }

    pub(crate) fn undecodable(path: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Corrupt {
            path: path.into(),
            reason: CorruptReason::Undecodable,
            source: Some(source.into()),
        }
    }

    pub(crate) fn arrow(
        context: impl Into<String>,
    ) -> impl FnOnce(arrow_schema::ArrowError) -> Self {
        let context = context.into();
        move |source| Self::Arrow { context, source }
    }

    pub(crate) fn invalid(table: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidArgument {
            table: table.into(),
            reason: reason.into(),
        }
    }
}
