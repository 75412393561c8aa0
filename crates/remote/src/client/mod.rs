//! The subscription client: [`resolve`] an address, or build a [`RemoteTableBuilder`], then
//! [`subscribe`](RemoteTableBuilder::subscribe) to a live copy or take a static
//! [`snapshot`](RemoteTableBuilder::snapshot).
//!
//! Ready means ready: `subscribe` returns once the upstream snapshot is applied to the local
//! table (unless the worker is down and a definition was given: then the table starts empty
//! with the definition's columns and fills when the worker comes up).

mod apply;
mod connect;
mod decode;
mod driver;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tableshare_core::{LiveTable, LiveTableOptions, Snapshot, Step, TableDefinition, TableSchema};
use tableshare_uri::{OnDisconnect, SubscriptionOptions, TableUri, WorkerRef};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::directory::Directory;
use crate::error::{RemoteError, Result};
use crate::wire::{DEFAULT_MAX_MESSAGE_BYTES, Request};
use apply::{LocalShape, reset_snapshot, to_mirror};
use connect::{Target, exchange};
use driver::Driver;

/// How the client reaches workers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The token sent to workers started with one (`TABLESHARE_WORKER_TOKEN` in the CLI).
    pub token: Option<String>,
    /// The worker directory that resolves `pq://` names.
    pub directory: Option<Directory>,
    /// A CA certificate (PEM) to trust for `ts://` workers.
    pub tls_ca_pem: Option<Vec<u8>>,
    /// The name to verify the worker's certificate against (default: the host).
    pub tls_domain: Option<String>,
    /// Largest gRPC message accepted or sent (default 64 MiB).
    pub max_message_bytes: usize,
    /// How long a connection attempt may take (default 2 s).
    pub connect_timeout: Duration,
    /// How long a silent connection stays up before it counts as cut (HTTP/2 keepalive,
    /// default 5 s).
    pub keepalive_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            token: None,
            directory: None,
            tls_ca_pem: None,
            tls_domain: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            connect_timeout: Duration::from_secs(2),
            keepalive_timeout: Duration::from_secs(5),
        }
    }
}

impl ClientConfig {
    /// With a worker token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// With a worker directory.
    pub fn with_directory(mut self, directory: Directory) -> Self {
        self.directory = Some(directory);
        self
    }

    /// Trusting `ca_pem` for TLS workers, verifying their certificate for `domain`.
    pub fn with_tls(mut self, ca_pem: impl Into<Vec<u8>>, domain: Option<String>) -> Self {
        self.tls_ca_pem = Some(ca_pem.into());
        self.tls_domain = domain;
        self
    }

    /// With a keepalive timeout.
    pub fn with_keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.keepalive_timeout = timeout;
        self
    }
}

/// Where a subscription stands.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SubscriptionState {
    /// Connecting for the first time.
    Connecting,
    /// Following the upstream.
    Live,
    /// Disconnected; attempt `attempt` to reconnect is under way.
    Reconnecting {
        /// Attempts since the disconnect, from 1.
        attempt: u32,
    },
    /// Given up; the local table has failed with this error.
    Failed {
        /// Why.
        error: Arc<RemoteError>,
    },
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting"),
            Self::Live => f.write_str("live"),
            Self::Reconnecting { attempt } => write!(f, "reconnecting (attempt {attempt})"),
            Self::Failed { error } => write!(f, "failed: {error}"),
        }
    }
}

/// One step applied to the local table.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Change {
    /// The upstream step the local table now equals (`None`: cleared on disconnect).
    pub upstream_step: Option<Step>,
    /// The upstream table's incarnation (`None`: cleared on disconnect).
    pub incarnation: Option<String>,
    /// The local table's step after applying it.
    pub local_step: Step,
    /// The local table's content after applying it.
    pub snapshot: Snapshot,
}

/// A live local copy of a remote table. Dropping it stops following (the [`LiveTable`] keeps
/// its content but no longer ticks).
#[derive(Debug)]
pub struct RemoteTable {
    table: LiveTable,
    state: watch::Receiver<SubscriptionState>,
    latest: watch::Receiver<Option<Change>>,
    changes: broadcast::Sender<Change>,
    task: JoinHandle<()>,
}

