//! [`Select`]: the seed's `t.select(…).where(…).collect()` as a builder over one table.
//!
//! Seed 000 reads a table with `t.select(t.col1, t.col2).where(t.col1 > 10).collect()`. This is
//! that query in Rust: columns chosen by name, a filter written as a SQL expression, an order
//! and a limit, collected into Arrow batches. It plans through DataFusion's `DataFrame` over the
//! table's provider, so over a stored table the projection, the filter (statistics pruning) and
//! the limit reach the storage engine's streaming scan, as they do for [`QueryContext::sql`]:
//! the table is never copied whole.
//!
//! [`QueryContext::sql`]: crate::QueryContext::sql

use std::sync::Arc;

use arrow_array::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::col;
use futures::TryStreamExt;
use tableshare_storage::Table;

use crate::error::{QueryError, Result};
use crate::expr::session;
use crate::stored::StoredTable;

/// A query over one table: which columns, which rows, in what order, how many.
///
/// ```
/// # use std::sync::Arc;
/// # use arrow_array::{Int64Array, RecordBatch, StringArray};
/// # use arrow_schema::{DataType, Field, Schema};
/// # use tableshare_core::TableSchema;
/// # use tableshare_storage::Catalog;
/// use tableshare_query::Select;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let schema = Arc::new(Schema::new(vec![
/// #     Field::new("name", DataType::Utf8, false),
/// #     Field::new("value", DataType::Int64, false),
/// # ]));
/// # let catalog = Catalog::in_memory();
/// # let t = catalog.create_table("t", &TableSchema::unpartitioned(schema.clone())?).await?;
/// # t.insert(&RecordBatch::try_new(schema, vec![
/// #     Arc::new(StringArray::from(vec!["a", "b", "c"])),
/// #     Arc::new(Int64Array::from(vec![5, 20, 30])),
/// # ])?).await?;
/// let rows = Select::table(Arc::new(t))
///     .await?
///     .columns(["name"])
///     .filter("value > 10")
///     .order_by("value", false)
///     .limit(1)
///     .collect()
///     .await?;
/// assert_eq!(rows.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
/// assert_eq!(rows[0].schema().field(0).name(), "name");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Select {
    provider: Arc<dyn TableProvider>,
    columns: Vec<String>,
    filter: Option<String>,
    order: Vec<(String, bool)>,
    limit: Option<usize>,
}

impl Select {
    /// Every column and row of `provider` (any table this crate or DataFusion provides).
    pub fn new(provider: Arc<dyn TableProvider>) -> Self {
        Self {
            provider,
            columns: Vec::new(),
            filter: None,
            order: Vec::new(),
            limit: None,
        }
    }

    /// Every column and row of a stored table at its latest version.
    ///
    /// # Errors
    ///
    /// Store errors while reading the latest version.
    pub async fn table(table: Arc<Table>) -> Result<Self> {
        Ok(Self::new(Arc::new(StoredTable::latest(table).await?)))
    }

    /// Only these columns, in this order (by default all of them).
    pub fn columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Only the rows for which the SQL expression `predicate` holds (`value > 10 AND name <>
    /// 'x'`); it may name columns that are not selected. Calling it again adds a condition.
    pub fn filter(mut self, predicate: impl Into<String>) -> Self {
        let predicate = predicate.into();
        self.filter = Some(match self.filter.take() {
            Some(before) => format!("({before}) AND ({predicate})"),
            None => predicate,
        });
        self
    }

    /// Sorts by `column` (then by the columns of earlier calls' ties), ascending or not; nulls
    /// last. The column need not be selected.
    pub fn order_by(mut self, column: impl Into<String>, ascending: bool) -> Self {
        self.order.push((column.into(), ascending));
        self
    }

