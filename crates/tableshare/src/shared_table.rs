//! [`SharedTable`]: a stored table with the seed's table methods on it: `push` and `pull`
//! (the transport remembers each table's cloud address, so the table needs no argument),
//! `head` and `show` for a quick look. Everything else a stored table does (insert, update,
//! delete, history, time travel, streaming scans, live form) is the storage table's own,
//! reached through `Deref`.

use std::ops::Deref;
use std::sync::Arc;

use arrow_array::RecordBatch;
use futures::TryStreamExt;
use tableshare_storage::{ScanOptions, Table};
use tableshare_transport::{TransferReport, Transport};

use crate::error::Result;
use crate::select::Select;

/// A table of the local catalog (writable, a replica, or a read-only version) with the
/// sharing methods of seed 000. Dereferences to the storage [`Table`].
#[derive(Debug)]
pub struct SharedTable {
    table: Arc<Table>,
    transport: Arc<Transport>,
}

impl Deref for SharedTable {
    type Target = Table;

    fn deref(&self) -> &Table {
        &self.table
    }
}

impl SharedTable {
    pub(crate) fn new(table: Table, transport: Arc<Transport>) -> Self {
        Self {
            table: Arc::new(table),
            transport,
        }
    }

    /// The storage table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Gives up the sharing methods and keeps the storage table (shared: a [`Select`] running
    /// on it may hold it too).
    pub fn into_table(self) -> Arc<Table> {
        self.table
    }

    /// Seed 000's `t.select(…).where(…).collect()`: a query over this table at its latest
    /// version; choose columns, then add `.filter("SQL")`, `.order_by(column, ascending)`,
    /// `.limit(n)` and `.collect()` the rows. Projection, filter and limit reach the streaming
    /// scan, so the table is never read whole for it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_array::{Int64Array, RecordBatch, StringArray};
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # use tableshare::{TableSchema, Tableshare};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let home = tempfile::tempdir()?;
    /// let ts = Tableshare::open(home.path())?;
    /// # let schema = Arc::new(Schema::new(vec![
    /// #     Field::new("name", DataType::Utf8, false),
    /// #     Field::new("value", DataType::Int64, false),
    /// # ]));
    /// let t = ts.create_table("films", &TableSchema::unpartitioned(schema.clone())?).await?;
    /// # t.insert(&RecordBatch::try_new(schema, vec![
    /// #     Arc::new(StringArray::from(vec!["a", "b", "c"])),
    /// #     Arc::new(Int64Array::from(vec![5, 20, 30])),
    /// # ])?).await?;
    /// let rows = t.select(["name"]).filter("value > 10").limit(10).collect().await?;
    /// assert_eq!(rows.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn select<I, S>(&self, columns: I) -> Select
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Select::new(Arc::clone(&self.table)).columns(columns)
    }

    /// Sends the versions the cloud lacks (this table must have been published). The handle
    /// itself does not change: pushing never alters local content.
    ///
    /// # Errors
    ///
    /// The transport's: not published, no org key, or a non-fast-forward error naming both
    /// versions when someone else pushed first (nothing is overwritten).
    pub async fn push(&self) -> Result<TransferReport> {
        Ok(self.transport.push(self.table.path()).await?)
    }

    /// Fetches the cloud's new versions into this replica, one local version each, and moves
    /// the handle to the newest (also when the pull fails part way: the versions committed
    /// before the failure stay, and the handle shows them).
    ///
    /// # Errors
    ///
    /// The transport's: not a replica, a version that does not verify (nothing of it is
    /// committed), the cloud table is gone.
    pub async fn pull(&self) -> Result<TransferReport> {
        let pulled = self.transport.pull(self.table.path()).await;
        // A pull that fails part way has still committed the versions before the failure: the
        // handle moves to whatever the replica now holds either way.
        let refreshed = self.table.refresh().await;
        let report = pulled?;
        refreshed?;
        Ok(report)
    }

    /// The first `limit` rows in row-key order, read as a stream that stops once it has them
    /// (a ten-row look at a large table reads about ten rows' worth of pages).
    ///
    /// # Errors
    ///
    /// The storage table's read errors.
    pub async fn head(&self, limit: usize) -> Result<RecordBatch> {
        let stream = self
            .table
            .scan_stream(ScanOptions::default().limit(limit))?;
        let schema = stream.schema();
        let batches: Vec<RecordBatch> = stream.map_ok(|part| part.batch).try_collect().await?;
        Ok(arrow_select::concat::concat_batches(&schema, &batches)?)
    }

    /// The first `limit` rows as a printable text table.
    ///
    /// # Errors
    ///
    /// As [`head`](Self::head).
    pub async fn show(&self, limit: usize) -> Result<String> {
        let rows = self.head(limit).await?;
        Ok(arrow_cast::pretty::pretty_format_batches(&[rows])?.to_string())
    }
}
