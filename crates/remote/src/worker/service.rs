//! The Arrow Flight service of a worker: list the scope's tables, their schemas, `DoGet` of a
//! consistent snapshot any Flight client reads, and `DoExchange` subscriptions.
//!
//! Nothing a client sends can crash the worker: every request is parsed into a [`Request`] and
//! refused with `InvalidArgument` when malformed; methods we do not offer answer
//! `Unimplemented`.

use std::pin::Pin;
use std::time::Duration;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaAsIpc, SchemaResult, Ticket,
};
use arrow_ipc::writer::IpcWriteOptions;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request as GrpcRequest, Response, Status, Streaming};

use crate::scope::{Scope, ScopeEntry};
use crate::wire::Request;
use crate::worker::{ServeConfig, publish};

/// How long a `DoExchange` client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

type Stream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The Flight service over a [`Scope`].
#[derive(Debug, Clone)]
pub(crate) struct WorkerService {
    pub(crate) name: String,
    pub(crate) scope: Scope,
    pub(crate) config: ServeConfig,
    /// Becomes `true` when the worker shuts down, ending every subscription.
    pub(crate) stopping: tokio::sync::watch::Receiver<bool>,
}

impl WorkerService {
    fn entry(&self, table: &str) -> Result<ScopeEntry, Status> {
        self.scope.entry(table).ok_or_else(|| {
            Status::not_found(format!("worker `{}` has no table `{table}`", self.name))
        })
    }

    /// The table named by a descriptor: a path of one element, or a JSON command.
    fn descriptor_table(descriptor: &FlightDescriptor) -> Result<String, Status> {
        if let [name] = descriptor.path.as_slice() {
            return Ok(name.clone());
        }
        if !descriptor.cmd.is_empty() {
            return Request::from_bytes(&descriptor.cmd, true)
                .map(|r| r.table)
                .map_err(Status::invalid_argument);
        }
        Err(Status::invalid_argument(
            "a descriptor must name one table (a path of one element)",
        ))
    }

    fn info(&self, name: &str, entry: &ScopeEntry) -> Result<FlightInfo, Status> {
        let snapshot = entry
            .table
            .snapshot()
            .map_err(|e| Status::failed_precondition(format!("table `{name}`: {e}")))?;
        let ticket = Request {
            table: name.to_owned(),
            columns: None,
            resume: None,
        }
        .to_bytes();
        FlightInfo::new()
            .try_with_schema(snapshot.schema().arrow())
            .map_err(|e| Status::internal(e.to_string()))
            .map(|info| {
                info.with_descriptor(FlightDescriptor::new_path(vec![name.to_owned()]))
                    .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
                    .with_total_records(i64::try_from(snapshot.num_rows()).unwrap_or(i64::MAX))
                    .with_ordered(true)
            })
    }
}

#[tonic::async_trait]
impl FlightService for WorkerService {
    type HandshakeStream = Stream<HandshakeResponse>;
    type ListFlightsStream = Stream<FlightInfo>;
    type DoGetStream = Stream<FlightData>;
    type DoPutStream = Stream<PutResult>;
    type DoExchangeStream = Stream<FlightData>;
    type DoActionStream = Stream<arrow_flight::Result>;
    type ListActionsStream = Stream<ActionType>;

    async fn handshake(
        &self,
        _request: GrpcRequest<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        // Authentication is a bearer token on every call; the handshake has nothing to add.
        let reply = HandshakeResponse::default();
        Ok(Response::new(Box::pin(stream::iter([Ok(reply)]))))
    }

    async fn list_flights(
        &self,
        _request: GrpcRequest<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        let infos: Vec<Result<FlightInfo, Status>> = self
            .scope
            .entries()
            .iter()
            .map(|(name, entry)| self.info(name, entry))
            .filter(Result::is_ok)
            .collect();
        Ok(Response::new(Box::pin(stream::iter(infos))))
    }

    async fn get_flight_info(
        &self,
        request: GrpcRequest<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let name = Self::descriptor_table(request.get_ref())?;
        let entry = self.entry(&name)?;
        self.info(&name, &entry).map(Response::new)
    }

    async fn poll_flight_info(
        &self,
        _request: GrpcRequest<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented(
            "poll_flight_info: use get_flight_info",
        ))
    }

    async fn get_schema(
        &self,
        request: GrpcRequest<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        let name = Self::descriptor_table(request.get_ref())?;
        let entry = self.entry(&name)?;
        let schema = entry.table.schema().arrow().clone();
        let options = IpcWriteOptions::default();
        SchemaResult::try_from(SchemaAsIpc::new(&schema, &options))
            .map(Response::new)
            .map_err(|e| Status::internal(e.to_string()))
    }

    async fn do_get(
        &self,
        request: GrpcRequest<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        let request = Request::from_bytes(&request.get_ref().ticket, true)
            .map_err(Status::invalid_argument)?;
        let entry = self.entry(&request.table)?;
        let snapshot = entry
            .table
            .snapshot()
            .map_err(|e| Status::failed_precondition(format!("table `{}`: {e}", request.table)))?;
        let snapshot = match &request.columns {
            Some(columns) => snapshot
                .project(columns)
                .map_err(|e| Status::invalid_argument(format!("table `{}`: {e}", request.table)))?,
            None => snapshot,
        };
        let schema = snapshot.schema().arrow().clone();
        let rows = self.config.batch_rows;
        // The batches are zero-copy slices of the snapshot's chunks, produced as sent.
        let batches: Vec<_> = snapshot
            .row_batches(rows)
            .map(Ok::<_, FlightError>)
            .collect();
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .with_max_flight_data_size(self.config.max_message_bytes / 2)
            .build(stream::iter(batches))
            .map_err(|e| Status::internal(e.to_string()));
        Ok(Response::new(Box::pin(encoded)))
    }

    async fn do_put(
        &self,
        _request: GrpcRequest<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        Err(Status::unimplemented(
            "do_put: tables are written by the program or catalog that owns them",
        ))
    }

    async fn do_exchange(
        &self,
        request: GrpcRequest<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        let mut incoming = request.into_inner();
        let first = tokio::time::timeout(REQUEST_TIMEOUT, incoming.next())
            .await
            .map_err(|_| Status::deadline_exceeded("no subscription request received"))?
            .ok_or_else(|| Status::invalid_argument("empty exchange: send a request first"))??;
        let command = first
            .flight_descriptor
            .as_ref()
            .map(|d| d.cmd.clone())
            .unwrap_or_default();
        let request = Request::from_bytes(&command, false).map_err(Status::invalid_argument)?;
        let entry = self.entry(&request.table)?;
        let queue = publish::start(entry, request, self.config.clone(), self.stopping.clone())?;
        // The client's side of the exchange carries nothing after the request; drain it so the
        // connection stays healthy, and stop when it closes.
        tokio::spawn(async move { while let Some(Ok(_)) = incoming.next().await {} });
        let out: BoxStream<'static, Result<FlightData, Status>> =
            ReceiverStream::new(queue).boxed();
        Ok(Response::new(out))
    }

    async fn do_action(
        &self,
        _request: GrpcRequest<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        Err(Status::unimplemented("no actions"))
    }

    async fn list_actions(
        &self,
        _request: GrpcRequest<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        Ok(Response::new(Box::pin(stream::empty())))
    }
}
