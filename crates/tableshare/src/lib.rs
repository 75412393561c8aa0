//! tableshare: share Arrow tables between processes, machines and clouds.
//!
//! This is the facade crate: one coherent API over the layered crates, for applications that
//! embed tableshare. Each layer is re-exported as a module, and the types most programs need are
//! re-exported at the root:
//!
//! | module | crate | what it holds |
//! | --- | --- | --- |
//! | [`uri`] | `tableshare-uri` | every table address: `pxt://` cloud tables, `pq://` worker tables, `ts://` direct worker addresses, subscription options |
//! | [`table`] | `tableshare-core` | the one table model: schemas, row keys, row sets, table updates, live tables, snapshots, subscriptions, table definitions |
//! | [`storage`] | `tableshare-storage` | the versioned storage engine: catalog, tables, versions, time travel, garbage collection |
//! | [`transport`] | `tableshare-transport` | sharing through object stores: publish, push, replicate, pull, independent copies |
//! | [`remote`] | `tableshare-remote` | live remote tables: the worker, the subscription client, the worker directory |
//! | [`tds`] | `tableshare-tds` | the table data service: backends, the service, the conformance suite |
//! | [`query`] | `tableshare-query` | SQL over every kind of table (DataFusion), views that tick with their base, SQL update and delete |
//!
//! On top of the layers, [`Tableshare`] holds a home (catalog, cloud, worker directory) and
//! has the seeds' functions as methods, and [`SharedTable`] adds the seed's `push` and `pull`
//! to a stored table:
//!
//! ```
//! # async fn tour() -> tableshare::Result<()> {
//! use tableshare::Tableshare;
//!
//! let home = tempfile::tempdir().expect("a scratch folder");
//! let ts = Tableshare::open(home.path())?;
//! ts.create_dir("shared_demo").await?;
//! assert!(ts.list_tables("").await?.is_empty());
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(tour()).unwrap();
//! ```
//!
//! Programs that need only one layer can depend on that crate alone; the facade adds no types of
//! its own to those layers (the session and the table handle hold the layers' own values), so
//! values move freely between code written against either.
//!
//! ```
//! use tableshare::TableUri;
//!
//! let uri: TableUri = "pq://SomePQ/scope/some_table?blink".parse()?;
//! assert!(matches!(uri, TableUri::Worker(_)));
//! # Ok::<(), tableshare::uri::UriError>(())
//! ```
#![deny(missing_docs)]

mod error;
mod home;
mod select;
mod session;
mod shared_table;

pub use error::{Error, Result};
pub use home::worker_directory;
pub use select::Select;
pub use session::Tableshare;
pub use shared_table::SharedTable;

/// Table addresses: parse, format and build `pxt://`, `pq://` and `ts://` addresses
/// (the `tableshare-uri` crate).
pub mod uri {
    pub use tableshare_uri::*;
}

/// The table model shared by every kind of table (the `tableshare-core` crate).
pub mod table {
    pub use tableshare_core::*;
}

/// The versioned storage engine: the local catalog of directories, tables, views, snapshots and
/// replicas (the `tableshare-storage` crate).
pub mod storage {
    pub use tableshare_storage::*;
}

/// Sharing tables through object stores: publish, push, replicate, pull (the
/// `tableshare-transport` crate).
pub mod transport {
    pub use tableshare_transport::*;
}

/// The table data service (seed 002): backends, the service, the conformance suite.
pub mod tds {
    pub use tableshare_tds::*;
}

/// SQL over every kind of table, views, SQL update and delete (the `tableshare-query` crate).
pub mod query {
    pub use tableshare_query::*;
}

/// Live remote tables: the worker that serves live tables over Arrow Flight, the subscription
/// client (`resolve`, remote table builders) and the worker directory (the `tableshare-remote`
/// crate).
pub mod remote {
    pub use tableshare_remote::*;
}

pub use tableshare_core::{
    LiveTable, RowKey, RowSet, Snapshot, Subscription, TableDefinition, TableEvent, TableSchema,
    TableUpdate,
};
pub use tableshare_storage::{Catalog, Table};
pub use tableshare_transport::{Access, CloudConfig, Transport};
pub use tableshare_uri::{CloudUri, DirectUri, TableUri, WorkerUri};