impl Drop for RemoteTable {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RemoteTable {
    /// The local table: snapshot it, subscribe to it, build on it.
    pub fn table(&self) -> &LiveTable {
        &self.table
    }

    /// The current state.
    pub fn state(&self) -> SubscriptionState {
        self.state.borrow().clone()
    }

    /// The state as a stream (a watch: every change, latest first when lagging).
    pub fn states(&self) -> watch::Receiver<SubscriptionState> {
        self.state.clone()
    }

    /// Every step applied from now on, with the upstream step it corresponds to.
    pub fn changes(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// The latest step applied.
    pub fn latest(&self) -> Option<Change> {
        self.latest.borrow().clone()
    }

    /// Waits until the local table holds upstream step `step` or later. When it returns, the
    /// change that brought that step has already been sent to every [`changes`](Self::changes)
    /// receiver.
    ///
    /// # Errors
    ///
    /// The subscription's error if it fails first.
    pub async fn wait_for_step(&self, step: Step) -> Result<Change> {
        let mut latest = self.latest.clone();
        let mut state = self.state.clone();
        loop {
            if let Some(change) = latest.borrow_and_update().clone()
                && change.upstream_step.is_some_and(|s| s >= step)
            {
                return Ok(change);
            }
            if let SubscriptionState::Failed { error } = &*state.borrow_and_update() {
                return Err(RemoteError::Upstream {
                    worker: String::new(),
                    table: String::new(),
                    message: error.to_string(),
                });
            }
            tokio::select! {
                changed = latest.changed() => if changed.is_err() { break },
                changed = state.changed() => if changed.is_err() { break },
            }
        }
        Err(RemoteError::Upstream {
            worker: String::new(),
            table: String::new(),
            message: "the subscription ended".into(),
        })
    }
}

/// What an address resolves to: a live table, or (with `snapshot=true`) a static copy.
#[derive(Debug)]
#[non_exhaustive]
pub enum Resolved {
    /// A subscription.
    Live(RemoteTable),
    /// A static snapshot.
    Snapshot(Snapshot),
}

/// Resolves a worker address (`pq://`, `ts://`, `ts+plain://`) with all its options: a live
/// subscription, or a static snapshot with `snapshot=true`.
///
/// # Errors
///
/// As [`RemoteTableBuilder::subscribe`] and [`RemoteTableBuilder::snapshot`];
/// [`RemoteError::Address`] for a cloud (`pxt://`) address.
pub async fn resolve(uri: &TableUri, config: ClientConfig) -> Result<Resolved> {
    let builder = RemoteTableBuilder::for_uri(uri.clone()).config(config);
    if builder.options.snapshot {
        builder.snapshot().await.map(Resolved::Snapshot)
    } else {
        builder.subscribe().await.map(Resolved::Live)
    }
}

/// Builds a subscription or snapshot of a worker's table (seed 001's remote table builder).
#[derive(Debug, Clone)]
#[must_use]
pub struct RemoteTableBuilder {
    target: std::result::Result<Target, String>,
    table: String,
    options: SubscriptionOptions,
    definition: Option<TableDefinition>,
    config: ClientConfig,
}

impl RemoteTableBuilder {
    /// From an address and its options.
    pub fn for_uri(uri: TableUri) -> Self {
        let (target, table, options) = match &uri {
            TableUri::Worker(w) => (
                Ok(Target::Named(w.worker().clone())),
                w.table().to_owned(),
                w.options().clone(),
            ),
            TableUri::Direct(d) => (
                Ok(Target::Direct {
                    host: d.host().trim_matches(['[', ']']).to_owned(),
                    port: d.port(),
                    tls: d.tls(),
                }),
                d.table().to_owned(),
                d.options().clone(),
            ),
            TableUri::Cloud(_) => (
                Err(format!("`{uri}` is a cloud table, not a worker's table")),
                String::new(),
                SubscriptionOptions::default(),
            ),
        };
        Self {
            target,
            table,
            options,
            definition: None,
            config: ClientConfig::default(),
        }
    }