    /// At most `n` rows.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// The query as a DataFusion [`DataFrame`] (to explain it, or refine it further).
    ///
    /// # Errors
    ///
    /// [`QueryError::Sql`] for a filter that does not parse or names an unknown column, or an
    /// unknown column to select or order by.
    pub fn dataframe(&self) -> Result<DataFrame> {
        let ctx = session();
        let mut df = ctx
            .read_table(Arc::clone(&self.provider))
            .map_err(QueryError::sql("select"))?;
        if let Some(predicate) = &self.filter {
            let expr = df
                .parse_sql_expr(predicate)
                .map_err(QueryError::sql(format!("filter `{predicate}`")))?;
            df = df.filter(expr).map_err(QueryError::sql("filter"))?;
        }
        if !self.order.is_empty() {
            let keys = self
                .order
                .iter()
                .map(|(column, ascending)| col(quoted(column)).sort(*ascending, false))
                .collect();
            df = df.sort(keys).map_err(QueryError::sql("order by"))?;
        }
        if !self.columns.is_empty() {
            let names: Vec<&str> = self.columns.iter().map(String::as_str).collect();
            df = df
                .select_columns(&names)
                .map_err(QueryError::sql("select"))?;
        }
        if let Some(n) = self.limit {
            df = df.limit(0, Some(n)).map_err(QueryError::sql("limit"))?;
        }
        Ok(df)
    }

    /// Runs the query and collects its rows.
    ///
    /// # Errors
    ///
    /// As [`Select::dataframe`], and storage errors while reading.
    pub async fn collect(self) -> Result<Vec<RecordBatch>> {
        self.dataframe()?
            .execute_stream()
            .await
            .map_err(QueryError::exec)?
            .try_collect()
            .await
            .map_err(QueryError::exec)
    }
}

/// A column name as an identifier DataFusion takes literally (case and dots kept).
fn quoted(column: &str) -> String {
    format!("\"{}\"", column.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use tableshare_core::TableSchema;
    use tableshare_storage::Catalog;

    use super::*;

    async fn table() -> Arc<Table> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("Name", DataType::Utf8, false),
            Field::new("value", DataType::Int64, true),
        ]));
        let catalog = Catalog::in_memory();
        let t = catalog
            .create_table("t", &TableSchema::unpartitioned(schema.clone()).unwrap())
            .await
            .unwrap();
        t.insert(
            &RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(StringArray::from(vec!["a", "b", "c", "d"])),
                    Arc::new(Int64Array::from(vec![Some(5), Some(20), None, Some(30)])),
                ],
            )
            .unwrap(),
        )
        .await
        .unwrap();
        Arc::new(t)
    }

    fn names(rows: &[RecordBatch]) -> Vec<String> {
        rows.iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                (0..a.len())
                    .map(|i| a.value(i).to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    // Guards the builder: columns (case kept), filters that combine and may name unselected
    // columns, order with nulls last, limit; and bad input as a clear error, not a panic.
    #[tokio::test]
    async fn select_filter_order_limit() {
        let t = table().await;
        let rows = Select::table(Arc::clone(&t))
            .await
            .unwrap()
            .columns(["Name"])
            .filter("value > 1")
            .filter("\"Name\" <> 'd'")
            .order_by("value", false)
            .collect()
            .await
            .unwrap();
        assert_eq!(rows[0].num_columns(), 1);
        assert_eq!(names(&rows), ["b", "a"]);

        let rows = Select::table(Arc::clone(&t))
            .await
            .unwrap()
            .order_by("value", true)
            .limit(3)
            .collect()
            .await
            .unwrap();
        assert_eq!(names(&rows), ["a", "b", "d"], "nulls last, limit 3");

        let err = Select::table(Arc::clone(&t))
            .await
            .unwrap()
            .filter("value >")
            .collect()
            .await
            .unwrap_err();
        assert!(err.is_bad_input(), "{err}");
        let err = Select::table(t)
            .await
            .unwrap()
            .columns(["nope"])
            .collect()
            .await
            .unwrap_err();
        assert!(err.is_bad_input(), "{err}");
    }
}
