//! Keeping storage tidy: `tableshare table gc PATH`, `tableshare gc` (the whole catalog) and
//! `tableshare table compact PATH`. Garbage collection expires versions older than the retention
//! window and deletes the files no kept version needs; compaction merges small data files as one
//! new version. Both are the engine's operations (`Catalog::gc_table`, `Catalog::gc`,
//! `Table::compact`); this module only turns flags into options and reports into output.

use std::time::Duration;

use clap::Args;
use serde::Serialize;
use tableshare::storage::{Catalog, GcOptions, GcReport};

use crate::catalog_cmd::{print_json, storage_failure};
use crate::duration::{format_duration, parse_duration};
use crate::exit::CmdResult;

/// The flags shared by `table gc` and `gc`.
#[derive(Debug, Clone, Args)]
pub(crate) struct GcArgs {
    /// Keep the versions committed within this long before now (e.g. 0s, 90m, 7d); the latest
    /// version is always kept. Default: 7d.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    retention: Option<Duration>,
    /// Keep unreferenced files younger than this, since a writer may have written them for a
    /// commit it has not made yet (e.g. 0s when no other process writes). Default: 1h.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    age_guard: Option<Duration>,
    /// Print {"versions_expired":[…],"versions_kept":[…],"files_deleted":N,"bytes_freed":N}.
    #[arg(long)]
    json: bool,
}

impl GcArgs {
    fn options(&self) -> GcOptions {
        let defaults = GcOptions::default();
        GcOptions::new(
            self.retention.unwrap_or(defaults.retention),
            self.age_guard.unwrap_or(defaults.age_guard),
        )
    }
}

/// The contract's `--json` shape of a garbage collection, exactly.
#[derive(Serialize)]
struct GcJson<'a> {
    versions_expired: &'a [u64],
    versions_kept: &'a [u64],
    files_deleted: usize,
    bytes_freed: u64,
}

/// Runs `tableshare table gc PATH` (`path` is `Some`) or `tableshare gc` (the whole catalog).
pub(crate) async fn gc(catalog: &Catalog, path: Option<&str>, args: &GcArgs) -> CmdResult {
    let options = args.options();
    let report = match path {
        Some(path) => catalog.gc_table(path, &options).await,
        None => catalog.gc(&options).await,
    }
    .map_err(storage_failure)?;
    if args.json {
        return print_json(&GcJson {
            versions_expired: &report.versions_expired,
            versions_kept: &report.versions_kept,
            files_deleted: report.files_deleted,
            bytes_freed: report.bytes_freed,
        });
    }
    println!("{}", describe(path, &options, &report));
    Ok(())
}

/// The human summary of a garbage collection.
fn describe(path: Option<&str>, options: &GcOptions, report: &GcReport) -> String {
    let what = path.map_or_else(|| "the catalog".to_owned(), str::to_owned);
    let list = |versions: &[u64]| {
        versions
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = vec![format!(
        "garbage collected {what} (retention {}, age guard {})",
        format_duration(options.retention),
        format_duration(options.age_guard)
    )];
    lines.push(if report.versions_expired.is_empty() {
        "  no versions expired".to_owned()
    } else {
        format!("  versions expired: {}", list(&report.versions_expired))
    });
    if !report.versions_kept.is_empty() {
        lines.push(format!("  versions kept: {}", list(&report.versions_kept)));
    }
    lines.push(format!(
        "  files deleted: {} ({} bytes freed)",
        report.files_deleted, report.bytes_freed
    ));
    if report.files_guarded > 0 {
        lines.push(format!(
            "  {} unreferenced files kept: younger than the age guard",
            report.files_guarded
        ));
    }
    if report.tables_removed > 0 {
        lines.push(format!(
            "  dropped tables removed: {}",
            report.tables_removed
        ));
    }
    lines.join("\n")
}

/// Runs `tableshare table compact PATH`.
pub(crate) async fn compact(catalog: &Catalog, path: &str) -> CmdResult {
    let table = catalog.open_table(path).await.map_err(storage_failure)?;
    let before = table.version();
    let version = table.compact().await.map_err(storage_failure)?;
    if version == before {
        println!("nothing to merge in {path} (version {version} unchanged)");
    } else {
        println!("compacted {path}: version {version} merges its small files (rows unchanged)");
    }
    Ok(())
}
