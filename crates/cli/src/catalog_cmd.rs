//! The local catalog commands: `dir create|drop`, `ls`, and `table create|insert|show|history|
//! revert|gc|compact|drop` (garbage collection and compaction are in `maintenance`). Each is a
//! thin shell over `tableshare::storage`: parse arguments, call the engine, print. Every mutation
//! is one atomic version in the engine, so a failed command leaves nothing half-written.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use serde::Serialize;
use tableshare::storage::{
    Catalog, EntryKind, HistoryEntry, InputFormat, ScanOptions, StorageError, parse_schema_spec,
    read_file, read_from,
};
use tableshare::table::TableSchema;

use crate::exit::{CmdResult, Failure};
use crate::home::Home;
use crate::maintenance::{self, GcArgs};
use crate::output::{rows_json, rows_pretty};

/// `tableshare dir …`
#[derive(Debug, Subcommand)]
pub(crate) enum DirCommand {
    /// Create a directory (its parent must exist).
    Create {
        /// Dotted path, e.g. shared_demo
        path: String,
    },
    /// Drop a directory; refused when it is not empty unless --force.
    Drop {
        /// Dotted path
        path: String,
        /// Drop everything inside it too.
        #[arg(long)]
        force: bool,
    },
}

/// `tableshare table …`
#[derive(Debug, Subcommand)]
pub(crate) enum TableCommand {
    /// Create an empty table with a schema.
    Create {
        /// Dotted path, e.g. shared_demo.sample_data
        path: String,
        /// Columns as NAME:TYPE, comma-separated, e.g. 'id:int64,name:utf8,value:float64'
        /// (types: int32, int64, float32, float64, bool, utf8, binary, timestamp, date, json,
        /// list<float32>).
        #[arg(long, required_unless_present = "source", conflicts_with = "source")]
        schema: Option<String>,
        /// Create an independent copy of a published table (`pxt://ORG/path[:N]`) instead: a
        /// normal, writable table with no upstream.
        #[arg(long)]
        source: Option<String>,
    },
    /// Insert the rows of a file (.csv, .json/.ndjson, .parquet, .arrow; `-` reads CSV on stdin)
    /// as one new version.
    Insert {
        /// Dotted path of the table
        path: String,
        /// The file to read
        file: PathBuf,
    },
    /// Show a table's rows (PATH:N shows version N).
    Show {
        /// Dotted path, optionally with :VERSION
        path: String,
        /// Show at most this many rows (the first in row-key order; only the row groups
        /// holding them are read).
        #[arg(long)]
        limit: Option<usize>,
        /// Print a JSON array of row objects in row-key order.
        #[arg(long)]
        json: bool,
    },
    /// List a table's versions.
    History {
        /// Dotted path
        path: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set columns of the rows matching a SQL predicate to SQL expressions, as one new version.
    Update(crate::query_cmd::UpdateArgs),
    /// Delete the rows matching a SQL predicate, as one new version.
    Delete(crate::query_cmd::DeleteArgs),
    /// Undo the latest version, as a new version.
    Revert {
        /// Dotted path
        path: String,
    },
    /// Expire versions older than the retention window and delete the files no kept version
    /// needs. Expired versions can no longer be read.
    Gc {
        /// Dotted path of the table
        path: String,
        #[command(flatten)]
        args: GcArgs,
    },
    /// Merge small data files as one new version (rows unchanged).
    Compact {
        /// Dotted path of the table
        path: String,
    },
    /// Drop a table.
    Drop {
        /// Dotted path
        path: String,
        /// Also drop the views defined on it (otherwise they block the drop).
        #[arg(long)]
        force: bool,
    },
}

/// Maps an engine error to the contract's exit code: bad names, paths and arguments are bad
/// input (2); everything else is a failed or refused operation (1).
pub(crate) fn storage_failure(err: StorageError) -> Failure {
    let bad_input = matches!(
        err,
        StorageError::InvalidPath { .. }
            | StorageError::InvalidArgument { .. }
            | StorageError::RowsDoNotFit { .. }
            | StorageError::SnapshotVersion { .. }
            | StorageError::MoveIntoItself { .. }
            | StorageError::UnsupportedFormat { .. }
    );
    let err = anyhow::Error::new(err);
    if bad_input {
        Failure::BadInput(err)
    } else {
        Failure::Failed(err)
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            Failure::Failed(anyhow::Error::new(err).context("could not start the runtime"))
        })
}

