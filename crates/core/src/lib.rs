//! The table model every tableshare table shares.
//!
//! Whatever produces a table (a local versioned table, a replica, a remote subscription, a data
//! service, a view), a reader sees the same thing, defined here: a [`TableSchema`], rows named
//! by stable [`RowKey`]s, a current [`Step`], a consistent [`Snapshot`], and a stream of
//! [`TableUpdate`]s, each taking the table atomically from one step to the next. Because every
//! layer speaks this model, a view over a subscribed table ticks when the subscription ticks, in
//! the same step, and no reader ever sees half of a step (lockstep).
//!
//! # The model
//!
//! * **Steps.** A table starts empty at step 0; each update produces the next step. An update
//!   is labelled with the step it produces.
//! * **Row keys.** Every row has a `u64` key that stays with it while it lives. Sets of keys are
//!   [`RowSet`]s (roaring bitmaps, persistable in the portable roaring format).
//! * **Rows.** Row data travels as ascending keys plus an Arrow `RecordBatch` whose rows
//!   correspond to them. A [`Snapshot`] holds the whole table as a sequence of such key-ranged
//!   [`Chunk`]s, shared between snapshots, so a step rebuilds only the chunks it touches;
//!   readers take it chunk by chunk or in batches of a bounded size, and find rows by position
//!   ([`Snapshot::position_of`], [`Snapshot::key_at`]) without scanning.
//! * **Updates.** A [`TableUpdate`] removes keys, adds rows ([`AddedRows`]), and changes columns
//!   of existing rows ([`ColumnChange`], one per column, each with its own keys). Removing and
//!   adding a key in one step replaces the row. Consecutive updates [coalesce] into one with
//!   the same effect; snapshots and updates [project] to a subset of columns.
//! * **Live tables.** A [`LiveTable`] applies updates atomically and hands out snapshots and
//!   [`Subscription`]s that start exactly after a snapshot (or after a step the reader already
//!   holds): no gap, no duplicate. A blink table keeps only the last step's rows. A table can
//!   [fail]; its readers see the error. A table can change its schema as a step of its own;
//!   subscribers receive a [`SchemaChange`] event, and a renamed column stays the same column.
//! * **Bounded subscribers.** A subscriber that falls behind receives the steps it missed
//!   coalesced into one update; one that falls further behind than its capacity resyncs with
//!   one [reset](TableUpdate::reset) update. The table keeps one bounded history of recent steps
//!   that every subscriber reads with its own cursor: memory never grows with a reader's lag and
//!   a slow reader never slows a writer.
//! * **Definitions.** A [`TableDefinition`] is what a reader relies on (column names and types)
//!   and checks whether an upstream schema provides it.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{Float64Array, RecordBatch, StringArray};
//! use arrow_schema::{DataType, Field, Schema};
//! use tableshare_core::{ColumnChange, LiveTable, LiveTableOptions, RowSet, TableSchema};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let arrow = Arc::new(Schema::new(vec![
//!     Field::new("symbol", DataType::Utf8, false),
//!     Field::new("price", DataType::Float64, true),
//! ]));
//! let quotes = |symbols: Vec<&str>, prices: Vec<f64>| {
//!     RecordBatch::try_new(
//!         arrow.clone(),
//!         vec![Arc::new(StringArray::from(symbols)), Arc::new(Float64Array::from(prices))],
//!     )
//! };
//! let schema = TableSchema::unpartitioned(arrow.clone())?;
//! let table = LiveTable::new(schema, LiveTableOptions::default());
//!
//! // Step 1: two rows, keys 0 and 1.
//! table.append(quotes(vec!["AAPL", "MSFT"], vec![189.5, 411.0])?)?;
//!
//! // A reader: a snapshot at step 1 and every update after it.
//! let (snapshot, mut updates) = table.subscribe()?;
//! assert_eq!((snapshot.step(), snapshot.num_rows()), (1, 2));
//!
//! // Steps 2 and 3: a price changes, a row goes.
//! let new_price = Arc::new(Float64Array::from(vec![412.25]));
//! table.modify(vec![ColumnChange::new("price", vec![1], new_price)?])?;
//! table.remove(RowSet::from_range(0..1))?;
//!
//! // The reader was busy: both steps arrive as one update to step 3.
//! let event = updates.next().await.expect("the table is alive")?;
//! assert_eq!(event.step(), 3);
//! let mirror = event.apply_to(&snapshot)?;
//! assert_eq!(mirror, table.snapshot()?);
//! // The whole table as one batch is an explicit, O(table) concatenation.
//! assert_eq!(mirror.concat()?, quotes(vec!["MSFT"], vec![412.25])?);
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! This crate has no cargo features. It uses tokio's `sync` module only and runs on any
//! executor (or none: [`Subscription::try_next`] never waits).
//!
//! [coalesce]: TableUpdate::coalesce
//! [project]: TableUpdate::project
//! [fail]: LiveTable::fail

#![deny(missing_docs)]

mod apply;
mod chunk;
mod definition;
mod error;
mod fit;
mod history;
mod kernels;
mod keys;
mod live;
mod row_set;
mod schema;
mod schema_change;
mod snapshot;
mod subscription;
#[cfg(test)]
mod test_support;
mod update;

pub use chunk::{Chunk, ChunkBounds, ChunkStats};
pub use definition::TableDefinition;
pub use error::{CoreError, Result};
pub use fit::{CastMode, FitOptions, fit_batch, fit_column};
pub use live::{LiveTable, LiveTableOptions};
pub use row_set::{RowKey, RowSet};
pub use schema::{PARTITIONING_METADATA_KEY, TableSchema};
pub use schema_change::SchemaChange;
pub use snapshot::Snapshot;
pub use subscription::{SubscribeOptions, Subscription, TableEvent};
pub use update::{AddedRows, ColumnChange, Step, TableUpdate};
