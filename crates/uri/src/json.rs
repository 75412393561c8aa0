//! The serde form of addresses: exactly the JSON objects `tableshare uri parse --json` prints
//! (see the CLI contract), so the CLI and any embedder just serialize.
//!
//! ```text
//! {"kind":"cloud","org":"alice","db":null,"path":"dir.sub.table","version":null}
//! {"kind":"worker","worker":{"name":"SomePQ"},"table":"some_table","options":OPTIONS}
//! {"kind":"worker","worker":{"serial":1234567890},"table":"some_table","options":OPTIONS}
//! {"kind":"direct","host":"h","port":8470,"tls":true,"table":"t","options":OPTIONS}
//! OPTIONS = {"snapshot":false,"columns":null,"on_disconnect":"clear","retry_window_ms":300000,
//!            "max_retries":null,"blink":false}
//! ```
//!
//! Serializing writes every field, defaults included, in that order. Deserializing goes through
//! the builders, so JSON is held to the same rules as addresses (an invalid name is an error);
//! unknown fields are errors; a missing `options` object, or a missing field inside it, takes the
//! default. [`CloudUri`], [`WorkerUri`] and [`DirectUri`] serialize to the same objects as the
//! [`TableUri`] holding them, `kind` included, and deserialize only from their own kind.

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cloud::CloudUri;
use crate::direct::DirectUri;
use crate::error::UriError;
use crate::options::{DEFAULT_RETRY_WINDOW_MS, OnDisconnect, SubscriptionOptions};
use crate::path::TablePath;
use crate::table_uri::TableUri;
use crate::worker::{WorkerRef, WorkerUri};

/// The wire form of every address kind: `kind` first, then the kind's fields.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum RawTableUri {
    Cloud(RawCloud),
    Worker(RawWorker),
    Direct(RawDirect),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloud {
    org: String,
    db: Option<String>,
    path: String,
    version: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorker {
    worker: WorkerRef,
    table: String,
    #[serde(default)]
    options: SubscriptionOptions,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirect {
    host: String,
    port: u16,
    tls: bool,
    table: String,
    #[serde(default)]
    options: SubscriptionOptions,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawOptions {
    snapshot: bool,
    columns: Option<Vec<String>>,
    on_disconnect: OnDisconnect,
    retry_window_ms: u64,
    max_retries: Option<u32>,
    blink: bool,
}

impl RawTableUri {
    fn kind(&self) -> &'static str {
        match self {
            Self::Cloud(_) => "cloud",
            Self::Worker(_) => "worker",
            Self::Direct(_) => "direct",
        }
    }

    fn into_uri(self) -> Result<TableUri, UriError> {
        Ok(match self {
            Self::Cloud(raw) => TableUri::Cloud(raw.into_uri()?),
            Self::Worker(raw) => TableUri::Worker(raw.into_uri()?),
            Self::Direct(raw) => TableUri::Direct(raw.into_uri()?),
        })
    }
}

impl RawCloud {
    fn from_uri(uri: &CloudUri) -> Self {
        Self {
            org: uri.org().to_owned(),
            db: uri.db().map(str::to_owned),
            path: uri.path().to_string(),
            version: uri.version(),
        }
    }

    fn into_uri(self) -> Result<CloudUri, UriError> {
        let mut builder = CloudUri::builder(self.org)
            .path(self.path)
            .version(self.version);
        if let Some(db) = self.db {
            builder = builder.db(db);
        }
        builder.build()
    }
}

impl RawWorker {
    fn from_uri(uri: &WorkerUri) -> Self {
        Self {
            worker: uri.worker().clone(),
            table: uri.table().to_owned(),
            options: uri.options().clone(),
        }
    }

    fn into_uri(self) -> Result<WorkerUri, UriError> {
        WorkerUri::builder(self.worker)
            .table(self.table)
            .options(self.options)
            .build()
    }
}

impl RawDirect {
    fn from_uri(uri: &DirectUri) -> Self {
        Self {
            host: uri.host().to_owned(),
            port: uri.port(),
            tls: uri.tls(),
            table: uri.table().to_owned(),
            options: uri.options().clone(),
        }
    }

    fn into_uri(self) -> Result<DirectUri, UriError> {
        DirectUri::builder(self.host)
            .port(self.port)
            .tls(self.tls)
            .table(self.table)
            .options(self.options)
            .build()
    }
}

impl Default for RawOptions {
    fn default() -> Self {
        let defaults = SubscriptionOptions::default();
        Self {
            snapshot: defaults.snapshot,
            columns: defaults.columns,
            on_disconnect: defaults.on_disconnect,
            retry_window_ms: DEFAULT_RETRY_WINDOW_MS,
            max_retries: defaults.max_retries,
            blink: defaults.blink,
        }
    }
}

impl Serialize for TableUri {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Cloud(uri) => uri.serialize(serializer),
            Self::Worker(uri) => uri.serialize(serializer),
            Self::Direct(uri) => uri.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for TableUri {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RawTableUri::deserialize(deserializer)?
            .into_uri()
            .map_err(D::Error::custom)
    }
}

/// Serialize and Deserialize for one address kind, through [`RawTableUri`].
macro_rules! kind_serde {
    ($uri:ty, $variant:ident, $raw:ident, $kind:literal) => {
        impl Serialize for $uri {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                RawTableUri::$variant($raw::from_uri(self)).serialize(serializer)
            }
        }

        impl<'de> Deserialize<'de> for $uri {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                match RawTableUri::deserialize(deserializer)? {
                    RawTableUri::$variant(raw) => raw.into_uri().map_err(D::Error::custom),
                    other => Err(D::Error::custom(format_args!(
                        "expected an address of kind `{}`, found kind `{}`",
                        $kind,
                        other.kind()
                    ))),
                }
            }
        }
    };
}

kind_serde!(CloudUri, Cloud, RawCloud, "cloud");
kind_serde!(WorkerUri, Worker, RawWorker, "worker");
kind_serde!(DirectUri, Direct, RawDirect, "direct");

impl Serialize for SubscriptionOptions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let retry_window_ms = self.retry_window_millis().ok_or_else(|| {
            S::Error::custom(UriError::InvalidRetryWindow {
                window: self.retry_window,
            })
        })?;
        RawOptions {
            snapshot: self.snapshot,
            columns: self.columns.clone(),
            on_disconnect: self.on_disconnect,
            retry_window_ms,
            max_retries: self.max_retries,
            blink: self.blink,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SubscriptionOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawOptions::deserialize(deserializer)?;
        let options = Self {
            snapshot: raw.snapshot,
            columns: raw.columns,
            on_disconnect: raw.on_disconnect,
            retry_window: std::time::Duration::from_millis(raw.retry_window_ms),
            max_retries: raw.max_retries,
            blink: raw.blink,
        };
        options.validate().map_err(D::Error::custom)?;
        Ok(options)
    }
}

impl Serialize for TablePath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TablePath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(D::Error::custom)
    }
}
