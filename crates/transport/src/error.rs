//! [`TransportError`]: what can go wrong while sharing a table, each variant naming the table,
//! version, file or setting involved.

use tableshare_storage::StorageError;
use tableshare_uri::UriError;

/// The result type of the transport.
pub type Result<T, E = TransportError> = std::result::Result<T, E>;

/// Why a sharing operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The address does not parse (or names something the operation cannot take).
    #[error("invalid address: {source}")]
    InvalidAddress {
        /// What the parser said.
        #[from]
        source: UriError,
    },
    /// An operation that changes the cloud (publish, push, drop) or reads a private table was
    /// attempted without the org's key.
    #[error(
        "{operation} needs the org's key: set TABLESHARE_API_KEY or put `api_key = \"…\"` in \
         {config}"
    )]
    KeyRequired {
        /// The operation refused (`publish`, `push`, …).
        operation: &'static str,
        /// Where the config file is looked for.
        config: String,
    },
    /// The key given is not the org's key, or a private table was read without its key.
    #[error("access denied to {address}: {reason}")]
    AccessDenied {
        /// The cloud address.
        address: String,
        /// What was checked.
        reason: String,
    },
    /// A cloud version did not verify against the org's pinned public key.
    #[error("{address} version {version} is not signed by the org's key ({reason}): refused")]
    Unauthentic {
        /// The cloud address.
        address: String,
        /// The version refused.
        version: u64,
        /// What failed (missing signature, bad signature).
        reason: String,
    },
    /// The cloud table exists already (publish) or the local path is taken.
    #[error("{what} already exists")]
    AlreadyExists {
        /// The address or path.
        what: String,
    },
    /// The cloud table does not exist.
    #[error("no published table at {address}")]
    NotFound {
        /// The cloud address.
        address: String,
    },
    /// The cloud table moved on in a way the local table does not contain: pushing would
    /// overwrite someone else's versions.
    #[error(
        "non-fast-forward: {address} is at version {remote_version}, which the local table \
         {table} (at version {local_version}) does not contain; nothing was overwritten"
    )]
    NonFastForward {
        /// The cloud address.
        address: String,
        /// The local table.
        table: String,
        /// The local table's latest version.
        local_version: u64,
        /// The cloud table's version that conflicts.
        remote_version: u64,
    },
    /// The local table is not in the state the operation needs (not published, not a replica,
    /// a replica that is read-only).
    #[error("{table}: {reason}")]
    WrongState {
        /// The local path.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// A manifest or object from the cloud is malformed or hostile (a file outside the table,
    /// a name that is not content-addressed, a size that lies).
    #[error("refused {address} version {version}: {reason}")]
    Hostile {
        /// The cloud address.
        address: String,
        /// The version whose manifest was refused.
        version: u64,
        /// What was wrong.
        reason: String,
    },
    /// The cloud configuration (config.toml, a root URL) is invalid.
    #[error("cloud configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// A storage error (store IO, verification failure naming the file, conflicts).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl TransportError {
    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Self::Config {
            reason: reason.into(),
        }
    }
}
