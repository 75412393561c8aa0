//! `tableshare serve`, `subscribe`, `snapshot` and `worker ls`: live remote tables (seed 001)
//! from the command line. The worker directory is the embedded default under the home
//! (`HOME/workers`), so `pq://NAME/…` addresses of workers started by `serve` resolve.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow};
use arrow_array::RecordBatch;
use clap::Subcommand;
use tableshare::remote::{ClientConfig, Directory, RemoteError, RemoteTableBuilder, Scope, Worker};
use tableshare::storage::EntryKind;
use tableshare::table::{Snapshot, TableEvent, TableUpdate};
use tableshare::uri::{DEFAULT_PORT, TableUri};

use crate::catalog_cmd::storage_failure;
use crate::exit::{CmdResult, Failure};
use crate::home::Home;
use crate::output::{rows_json, rows_pretty};

/// Subcommands of `tableshare worker`.
#[derive(Debug, Subcommand)]
pub(crate) enum WorkerCommand {
    /// List the workers the directory knows and whether they are up.
    Ls {
        /// Print a JSON array of {"name","serial","address","tls","up","heartbeat_ms","pid"}.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `tableshare serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The worker's name (pq://NAME/…).
    #[arg(long, default_value = "tableshare")]
    name: String,
    /// The worker's serial (pq://SERIAL/…; default: random).
    #[arg(long)]
    serial: Option<u64>,
    /// Where to listen.
    #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)))]
    listen: SocketAddr,
    /// Refuse requests without this token.
    #[arg(long, env = "TABLESHARE_WORKER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Catalog tables to serve (all when none are named).
    tables: Vec<String>,
}

/// Arguments of `tableshare subscribe`.
#[derive(Debug, clap::Args)]
pub(crate) struct SubscribeArgs {
    /// The table's address: pq://WORKER/scope/TABLE[?options] or ts[+plain]://HOST:PORT/…
    uri: String,
    /// Exit after this many updates (the snapshot is not counted).
    #[arg(long)]
    count: Option<u64>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

/// Arguments of `tableshare snapshot`.
#[derive(Debug, clap::Args)]
pub(crate) struct SnapshotArgs {
    /// The table's address.
    uri: String,
    /// A JSON array of row objects.
    #[arg(long)]
    json: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| {
            Failure::Failed(anyhow::Error::new(err).context("could not start the runtime"))
        })
}

fn directory(home: &Home) -> Result<Directory, Failure> {
    tableshare::worker_directory(home.dir()).map_err(|e| Failure::Failed(e.into()))
}

fn client_config(home: &Home) -> Result<ClientConfig, Failure> {
    let mut config = ClientConfig::default().with_directory(directory(home)?);
    if let Ok(token) = std::env::var("TABLESHARE_WORKER_TOKEN")
        && !token.is_empty()
    {
        config = config.with_token(token);
    }
    Ok(config)
}

fn parse_uri(text: &str) -> Result<TableUri, Failure> {
    let uri = TableUri::parse(text).map_err(|err| {
        Failure::BadInput(anyhow::Error::new(err).context(format!("invalid address `{text}`")))
    })?;
    if matches!(uri, TableUri::Cloud(_)) {
        return Err(Failure::BadInput(anyhow!(
            "`{text}` is a cloud table; subscribe to a worker's table (pq://, ts://, ts+plain://)"
        )));
    }
    Ok(uri)
}

fn remote_failure(err: RemoteError) -> Failure {
    Failure::Failed(anyhow::Error::new(err))
}

/// Runs `tableshare serve`.
pub(crate) fn run_serve(home: &Home, args: ServeArgs) -> CmdResult {
    let catalog = home.catalog().map_err(Failure::Failed)?;
    let directory = directory(home)?;
    runtime()?.block_on(async move {
        let paths = if args.tables.is_empty() {
            catalog
                .list("", true)
                .await
                .map_err(storage_failure)?
                .into_iter()
                .filter(|e| matches!(e.kind, EntryKind::Table | EntryKind::Replica))
                .map(|e| e.path)
                .collect()
        } else {
            args.tables.clone()
        };
        let scope = Scope::new();
        // The table handles keep their live tables ticking; they live as long as the worker.
        let mut handles = Vec::new();
        for path in &paths {
            let table = catalog
                .open_table(path.as_str())
                .await
                .map_err(storage_failure)?;
            let live = table.live().await.map_err(storage_failure)?;
            // A catalog table's steps are its versions: its id is a stable incarnation, so
            // subscribers of a restarted worker resume instead of reloading.
            scope.insert_with_incarnation(path.clone(), live, table.id().to_string());
            handles.push(table);
        }
        let mut builder = Worker::builder(args.name.clone())
            .listen(args.listen)
            .directory(directory);
        if let Some(serial) = args.serial {
            builder = builder.serial(serial);
        }
        if let Some(token) = &args.token {
            builder = builder.token(token.clone());
        }
        let worker = builder.serve(scope).await.map_err(remote_failure)?;
        // A closed stdout (the launcher stopped reading) must not stop the worker.
        let mut out = std::io::stdout();
        let _ = writeln!(
            out,
            "worker {} (serial {}) serving {} table(s) at {}",
            worker.name(),
            worker.serial(),
            paths.len(),
            worker.address()
        );
        for path in &paths {
            let uri = worker.uri(path).map_err(remote_failure)?;
            let _ = writeln!(out, "  {uri}");
        }
        let _ = out.flush();
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")
            .map_err(Failure::Failed)?;
        worker.shutdown().await.map_err(remote_failure)?;
        drop(handles);
        Ok(())
    })
}

/// Runs `tableshare snapshot`.
pub(crate) fn run_snapshot(home: &Home, args: SnapshotArgs) -> CmdResult {
    let uri = parse_uri(&args.uri)?;
    let config = client_config(home)?;
    let snapshot = runtime()?.block_on(async {
        RemoteTableBuilder::for_uri(uri)
            .config(config)
            .snapshot()
            .await
            .map_err(remote_failure)
    })?;
    print_rows(
        &snapshot.concat().map_err(|e| Failure::Failed(e.into()))?,
        args.json,
    )
}

fn print_rows(batch: &RecordBatch, json: bool) -> CmdResult {
    let text = if json {
        rows_json(batch)
    } else {
        rows_pretty(batch)
    };
    println!("{}", text.map_err(Failure::Failed)?);
    Ok(())
}

/// Runs `tableshare subscribe`.
pub(crate) fn run_subscribe(home: &Home, args: SubscribeArgs) -> CmdResult {
    let uri = parse_uri(&args.uri)?;
    let config = client_config(home)?;
    let snapshot_only = match &uri {
        TableUri::Worker(w) => w.options().snapshot,
        TableUri::Direct(d) => d.options().snapshot,
        TableUri::Cloud(_) => false,
    };
    runtime()?.block_on(async move {
        let builder = RemoteTableBuilder::for_uri(uri).config(config);
        if snapshot_only {
            let snapshot = builder.snapshot().await.map_err(remote_failure)?;
            return print_snapshot(&snapshot, args.json);
        }
        let remote = builder.subscribe().await.map_err(remote_failure)?;
        let (snapshot, mut updates) = remote
            .table()
            .subscribe()
            .map_err(|e| Failure::Failed(e.into()))?;
        print_snapshot(&snapshot, args.json)?;
        let mut current = snapshot;
        let mut printed = 0u64;
        while args.count.is_none_or(|count| printed < count) {
            let event = match updates.next().await {
                Some(Ok(event)) => event,
                Some(Err(error)) => {
                    let cause = std::error::Error::source(&error)
                        .map_or_else(|| error.to_string(), ToString::to_string);
                    return Err(Failure::Failed(anyhow!("subscription failed: {cause}")));
                }
                None => return Err(Failure::Failed(anyhow!("the subscription ended"))),
            };
            let next = event
                .apply_to(&current)
                .map_err(|e| Failure::Failed(e.into()))?;
            if let TableEvent::Update(update) = &event {
                print_update(&current, &next, update, args.json)?;
                printed += 1;
            }
            current = next;
        }
        drop(remote);
        // Give the line to the terminal before the runtime goes.
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(())
    })
}

fn json_value(batch: &RecordBatch) -> Result<serde_json::Value, Failure> {
    let text = rows_json(batch).map_err(Failure::Failed)?;
    serde_json::from_str(&text).map_err(|e| Failure::Failed(e.into()))
}

fn print_snapshot(snapshot: &Snapshot, json: bool) -> CmdResult {
    let batch = snapshot.concat().map_err(|e| Failure::Failed(e.into()))?;
    if json {
        let line = serde_json::json!({
            "step": snapshot.step(),
            "snapshot": json_value(&batch)?,
            "size": snapshot.num_rows(),
        });
        println!("{line}");
    } else {
        println!("step {} ({} rows)", snapshot.step(), snapshot.num_rows());
        println!("{}", rows_pretty(&batch).map_err(Failure::Failed)?);
    }
    Ok(())
}

/// The rows of `keys` in `snapshot`, in key order, as one batch.
fn rows_of(snapshot: &Snapshot, keys: &[u64]) -> Result<RecordBatch, Failure> {
    let mut parts = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(position) = snapshot.position_of(*key) {
            parts.extend(
                snapshot
                    .rows_at(position..position + 1)
                    .map(|(_, batch)| batch),
            );
        }
    }
    let schema = snapshot.schema().arrow().clone();
    arrow_select::concat::concat_batches(&schema, &parts).map_err(|e| Failure::Failed(e.into()))
}

