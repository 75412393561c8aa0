//! [`RemoteError`]: what can go wrong serving, resolving, subscribing to or snapshotting a remote
//! table. Every variant names the worker and table involved, so a message on its own says where
//! to look.

use std::time::Duration;

use tableshare_core::CoreError;

/// A result with a [`RemoteError`].
pub type Result<T, E = RemoteError> = std::result::Result<T, E>;

/// Everything that can go wrong with remote tables.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The worker could not be reached (not running, not registered, or its directory entry is
    /// stale).
    #[error("worker `{worker}` is down (table `{table}`): {reason}")]
    WorkerDown {
        /// The worker, as the address named it (name, serial or host:port).
        worker: String,
        /// The table asked for.
        table: String,
        /// Why it counts as down.
        reason: String,
    },

    /// The worker does not serve a table of that name.
    #[error("worker `{worker}` has no table `{table}`")]
    TableNotFound {
        /// The worker.
        worker: String,
        /// The table asked for.
        table: String,
    },

    /// The worker refused the request's credentials.
    #[error("worker `{worker}` refused access to table `{table}`: {message}")]
    Unauthenticated {
        /// The worker.
        worker: String,
        /// The table asked for.
        table: String,
        /// The worker's message.
        message: String,
    },

    /// The upstream table does not satisfy the definition given up front, or a requested column
    /// is absent.
    #[error("table `{table}` of worker `{worker}` does not fit: {source}")]
    Definition {
        /// The worker.
        worker: String,
        /// The table.
        table: String,
        /// The first column that does not fit, named.
        #[source]
        source: Box<CoreError>,
    },

    /// Reconnecting failed for as long as the subscription's options allow.
    #[error(
        "gave up reconnecting to table `{table}` of worker `{worker}` after {attempts} attempt(s) in {elapsed:?} (retry window {window:?}, max retries {}): {last_error}",
        limit_text(*.max_retries)
    )]
    RetriesExhausted {
        /// The worker.
        worker: String,
        /// The table.
        table: String,
        /// Connection attempts made since the disconnect.
        attempts: u32,
        /// Time since the disconnect.
        elapsed: Duration,
        /// The subscription's retry window.
        window: Duration,
        /// The subscription's retry limit (`None`: unlimited).
        max_retries: Option<u32>,
        /// The error of the last attempt.
        last_error: String,
    },

    /// The other side broke the protocol: a malformed request, metadata or batch.
    #[error("protocol error with worker `{worker}` (table `{table}`): {message}")]
    Protocol {
        /// The worker.
        worker: String,
        /// The table.
        table: String,
        /// What was wrong.
        message: String,
    },

    /// The worker reported an error for the table (it failed, or refused the request).
    #[error("worker `{worker}` reported for table `{table}`: {message}")]
    Upstream {
        /// The worker.
        worker: String,
        /// The table.
        table: String,
        /// The worker's message.
        message: String,
    },

    /// The address cannot be used here (a cloud `pxt://` address, a TLS address without TLS
    /// configuration, …).
    #[error("cannot use address `{address}`: {reason}")]
    Address {
        /// The address.
        address: String,
        /// Why.
        reason: String,
    },

    /// Serving failed: binding the listen address, or the server stopped with an error.
    #[error("worker `{worker}` could not serve on {listen}: {message}")]
    Serve {
        /// The worker's name.
        worker: String,
        /// The listen address.
        listen: String,
        /// What went wrong.
        message: String,
    },

    /// Reading or writing the worker directory failed.
    #[error("worker directory at `{location}`: {message}")]
    Directory {
        /// Where the directory lives.
        location: String,
        /// What went wrong.
        message: String,
    },

    /// An error of the table model (applying a step to the local copy, …).
    #[error(transparent)]
    Core(Box<CoreError>),
}

impl From<CoreError> for RemoteError {
    fn from(error: CoreError) -> Self {
        Self::Core(Box::new(error))
    }
}

/// A retry limit for messages.
fn limit_text(limit: Option<u32>) -> String {
    limit.map_or_else(|| "unlimited".to_owned(), |max| max.to_string())
}
