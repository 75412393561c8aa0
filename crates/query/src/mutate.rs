//! Update and delete with SQL: `SET column = expression` and `WHERE predicate` on a local table.
//!
//! The `WHERE` is evaluated on the handle's version, streamed batch by batch with the row keys
//! beside the rows (its simple parts also prune the scan: see `pushdown`), so memory grows with
//! the selected rows, not the table. The selected keys become a storage
//! [`Selection::Keys`]; the `SET` values are evaluated on the same rows and cast to the
//! columns' types. The change is then one storage version (`Table::update` / `Table::delete`),
//! which detects a rival that changed the same rows in between. All text is parsed and
//! type-checked before anything is read: bad SQL changes nothing.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt64Array};
use arrow_schema::{Field, Schema};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, ExprSchemable, cast};
use futures::TryStreamExt;
use tableshare_core::RowSet;
use tableshare_storage::{ScanOptions, Selection, StorageError, Table};

use crate::error::{QueryError, Result};
use crate::expr::{Compiled, compile, compile_expr, compile_filter, session};
use crate::pushdown;

/// What an update or delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mutation {
    /// Rows the `WHERE` selected (and that were changed or removed).
    pub rows: u64,
    /// The table's version after the change (unchanged when no row was selected).
    pub version: u64,
}

/// Sets columns of the rows matching `filter` (all rows when `None`) to SQL expressions over
/// the row's current values: `set` holds `(column, expression)` pairs. One new version.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float64Array, Int64Array, RecordBatch};
/// use tableshare_core::TableSchema;
/// use tableshare_query::{QueryContext, update_where};
/// use tableshare_storage::{Catalog, parse_schema_spec};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let catalog = Catalog::in_memory();
/// let arrow = Arc::new(parse_schema_spec("id:int64,value:float64")?);
/// let table = catalog.create_table("t", &TableSchema::unpartitioned(arrow.clone())?).await?;
/// table.insert(&RecordBatch::try_new(arrow, vec![
///     Arc::new(Int64Array::from(vec![1, 2])),
///     Arc::new(Float64Array::from(vec![1.5, 2.5])),
/// ])?).await?;
/// let done = update_where(&table, &[("value", "value * 10")], Some("id = 2")).await?;
/// assert_eq!((done.rows, done.version), (1, 2));
/// let rows = QueryContext::with_catalog(catalog).sql("SELECT value FROM t ORDER BY id").await?;
/// let values = rows[0].column(0).as_any().downcast_ref::<Float64Array>().unwrap();
/// assert_eq!(values.values().to_vec(), vec![1.5, 25.0]);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`QueryError::Sql`] for an expression or filter that does not parse or type-check or a
/// column that does not exist (nothing read); [`StorageError::ReadOnly`] for a replica,
/// snapshot or pinned version; evaluation errors; the storage errors of `Table::update`
/// (a rival changed a selected row: `RowConflict`).
pub async fn update_where<C: AsRef<str>, E: AsRef<str>>(
    table: &Table,
    set: &[(C, E)],
    filter: Option<&str>,
) -> Result<Mutation> {
    let schema = table.schema();
    let plain = plain_schema(&schema);
    let ctx = session();
    if set.is_empty() {
        return Err(bad("SET", "no column to set"));
    }
    let mut values: Vec<(Field, Compiled)> = Vec::with_capacity(set.len());
    for (column, sql) in set {
        let (column, sql) = (column.as_ref(), sql.as_ref());
        let what = format!("SET value of {column}");
        let field = plain
            .field_with_name(column)
            .map_err(|_| bad(&what, &format!("no column {column} in {}", table.path())))?
            .clone();
        if values.iter().any(|(f, _)| f.name() == column) {
            return Err(bad(&what, &format!("column {column} set twice")));
        }
        let parsed = compile(&ctx, sql, &plain, &what)?;
        // Cast to the column's type (checked now: a cast that cannot exist is bad SQL).
        let target = field.data_type().clone();
        let logical: Expr = if parsed.data_type == target {
            parsed.logical
        } else {
            let df_schema = datafusion::common::DFSchema::try_from(plain.as_ref().clone())
                .map_err(QueryError::sql(what.as_str()))?;
            let casted = cast(parsed.logical, target.clone());
            casted
                .get_type(&df_schema)
                .map_err(QueryError::sql(what.as_str()))?;
            casted
        };
        let compiled = compile_expr(&ctx, logical, &plain, &what)?;
        values.push((field, compiled));
    }
    let filter = match filter {
        Some(sql) => Some(compile_filter(&ctx, sql, &plain, "WHERE")?),
        None => None,
    };
    writable(table, "update")?;
    let (keys, rows) = select(table, filter.as_ref(), Some(&values)).await?;
    if keys.is_empty() {
        return Ok(Mutation {
            rows: 0,
            version: table.version(),
        });
    }
    let fields: Vec<Field> = values.iter().map(|(f, _)| f.clone()).collect();
    let columns: Vec<ArrayRef> = rows;
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| QueryError::exec(e.into()))?;
    let count = keys.len();
    let version = table.update(&Selection::Keys(keys), &batch).await?;
    Ok(Mutation {
        rows: count,
        version,
    })
}

