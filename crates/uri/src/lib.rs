//! Parse and format every tableshare table address.
//!
//! Tables are named by address everywhere: on the command line, in configuration, between
//! workers. This crate is the one place that knows the grammar of those addresses, so that every
//! other crate handles typed values instead of strings, and a string that parses anywhere means
//! the same thing everywhere. It does no IO and nothing async.
//!
//! | kind | address | type |
//! | --- | --- | --- |
//! | cloud table | `pxt://ORG[:DB]/PATH[:VERSION]` | [`CloudUri`] |
//! | worker table | `pq://WORKER/scope/TABLE[?OPTIONS]` | [`WorkerUri`] |
//! | direct worker address | `ts://HOST[:PORT]/scope/TABLE[?OPTIONS]` (TLS), `ts+plain://…` | [`DirectUri`] |
//!
//! Inside one catalog a table is named by its dotted [`TablePath`], and a version of it by a
//! [`VersionedPath`] (`dir.table:3`).
//!
//! [`TableUri`] is any of the three. Every type parses with `parse` or [`str::parse`] and formats
//! with [`Display`](std::fmt::Display) to its canonical form; parsing the canonical form gives the
//! same value back. Builders make values from parts and validate them the same way. Errors are
//! [`UriError`] values that say what is wrong and where (byte positions into the input).
//!
//! With serde, addresses serialize to the JSON objects of `tableshare uri parse --json`:
//! `{"kind":"cloud",…}`, `{"kind":"worker",…}`, `{"kind":"direct",…}`, with every subscription
//! option written out.
//!
//! # Cloud tables
//!
//! A table published to a cloud root, by organisation, optional database, dotted path and optional
//! version (the latest when absent). `/` in the path is accepted and normalised to `.`.
//!
//! ```
//! use tableshare_uri::{CloudUri, TablePath};
//!
//! let uri = CloudUri::parse("pxt://team/shared/dataset_name:3")?;
//! assert_eq!(uri.org(), "team");
//! assert_eq!(uri.db(), None);
//! assert_eq!(uri.path(), &TablePath::parse("shared.dataset_name")?);
//! assert_eq!(uri.version(), Some(3));
//! assert_eq!(uri.to_string(), "pxt://team/shared.dataset_name:3");
//! # Ok::<(), tableshare_uri::UriError>(())
//! ```
//!
//! # Worker tables
//!
//! A table served live by a worker found by name or serial, with [`SubscriptionOptions`] after
//! `?` (the Deephaven-style URIs of seed 001). Names are percent-encoded.
//!
//! ```
//! use std::time::Duration;
//! use tableshare_uri::{OnDisconnect, WorkerRef, WorkerUri};
//!
//! let uri: WorkerUri =
//!     "pq://SomePQ/scope/some_table?columns=Col1,Col2,Col3&retryWindowMillis=30000&maxRetries=3&blink"
//!         .parse()?;
//! assert_eq!(uri.worker(), &WorkerRef::Name("SomePQ".into()));
//! assert_eq!(uri.table(), "some_table");
//! let options = uri.options();
//! assert_eq!(options.columns.as_deref(), Some(&["Col1".into(), "Col2".into(), "Col3".into()][..]));
//! assert_eq!(options.retry_window, Duration::from_millis(30_000));
//! assert_eq!(options.max_retries, Some(3));
//! assert!(options.blink);
//! assert_eq!(options.on_disconnect, OnDisconnect::Clear);
//!
//! let built = WorkerUri::builder("Sla\\sh PQ")
//!     .table("some_table")
//!     .on_disconnect(OnDisconnect::Retain)
//!     .build()?;
//! assert_eq!(built.to_string(), "pq://Sla%5Csh%20PQ/scope/some_table?onDisconnect=retain");
//! # Ok::<(), tableshare_uri::UriError>(())
//! ```
//!
//! # Direct worker addresses
//!
//! A table of a worker at a host and port, over TLS (`ts://`) or in plaintext (`ts+plain://`).
//! The port defaults to [`DEFAULT_PORT`] and the canonical form always writes it.
//!
//! ```
//! use tableshare_uri::{DirectUri, TableUri};
//!
//! let uri = TableUri::parse("ts://[::1]/scope/dir.table?snapshot=true")?;
//! let TableUri::Direct(direct) = &uri else { panic!("a direct address") };
//! assert_eq!(direct.host(), "[::1]");
//! assert_eq!(direct.port(), 8470);
//! assert!(direct.tls());
//! assert_eq!(uri.to_string(), "ts://[::1]:8470/scope/dir.table?snapshot=true");
//!
//! let plain = DirectUri::builder("localhost").tls(false).port(9000).table("t").blink(true).build()?;
//! assert_eq!(plain.to_string(), "ts+plain://localhost:9000/scope/t?blink");
//! # Ok::<(), tableshare_uri::UriError>(())
//! ```
//!
//! # Errors
//!
//! ```
//! use tableshare_uri::{TableUri, UriError};
//!
//! let err = TableUri::parse("pq://SomePQ/scope/some_table?onDisconect=retain").unwrap_err();
//! assert!(matches!(
//!     &err,
//!     UriError::UnknownOption { option, suggestion: Some("onDisconnect"), .. } if option == "onDisconect"
//! ));
//! assert!(err.to_string().contains("did you mean `onDisconnect`?"));
//! ```
//!
//! # Feature flags
//!
//! None: serde support is always on, because the CLI's JSON output is part of the contract.

#![deny(missing_docs)]

mod cloud;
mod direct;
mod error;
mod ident;
mod json;
mod options;
mod path;
mod syntax;
mod table_uri;
mod versioned;
mod worker;

pub use cloud::{CloudUri, CloudUriBuilder};
pub use direct::{DEFAULT_PORT, DirectUri, DirectUriBuilder};
pub use error::{HostProblem, IdentifierProblem, UriError, UriPart};
pub use ident::{MAX_IDENTIFIER_LEN, validate_identifier};
pub use options::{OnDisconnect, SubscriptionOptions};
pub use path::TablePath;
pub use table_uri::TableUri;
pub use versioned::VersionedPath;
pub use worker::{WorkerRef, WorkerUri, WorkerUriBuilder};
