//! `tableshare uri parse URI [--json]`: checks an address and shows what it means, so a user can
//! see how a `pxt://`, `pq://` or `ts://` address will be read before handing it to a command.

use clap::Subcommand;
use tableshare::uri::{OnDisconnect, SubscriptionOptions, TableUri, WorkerRef};

use crate::exit::{CmdResult, Failure};

/// Subcommands of `tableshare uri`.
#[derive(Debug, Subcommand)]
pub(crate) enum UriCommand {
    /// Parse an address; exit 2 when it is invalid.
    Parse {
        /// The address, e.g. pxt://org/dir.table:3 or pq://Worker/scope/table?blink
        uri: String,
        /// Print one JSON object with every default filled in.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `tableshare uri` subcommand.
pub(crate) fn run(command: UriCommand) -> CmdResult {
    match command {
        UriCommand::Parse { uri, json } => parse(&uri, json),
    }
}

fn parse(text: &str, json: bool) -> CmdResult {
    let uri = TableUri::parse(text).map_err(|err| {
        Failure::BadInput(anyhow::Error::new(err).context(format!("invalid address `{text}`")))
    })?;
    if json {
        let out = serde_json::to_string(&uri).map_err(|err| {
            Failure::Failed(anyhow::Error::new(err).context("could not encode JSON"))
        })?;
        println!("{out}");
        return Ok(());
    }
    let mut rows: Vec<(&str, String)> = Vec::new();
    match &uri {
        TableUri::Cloud(cloud) => {
            rows.push(("kind", "cloud table".to_owned()));
            rows.push(("org", cloud.org().to_owned()));
            rows.push(("db", cloud.db().unwrap_or("(default)").to_owned()));
            rows.push(("path", cloud.path().to_string()));
            rows.push((
                "version",
                cloud
                    .version()
                    .map_or_else(|| "latest".to_owned(), |v| v.to_string()),
            ));
        }
        TableUri::Worker(worker) => {
            rows.push(("kind", "worker table".to_owned()));
            match worker.worker() {
                WorkerRef::Name(name) => rows.push(("worker", format!("name {name:?}"))),
                WorkerRef::Serial(serial) => rows.push(("worker", format!("serial {serial}"))),
            }
            rows.push(("table", worker.table().to_owned()));
            push_options(&mut rows, worker.options());
        }
        TableUri::Direct(direct) => {
            rows.push(("kind", "direct worker address".to_owned()));
            rows.push(("host", direct.host().to_owned()));
            rows.push(("port", direct.port().to_string()));
            rows.push(("tls", direct.tls().to_string()));
            rows.push(("table", direct.table().to_owned()));
            push_options(&mut rows, direct.options());
        }
    }
    rows.push(("canonical", uri.to_string()));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        println!("{key:<width$}  {value}");
    }
    Ok(())
}

fn push_options(rows: &mut Vec<(&str, String)>, options: &SubscriptionOptions) {
    rows.push((
        "mode",
        if options.snapshot {
            "snapshot"
        } else {
            "subscribe"
        }
        .to_owned(),
    ));
    rows.push((
        "columns",
        options
            .columns
            .as_ref()
            .map_or_else(|| "all".to_owned(), |cols| cols.join(", ")),
    ));
    rows.push((
        "on disconnect",
        match options.on_disconnect {
            OnDisconnect::Clear => "clear rows",
            OnDisconnect::Retain => "retain rows",
        }
        .to_owned(),
    ));
    rows.push((
        "retry window",
        format!("{} ms", options.retry_window.as_millis()),
    ));
    rows.push((
        "max retries",
        options
            .max_retries
            .map_or_else(|| "unlimited".to_owned(), |n| n.to_string()),
    ));
    rows.push(("blink", options.blink.to_string()));
}
