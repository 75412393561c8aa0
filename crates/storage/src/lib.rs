//! The tableshare versioned storage engine.
//!
//! A [`Catalog`] names directories, tables, views, snapshots and replicas by dotted paths
//! (`shared_demo.sample_data`) on any `object_store` root (local disk by default). A [`Table`]
//! is a chain of immutable versions: each mutation (insert, update, delete, schema change,
//! revert) commits one manifest with a single conditional create, so readers only ever see
//! whole versions, concurrent writers get exactly one winner per version, and any old version
//! can be read until garbage collection expires it. Data files are plain Parquet, content
//! addressed by BLAKE3 and verified on every read. The layout and protocol are specified in
//! `docs/format.md`.
//!
//! Layers, bottom up (private modules):
//!
//! | module | role |
//! | --- | --- |
//! | `io` | raw object IO under a store root; verified content-addressed objects |
//! | `log` | the commit protocol: a versioned log of self-verifying manifests |
//! | `capability` | refuses stores without atomic conditional create (probed before writing) |
//! | `manifest`, `datafile` | the table manifest; Parquet data files and deletion vectors |
//! | `engine` | reading versions, live rows and version diffs of one table directory |
//! | `table`, `catalog`, `live`, `gc` | the public handles |
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{Int64Array, RecordBatch};
//! use arrow_schema::{DataType, Field, Schema};
//! use tableshare_core::TableSchema;
//! use tableshare_storage::Catalog;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let catalog = Catalog::in_memory();
//! catalog.create_dir("demo").await?;
//! let arrow = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
//! let table = catalog.create_table("demo.numbers", &TableSchema::unpartitioned(arrow.clone())?).await?;
//! let batch = RecordBatch::try_new(arrow, vec![Arc::new(Int64Array::from(vec![1, 2, 3]))])?;
//! assert_eq!(table.insert(&batch).await?, 1);
//! assert_eq!(catalog.open_table("demo.numbers:0").await?.scan().await?.batch.num_rows(), 0);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod capability;
mod catalog;
mod datafile;
mod engine;
mod error;
mod gc;
mod io;
mod live;
mod log;
mod manifest;
mod rows;
mod table;

pub use catalog::{
    Catalog, CatalogOptions, Entry, EntryKind, ReplicaInfo, ReplicaWriter, ViewDefinition,
    manifest_bytes,
};
pub use error::{BoxError, CorruptReason, Result, StorageError};
pub use gc::{GcOptions, GcReport};
pub use manifest::{Operation, ROW_KEY_COLUMN};
pub use rows::{EXTENSION_NAME_KEY, JSON_EXTENSION_NAME, json_field};
pub use table::{HistoryEntry, Selection, Table, TableData};
