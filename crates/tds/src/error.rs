//! The service's errors: every one names the backend, the table and (when it concerns one) the
//! location and column, so a failing table says exactly which callback of which backend broke.

use std::fmt;
use std::time::Duration;

use tableshare_core::CoreError;

use crate::backend::BackendError;

/// The result type of this crate.
pub type Result<T, E = TdsError> = std::result::Result<T, E>;

/// Which backend, table, location and column an error concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// The backend's [name](crate::TableDataServiceBackend::name).
    pub backend: String,
    /// The table key, displayed.
    pub table: String,
    /// The location key, displayed, when the error concerns one location.
    pub location: Option<String>,
    /// The column, when the error concerns one column.
    pub column: Option<String>,
}

impl Context {
    pub(crate) fn table(backend: &str, table: &dyn fmt::Display) -> Self {
        let table = match table.to_string() {
            empty if empty.is_empty() => "\"\"".to_string(),
            named => named,
        };
        Self {
            backend: backend.to_string(),
            table,
            location: None,
            column: None,
        }
    }

    pub(crate) fn at(&self, location: &dyn fmt::Display) -> Self {
        Self {
            location: Some(location.to_string()),
            ..self.clone()
        }
    }

    pub(crate) fn column(&self, column: &str) -> Self {
        Self {
            column: Some(column.to_string()),
            ..self.clone()
        }
    }
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "backend {}, table {}", self.backend, self.table)?;
        if let Some(location) = &self.location {
            write!(f, ", location {location}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong between a backend and a table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TdsError {
    /// A backend call returned an error (or a subscription reported a failure).
    #[error("{context}: {operation} failed: {error}")]
    Backend {
        /// What the error concerns.
        context: Box<Context>,
        /// The backend method.
        operation: &'static str,
        /// The backend's error (shown in this error's message, so not repeated as its source).
        error: BackendError,
    },

    /// A backend call did not answer within the service's timeout.
    #[error("{context}: {operation} did not answer within {after:?}")]
    Timeout {
        /// What the error concerns.
        context: Box<Context>,
        /// The backend method.
        operation: &'static str,
        /// The timeout.
        after: Duration,
    },

    /// A backend answered something that breaks the contract (partition values that are not
    /// one row of the partitioning schema, a wrong row count or type, a shrinking size, …).
    #[error("{context}: {operation} broke the backend contract: {problem}")]
    Contract {
        /// What the error concerns.
        context: Box<Context>,
        /// The backend method.
        operation: &'static str,
        /// What was wrong.
        problem: String,
    },

    /// The table model refused an update built from the backend's answers.
    #[error("{context}: the table refused a step: {error}")]
    Table {
        /// What the error concerns.
        context: Box<Context>,
        /// The table's error (shown in this error's message, so not repeated as its source).
        error: CoreError,
    },

    /// The table has no constituent or location of that name.
    #[error("{context}: not found")]
    NotFound {
        /// What was looked for.
        context: Box<Context>,
    },
}

impl TdsError {
    /// What the error concerns.
    pub fn context(&self) -> &Context {
        match self {
            Self::Backend { context, .. }
            | Self::Timeout { context, .. }
            | Self::Contract { context, .. }
            | Self::Table { context, .. }
            | Self::NotFound { context } => context,
        }
    }
}
