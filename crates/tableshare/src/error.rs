//! The facade's one error type: whichever layer failed, with that layer's own error inside, so
//! a program embedding the facade matches on one enum and still reaches the details (the table,
//! version, worker or address involved) through the layer's error.

use thiserror::Error;

/// What went wrong, by the layer that reported it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// An address that does not parse or names the wrong kind of table.
    #[error(transparent)]
    Uri(#[from] tableshare_uri::UriError),
    /// The table model refused (a schema that does not fit, rows that do not fit a schema, a
    /// live table's step).
    #[error(transparent)]
    Table(#[from] tableshare_core::CoreError),
    /// The local catalog or a stored table refused or failed.
    #[error(transparent)]
    Storage(#[from] tableshare_storage::StorageError),
    /// Publishing, pushing, replicating or pulling failed.
    #[error(transparent)]
    Transport(#[from] tableshare_transport::TransportError),
    /// A worker, a subscription or the worker directory failed.
    #[error(transparent)]
    Remote(#[from] tableshare_remote::RemoteError),
    /// The table data service or one of its backends failed.
    #[error(transparent)]
    Tds(#[from] tableshare_tds::TdsError),
    /// A query, a view definition or a SQL update or delete failed.
    #[error(transparent)]
    Query(#[from] tableshare_query::QueryError),
    /// Rows could not be rendered or assembled.
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The home folder could not be found or prepared.
    #[error("tableshare home `{home}`: {message}")]
    Home {
        /// The folder.
        home: String,
        /// What was wrong with it.
        message: String,
    },
}

/// The facade's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