    /// A table of a worker in the local cluster, found in `directory` by name or serial.
    pub fn in_local_cluster(
        directory: Directory,
        worker: impl Into<WorkerRef>,
        table: impl Into<String>,
    ) -> Self {
        Self {
            target: Ok(Target::Named(worker.into())),
            table: table.into(),
            options: SubscriptionOptions::default(),
            definition: None,
            config: ClientConfig::default().with_directory(directory),
        }
    }

    /// A worker of a remote cluster by URL (`http://host:port`, or `https://` for TLS); name
    /// the table with [`table_name`](Self::table_name).
    pub fn for_remote_cluster(url: &str) -> Self {
        let parsed = url
            .split_once("://")
            .and_then(|(scheme, rest)| {
                let tls = match scheme {
                    "https" => true,
                    "http" => false,
                    _ => return None,
                };
                let authority = rest.trim_end_matches('/');
                let (host, port) = authority.rsplit_once(':')?;
                Some(Target::Direct {
                    host: host.trim_matches(['[', ']']).to_owned(),
                    port: port.parse().ok()?,
                    tls,
                })
            })
            .ok_or_else(|| format!("`{url}` is not http(s)://HOST:PORT"));
        Self {
            target: parsed,
            table: String::new(),
            options: SubscriptionOptions::default(),
            definition: None,
            config: ClientConfig::default(),
        }
    }

