//! The `tableshare` binary: the command-line face of the library.
//!
//! The command names, exit codes and `--json` shapes follow the contract in the project's CLI
//! guide; outside checks drive the product through them, so they change only by adding. Exit
//! codes: 0 success; 1 the operation failed or was refused; 2 bad usage or bad input, with
//! nothing changed. Errors go to stderr naming what was involved; `--json` output goes to stdout
//! alone.

// A command-line tool talks to its user on stdout and stderr; that is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod catalog_cmd;
mod demo;
mod duration;
mod exit;
mod home;
mod maintenance;
mod output;
mod query_cmd;
mod remote_cmd;
mod share_cmd;
mod tds_cmd;
mod uri_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::{CmdResult, Failure};
use crate::home::Home;

/// Share Arrow tables between processes, machines and clouds.
#[derive(Debug, Parser)]
#[command(name = "tableshare", version, about, propagate_version = true)]
struct Cli {
    /// Home folder holding the local catalog and config.toml
    /// (default: $TABLESHARE_HOME, else ~/.tableshare).
    #[arg(long, global = true, env = "TABLESHARE_HOME", value_name = "DIR")]
    home: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with table addresses (pxt://, pq://, ts://).
    Uri {
        #[command(subcommand)]
        command: uri_cmd::UriCommand,
    },
    /// Create and drop directories in the local catalog.
    Dir {
        #[command(subcommand)]
        command: catalog_cmd::DirCommand,
    },
    /// List what a directory of the local catalog holds.
    Ls {
        /// Dotted path of the directory (default: the top level).
        dir: Option<String>,
        /// Include everything below, not just the directory's own entries.
        #[arg(long)]
        recursive: bool,
        /// Print a JSON array of {"path","kind"} objects.
        #[arg(long)]
        json: bool,
    },
    /// Create, fill, read and manage tables in the local catalog.
    Table {
        #[command(subcommand)]
        command: catalog_cmd::TableCommand,
    },
    /// Garbage-collect the whole local catalog: every table's old versions and unreferenced
    /// files, dropped tables' data, old catalog versions.
    Gc {
        #[command(flatten)]
        args: maintenance::GcArgs,
    },
    /// Sharing through object stores: publish, push, replicate, pull, cloud ls/drop.
    #[command(flatten)]
    Share(share_cmd::ShareCommand),
    /// Read tables through the table data service (seed 002).
    Tds {
        #[command(subcommand)]
        command: tds_cmd::TdsCommand,
    },
    /// Serve catalog tables live to subscribers (a worker).
    Serve(remote_cmd::ServeArgs),
    /// Subscribe to a worker's table: the snapshot, then one line per update.
    Subscribe(remote_cmd::SubscribeArgs),
    /// Print a worker's table once.
    Snapshot(remote_cmd::SnapshotArgs),
    /// The workers the directory knows.
    Worker {
        #[command(subcommand)]
        command: remote_cmd::WorkerCommand,
    },
    /// Run a SQL query over the catalog's tables and views.
    Sql(query_cmd::SqlArgs),
    /// Create views: a base with computed columns and a filter.
    View {
        #[command(subcommand)]
        command: query_cmd::ViewCommand,
    },
    /// The guided tour: the three seeds' walkthroughs on the embedded default, in a fresh
    /// temporary home unless --home is given, printing each step and the table it produced.
    Demo,
    /// Print a shell completion script, e.g. `tableshare completions bash >
    /// ~/.local/share/bash-completion/completions/tableshare`.
    Completions {
        /// The shell (bash, elvish, fish, powershell, zsh).
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version with exit 0 and usage errors with exit 2.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    let home = cli.home;
    let result = match cli.command {
        Command::Uri { command } => uri_cmd::run(command),
        Command::Dir { command } => with_home(home, |h| catalog_cmd::run_dir(h, command)),
        Command::Ls {
            dir,
            recursive,
            json,
        } => with_home(home, |h| catalog_cmd::run_ls(h, dir, recursive, json)),
        Command::Table { command } => with_home(home, |h| catalog_cmd::run_table(h, command)),
        Command::Gc { args } => with_home(home, |h| catalog_cmd::run_gc(h, &args)),
        Command::Share(command) => with_home(home, |h| share_cmd::run(h, command)),
        Command::Tds { command } => tds_cmd::run(command),
        Command::Serve(args) => with_home(home, |h| remote_cmd::run_serve(h, args)),
        Command::Subscribe(args) => with_home(home, |h| remote_cmd::run_subscribe(h, args)),
        Command::Snapshot(args) => with_home(home, |h| remote_cmd::run_snapshot(h, args)),
        Command::Worker { command } => with_home(home, |h| remote_cmd::run_worker(h, command)),
        Command::Sql(args) => with_home(home, |h| query_cmd::run_sql(h, args)),
        Command::View { command } => with_home(home, |h| query_cmd::run_view(h, command)),
        Command::Demo => demo::run(home),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "tableshare",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("tableshare: {failure}");
            ExitCode::from(failure.code())
        }
    }
}

/// Resolves the home folder, then runs a command that needs it.
fn with_home(flag: Option<PathBuf>, run: impl FnOnce(&Home) -> CmdResult) -> CmdResult {
    let home = Home::resolve(flag).map_err(Failure::Failed)?;
    run(&home)
}
