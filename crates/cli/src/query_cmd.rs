//! The query commands: `sql`, `table update`, `table delete`, `view create`, and `table show`
//! of a view. Each is a thin shell over `tableshare-query`: SQL is parsed and checked against
//! the table's columns before anything is read, so bad SQL (exit 2) changes nothing; a refused
//! or failed operation (read-only, not found, conflict) is exit 1.

use anyhow::anyhow;
use arrow_array::RecordBatch;
use clap::{Args, Subcommand};
use tableshare::storage::{Catalog, StorageError, ViewDefinition};
use tableshare_query::{QueryContext, QueryError, delete_where, update_where};

use crate::catalog_cmd::{runtime, storage_failure};
use crate::exit::{CmdResult, Failure};
use crate::home::Home;
use crate::output::{rows_json, rows_pretty};

/// `tableshare sql 'SELECT …' [--json]`
#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// The query. Tables are named by their catalog paths (`dir.table`; quote a path whole
    /// when it has more than three parts or a version: "dir.sub.table:3"). Names are
    /// case-sensitive.
    query: String,
    /// Print a JSON array of row objects.
    #[arg(long)]
    json: bool,
}

/// `tableshare table update PATH --set 'col=SQL expr' … [--where SQL]`
#[derive(Debug, Args)]
pub(crate) struct UpdateArgs {
    /// Dotted path of the table
    path: String,
    /// COLUMN=SQL expression over the row's current values, e.g. 'value=value * 2'
    /// (repeatable).
    #[arg(long = "set", required = true, value_name = "COL=EXPR")]
    set: Vec<String>,
    /// Only rows for which this SQL predicate is true (default: every row).
    #[arg(long = "where", value_name = "SQL")]
    filter: Option<String>,
}

/// `tableshare table delete PATH --where SQL`
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// Dotted path of the table
    path: String,
    /// The rows to delete: those for which this SQL predicate is true.
    #[arg(long = "where", value_name = "SQL")]
    filter: String,
}

/// `tableshare view …`
#[derive(Debug, Subcommand)]
pub(crate) enum ViewCommand {
    /// Create a view: a base table (or replica, snapshot, view) with computed columns and an
    /// optional filter, evaluated when read.
    Create {
        /// Dotted path of the view
        path: String,
        /// Dotted path of its base
        #[arg(long)]
        base: String,
        /// NAME=SQL expression over the base's columns (repeatable).
        #[arg(long = "column", value_name = "NAME=EXPR")]
        columns: Vec<String>,
        /// Keep only rows for which this SQL predicate (over all columns) is true.
        #[arg(long = "where", value_name = "SQL")]
        filter: Option<String>,
    },
}

/// The contract's exit code for a query error.
fn query_failure(err: QueryError) -> Failure {
    match err {
        QueryError::Storage(err) => storage_failure(err),
        err if err.is_bad_input() => Failure::BadInput(anyhow::Error::new(err)),
        err => Failure::Failed(anyhow::Error::new(err)),
    }
}

fn open(home: &Home) -> Result<Catalog, Failure> {
    home.catalog().map_err(Failure::Failed)
}

/// `COL=EXPR` split at the first `=`; a column may be written in double quotes.
fn assignment(text: &str, flag: &str) -> Result<(String, String), Failure> {
    let (name, expr) = text
        .split_once('=')
        .ok_or_else(|| Failure::BadInput(anyhow!("{flag} `{text}` is not NAME=SQL expression")))?;
    let name = name.trim();
    let name = name
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .unwrap_or(name);
    if name.is_empty() || expr.trim().is_empty() {
        return Err(Failure::BadInput(anyhow!(
            "{flag} `{text}` is not NAME=SQL expression"
        )));
    }
    Ok((name.to_owned(), expr.trim().to_owned()))
}

/// Prints rows as the contract's JSON array or a readable table.
fn print_rows(schema: arrow_schema::SchemaRef, batches: &[RecordBatch], json: bool) -> CmdResult {
    let batch = arrow_select::concat::concat_batches(&schema, batches)
        .map_err(|err| Failure::Failed(anyhow::Error::new(err)))?;
    if json {
        println!("{}", rows_json(&batch).map_err(Failure::Failed)?);
    } else {
        println!("{}", rows_pretty(&batch).map_err(Failure::Failed)?);
        println!("({} rows)", batch.num_rows());
    }
    Ok(())
}

/// Runs `tableshare sql …`.
pub(crate) fn run_sql(home: &Home, args: SqlArgs) -> CmdResult {
    let ctx = QueryContext::with_catalog(open(home)?);
    runtime()?.block_on(async {
        let df = ctx.dataframe(&args.query).await.map_err(query_failure)?;
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = df
            .collect()
            .await
            .map_err(|err| query_failure(QueryError::from_datafusion(err)))?;
        print_rows(schema, &batches, args.json)
    })
}

/// Runs `tableshare table update …` (called from the `table` commands).
pub(crate) async fn run_update(catalog: &Catalog, args: UpdateArgs) -> CmdResult {
    let set = args
        .set
        .iter()
        .map(|s| assignment(s, "--set"))
        .collect::<Result<Vec<_>, _>>()?;
    let table = catalog
        .open_table(&args.path)
        .await
        .map_err(storage_failure)?;
    let done = update_where(&table, &set, args.filter.as_deref())
        .await
        .map_err(query_failure)?;
    println!(
        "updated {} rows of {} (version {})",
        done.rows, args.path, done.version
    );
    Ok(())
}

/// Runs `tableshare table delete …` (called from the `table` commands).
pub(crate) async fn run_delete(catalog: &Catalog, args: DeleteArgs) -> CmdResult {
    let table = catalog
        .open_table(&args.path)
        .await
        .map_err(storage_failure)?;
    let done = delete_where(&table, &args.filter)
        .await
        .map_err(query_failure)?;
    println!(
        "deleted {} rows from {} (version {})",
        done.rows, args.path, done.version
    );
    Ok(())
}

/// `table show` of a view: its rows, evaluated now, in its base's row-key order.
pub(crate) async fn show_view(
    catalog: &Catalog,
    path: &str,
    limit: Option<usize>,
    json: bool,
) -> CmdResult {
    let ctx = QueryContext::with_catalog(catalog.clone());
    let (schema, batches) = ctx.rows(path, limit).await.map_err(query_failure)?;
    print_rows(schema, &batches, json)?;
    if !json {
        println!("{path} (view)");
    }
    Ok(())
}

/// Whether `err` says the entry is a view (so `table show` shows it as one).
pub(crate) fn is_view(err: &StorageError) -> bool {
    matches!(err, StorageError::WrongKind { found: "view", .. })
}

/// Runs `tableshare view …`.
pub(crate) fn run_view(home: &Home, command: ViewCommand) -> CmdResult {
    let ctx = QueryContext::with_catalog(open(home)?);
    runtime()?.block_on(async {
        match command {
            ViewCommand::Create {
                path,
                base,
                columns,
                filter,
            } => {
                let mut definition = ViewDefinition::new(base);
                for column in &columns {
                    let (name, expr) = assignment(column, "--column")?;
                    definition = definition.with_column(name, expr);
                }
                if let Some(filter) = filter {
                    definition = definition.with_filter(filter);
                }
                ctx.create_view(&path, definition)
                    .await
                    .map_err(query_failure)?;
                println!("created view {path}");
            }
        }
        Ok(())
    })
}
