//! The worker: serves a [`Scope`] of live tables over Arrow Flight, optionally registered in a
//! worker [`Directory`] so `pq://NAME/…` and `pq://SERIAL/…` find it.
//!
//! [`WorkerBuilder::serve`] binds, starts the gRPC server and the directory heartbeat, and
//! returns a [`Worker`] handle that knows its address and stops the server on
//! [`shutdown`](Worker::shutdown) (or when dropped).

mod publish;
mod service;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Status};
use tracing::warn;

use crate::directory::{Directory, WorkerEntry};
use crate::error::{RemoteError, Result};
use crate::scope::Scope;
use crate::wire::{AUTHORIZATION, DEFAULT_BATCH_ROWS, DEFAULT_MAX_MESSAGE_BYTES};

/// Limits and sizes of a worker's streams.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeConfig {
    /// Rows per batch sent (default 65,536); batches are also kept under half the message
    /// limit.
    pub batch_rows: usize,
    /// Largest gRPC message sent or accepted, in bytes (default 64 MiB).
    pub max_message_bytes: usize,
    /// Messages queued per subscriber before the worker waits for it (default 16). With the
    /// batch limits, this bounds the memory one subscriber costs.
    pub queue_depth: usize,
    /// Steps a subscriber may fall behind and still be sent them coalesced (default 64);
    /// further behind, it is sent one replacement of the table.
    pub subscriber_capacity: usize,
    /// Replacements in a row after which a subscriber that never keeps up is disconnected with
    /// a reason (default 8).
    pub max_resyncs_in_a_row: u32,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            batch_rows: DEFAULT_BATCH_ROWS,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            queue_depth: 16,
            subscriber_capacity: 64,
            max_resyncs_in_a_row: 8,
        }
    }
}

impl ServeConfig {
    /// With `rows` rows per batch.
    pub fn with_batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows.max(1);
        self
    }

    /// With a per-subscriber queue of `depth` messages.
    pub fn with_queue_depth(mut self, depth: usize) -> Self {
        self.queue_depth = depth.max(1);
        self
    }

    /// With a subscriber capacity of `steps`.
    pub fn with_subscriber_capacity(mut self, steps: usize) -> Self {
        self.subscriber_capacity = steps.max(1);
        self
    }

    /// With `limit` replacements in a row before a slow subscriber is disconnected.
    pub fn with_max_resyncs_in_a_row(mut self, limit: u32) -> Self {
        self.max_resyncs_in_a_row = limit;
        self
    }

    /// With a message limit of `bytes`.
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes.max(1024);
        self
    }
}

/// Configures and starts a worker. Made by [`Worker::builder`].
#[derive(Debug)]
#[must_use]
pub struct WorkerBuilder {
    name: String,
    serial: Option<u64>,
    listen: SocketAddr,
    token: Option<String>,
    config: ServeConfig,
    tls: Option<(Vec<u8>, Vec<u8>)>,
    directory: Option<Directory>,
    heartbeat: Duration,
}

impl WorkerBuilder {
    /// The worker's serial (default: a random 10-digit number).
    pub fn serial(mut self, serial: u64) -> Self {
        self.serial = Some(serial);
        self
    }

    /// Where to listen (default `127.0.0.1:0`, an ephemeral port).
    pub fn listen(mut self, listen: SocketAddr) -> Self {
        self.listen = listen;
        self
    }

    /// Refuse every request that does not carry `token` (`Unauthenticated`).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Stream sizes and limits.
    pub fn config(mut self, config: ServeConfig) -> Self {
        self.config = config;
        self
    }

    /// Serve over TLS with this certificate chain and private key (PEM).
    pub fn tls(mut self, cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        self.tls = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// Register in `directory`, with a heartbeat, while serving.
    pub fn directory(mut self, directory: Directory) -> Self {
        self.directory = Some(directory);
        self
    }

    /// How often the directory entry is refreshed (default 1 s); it counts as stale after
    /// three missed beats.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(10));
        self
    }

