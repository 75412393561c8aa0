//! The one error type of the query layer.
//!
//! Callers (the CLI above all) must tell bad input from a failed operation: a SQL text that does
//! not parse, names an unknown column or does not type-check is [`QueryError::Sql`], with nothing
//! read or changed; a table that does not exist is [`QueryError::TableNotFound`]; what the
//! storage engine refuses or fails at keeps its [`StorageError`] as the source.

use datafusion::error::DataFusionError;
use tableshare_storage::StorageError;

/// Result alias of the query layer.
pub type Result<T, E = QueryError> = std::result::Result<T, E>;

/// Everything that can go wrong in the query layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The SQL text does not parse, does not plan (unknown column or function, type mismatch),
    /// or is not the kind of statement asked for. Nothing was read or changed.
    #[error("invalid SQL {what}: {source}")]
    Sql {
        /// What the text was (`query`, `expression`, `filter`, `SET value of price`, …).
        what: String,
        /// DataFusion's explanation.
        #[source]
        source: Box<DataFusionError>,
    },

    /// A table named in a query is neither in the catalog nor registered.
    #[error("table not found: {name}")]
    TableNotFound {
        /// The name as written (its dotted path).
        name: String,
    },

    /// A view definition that cannot be evaluated (its base has no such column, a column
    /// name is taken twice, …).
    #[error("invalid view {view}: {reason}")]
    InvalidView {
        /// The view's path (or `(new view)` while creating one).
        view: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The storage engine refused or failed (read-only table, conflict, corrupt file, …).
    #[error(transparent)]
    Storage(#[from] StorageError),

    /// The core table model refused an update or snapshot (a live view's step).
    #[error(transparent)]
    Core(#[from] tableshare_core::CoreError),

    /// Running a query failed (reading a table, evaluating an expression on the data).
    #[error("query failed: {source}")]
    Execution {
        /// DataFusion's error; a storage error that ended a scan is inside it.
        #[source]
        source: Box<DataFusionError>,
    },
}

impl QueryError {
    /// Whether this is bad input (SQL, names, view definitions) with nothing changed, as opposed
    /// to a failed or refused operation.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Sql { .. } | Self::InvalidView { .. } => true,
            Self::Storage(err) => matches!(
                err,
                StorageError::InvalidPath { .. } | StorageError::InvalidArgument { .. }
            ),
            _ => false,
        }
    }

    /// A planning error of `what` (parse, unknown column, types): bad SQL.
    pub(crate) fn sql(what: impl Into<String>) -> impl FnOnce(DataFusionError) -> Self {
        let what = what.into();
        move |source| classify(source, what)
    }

    /// An error met while running a query planned by this crate (for instance collecting a
    /// [`QueryContext::dataframe`](crate::QueryContext::dataframe)): a storage error inside it
    /// comes back out as [`QueryError::Storage`].
    pub fn from_datafusion(source: DataFusionError) -> Self {
        Self::exec(source)
    }

    /// An error while running a query.
    pub(crate) fn exec(source: DataFusionError) -> Self {
        match unwrap_external(source) {
            Ok(storage) => Self::Storage(storage),
            Err(source) => Self::Execution {
                source: Box::new(source),
            },
        }
    }
}

/// Sorts a DataFusion error met while planning: storage errors inside it come back out; the
/// rest is bad SQL.
fn classify(source: DataFusionError, what: String) -> QueryError {
    match unwrap_external(source) {
        Ok(storage) => QueryError::Storage(storage),
        Err(source) => QueryError::Sql {
            what,
            source: Box::new(source),
        },
    }
}

/// The storage error a DataFusion error carries (scans report theirs as `External`), if any.
fn unwrap_external(err: DataFusionError) -> std::result::Result<StorageError, DataFusionError> {
    match err {
        DataFusionError::External(inner) => match inner.downcast::<StorageError>() {
            Ok(storage) => Ok(*storage),
            Err(other) => Err(DataFusionError::External(other)),
        },
        DataFusionError::Context(ctx, inner) => match unwrap_external(*inner) {
            Ok(storage) => Ok(storage),
            Err(inner) => Err(DataFusionError::Context(ctx, Box::new(inner))),
        },
        DataFusionError::Shared(shared) => match std::sync::Arc::try_unwrap(shared) {
            Ok(inner) => unwrap_external(inner),
            Err(shared) => Err(DataFusionError::Shared(shared)),
        },
        other => Err(other),
    }
}

/// A storage error as DataFusion carries it (recovered by [`QueryError::exec`]).
pub(crate) fn to_df(err: StorageError) -> DataFusionError {
    DataFusionError::External(Box::new(err))
}