/// Deletes the rows matching `filter` (a SQL predicate over the table's columns). One new
/// version.
///
/// # Errors
///
/// As [`update_where`].
pub async fn delete_where(table: &Table, filter: &str) -> Result<Mutation> {
    let plain = plain_schema(&table.schema());
    let ctx = session();
    let filter = compile_filter(&ctx, filter, &plain, "WHERE")?;
    writable(table, "delete")?;
    let (keys, _) = select(table, Some(&filter), None).await?;
    if keys.is_empty() {
        return Ok(Mutation {
            rows: 0,
            version: table.version(),
        });
    }
    let count = keys.len();
    let version = table.delete(&Selection::Keys(keys)).await?;
    Ok(Mutation {
        rows: count,
        version,
    })
}

/// The schema without the engine's per-column metadata.
fn plain_schema(schema: &Schema) -> Arc<Schema> {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_metadata(Default::default()))
            .collect::<Vec<_>>(),
    ))
}

/// Refuses early on a read-only handle, before reading anything (the storage operation would
/// refuse too, but only once it had rows to change).
fn writable(table: &Table, operation: &'static str) -> Result<()> {
    if table.is_read_only() {
        return Err(StorageError::ReadOnly {
            table: table.path().to_owned(),
            operation,
            why: "a replica, snapshot or pinned version",
        }
        .into());
    }
    Ok(())
}

fn bad(what: &str, reason: &str) -> QueryError {
    QueryError::Sql {
        what: what.to_owned(),
        source: Box::new(DataFusionError::Plan(reason.to_owned())),
    }
}

/// Streams the handle's version, keeping the keys (and, for an update, the new values) of the
/// rows that pass `filter`.
async fn select(
    table: &Table,
    filter: Option<&Compiled>,
    values: Option<&[(Field, Compiled)]>,
) -> Result<(RowSet, Vec<ArrayRef>)> {
    let plain = plain_schema(&table.schema());
    let mut options = ScanOptions::default();
    if let Some(filter) = filter {
        for predicate in pushdown::predicates(&filter.logical, &plain) {
            options = options.filter(predicate);
        }
    }
    let mut scan = table.scan_stream(options)?;
    let mut keys = Vec::new();
    let mut parts: Vec<Vec<ArrayRef>> = Vec::new();
    while let Some(part) = scan.try_next().await? {
        let batch = RecordBatch::try_new(Arc::clone(&plain), part.batch.columns().to_vec())
            .map_err(|e| QueryError::exec(e.into()))?;
        let (chosen, mask) = match filter {
            Some(filter) => {
                let mask = filter.mask(&batch)?;
                let all = UInt64Array::from(part.keys.clone());
                let chosen = arrow_select::filter::filter(&all, &mask)
                    .map_err(|e| QueryError::exec(e.into()))?;
                let chosen = chosen
                    .as_any()
                    .downcast_ref::<UInt64Array>()
                    .map(|a| a.values().to_vec())
                    .unwrap_or_default();
                (chosen, Some(mask))
            }
            None => (part.keys.clone(), None),
        };
        if chosen.is_empty() {
            continue;
        }
        keys.extend_from_slice(&chosen);
        if let Some(values) = values {
            let mut columns = Vec::with_capacity(values.len());
            for (_, compiled) in values {
                let column = compiled.evaluate(&batch)?;
                columns.push(match &mask {
                    Some(mask) => arrow_select::filter::filter(&column, mask)
                        .map_err(|e| QueryError::exec(e.into()))?,
                    None => column,
                });
            }
            parts.push(columns);
        }
    }
    let keys = RowSet::from_sorted_keys(&keys)?;
    let columns = match values {
        Some(_) if parts.is_empty() => Vec::new(),
        Some(values) => (0..values.len())
            .map(|i| {
                let pieces: Vec<&dyn arrow_array::Array> =
                    parts.iter().map(|p| p[i].as_ref()).collect();
                arrow_select::concat::concat(&pieces).map_err(|e| QueryError::exec(e.into()))
            })
            .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    Ok((keys, columns))
}
