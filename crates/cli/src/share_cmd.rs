//! The sharing commands of the CLI contract (seed 000): `publish`, `push`, `replicate`,
//! `pull`, `cloud ls`, `cloud drop`, and `table create --source`. Each builds a
//! [`Transport`] from the home (its catalog and `config.toml`, `TABLESHARE_CLOUD_ROOT`,
//! `TABLESHARE_API_KEY`) and draws progress bars on a terminal unless `--quiet`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tableshare::storage::Catalog;
use tableshare::transport::{
    Access, CloudConfig, ProgressEvent, TransferReport, Transport, TransportError,
};

use crate::catalog_cmd::{runtime, storage_failure};
use crate::exit::{CmdResult, Failure};
use crate::home::Home;

/// The sharing commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ShareCommand {
    /// Publish a local table to the cloud with its full history; prints the canonical URI.
    Publish {
        /// Dotted path of the local table.
        path: String,
        /// Where: pxt://ORG[:DB]/dir.table
        uri: String,
        /// Who may read it (private: only holders of the org key).
        #[arg(long, default_value = "private")]
        access: Access,
        #[command(flatten)]
        quiet: Quiet,
    },
    /// Send the versions of a published table that the cloud lacks.
    Push {
        /// Dotted path of the published local table.
        path: String,
        #[command(flatten)]
        quiet: Quiet,
    },
    /// Make a read-only local replica of a published table (pxt://…[:N]).
    Replicate {
        /// The cloud table, optionally at a version.
        uri: String,
        /// Dotted local path of the replica.
        path: String,
        #[command(flatten)]
        quiet: Quiet,
    },
    /// Fetch a replica's new upstream versions, one local version each.
    Pull {
        /// Dotted path of the replica.
        path: String,
        #[command(flatten)]
        quiet: Quiet,
    },
    /// List or drop published tables.
    Cloud {
        #[command(subcommand)]
        command: CloudCommand,
    },
}

/// `tableshare cloud …`
#[derive(Debug, Subcommand)]
pub(crate) enum CloudCommand {
    /// List an org's published tables.
    Ls {
        /// The org.
        org: String,
        /// Print a JSON array of {"uri","access","version"}.
        #[arg(long)]
        json: bool,
    },
    /// Drop a published table (needs the org key).
    Drop {
        /// The cloud table.
        uri: String,
    },
}

/// `--quiet`: no progress bars.
#[derive(Debug, Args)]
pub(crate) struct Quiet {
    /// Do not draw progress bars.
    #[arg(long)]
    quiet: bool,
}

/// Maps a transport error to the contract's exit codes: bad addresses and configuration are
/// bad input (2, nothing changed); everything else is a refused or failed operation (1).
fn failure(err: TransportError) -> Failure {
    match err {
        TransportError::Storage(e) => storage_failure(e),
        e @ (TransportError::InvalidAddress { .. } | TransportError::Config { .. }) => {
            Failure::BadInput(anyhow::Error::new(e))
        }
        e => Failure::Failed(anyhow::Error::new(e)),
    }
}

fn transport(home: &Home, catalog: Catalog, quiet: bool) -> Result<Transport, Failure> {
    let config = CloudConfig::load(home.dir()).map_err(failure)?;
    let t = Transport::new(catalog, config);
    if quiet {
        return Ok(t);
    }
    // indicatif draws only when stderr is a terminal.
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg:18} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    // Version in flight, files moved and files planned, shown beside the byte bar.
    let state = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
    let cb = move |event: &ProgressEvent| {
        let [version, done, planned] = &state;
        match event {
            ProgressEvent::Planned {
                version: v,
                bytes,
                files,
            } => {
                version.store(*v, Ordering::Relaxed);
                bar.inc_length(*bytes);
                planned.fetch_add(*files, Ordering::Relaxed);
            }
            ProgressEvent::Transferred { bytes } => {
                bar.inc(*bytes);
                done.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        bar.set_message(format!(
            "v{} files {}/{}",
            version.load(Ordering::Relaxed),
            done.load(Ordering::Relaxed),
            planned.load(Ordering::Relaxed)
        ));
    };
    Ok(t.with_progress(Arc::new(cb)))
}

fn summary(verb: &str, what: &str, r: &TransferReport) -> String {
    let versions = match (r.versions.first(), r.versions.last()) {
        (Some(a), Some(b)) if a == b => format!("version {a}"),
        (Some(a), Some(b)) => format!("versions {a}..{b}"),
        _ => "no new versions".to_owned(),
    };
    format!(
        "{verb} {what}: {versions} ({} files, {} bytes moved; {} files already there); now at \
         version {}",
        r.files_sent, r.bytes_sent, r.files_skipped, r.version
    )
}

/// Runs a sharing command.
pub(crate) fn run(home: &Home, command: ShareCommand) -> CmdResult {
    let catalog = home.catalog().map_err(Failure::Failed)?;
    runtime()?.block_on(async {
        match command {
            ShareCommand::Publish {
                path,
                uri,
                access,
                quiet,
            } => {
                let t = transport(home, catalog, quiet.quiet)?;
                let uri = t.publish(&path, &uri, access).await.map_err(failure)?;
                println!("{uri}");
            }
            ShareCommand::Push { path, quiet } => {
                let t = transport(home, catalog, quiet.quiet)?;
                let r = t.push(&path).await.map_err(failure)?;
                println!("{}", summary("pushed", &path, &r));
            }
            ShareCommand::Replicate { uri, path, quiet } => {
                let t = transport(home, catalog, quiet.quiet)?;
                let r = t.replicate(&uri, &path).await.map_err(failure)?;
                println!(
                    "{}",
                    summary("replicated", &format!("{uri} into {path}"), &r)
                );
            }
            ShareCommand::Pull { path, quiet } => {
                let t = transport(home, catalog, quiet.quiet)?;
                let r = t.pull(&path).await.map_err(failure)?;
                println!("{}", summary("pulled", &path, &r));
            }
            ShareCommand::Cloud {
                command: CloudCommand::Ls { org, json },
            } => {
                let t = transport(home, catalog, true)?;
                let listed = t.cloud_ls(&org).await.map_err(failure)?;
                if json {
                    let text = serde_json::to_string(&listed)
                        .map_err(|e| Failure::Failed(anyhow::Error::new(e)))?;
                    println!("{text}");
                } else if listed.is_empty() {
                    println!("org {org} has no published tables");
                } else {
                    for e in listed {
                        println!("{}\t{}\tversion {}", e.uri, e.access.name(), e.version);
                    }
                }
            }
            ShareCommand::Cloud {
                command: CloudCommand::Drop { uri },
            } => {
                let t = transport(home, catalog, true)?;
                t.cloud_drop(&uri).await.map_err(failure)?;
                println!("dropped {uri}");
            }
        }
        Ok(())
    })
}

/// `table create PATH --source PXT_URI`: an independent, writable copy.
pub(crate) async fn create_from_source(
    home: &Home,
    catalog: Catalog,
    path: &str,
    source: &str,
) -> CmdResult {
    let t = transport(home, catalog, true)?;
    let table = t.create_copy(path, source).await.map_err(failure)?;
    println!(
        "created table {path} from {source} ({} rows, no upstream)",
        table.row_count()
    );
    Ok(())
}
