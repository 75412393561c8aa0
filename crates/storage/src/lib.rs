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
//! Layers, bottom up:
//!
//! | module | role |
//! | --- | --- |
//! | `format` | the on-store format and commit protocol (docs/format.md): object IO, the version log, manifests, data files, table directories |
//! | `scan` | streaming reads of a version: projected, pruned by key range and statistics, limited, in key order |
//! | `read`, `diff` | whole-file reads of live rows (for updates, compaction, live tables); the exact difference between two versions |
//! | `capability` | refuses stores without atomic conditional create (probed before the first write) |
//! | `commit` | building and committing the next manifest of a table |
//! | `operations` | one file per table operation (insert, update, delete, schema, compact, revert, gc) |
//! | `table`, `catalog`, `live` | the handles: a table, the catalog (namespace, replicas), live tables |
//! | `import`, `schema_spec` | data from outside: CSV, JSON, Parquet and Arrow IPC files fitted to a table's schema; the `id:int64,name:utf8` schema notation |
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

mod align;
mod background;
mod capability;
mod catalog;
mod commit;
mod diff;
mod error;
pub mod format;
mod import;
mod live;
mod operations;
mod options;
mod read;
mod rows;
mod scan;
mod schema_spec;
mod table;

pub use catalog::{Catalog, Entry, ReplicaInfo, ReplicaWriter};
pub use error::{BoxError, CorruptReason, Result, StorageError};
pub use format::catalog::{EntryKind, ViewDefinition};
pub use format::manifest::{Operation, ROW_KEY_COLUMN};
pub use import::{ImportError, InputFormat, read_file, read_from};
pub use operations::TxnToken;
pub use operations::gc::{GcOptions, GcReport};
pub use options::CatalogOptions;
pub use rows::{EXTENSION_NAME_KEY, JSON_EXTENSION_NAME, json_field};
pub use scan::{
    CompareOp, DEFAULT_BATCH_SIZE, Literal, Predicate, ScanBatch, ScanOptions, ScanStream,
};
pub use schema_spec::{SchemaSpecError, parse_schema_spec};
pub use table::{HistoryEntry, Selection, Table, TableData};
