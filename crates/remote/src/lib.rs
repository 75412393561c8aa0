//! Live remote tables: a worker serves live tables over Arrow Flight, and other processes
//! subscribe to them and tick in lockstep.
//!
//! * [`Worker`] serves a [`Scope`] of named [`LiveTable`](tableshare_core::LiveTable)s (catalog
//!   tables and tables made in code). Any Arrow Flight client lists them and reads a consistent
//!   snapshot with `DoGet`; our client subscribes with `DoExchange`: a snapshot at step n in
//!   bounded batches, then every later step with its metadata (step, removed keys, added and
//!   modified keys, modified columns) in `app_metadata` (see [`wire`]).
//! * [`resolve`] and [`RemoteTableBuilder`] subscribe to or snapshot a table by address
//!   (`pq://NAME/scope/TABLE?options`, `ts://HOST:PORT/…`, `ts+plain://…`) into a local
//!   [`LiveTable`](tableshare_core::LiveTable) that applies each upstream step atomically,
//!   reconnects with backoff, resumes from the step it holds, and reports its state.
//! * [`Directory`] is where workers register with a heartbeat so `pq://` names resolve.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{Int64Array, RecordBatch};
//! use arrow_schema::{DataType, Field, Schema};
//! use tableshare_core::{LiveTable, LiveTableOptions, TableSchema};
//! use tableshare_remote::{RemoteTableBuilder, Scope, Worker};
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let arrow = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
//! let table = LiveTable::new(TableSchema::unpartitioned(arrow.clone())?, LiveTableOptions::default());
//! table.append(RecordBatch::try_new(arrow.clone(), vec![Arc::new(Int64Array::from(vec![1, 2]))])?)?;
//!
//! let scope = Scope::new();
//! scope.insert("ids", table.clone());
//! let worker = Worker::builder("example").serve(scope).await?;
//!
//! // Ready means ready: the snapshot is applied when `subscribe` returns.
//! let remote = RemoteTableBuilder::for_uri(worker.uri("ids")?.into()).subscribe().await?;
//! assert_eq!(remote.table().snapshot()?.num_rows(), 2);
//!
//! table.append(RecordBatch::try_new(arrow, vec![Arc::new(Int64Array::from(vec![3]))])?)?;
//! let change = remote.wait_for_step(2).await?;
//! assert_eq!(change.snapshot.num_rows(), 3);
//! worker.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Feature flags
//!
//! None. TLS (rustls with ring) is always available for `ts://` addresses.

#![deny(missing_docs)]

mod client;
mod directory;
mod error;
mod scope;
mod tls;
pub mod wire;
mod worker;

pub use client::{
    Change, ClientConfig, RemoteTable, RemoteTableBuilder, Resolved, SubscriptionState, resolve,
    snapshot,
};
pub use directory::{Directory, WorkerEntry};
pub use error::{RemoteError, Result};
pub use scope::Scope;
pub use worker::{ServeConfig, Worker, WorkerBuilder};
