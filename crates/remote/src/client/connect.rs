//! Reaching a worker: resolving the address (directly, or through the worker directory for
//! `pq://`), opening a gRPC channel (TLS for `ts://`), and reading a subscription stream step by
//! step ([`StepReader`]).

use std::time::Duration;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightData, FlightDescriptor};
use arrow_schema::SchemaRef;
use futures::StreamExt;
use futures::stream::BoxStream;
use tableshare_core::{RowKey, RowSet, Step};
use tableshare_uri::WorkerRef;

/// The HTTP/2 receive window of one subscription's stream, to start with (bytes).
const STREAM_WINDOW: u32 = 8 << 20;

/// The HTTP/2 receive window of one connection, to start with (bytes).
const CONNECTION_WINDOW: u32 = 16 << 20;

/// The largest HTTP/2 frame the worker may send us (HTTP/2's default is 16 KiB). h2 reads a
/// connection in pieces about the size of a frame: with 16 KiB frames a 10,000,000-row snapshot
/// took 36,853 `recvfrom` calls of about 7 KiB each; with 1 MiB frames, bulk data arrives in
/// reads a hundred times larger.
const MAX_FRAME: u32 = 1 << 20;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

use crate::client::ClientConfig;
use crate::client::decode::{Decoded, Payload, decode};
use crate::directory::worker_label;
use crate::error::RemoteError;
use crate::wire::{AUTHORIZATION, Kind, Meta, Request};

/// Where the table's worker is.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A host and port.
    Direct { host: String, port: u16, tls: bool },
    /// A worker found through the directory, by name or serial.
    Named(WorkerRef),
}

impl Target {
    /// How the worker is named in messages.
    pub(crate) fn label(&self) -> String {
        match self {
            Self::Direct { host, port, .. } => format!("{host}:{port}"),
            Self::Named(worker) => worker_label(worker),
        }
    }
}

/// One open subscription stream.
pub(crate) struct Exchange {
    decoder: BoxStream<'static, Result<Decoded, FlightError>>,
}

/// A failure to reach or follow a worker, with whether retrying can help.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: Box<RemoteError>,
    pub(crate) retry: bool,
}

impl Failure {
    fn retry(error: RemoteError) -> Self {
        Self {
            error: Box::new(error),
            retry: true,
        }
    }
}

/// Maps a status from the worker to an error naming the worker and table.
pub(crate) fn from_status(status: &Status, worker: &str, table: &str) -> Failure {
    let worker = worker.to_owned();
    let table = table.to_owned();
    let message = status.message().to_owned();
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => Failure {
            error: Box::new(RemoteError::Unauthenticated {
                worker,
                table,
                message,
            }),
            retry: false,
        },
        Code::NotFound => Failure::retry(RemoteError::TableNotFound { worker, table }),
        Code::InvalidArgument => Failure {
            error: Box::new(RemoteError::Upstream {
                worker,
                table,
                message,
            }),
            retry: false,
        },
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded => {
            Failure::retry(RemoteError::WorkerDown {
                worker,
                table,
                reason: if message.is_empty() {
                    format!("{:?}", status.code())
                } else {
                    message
                },
            })
        }
        _ => Failure::retry(RemoteError::Upstream {
            worker,
            table,
            message,
        }),
    }
}

/// Opens a channel to the worker behind `target`.
pub(crate) async fn channel(
    target: &Target,
    table: &str,
    config: &ClientConfig,
) -> Result<Channel, Failure> {
    let label = target.label();
    let (host, port, tls) = match target {
        Target::Direct { host, port, tls } => (host.clone(), *port, *tls),
        Target::Named(worker) => {
            let Some(directory) = &config.directory else {
                return Err(Failure {
                    error: Box::new(RemoteError::Address {
                        address: format!("pq://{label}/scope/{table}"),
                        reason: "no worker directory is configured to resolve the worker".into(),
                    }),
                    retry: false,
                });
            };
            let entry = directory
                .resolve(worker, table)
                .await
                .map_err(Failure::retry)?;
            let (host, port) = entry
                .address
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_owned(), p.parse().ok()?)))
                .ok_or_else(|| {
                    Failure::retry(RemoteError::WorkerDown {
                        worker: label.clone(),
                        table: table.to_owned(),
                        reason: format!("bad address `{}` in the directory", entry.address),
                    })
                })?;
            (host, port, entry.tls)
        }
    };
    let scheme = if tls { "https" } else { "http" };
    let down = |reason: String| {
        Failure::retry(RemoteError::WorkerDown {
            worker: label.clone(),
            table: table.to_owned(),
            reason,
        })
    };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{host}:{port}"))
        .map_err(|e| down(e.to_string()))?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        // HTTP/2's default 64 KiB receive window caps a snapshot at one window per round trip;
        // large windows that adapt to the link (as gRPC's own clients do) let it stream.
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME)
        .http2_adaptive_window(true)
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(config.keepalive_timeout)
        .keep_alive_while_idle(true);
    if tls {
        crate::tls::ensure_crypto_provider();
        let mut tls_config = ClientTlsConfig::new();
        if let Some(ca) = &config.tls_ca_pem {
            tls_config = tls_config.ca_certificate(Certificate::from_pem(ca));
        }
        let domain = config
            .tls_domain
            .clone()
            .unwrap_or_else(|| host.trim_matches(['[', ']']).to_owned());
        tls_config = tls_config.domain_name(domain);
        endpoint = endpoint.tls_config(tls_config).map_err(|e| Failure {
            error: Box::new(RemoteError::Address {
                address: format!("{host}:{port}"),
                reason: format!("TLS configuration: {e}"),
            }),
            retry: false,
        })?;
    }
    endpoint.connect().await.map_err(|e| {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(inner) = source {
            reason = format!("{reason}: {inner}");
            source = inner.source();
        }
        down(reason)
    })
}

