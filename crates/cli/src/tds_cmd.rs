//! `tableshare tds show ROOT_URL [--partitioned] [--json]`: a hive-partitioned folder of Parquet
//! files (`…/Ticker=GOOG/Exchange=NYSE/*.parquet`, on local disk or S3) read through the table
//! data service's Parquet backend, so users see exactly the table the service makes of it:
//! partitioning columns first, locations in folder order.

use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::Subcommand;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use serde_json::Value;
use tableshare::tds::{ParquetBackend, TableDataService};

use crate::exit::{CmdResult, Failure};
use crate::output::{rows_json, rows_pretty};

/// Subcommands of `tableshare tds`.
#[derive(Debug, Subcommand)]
pub(crate) enum TdsCommand {
    /// Show the table a hive-partitioned folder of Parquet files makes.
    Show {
        /// The folder: a local path, file:///path, or s3://bucket/prefix (S3 settings from the
        /// AWS_* environment variables, e.g. AWS_ENDPOINT, AWS_ALLOW_HTTP).
        root_url: String,
        /// One table per location (partition folder), keyed by its partition values.
        #[arg(long)]
        partitioned: bool,
        /// Print JSON: an array of row objects; with --partitioned an array of
        /// {"partition":{…},"location":…,"rows":[…]}.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `tableshare tds` subcommand.
pub(crate) fn run(command: TdsCommand) -> CmdResult {
    let TdsCommand::Show {
        root_url,
        partitioned,
        json,
    } = command;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Failure::Failed(anyhow!(err).context("could not start the runtime")))?;
    runtime.block_on(show(&root_url, partitioned, json))
}

/// The store and folder `url` names.
fn open(url: &str) -> Result<(Arc<dyn ObjectStore>, Path), Failure> {
    let bad = |what: String| Failure::BadInput(anyhow!("invalid ROOT_URL `{url}`: {what}"));
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket".into()));
        }
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|err| bad(err.to_string()))?;
        return Ok((Arc::new(store), Path::from(prefix)));
    }
    let local = match url.split_once("://") {
        Some(("file", path)) => path,
        Some((scheme, _)) => {
            return Err(bad(format!(
                "scheme `{scheme}` is not supported (local paths, file://, s3://)"
            )));
        }
        None => url,
    };
    let store = LocalFileSystem::new_with_prefix(local).map_err(|err| {
        Failure::Failed(anyhow!(err).context(format!("folder `{local}` cannot be opened")))
    })?;
    Ok((Arc::new(store), Path::from("")))
}

async fn show(url: &str, partitioned: bool, json: bool) -> CmdResult {
    let (store, root) = open(url)?;
    let service = TableDataService::new(ParquetBackend::new(store, root));
    let failed = |err: tableshare::tds::TdsError| {
        Failure::Failed(
            anyhow!(err).context(format!("cannot read `{url}` as a data service table")),
        )
    };
    let encode = |err: anyhow::Error| Failure::Failed(err.context("could not render the rows"));
    if !partitioned {
        let table = service
            .make_table(String::new(), false)
            .await
            .map_err(failed)?;
        let rows = table
            .live()
            .snapshot()
            .and_then(|snapshot| snapshot.concat())
            .map_err(|err| Failure::Failed(anyhow!(err)))?;
        if json {
            println!("{}", rows_json(&rows).map_err(encode)?);
        } else {
            println!("{}", rows_pretty(&rows).map_err(encode)?);
            println!("{} rows", rows.num_rows());
        }
        return Ok(());
    }
    let table = service
        .make_partitioned_table(String::new(), false)
        .await
        .map_err(failed)?;
    let mut out = Vec::new();
    for constituent in table.constituents() {
        let rows = constituent
            .table()
            .snapshot()
            .and_then(|snapshot| snapshot.concat())
            .map_err(|err| Failure::Failed(anyhow!(err)))?;
        if json {
            let partition = match constituent.partition_values() {
                Some(values) => first_object(&rows_json(values).map_err(encode)?)?,
                None => Value::Object(serde_json::Map::new()),
            };
            let rows: Value = serde_json::from_str(&rows_json(&rows).map_err(encode)?)
                .context("rows are not JSON")
                .map_err(encode)?;
            out.push(serde_json::json!({
                "partition": partition,
                "location": constituent.location(),
                "rows": rows,
            }));
        } else {
            println!(
                "{} ({} rows)",
                constituent.key().join(", "),
                rows.num_rows()
            );
            println!("{}", rows_pretty(&rows).map_err(encode)?);
        }
    }
    if json {
        println!("{}", Value::Array(out));
    }
    Ok(())
}

fn first_object(array: &str) -> Result<Value, Failure> {
    let parsed: Value = serde_json::from_str(array)
        .map_err(|err| Failure::Failed(anyhow!(err).context("partition values are not JSON")))?;
    Ok(parsed
        .as_array()
        .and_then(|rows| rows.first().cloned())
        .unwrap_or(Value::Null))
}