fn open(home: &Home) -> Result<Catalog, Failure> {
    home.catalog().map_err(Failure::Failed)
}

/// Runs `tableshare gc …`: garbage-collects the whole catalog.
pub(crate) fn run_gc(home: &Home, args: &GcArgs) -> CmdResult {
    let catalog = open(home)?;
    runtime()?.block_on(maintenance::gc(&catalog, None, args))
}

/// Runs `tableshare dir …`.
pub(crate) fn run_dir(home: &Home, command: DirCommand) -> CmdResult {
    let catalog = open(home)?;
    runtime()?.block_on(async {
        match command {
            DirCommand::Create { path } => {
                catalog.create_dir(&path).await.map_err(storage_failure)?;
                println!("created directory {path}");
            }
            DirCommand::Drop { path, force } => {
                catalog
                    .drop_dir(&path, force)
                    .await
                    .map_err(storage_failure)?;
                println!("dropped directory {path}");
            }
        }
        Ok(())
    })
}

#[derive(Serialize)]
struct LsRow<'a> {
    path: &'a str,
    kind: &'a str,
}

/// Runs `tableshare ls [DIR] [--recursive] [--json]`.
pub(crate) fn run_ls(home: &Home, dir: Option<String>, recursive: bool, json: bool) -> CmdResult {
    let catalog = open(home)?;
    let entries = runtime()?.block_on(async {
        catalog
            .list(dir.as_deref().unwrap_or(""), recursive)
            .await
            .map_err(storage_failure)
    })?;
    if json {
        let rows: Vec<LsRow<'_>> = entries
            .iter()
            .map(|e| LsRow {
                path: &e.path,
                kind: kind_name(e.kind),
            })
            .collect();
        print_json(&rows)?;
    } else if entries.is_empty() {
        println!("(empty)");
    } else {
        let width = entries.iter().map(|e| e.path.len()).max().unwrap_or(0);
        for entry in &entries {
            println!("{:<width$}  {}", entry.path, kind_name(entry.kind));
        }
    }
    Ok(())
}

/// The contract's name for an entry kind (`ls --json`).
fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Directory => "dir",
        other => other.name(),
    }
}

#[derive(Serialize)]
struct HistoryRow {
    version: u64,
    operation: String,
    rows_added: u64,
    rows_removed: u64,
    timestamp: String,
}