/// A Flight client on `channel` with the configured limits.
pub(crate) fn flight_client(
    channel: Channel,
    config: &ClientConfig,
) -> FlightServiceClient<Channel> {
    FlightServiceClient::new(channel)
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes)
}

/// Adds the token to a request.
pub(crate) fn authorize<T>(message: T, config: &ClientConfig) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = &config.token
        && let Ok(value) = format!("Bearer {token}").parse()
    {
        request.metadata_mut().insert(AUTHORIZATION, value);
    }
    request
}

/// Opens a subscription stream for `request`.
pub(crate) async fn exchange(
    target: &Target,
    request: &Request,
    config: &ClientConfig,
) -> Result<Exchange, Failure> {
    let label = target.label();
    let channel = channel(target, &request.table, config).await?;
    let mut client = flight_client(channel, config);
    let first = FlightData::new().with_descriptor(FlightDescriptor::new_cmd(request.to_bytes()));
    let outgoing = futures::stream::iter([first]);
    let response = client
        .do_exchange(authorize(outgoing, config))
        .await
        .map_err(|status| from_status(&status, &label, &request.table))?;
    let stream = response
        .into_inner()
        .map(|item| item.map_err(FlightError::from));
    Ok(Exchange {
        decoder: decode(stream),
    })
}

/// One complete step as received.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) step: Step,
    pub(crate) incarnation: String,
    pub(crate) reset: bool,
    /// Reset steps: the schema of the rows.
    pub(crate) schema: Option<SchemaRef>,
    pub(crate) removed: RowSet,
    /// Added rows with their keys as received (a row set: a snapshot's keys stay ranges).
    pub(crate) added: Vec<(RowSet, RecordBatch)>,
    pub(crate) modified: Vec<(String, Vec<RowKey>, ArrayRef)>,
}

impl Exchange {
    /// Reads the next complete step. `Ok(None)` when the stream ends cleanly.
    pub(crate) async fn next_step(
        &mut self,
        worker: &str,
        table: &str,
    ) -> Result<Option<Received>, Failure> {
        let protocol = |message: String| Failure {
            error: Box::new(RemoteError::Protocol {
                worker: worker.to_owned(),
                table: table.to_owned(),
                message,
            }),
            retry: true,
        };
        let mut current: Option<Received> = None;
        loop {
            let Some(item) = self.decoder.next().await else {
                return match current {
                    None => Ok(None),
                    Some(_) => Err(Failure::retry(RemoteError::WorkerDown {
                        worker: worker.to_owned(),
                        table: table.to_owned(),
                        reason: "the stream ended in the middle of a step".into(),
                    })),
                };
            };
            let decoded = match item {
                Ok(decoded) => decoded,
                Err(FlightError::Tonic(status)) => return Err(from_status(&status, worker, table)),
                Err(error) => return Err(protocol(error.to_string())),
            };
            let metadata = decoded.app_metadata;
            if metadata.is_empty() {
                // A schema message for the batches that follow.
                continue;
            }
            let meta = Meta::decode(&metadata).map_err(protocol)?;
            let header = meta.header;
            if header.kind == Kind::Begin {
                if current.is_some() {
                    return Err(protocol("a step began inside another".into()));
                }
                let schema = match &decoded.payload {
                    Payload::Schema(schema) => Some(schema.clone()),
                    _ => None,
                };
                if header.reset && schema.is_none() {
                    return Err(protocol("a reset step without a schema".into()));
                }
                current = Some(Received {
                    step: header.step,
                    incarnation: header.incarnation.unwrap_or_default(),
                    reset: header.reset,
                    schema,
                    removed: RowSet::new(),
                    added: Vec::new(),
                    modified: Vec::new(),
                });
                continue;
            }
            let Some(step) = current.as_mut() else {
                return Err(protocol(format!("{:?} outside a step", header.kind)));
            };
            if header.step != step.step {
                return Err(protocol(format!(
                    "message of step {} inside step {}",
                    header.step, step.step
                )));
            }
            let batch = match decoded.payload {
                Payload::RecordBatch(batch) => Some(batch),
                _ => None,
            };
            match header.kind {
                Kind::Begin => {}
                Kind::Removed => step.removed.union_with(&meta.keys),
                Kind::Added | Kind::Modified => {
                    let batch = batch.ok_or_else(|| protocol("rows without a batch".into()))?;
                    if meta.keys.len() != batch.num_rows() as u64 {
                        return Err(protocol(format!(
                            "{} keys for {} rows",
                            meta.keys.len(),
                            batch.num_rows()
                        )));
                    }
                    if header.kind == Kind::Added {
                        step.added.push((meta.keys, batch));
                    } else {
                        let keys = meta.keys.to_vec();
                        let column = header
                            .column
                            .ok_or_else(|| protocol("a modification without a column".into()))?;
                        if batch.num_columns() != 1 {
                            return Err(protocol("a modification of more than one column".into()));
                        }
                        step.modified.push((column, keys, batch.column(0).clone()));
                    }
                }
                Kind::End => return Ok(current),
            }
        }
    }
}