    /// The table's name in the worker's scope.
    pub fn table_name(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The columns and types the caller relies on: lets `subscribe` start while the worker is
    /// down, and fails the table naming the first column the upstream does not provide.
    pub fn table_definition(mut self, definition: TableDefinition) -> Self {
        self.definition = Some(definition);
        self
    }

    /// Keep only the current step's rows.
    pub fn blink(mut self, blink: bool) -> Self {
        self.options.blink = blink;
        self
    }

    /// Only these columns (applied at the worker).
    pub fn included_columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// What to do with the rows on a disconnect.
    pub fn on_disconnect(mut self, on_disconnect: OnDisconnect) -> Self {
        self.options.on_disconnect = on_disconnect;
        self
    }

    /// How long to keep reconnecting after a disconnect.
    pub fn retry_window(mut self, window: Duration) -> Self {
        self.options.retry_window = window;
        self
    }

    /// At most this many reconnect attempts (`None`: unlimited within the window).
    pub fn max_retries(mut self, max: Option<u32>) -> Self {
        self.options.max_retries = max;
        self
    }

    /// How to reach workers (token, directory, TLS, limits).
    pub fn config(mut self, config: ClientConfig) -> Self {
        let directory = self.config.directory.take();
        self.config = config;
        if self.config.directory.is_none() {
            self.config.directory = directory;
        }
        self
    }

    fn target(&self) -> Result<Target> {
        self.target.clone().map_err(|reason| RemoteError::Address {
            address: self.table.clone(),
            reason,
        })
    }

    /// The columns to ask the worker for: those asked for, else the definition's.
    fn requested_columns(&self) -> Option<Vec<String>> {
        self.options.columns.clone().or_else(|| {
            self.definition
                .as_ref()
                .map(|d| d.columns().iter().map(|(n, _)| n.clone()).collect())
        })
    }

    /// A static copy of the table now.
    ///
    /// # Errors
    ///
    /// [`RemoteError::WorkerDown`] naming worker and table when it cannot be reached (with or
    /// without a definition); [`RemoteError::TableNotFound`], [`RemoteError::Unauthenticated`],
    /// [`RemoteError::Definition`].
    pub async fn snapshot(self) -> Result<Snapshot> {
        let target = self.target()?;
        let label = target.label();
        let request = Request {
            table: self.table.clone(),
            columns: self.requested_columns(),
            resume: None,
        };
        let mut stream = exchange(&target, &request, &self.config)
            .await
            .map_err(|f| *f.error)?;
        let received = stream
            .next_step(&label, &self.table)
            .await
            .map_err(|f| *f.error)?
            .ok_or_else(|| RemoteError::WorkerDown {
                worker: label.clone(),
                table: self.table.clone(),
                reason: "the stream ended before the snapshot".into(),
            })?;
        let snapshot = reset_snapshot(received)?;
        let shape = LocalShape {
            definition: self.definition.clone(),
            blink: false,
        };
        shape
            .check(snapshot.schema().arrow())
            .map_err(|source| RemoteError::Definition {
                worker: label,
                table: self.table.clone(),
                source: Box::new(source),
            })?;
        Ok(shape.local_snapshot(&snapshot)?)
    }

    /// Subscribes: returns once the snapshot is applied to the local table.
    ///
    /// # Errors
    ///
    /// Without a definition, [`RemoteError::WorkerDown`] naming worker and table when it cannot
    /// be reached; [`RemoteError::TableNotFound`], [`RemoteError::Unauthenticated`],
    /// [`RemoteError::Definition`] (naming the column).
    pub async fn subscribe(self) -> Result<RemoteTable> {
        let target = self.target()?;
        let label = target.label();
        let shape = LocalShape {
            definition: self.definition.clone(),
            blink: self.options.blink,
        };
        let local_options = LiveTableOptions::default().with_blink(self.options.blink);
        let request = Request {
            table: self.table.clone(),
            columns: self.requested_columns(),
            resume: None,
        };
        let (state_tx, state_rx) = watch::channel(SubscriptionState::Connecting);
        let (latest_tx, latest_rx) = watch::channel(None);
        let (changes, _) = broadcast::channel(1024);
        let first = match exchange(&target, &request, &self.config).await {
            Ok(mut stream) => match stream.next_step(&label, &self.table).await {
                Ok(Some(received)) => Ok((stream, received)),
                Ok(None) => Err(connect::Failure {
                    error: Box::new(RemoteError::WorkerDown {
                        worker: label.clone(),
                        table: self.table.clone(),
                        reason: "the stream ended before the snapshot".into(),
                    }),
                    retry: true,
                }),
                Err(failure) => Err(failure),
            },
            Err(failure) => Err(failure),
        };
        let (local, held, open) = match first {
            Ok((stream, received)) => {
                let applied = to_mirror(None, received)?;
                shape
                    .check(applied.held.snapshot.schema().arrow())
                    .map_err(|source| RemoteError::Definition {
                        worker: label.clone(),
                        table: self.table.clone(),
                        source: Box::new(source),
                    })?;
                let initial = shape.local_snapshot(&applied.held.snapshot)?;
                let local = if self.options.blink {
                    let table = LiveTable::new(initial.schema().clone(), local_options);
                    shape.apply(&table, &applied, false)?;
                    table
                } else {
                    LiveTable::from_snapshot(initial, local_options)
                };
                (local, Some(applied.held), Some(stream))
            }
            Err(failure) => match &self.definition {
                Some(definition) if failure.retry => {
                    let schema = TableSchema::from_arrow(&definition.to_schema())?;
                    (LiveTable::new(schema, local_options), None, None)
                }
                _ => return Err(*failure.error),
            },
        };
        if let Some(held) = &held {
            let change = Change {
                upstream_step: Some(held.snapshot.step()),
                incarnation: Some(held.incarnation.clone()),
                local_step: local.step(),
                snapshot: local.snapshot()?,
            };
            latest_tx.send_replace(Some(change));
            state_tx.send_replace(SubscriptionState::Live);
        }
        let connected = held.is_some();
        let driver = Driver {
            target,
            table: self.table,
            columns: request.columns,
            options: self.options,
            config: self.config,
            shape,
            local: local.clone(),
            held,
            cleared: false,
            state: state_tx,
            latest: latest_tx,
            changes: changes.clone(),
            connected,
        };
        let task = tokio::spawn(driver.run(open));
        Ok(RemoteTable {
            table: local,
            state: state_rx,
            latest: latest_rx,
            changes,
            task,
        })
    }
}

/// A static copy of the table at `uri` (whatever its `snapshot` option says).
///
/// # Errors
///
/// As [`RemoteTableBuilder::snapshot`].
pub async fn snapshot(uri: &TableUri, config: ClientConfig) -> Result<Snapshot> {
    RemoteTableBuilder::for_uri(uri.clone())
        .config(config)
        .snapshot()
        .await
}
