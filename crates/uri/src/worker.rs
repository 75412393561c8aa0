//! [`WorkerUri`]: `pq://WORKER/scope/TABLE[?OPTIONS]`, a table served live by a named worker.
//!
//! This is the Deephaven-style address of seed 001: the worker is found through the worker
//! directory by name or serial, so the address says nothing about hosts or ports (for that, see
//! [`DirectUri`](crate::DirectUri)).

use std::fmt;
use std::str::FromStr;

use crate::error::{UriError, UriPart};
use crate::options::{SubscriptionOptions, option_setters};
use crate::syntax::{
    EncodedWorkerName, decode, is_all_digits, parse_scope_table, split_scheme, unsupported_scheme,
    write_scope_table,
};

/// The scheme of worker addresses, for messages.
pub(crate) const WORKER_SCHEMES: &str = "`pq://`";

/// Which worker serves the table: by name or by serial number.
///
/// In an address, a worker written only with ASCII digits is a serial; anything else is a
/// percent-decoded name.
///
/// In JSON: `{"name":"SomePQ"}` or `{"serial":1234567890}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerRef {
    /// The worker's name (any non-empty string).
    Name(String),
    /// The worker's serial number.
    Serial(u64),
}

impl From<u64> for WorkerRef {
    fn from(serial: u64) -> Self {
        Self::Serial(serial)
    }
}

impl From<String> for WorkerRef {
    fn from(name: String) -> Self {
        Self::Name(name)
    }
}

impl From<&str> for WorkerRef {
    fn from(name: &str) -> Self {
        Self::Name(name.to_owned())
    }
}

/// A table served by a worker: `pq://WORKER/scope/TABLE[?OPTIONS]`.
///
/// * WORKER: a serial (only ASCII digits, a `u64`) or a percent-encoded name (decoded as UTF-8).
///   Formatting encodes every byte of a name except ASCII letters, digits and `-._~`, and encodes
///   the first digit of an all-digit name (`%31…`) so that it does not read back as a serial.
/// * `scope`: the only namespace.
/// * TABLE: any non-empty string, percent-encoded like a name (dots stay literal: `dir.table`).
/// * OPTIONS: see [`SubscriptionOptions`]. The canonical form writes only those that differ from
///   their defaults, in a fixed order.
///
/// When parsing, characters that are not allowed raw in a URI path (spaces, `#`, non-ASCII, …)
/// must be percent-encoded; `+` is a literal plus.
///
/// # Examples
///
/// ```
/// use tableshare_uri::{WorkerRef, WorkerUri};
///
/// let uri = WorkerUri::parse("pq://Sla%5Csh%20PQ/scope/some_table?columns=Col1,Col2&blink")?;
/// assert_eq!(uri.worker(), &WorkerRef::Name("Sla\\sh PQ".into()));
/// assert_eq!(uri.table(), "some_table");
/// assert_eq!(uri.options().columns, Some(vec!["Col1".into(), "Col2".into()]));
/// assert!(uri.options().blink);
///
/// let by_serial = WorkerUri::builder(1234567890).table("some_table").snapshot(true).build()?;
/// assert_eq!(by_serial.to_string(), "pq://1234567890/scope/some_table?snapshot=true");
/// # Ok::<(), tableshare_uri::UriError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkerUri {
    worker: WorkerRef,
    table: String,
    options: SubscriptionOptions,
}

impl WorkerUri {
    /// Parses a `pq://` address.
    ///
    /// # Errors
    ///
    /// A [`UriError`] naming what is wrong: another scheme, a missing worker, a serial that does
    /// not fit in a `u64`, a badly encoded name, a namespace other than `scope`, a missing table,
    /// extra path after the table, or a bad option.
    pub fn parse(input: &str) -> Result<Self, UriError> {
        let (scheme, rest, start) = split_scheme(input, WORKER_SCHEMES)?;
        if !scheme.eq_ignore_ascii_case("pq") {
            return Err(unsupported_scheme(input, scheme, WORKER_SCHEMES));
        }
        Self::parse_after_scheme(input, rest, start)
    }

    /// Parses what follows `pq://`; `rest` starts at byte `start` of `input`.
    pub(crate) fn parse_after_scheme(
        input: &str,
        rest: &str,
        start: usize,
    ) -> Result<Self, UriError> {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let raw = &rest[..end];
        if raw.is_empty() {
            return Err(UriError::MissingWorker {
                input: input.to_owned(),
            });
        }
        // The serial/name decision is made on the raw text, before decoding.
        let worker = if is_all_digits(raw) {
            let serial = raw.parse().map_err(|_| UriError::SerialOverflow {
                input: input.to_owned(),
                serial: raw.to_owned(),
            })?;
            WorkerRef::Serial(serial)
        } else {
            WorkerRef::Name(decode(input, start, raw, UriPart::Worker, &[])?)
        };
        let (table, options) = parse_scope_table(input, start + end, &rest[end..])?;
        Ok(Self {
            worker,
            table,
            options,
        })
    }

    /// Starts building an address for a table of `worker` (a [`WorkerRef`], a serial `u64` or a
    /// name).
    pub fn builder(worker: impl Into<WorkerRef>) -> WorkerUriBuilder {
        WorkerUriBuilder {
            worker: worker.into(),
            table: String::new(),
            options: SubscriptionOptions::default(),
        }
    }

    /// The worker serving the table.
    pub fn worker(&self) -> &WorkerRef {
        &self.worker
    }

    /// The table's name in the worker's scope (decoded).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// How to ingest the table.
    pub fn options(&self) -> &SubscriptionOptions {
        &self.options
    }
}

impl fmt::Display for WorkerUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pq://")?;
        match &self.worker {
            WorkerRef::Name(name) => write!(f, "{}", EncodedWorkerName(name))?,
            WorkerRef::Serial(serial) => write!(f, "{serial}")?,
        }
        write_scope_table(f, &self.table, &self.options)
    }
}

impl FromStr for WorkerUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Builds a [`WorkerUri`] from its parts; [`build`](Self::build) validates them.
///
/// Made by [`WorkerUri::builder`]. Every option starts at its default.
#[derive(Debug, Clone)]
#[must_use]
pub struct WorkerUriBuilder {
    worker: WorkerRef,
    table: String,
    options: SubscriptionOptions,
}

impl WorkerUriBuilder {
    /// The table's name in the worker's scope (required; any non-empty string).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    option_setters!();

    /// Validates the parts and makes the address.
    ///
    /// # Errors
    ///
    /// [`UriError::EmptyName`] for an empty worker name or table (a table is required), or the
    /// errors of [`SubscriptionOptions::validate`].
    pub fn build(self) -> Result<WorkerUri, UriError> {
        if matches!(&self.worker, WorkerRef::Name(name) if name.is_empty()) {
            return Err(UriError::EmptyName {
                part: UriPart::Worker,
            });
        }
        if self.table.is_empty() {
            return Err(UriError::EmptyName {
                part: UriPart::Table,
            });
        }
        self.options.validate()?;
        Ok(WorkerUri {
            worker: self.worker,
            table: self.table,
            options: self.options,
        })
    }
}
