//! [`Select`]: the facade's form of seed 000's `t.select(…).where(…).collect()`, made from a
//! [`SharedTable`](crate::SharedTable) without awaiting; it reads the table's latest version when
//! collected, through [`tableshare_query::Select`].

use std::sync::Arc;

use arrow_array::RecordBatch;
use tableshare_storage::Table;

use crate::error::Result;

/// A query over one stored table: columns, filter, order, limit. Made by
/// [`SharedTable::select`](crate::SharedTable::select).
#[derive(Debug, Clone)]
pub struct Select {
    table: Arc<Table>,
    columns: Vec<String>,
    filters: Vec<String>,
    order: Vec<(String, bool)>,
    limit: Option<usize>,
}

impl Select {
    pub(crate) fn new(table: Arc<Table>) -> Self {
        Self {
            table,
            columns: Vec::new(),
            filters: Vec::new(),
            order: Vec::new(),
            limit: None,
        }
    }

    /// Only these columns, in this order (none named: all of them).
    pub fn columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Only the rows for which the SQL expression holds (the seed's `.where(…)`); calling it
    /// again adds a condition. It may name columns that are not selected.
    pub fn filter(mut self, predicate: impl Into<String>) -> Self {
        self.filters.push(predicate.into());
        self
    }

    /// Sorts by `column` (ties broken by later calls' columns), nulls last.
    pub fn order_by(mut self, column: impl Into<String>, ascending: bool) -> Self {
        self.order.push((column.into(), ascending));
        self
    }

    /// At most `n` rows.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Runs the query on the table's latest version and collects the rows.
    ///
    /// # Errors
    ///
    /// [`Error::Query`](crate::Error::Query): a filter that does not parse, an unknown column,
    /// storage errors while reading.
    pub async fn collect(self) -> Result<Vec<RecordBatch>> {
        let mut query = tableshare_query::Select::table(self.table)
            .await?
            .columns(self.columns);
        for predicate in self.filters {
            query = query.filter(predicate);
        }
        for (column, ascending) in self.order {
            query = query.order_by(column, ascending);
        }
        if let Some(n) = self.limit {
            query = query.limit(n);
        }
        Ok(query.collect().await?)
    }
}
