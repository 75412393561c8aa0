//! The table data service: plug in your own data service, get tableshare tables.
//!
//! This is seed 002 (Deephaven's Python `TableDataService`) in Rust. A backend implements the six
//! methods of [`TableDataServiceBackend`]; a [`TableDataService`] over it makes
//! [`ServiceTable`]s (core [`LiveTable`](tableshare_core::LiveTable)s, static or refreshing) and
//! [`PartitionedTable`]s (one constituent per location plus the merged whole).
//!
//! # What the service guarantees
//!
//! * **Partitioning columns first**, their values from each location's partition values, then
//!   the data columns.
//! * **Atomic steps.** A refreshing table moves one step per batch of backend news: a new
//!   location arrives with its rows; sizes that grew add their rows; a retracted location's rows
//!   leave; a blink location's rows are replaced.
//! * **Lazy, paged, cached column values.** Only the columns a table asks for
//!   ([`TableDataService::make_table_columns`]) are fetched, in pages of
//!   [`ServiceOptions::page_size`] rows, several at once, kept in a cache within
//!   [`ServiceOptions::cache_budget`]; a cached range is never asked for twice.
//! * **Everything a backend says is checked**, every call is time-limited and a panic in a
//!   backend is caught: a bad answer fails the table with a [`TdsError`] naming backend, table,
//!   location and column. Nothing hangs. A failed table can be [retried](ServiceTable::retry).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{Int64Array, RecordBatch, StringArray};
//! use arrow_schema::{DataType, Field, Schema};
//! use tableshare_tds::{MemoryBackend, MemoryTable, TableDataService};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data = Arc::new(Schema::new(vec![Field::new("Price", DataType::Int64, false)]));
//! let partitioning = Arc::new(Schema::new(vec![Field::new("Ticker", DataType::Utf8, false)]));
//! let backend = MemoryBackend::new();
//! let table = backend.add_table("quotes", MemoryTable::new(data.clone(), Some(partitioning.clone())))?;
//! let ticker = RecordBatch::try_new(partitioning, vec![Arc::new(StringArray::from(vec!["GOOG"]))])?;
//! let prices = RecordBatch::try_new(data, vec![Arc::new(Int64Array::from(vec![1, 2]))])?;
//! table.add_location("GOOG", Some(ticker), prices)?;
//!
//! let service = TableDataService::new(backend);
//! let quotes = service.make_table("quotes".to_string(), false).await?;
//! let rows = quotes.live().snapshot()?.concat()?;
//! assert_eq!(rows.num_rows(), 2);
//! assert_eq!(rows.schema().field(0).name(), "Ticker");
//! # Ok(())
//! # }
//! ```
//!
//! The [`guide`] (docs/tds.md) walks through writing a backend, with a worked example.
//!
//! # Features
//!
//! This crate has no cargo features.

#![deny(missing_docs)]

mod backend;
mod cache;
mod calls;
pub mod conformance;
mod driver;
mod error;
mod ext;
#[doc = include_str!("../../../docs/tds.md")]
pub mod guide {}
mod layout;
mod memory;
mod parquet;
mod service;
mod table;

pub use backend::{
    BackendError, Key, LocationEntry, LocationEvent, LocationSink, SizeEvent, SizeSink,
    SubscriptionHandle, TableDataServiceBackend, TableSchemas,
};
pub use error::{Context, Result, TdsError};
pub use ext::BackendExt;
pub use memory::{MemoryBackend, MemoryError, MemoryTable};
pub use parquet::ParquetBackend;
pub use service::{ServiceOptions, TableDataService};
pub use table::{Constituent, PartitionedTable, ServiceTable};
