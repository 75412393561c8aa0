//! SQL expressions evaluated outside a query: a view's computed columns and filter, an update's
//! `SET` values and `WHERE`, evaluated directly on batches (with their row keys beside them).
//!
//! Text is parsed against a known schema by DataFusion (so an unknown column or a type error is
//! [`QueryError::Sql`] before any row is read), type-coerced and simplified into a physical
//! expression, and evaluated batch by batch.

use std::sync::Arc;

use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::{DataType, Schema};
use datafusion::common::DFSchema;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{QueryError, Result};

/// A session configured as every query of this crate runs: identifiers are case-sensitive as
/// written (table paths and column names like `Ticker` need no quotes; function names stay
/// case-insensitive), and SQL may only read.
pub(crate) fn session() -> SessionContext {
    session_config(SessionConfig::new())
}

/// [`session`] with `n` target partitions (1 keeps a single scan's row order).
pub(crate) fn session_with_partitions(n: usize) -> SessionContext {
    session_config(SessionConfig::new().with_target_partitions(n))
}

fn session_config(config: SessionConfig) -> SessionContext {
    let mut config = config.with_information_schema(false);
    config.options_mut().sql_parser.enable_ident_normalization = false;
    SessionContext::new_with_config(config)
}

/// A compiled expression over one schema.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub(crate) logical: Expr,
    pub(crate) physical: Arc<dyn PhysicalExpr>,
    pub(crate) data_type: DataType,
    pub(crate) nullable: bool,
}

/// Parses and compiles `sql` over `schema`; `what` names it in errors (`filter`, `column x`).
pub(crate) fn compile(
    ctx: &SessionContext,
    sql: &str,
    schema: &Schema,
    what: &str,
) -> Result<Compiled> {
    let df_schema = DFSchema::try_from(schema.clone()).map_err(QueryError::sql(what))?;
    let logical = ctx
        .parse_sql_expr(sql, &df_schema)
        .map_err(QueryError::sql(what))?;
    compile_expr(ctx, logical, schema, what)
}

/// Compiles an already parsed expression over `schema`.
pub(crate) fn compile_expr(
    ctx: &SessionContext,
    logical: Expr,
    schema: &Schema,
    what: &str,
) -> Result<Compiled> {
    let df_schema = DFSchema::try_from(schema.clone()).map_err(QueryError::sql(what))?;
    let physical = ctx
        .create_physical_expr(logical.clone(), &df_schema)
        .map_err(QueryError::sql(what))?;
    let data_type = physical.data_type(schema).map_err(QueryError::sql(what))?;
    let nullable = physical.nullable(schema).map_err(QueryError::sql(what))?;
    Ok(Compiled {
        logical,
        physical,
        data_type,
        nullable,
    })
}

/// Compiles a filter: its type must be boolean.
pub(crate) fn compile_filter(
    ctx: &SessionContext,
    sql: &str,
    schema: &Schema,
    what: &str,
) -> Result<Compiled> {
    let compiled = compile(ctx, sql, schema, what)?;
    if !matches!(compiled.data_type, DataType::Boolean | DataType::Null) {
        return Err(QueryError::Sql {
            what: what.to_owned(),
            source: Box::new(datafusion::error::DataFusionError::Plan(format!(
                "`{sql}` is of type {}, not boolean",
                compiled.data_type
            ))),
        });
    }
    Ok(compiled)
}

impl Compiled {
    /// The values of the expression for every row of `batch`.
    pub(crate) fn evaluate(&self, batch: &RecordBatch) -> Result<arrow_array::ArrayRef> {
        self.physical
            .evaluate(batch)
            .and_then(|v| v.into_array(batch.num_rows()))
            .map_err(QueryError::exec)
    }

    /// A filter's verdict for every row of `batch`; null counts as false.
    pub(crate) fn mask(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let values = self.evaluate(batch)?;
        let mask = match values.as_any().downcast_ref::<BooleanArray>() {
            Some(mask) => mask.clone(),
            // An all-null filter (`WHERE NULL`) selects nothing.
            None => BooleanArray::from(vec![false; batch.num_rows()]),
        };
        Ok(if mask.null_count() > 0 {
            arrow_select::filter::prep_null_mask_filter(&mask)
        } else {
            mask
        })
    }
}
