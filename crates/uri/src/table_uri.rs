//! [`TableUri`]: any table address, dispatched on its scheme.
//!
//! Commands that accept "a table" (`uri parse`, `subscribe`, `snapshot`) take this type, so one
//! parser decides which kind of address a string is.

use std::fmt;
use std::str::FromStr;

use crate::cloud::CloudUri;
use crate::direct::DirectUri;
use crate::error::UriError;
use crate::syntax::{split_scheme, unsupported_scheme};
use crate::worker::WorkerUri;

/// Every scheme, for messages.
const ALL_SCHEMES: &str = "`pxt://`, `pq://`, `ts://` or `ts+plain://`";

/// Any table address: a cloud table, a worker table, or a table at a direct worker address.
///
/// # Examples
///
/// ```
/// use tableshare_uri::TableUri;
///
/// for text in [
///     "pxt://alice/shared.sample_data:3",
///     "pq://SomePQ/scope/some_table?blink",
///     "ts://worker.example.com:8470/scope/some_table",
/// ] {
///     let uri: TableUri = text.parse()?;
///     assert_eq!(uri.to_string(), text);
/// }
/// assert!(matches!(TableUri::parse("pq://1234567890/scope/t")?, TableUri::Worker(_)));
/// # Ok::<(), tableshare_uri::UriError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TableUri {
    /// `pxt://ORG[:DB]/PATH[:VERSION]`
    Cloud(CloudUri),
    /// `pq://WORKER/scope/TABLE[?OPTIONS]`
    Worker(WorkerUri),
    /// `ts://HOST[:PORT]/scope/TABLE[?OPTIONS]` or `ts+plain://…`
    Direct(DirectUri),
}

impl TableUri {
    /// Parses any table address; the scheme (matched case-insensitively) decides the kind.
    ///
    /// # Errors
    ///
    /// [`UriError::MissingScheme`] or [`UriError::UnsupportedScheme`] when the scheme is not one
    /// of `pxt`, `pq`, `ts`, `ts+plain`; otherwise the errors of [`CloudUri::parse`],
    /// [`WorkerUri::parse`] or [`DirectUri::parse`].
    pub fn parse(input: &str) -> Result<Self, UriError> {
        let (scheme, rest, start) = split_scheme(input, ALL_SCHEMES)?;
        match scheme.to_ascii_lowercase().as_str() {
            "pxt" => CloudUri::parse_after_scheme(input, rest, start).map(Self::Cloud),
            "pq" => WorkerUri::parse_after_scheme(input, rest, start).map(Self::Worker),
            "ts" => DirectUri::parse_after_scheme(input, true, rest, start).map(Self::Direct),
            "ts+plain" => {
                DirectUri::parse_after_scheme(input, false, rest, start).map(Self::Direct)
            }
            _ => Err(unsupported_scheme(input, scheme, ALL_SCHEMES)),
        }
    }
}

impl fmt::Display for TableUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cloud(uri) => uri.fmt(f),
            Self::Worker(uri) => uri.fmt(f),
            Self::Direct(uri) => uri.fmt(f),
        }
    }
}

impl FromStr for TableUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<CloudUri> for TableUri {
    fn from(uri: CloudUri) -> Self {
        Self::Cloud(uri)
    }
}

impl From<WorkerUri> for TableUri {
    fn from(uri: WorkerUri) -> Self {
        Self::Worker(uri)
    }
}

impl From<DirectUri> for TableUri {
    fn from(uri: DirectUri) -> Self {
        Self::Direct(uri)
    }
}
