//! Views: a base table plus computed columns (`name = SQL expression` over the base's columns)
//! and an optional filter (over the base's and the computed columns), as the catalog stores them
//! ([`ViewDefinition`]).
//!
//! A [`ViewProgram`] compiles a definition against its base's schema once, and evaluates it two
//! ways: as a DataFusion table over the base's provider (so SQL over a view is planned with the
//! base, filters and projections pushed through to its scan), and row by row on keyed batches,
//! which is how a live view re-evaluates only the rows a step changed (`live_view`).

use std::sync::Arc;

use arrow_array::{RecordBatch, UInt64Array};
use arrow_schema::{Field, Schema, SchemaRef};
use datafusion::common::Column;
use datafusion::datasource::TableProvider;
use datafusion::logical_expr::Expr;
use tableshare_storage::ViewDefinition;

use crate::error::{QueryError, Result};
use crate::expr::{Compiled, compile, compile_filter, session};

/// A view definition compiled against its base's schema.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Float64Array, RecordBatch};
/// use arrow_schema::{DataType, Field, Schema};
/// use tableshare_query::ViewProgram;
/// use tableshare_storage::ViewDefinition;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let base = Arc::new(Schema::new(vec![Field::new("value", DataType::Float64, true)]));
/// let definition = ViewDefinition::new("t")
///     .with_column("doubled", "value * 2")
///     .with_filter("doubled > 3");
/// let view = ViewProgram::compile("v", base.clone(), &definition)?;
/// let batch = RecordBatch::try_new(base, vec![Arc::new(Float64Array::from(vec![1.0, 2.0]))])?;
/// let (keys, rows) = view.evaluate(&[10, 11], &batch)?;
/// assert_eq!(keys, vec![11]);
/// assert_eq!(rows.column(1).as_any().downcast_ref::<Float64Array>().unwrap().value(0), 4.0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ViewProgram {
    name: String,
    definition: ViewDefinition,
    base: SchemaRef,
    schema: SchemaRef,
    computed: Vec<Compiled>,
    filter: Option<Compiled>,
}

impl ViewProgram {
    /// Compiles `definition` (the view at `name`) over a base of schema `base`.
    ///
    /// # Errors
    ///
    /// [`QueryError::Sql`] for an expression that does not parse or names an unknown column,
    /// [`QueryError::InvalidView`] for a computed column named like another column.
    pub fn compile(name: &str, base: SchemaRef, definition: &ViewDefinition) -> Result<Self> {
        let ctx = session();
        let mut fields: Vec<Field> = base
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_metadata(Default::default()))
            .collect();
        let mut computed = Vec::with_capacity(definition.computed_columns.len());
        for (column, sql) in &definition.computed_columns {
            if column.is_empty() || fields.iter().any(|f| f.name() == column) {
                return Err(QueryError::InvalidView {
                    view: name.to_owned(),
                    reason: format!("column name `{column}` is empty or already taken"),
                });
            }
            let compiled = compile(&ctx, sql, &base, &format!("column {column}"))?;
            fields.push(Field::new(
                column,
                compiled.data_type.clone(),
                compiled.nullable,
            ));
            computed.push(compiled);
        }
        let schema = Arc::new(Schema::new(fields));
        let filter = match &definition.filter {
            Some(sql) => Some(compile_filter(&ctx, sql, &schema, "view filter")?),
            None => None,
        };
        Ok(Self {
            name: name.to_owned(),
            definition: definition.clone(),
            base,
            schema,
            computed,
            filter,
        })
    }

    /// The view's schema: the base's columns, then the computed ones.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The base schema it was compiled against.
    pub fn base_schema(&self) -> SchemaRef {
        Arc::clone(&self.base)
    }

    /// The view's rows for base rows `batch` (in the base schema) with keys `keys`: the
    /// computed columns added, the rows failing the filter dropped, keys kept beside them.
    ///
    /// # Errors
    ///
    /// [`QueryError::Execution`] if an expression fails on the data (a failed cast, …).
    pub fn evaluate(&self, keys: &[u64], batch: &RecordBatch) -> Result<(Vec<u64>, RecordBatch)> {
        let rows = batch.num_rows();
        let mut columns = batch.columns().to_vec();
        for compiled in &self.computed {
            columns.push(compiled.evaluate(batch)?);
        }
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
        let full = RecordBatch::try_new_with_options(Arc::clone(&self.schema), columns, &options)
            .map_err(|e| QueryError::exec(e.into()))?;
        let Some(filter) = &self.filter else {
            return Ok((keys.to_vec(), full));
        };
        let mask = filter.mask(&full)?;
        let kept = arrow_select::filter::filter_record_batch(&full, &mask)
            .map_err(|e| QueryError::exec(e.into()))?;
        let key_array = UInt64Array::from(keys.to_vec());
        let kept_keys = arrow_select::filter::filter(&key_array, &mask)
            .map_err(|e| QueryError::exec(e.into()))?;
        let kept_keys = kept_keys
            .as_any()
            .downcast_ref::<UInt64Array>()
            .map(|a| a.values().to_vec())
            .unwrap_or_default();
        Ok((kept_keys, kept))
    }

    /// The view as a DataFusion table over `base` (a provider of the base's rows): queries over
    /// it are planned together with the base, filters pushed down to the base's scan.
    ///
    /// # Errors
    ///
    /// [`QueryError::InvalidView`] if `base` no longer has the schema the view was compiled
    /// against; [`QueryError::Sql`] as [`ViewProgram::compile`].
    pub fn provider(&self, base: Arc<dyn TableProvider>) -> Result<Arc<dyn TableProvider>> {
        if base.schema().fields() != self.base.fields() {
            return Err(QueryError::InvalidView {
                view: self.name.clone(),
                reason: "its base's schema changed since the view was compiled".to_owned(),
            });
        }
        let ctx = session();
        let what = "view";
        let df = ctx.read_table(base).map_err(QueryError::sql(what))?;
        let mut select: Vec<Expr> = self
            .base
            .fields()
            .iter()
            .map(|f| Expr::Column(Column::new_unqualified(f.name())))
            .collect();
        for (column, sql) in &self.definition.computed_columns {
            let expr = df
                .parse_sql_expr(sql)
                .map_err(QueryError::sql(format!("column {column}")))?;
            select.push(expr.alias(column));
        }
        let mut df = df.select(select).map_err(QueryError::sql(what))?;
        if let Some(sql) = &self.definition.filter {
            let expr = df
                .parse_sql_expr(sql)
                .map_err(QueryError::sql("view filter"))?;
            df = df.filter(expr).map_err(QueryError::sql("view filter"))?;
        }
        Ok(df.into_view())
    }
}