impl HistoryRow {
    fn new(entry: &HistoryEntry) -> Self {
        Self {
            version: entry.version,
            operation: entry.operation.name().to_owned(),
            rows_added: entry.rows_added,
            rows_removed: entry.rows_removed,
            timestamp: format_timestamp(entry.timestamp_ms),
        }
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-22T17:20:00.123Z`.
fn format_timestamp(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || ms.to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
}

pub(crate) fn print_json<T: Serialize + ?Sized>(value: &T) -> CmdResult {
    let text = serde_json::to_string(value)
        .map_err(|err| Failure::Failed(anyhow::Error::new(err).context("could not encode JSON")))?;
    println!("{text}");
    Ok(())
}

/// Runs `tableshare table …`.
pub(crate) fn run_table(home: &Home, command: TableCommand) -> CmdResult {
    let catalog = open(home)?;
    runtime()?.block_on(async {
        match command {
            TableCommand::Create {
                path,
                source: Some(source),
                ..
            } => {
                crate::share_cmd::create_from_source(home, catalog.clone(), &path, &source).await?
            }
            TableCommand::Create { path, schema, .. } => {
                let schema =
                    parse_schema_spec(schema.as_deref().unwrap_or_default()).map_err(|err| {
                        Failure::BadInput(anyhow::Error::new(err).context("invalid --schema"))
                    })?;
                let schema = TableSchema::unpartitioned(Arc::new(schema))
                    .map_err(|err| Failure::BadInput(anyhow::Error::new(err)))?;
                catalog
                    .create_table(&path, &schema)
                    .await
                    .map_err(storage_failure)?;
                println!("created table {path}");
            }
            TableCommand::Insert { path, file } => {
                let table = catalog.open_table(&path).await.map_err(storage_failure)?;
                let schema = table.schema();
                let batches = if file.as_os_str() == "-" {
                    read_from(std::io::stdin().lock(), InputFormat::Csv, &schema)
                } else {
                    read_file(&file, &schema)
                }
                .map_err(|err| {
                    let what = if file.as_os_str() == "-" {
                        "CSV on standard input".to_owned()
                    } else {
                        format!("`{}`", file.display())
                    };
                    Failure::BadInput(anyhow::Error::new(err).context(format!("reading {what}")))
                })?;
                let batch = arrow_select::concat::concat_batches(&schema, &batches)
                    .map_err(|err| Failure::BadInput(anyhow::Error::new(err)))?;
                let rows = batch.num_rows();
                let version = table.insert(&batch).await.map_err(storage_failure)?;
                println!("inserted {rows} rows into {path} (version {version})");
                // This process exits now, so a background compaction would not finish: merge
                // small files here when the table has piled up too many (the insert has
                // already committed and been reported).
                if let Some(merged) = table.compact_if_needed().await.map_err(storage_failure)? {
                    println!("merged small files of {path} (version {merged})");
                }
            }
            TableCommand::Show { path, limit, json } => {
                let table = match catalog.open_table(&path).await {
                    Ok(table) => table,
                    Err(err) if crate::query_cmd::is_view(&err) => {
                        return crate::query_cmd::show_view(&catalog, &path, limit, json).await;
                    }
                    Err(err) => return Err(storage_failure(err)),
                };
                // A limit streams only the first rows in key order: a few row groups are read,
                // not the table.
                let mut options = ScanOptions::default();
                if let Some(limit) = limit {
                    options = options.limit(limit);
                }
                let data = table
                    .scan_stream(options)
                    .map_err(storage_failure)?
                    .concat()
                    .await
                    .map_err(storage_failure)?;
                let batch = data.batch;
                if json {
                    println!("{}", rows_json(&batch).map_err(Failure::Failed)?);
                } else {
                    println!("{}", rows_pretty(&batch).map_err(Failure::Failed)?);
                    println!(
                        "{} (version {}, {} rows)",
                        table.path(),
                        data.version,
                        table.row_count()
                    );
                }
            }
            TableCommand::History { path, json } => {
                let table = catalog.open_table(&path).await.map_err(storage_failure)?;
                let history = table.history().await.map_err(storage_failure)?;
                let rows: Vec<HistoryRow> = history.iter().map(HistoryRow::new).collect();
                if json {
                    print_json(&rows)?;
                } else {
                    println!(
                        "{:>7}  {:<24}  {:<14}  {:>10}  {:>12}",
                        "version", "timestamp", "operation", "rows added", "rows removed"
                    );
                    for row in &rows {
                        println!(
                            "{:>7}  {:<24}  {:<14}  {:>10}  {:>12}",
                            row.version,
                            row.timestamp,
                            row.operation,
                            row.rows_added,
                            row.rows_removed
                        );
                    }
                }
            }
            TableCommand::Update(args) => crate::query_cmd::run_update(&catalog, args).await?,
            TableCommand::Delete(args) => crate::query_cmd::run_delete(&catalog, args).await?,
            TableCommand::Revert { path } => {
                let table = catalog.open_table(&path).await.map_err(storage_failure)?;
                let version = table.revert().await.map_err(storage_failure)?;
                println!("reverted {path}: version {version} undoes the previous version");
            }
            TableCommand::Gc { path, args } => {
                maintenance::gc(&catalog, Some(&path), &args).await?
            }
            TableCommand::Compact { path } => maintenance::compact(&catalog, &path).await?,
            TableCommand::Drop { path, force } => {
                catalog
                    .drop_table(&path, force)
                    .await
                    .map_err(storage_failure)?;
                println!("dropped table {path}");
            }
        }
        Ok(())
    })
}
