//! SQL over every kind of tableshare table, with DataFusion.
//!
//! * [`StoredTable`]: a version of a stored table (local, replica, snapshot, `path:N`) as a
//!   DataFusion table that streams through the storage engine's verified scan, with projection,
//!   filter (statistics pruning) and limit pushed down: never a whole-table copy.
//! * [`LiveSource`]: any core [`LiveTable`](tableshare_core::LiveTable) or
//!   [`Snapshot`](tableshare_core::Snapshot) (replicas' live form, remote subscriptions,
//!   data-service tables) as a DataFusion table, one consistent step per query.
//! * [`QueryContext`]: `sql("SELECT …")` with tables named by their catalog paths and live
//!   tables registered under names or addresses; joins across kinds.
//! * [`ViewProgram`] and [`LiveView`]: the catalog's views (a base, computed columns as SQL
//!   expressions, a filter) as queryable tables and as live tables that tick with their base in
//!   the same step, re-evaluating only the rows each step changes.
//! * [`Select`]: seed 000's `t.select(…).where(…).collect()` as a builder over one table.
//! * [`update_where`] and [`delete_where`]: SQL `SET` expressions and `WHERE` predicates on
//!   local tables, as one storage version each.
//!
//! The guide is docs/queries.md.
//!
//! # Features
//!
//! This crate has no cargo features. It enables only DataFusion's SQL front end and its string,
//! math, date and unicode functions (no file formats, no compression codecs).
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod context;
mod error;
mod expr;
mod live;
mod live_view;
mod mutate;
mod partitioned;
mod pushdown;
mod select;
mod stored;
mod view;

pub use context::QueryContext;
pub use error::{QueryError, Result};
pub use live::LiveSource;
pub use live_view::LiveView;
pub use mutate::{Mutation, delete_where, update_where};
pub use partitioned::{Part, PartList, PartitionedSource};
pub use select::Select;
pub use stored::StoredTable;
pub use view::ViewProgram;

/// DataFusion, re-exported so callers use the exact version this crate is built on.
pub use datafusion;

/// The guide's examples (docs/queries.md), compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/queries.md")]
struct QueriesGuide;