fn print_update(
    before: &Snapshot,
    after: &Snapshot,
    update: &TableUpdate,
    json: bool,
) -> CmdResult {
    let removed = if update.is_reset() {
        before.num_rows() as u64
    } else {
        update.removed().len()
    };
    let added = update.added().batch().clone();
    let modified = rows_of(after, &update.modified_keys().to_vec())?;
    if json {
        let line = serde_json::json!({
            "step": update.step(),
            "added": json_value(&added)?,
            "removed": removed,
            "modified": json_value(&modified)?,
            "size": after.num_rows(),
        });
        println!("{line}");
    } else {
        println!(
            "step {}: +{} -{} ~{} ({} rows)",
            update.step(),
            added.num_rows(),
            removed,
            modified.num_rows(),
            after.num_rows()
        );
    }
    Ok(())
}

/// Runs `tableshare worker …`.
pub(crate) fn run_worker(home: &Home, command: WorkerCommand) -> CmdResult {
    let WorkerCommand::Ls { json } = command;
    let directory = directory(home)?;
    let entries = runtime()?.block_on(async { directory.list().await.map_err(remote_failure) })?;
    if json {
        let rows: Vec<_> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "name": e.name,
                    "serial": e.serial,
                    "address": e.address,
                    "tls": e.tls,
                    "up": e.is_up(),
                    "heartbeat_ms": e.heartbeat_ms,
                    "pid": e.pid,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else if entries.is_empty() {
        println!("(no workers)");
    } else {
        for e in &entries {
            let state = if e.is_up() { "up" } else { "down" };
            println!("{}  serial {}  {}  {}", e.name, e.serial, e.address, state);
        }
    }
    Ok(())
}
