//! The storage format and commit protocol: the tier that both the local engine and the
//! transport build on (docs/format.md specifies it).
//!
//! | module | role |
//! | --- | --- |
//! | `store` | raw object IO under a store root; verified content-addressed objects |
//! | `log` | the commit protocol: a versioned log of self-verifying manifests |
//! | `manifest` | the table manifest: schema with column ids, data files, deletion vectors |
//! | `datafile` | Parquet data files with a `_row_key` column; roaring deletion vectors |
//! | `reader` | verified ranged reads of data files (parquet's async reader over a store root) |
//! | `catalog` | the catalog manifest: the path → entry map |
//! | `table_dir` | one table directory: its log and verified objects |
//!
//! This tier is public so that code which moves tables between stores (the transport) reads
//! and writes table directories with the same code and the same verification as the engine:
//! [`TableDir`] loads versions (checking each manifest's envelope, hash and parent link),
//! [`StoreRoot`] gets and puts objects verified against the sizes and hashes manifests record,
//! and [`VersionLog::commit`] is the one conditional create that makes a version visible.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_schema::{DataType, Field, Schema};
//! use object_store::memory::InMemory;
//! use tableshare_core::TableSchema;
//! use tableshare_storage::Catalog;
//! use tableshare_storage::format::{StoreRoot, TableDir};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(InMemory::new());
//! let catalog = Catalog::open(store.clone(), "");
//! let arrow = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
//! let table = catalog.create_table("t", &TableSchema::unpartitioned(arrow)?).await?;
//!
//! // The same table read through the format tier alone, as another program would.
//! let dir = TableDir::new(StoreRoot::new(store, ""), format!("tables/{}", table.id()), "t".into());
//! let latest = dir.load_latest().await?;
//! assert_eq!((latest.version(), latest.manifest.row_count), (0, 0));
//! let sealed = dir.log().read(0).await?.expect("version 0 exists");
//! assert_eq!(sealed.hash, latest.hash);
//! # Ok(())
//! # }
//! ```

pub(crate) mod catalog;
pub(crate) mod copy;
pub(crate) mod datafile;
pub(crate) mod log;
pub(crate) mod manifest;
pub(crate) mod reader;
pub(crate) mod store;
pub(crate) mod table_dir;

pub use catalog::{CatalogManifest, EntryRecord};
pub use copy::COPY_PART_SIZE;
pub use datafile::hash_of_name;
pub use log::{CommitOutcome, Sealed, VersionLog, seal, unseal};
pub use manifest::{DataFileEntry, DeletionVectorEntry, FORMAT_VERSION, TableManifest, TailEntry};
pub use store::{CreateOutcome, StoreRoot, blake3_hex, verify};
pub use table_dir::{Loaded, TableDir};