    /// Binds, starts serving `scope`, and registers in the directory if one was given.
    ///
    /// # Errors
    ///
    /// [`RemoteError::Serve`] if the address cannot be bound or the TLS identity is invalid;
    /// [`RemoteError::Directory`] if the first registration fails.
    pub async fn serve(self, scope: Scope) -> Result<Worker> {
        let serve_error = |message: String| RemoteError::Serve {
            worker: self.name.clone(),
            listen: self.listen.to_string(),
            message,
        };
        let incoming = TcpIncoming::bind(self.listen).map_err(|e| serve_error(e.to_string()))?;
        let incoming = incoming.with_nodelay(Some(true));
        let address = incoming
            .local_addr()
            .map_err(|e| serve_error(e.to_string()))?;
        let serial = self.serial.unwrap_or_else(random_serial);
        let (stopping, stopping_rx) = watch::channel(false);
        let service = service::WorkerService {
            name: self.name.clone(),
            scope,
            config: self.config.clone(),
            stopping: stopping_rx,
        };
        let limit = self.config.max_message_bytes;
        let flight = FlightServiceServer::new(service)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        let token: Option<Arc<str>> = self.token.map(Arc::from);
        let name = self.name.clone();
        let svc = InterceptedService::new(flight, move |request: Request<()>| {
            check_token(&name, token.as_deref(), &request)?;
            Ok(request)
        });
        let mut server = Server::builder();
        let tls = self.tls.is_some();
        if let Some((cert, key)) = &self.tls {
            crate::tls::ensure_crypto_provider();
            server = server
                .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
                .map_err(|e| serve_error(e.to_string()))?;
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let signal = async {
                let _ = stopped.await;
            };
            server
                .serve_with_incoming_shutdown(svc, incoming, signal)
                .await
        });
        let mut worker = Worker {
            name: self.name,
            serial,
            address,
            tls,
            stop: Some(stop),
            stopping,
            server: Some(server),
            heartbeat: None,
            directory: None,
        };
        if let Some(directory) = self.directory {
            let entry = WorkerEntry::new(&worker.name, serial, address, tls, self.heartbeat);
            directory.register(&entry).await?;
            let beat = directory.clone();
            let every = self.heartbeat;
            worker.heartbeat = Some(tokio::spawn(async move {
                let mut entry = entry;
                loop {
                    tokio::time::sleep(every).await;
                    entry.touch();
                    if let Err(error) = beat.register(&entry).await {
                        warn!(%error, "worker directory heartbeat failed");
                    }
                }
            }));
            worker.directory = Some(directory);
        }
        Ok(worker)
    }
}

fn check_token(worker: &str, token: Option<&str>, request: &Request<()>) -> Result<(), Status> {
    let Some(token) = token else {
        return Ok(());
    };
    let given = request
        .metadata()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(Status::unauthenticated(format!(
            "worker `{worker}`: wrong token"
        ))),
        None => Err(Status::unauthenticated(format!(
            "worker `{worker}` requires a token (authorization: Bearer …)"
        ))),
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_serial() -> u64 {
    let bits = uuid::Uuid::new_v4().as_u64_pair().0;
    1_000_000_000 + bits % 9_000_000_000
}

/// A running worker. Dropping it stops the server (without removing its directory entry,
/// which then goes stale); [`shutdown`](Self::shutdown) stops it and deregisters.
#[derive(Debug)]
pub struct Worker {
    name: String,
    serial: u64,
    address: SocketAddr,
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    stopping: watch::Sender<bool>,
    server: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    heartbeat: Option<JoinHandle<()>>,
    directory: Option<Directory>,
}

impl Worker {
    /// Starts configuring a worker named `name`.
    pub fn builder(name: impl Into<String>) -> WorkerBuilder {
        WorkerBuilder {
            name: name.into(),
            serial: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            config: ServeConfig::default(),
            tls: None,
            directory: None,
            heartbeat: Duration::from_secs(1),
        }
    }

    /// The worker's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The worker's serial.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Whether it serves TLS.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The direct address of `table` on this worker (`ts://` or `ts+plain://`).
    ///
    /// # Errors
    ///
    /// [`RemoteError::Address`] for an empty table name.
    pub fn uri(&self, table: &str) -> Result<tableshare_uri::DirectUri> {
        tableshare_uri::DirectUri::builder(self.address.ip().to_string())
            .port(self.address.port())
            .tls(self.tls)
            .table(table)
            .build()
            .map_err(|e| RemoteError::Address {
                address: format!("{}/{table}", self.address),
                reason: e.to_string(),
            })
    }

    /// Stops serving (open subscriptions end), stops the heartbeat and removes the directory
    /// entry.
    ///
    /// # Errors
    ///
    /// [`RemoteError::Directory`] if the entry could not be removed.
    pub async fn shutdown(mut self) -> Result<()> {
        self.stop_tasks();
        if let Some(server) = self.server.take() {
            // Open streams were told to end; a client that never reads does not hold us up.
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        if let Some(directory) = self.directory.take() {
            directory.deregister(self.serial).await?;
        }
        Ok(())
    }

    /// Waits until the server stops (it runs until [`shutdown`](Self::shutdown) or an error).
    ///
    /// # Errors
    ///
    /// [`RemoteError::Serve`] if the server failed.
    pub async fn wait(mut self) -> Result<()> {
        if let Some(server) = self.server.take() {
            let outcome = server.await;
            let message = match outcome {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(error)) => error.to_string(),
                Err(error) => error.to_string(),
            };
            return Err(RemoteError::Serve {
                worker: self.name.clone(),
                listen: self.address.to_string(),
                message,
            });
        }
        Ok(())
    }

    fn stop_tasks(&mut self) {
        self.stopping.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop_tasks();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
