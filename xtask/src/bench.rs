//! `cargo xtask bench`: tableshare's storage benchmark side by side with its peers, in one run.
//!
//! 1. Makes a Python virtual environment under `.bench/venv` with the pinned peers of
//!    `xtask/bench/requirements.txt` (pyarrow, deltalake, pylance), and builds tableshare's
//!    benchmark program (`crates/storage/benches/storage.rs`, bench profile) once.
//! 2. Runs every compared workload in rounds, sides alternating: in each round the big write runs
//!    for tableshare, then pyarrow, deltalake and lance (each in its own process, after a `sync`),
//!    and then the appends and reads the same way. The disk's speed drifts over minutes;
//!    alternating spreads the drift over every side instead of charging it to one. The
//!    tableshare-only workloads (opening as history grows, garbage collection) run their rounds
//!    inside one process.
//! 3. Prints, per workload and side, the median of the rounds and their range, and tableshare's
//!    ratio to each peer (medians; below 1 tableshare is faster). A full run also rewrites the
//!    generated section of docs/performance.md.
//!
//! 4. Then the workloads of issue 7, "a table model that scales" (`scale`): live-table step
//!    costs, a streaming scan of the big stored table against pyarrow and DuckDB with each
//!    scan's peak memory, and `tableshare table show BIG --limit 10` through the release CLI;
//!    `scale_report` renders them into a second generated section of docs/performance.md.
//!
//! 5. Then the workloads of issue 8, sharing through object stores (`transport`): publish and
//!    replicate against the physical limit of a file:// root and of the local S3 server, push
//!    and pull costs; rendered into a third generated section.
//!
//! 6. `--only tds` (issue 10, the table data service: `tds`) and `--only remote` (issue 9, live
//!    remote tables: `remote`) run those parts alone, each rendered into a section of its own.
//!
//! `--quick` runs small sizes and three rounds to check that the machinery works end to end; it
//! never touches the docs. `--only storage`, `--only scale` or `--only transport` runs one part
//! (a full run then rewrites only that part's section); `--only query` prints its figures
//! without touching the docs. The pieces: `sides` runs the programs, `report` renders
//! the storage tables.

mod query;
mod remote;
mod report;
mod scale;
mod scale_report;
mod sides;
mod tds;
mod transport;

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::workspace_root;

/// Workload sizes.
pub(crate) struct Sizes {
    /// Rounds of every workload (odd, so the median is one measurement).
    pub(crate) rounds: u64,
    /// Rows of the big write.
    pub(crate) rows: u64,
    /// Appends of the append workload (and versions of the table the reads open).
    pub(crate) appends: u64,
    /// Rows per append.
    pub(crate) append_rows: u64,
    /// The time-travel read opens the version holding this many appends.
    pub(crate) travel: u64,
    /// Versions of the many-version table (opening, garbage collection).
    pub(crate) many: u64,
}

const FULL: Sizes = Sizes {
    rounds: 5,
    rows: 10_000_000,
    appends: 200,
    append_rows: 1_000,
    travel: 100,
    many: 10_000,
};

/// Small, but with more appends than `max_small_files` (64), so that background compaction runs.
const QUICK: Sizes = Sizes {
    rounds: 3,
    rows: 200_000,
    appends: 100,
    append_rows: 1_000,
    travel: 50,
    many: 200,
};

/// The peers, in the order each round runs them (after tableshare).
pub(crate) const PEERS: [&str; 3] = ["pyarrow", "deltalake", "lance"];

/// Every measurement: engine → metric → one value per round (or per repetition).
pub(crate) type Samples = BTreeMap<String, BTreeMap<String, Vec<f64>>>;

/// Runs the benchmark; `args` are the words after `bench`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    const USAGE: &str =
        "usage: cargo xtask bench [--quick] [--only storage|scale|transport|remote|tds|query]";
    let mut quick = false;
    let (mut storage, mut scale, mut sharing) = (true, true, true);
    let mut only = None;
    let mut words = args.iter();
    while let Some(word) = words.next() {
        match (word.as_str(), words.clone().next().map(String::as_str)) {
            ("--quick", _) => quick = true,
            ("--only", Some("query")) => {
                let quick = args.iter().any(|a| a == "--quick");
                return query::run(&workspace_root()?, quick);
            }
            ("--only", Some(part @ ("remote" | "tds"))) => {
                only = Some(part);
                words.next();
            }
            ("--only", Some(part @ ("storage" | "scale" | "transport"))) => {
                (storage, scale, sharing) =
                    (part == "storage", part == "scale", part == "transport");
                words.next();
            }
            _ => bail!(USAGE),
        }
    }
    let root = workspace_root()?;
    if only == Some("tds") {
        let sizes = if quick { &tds::QUICK } else { &tds::FULL };
        let report = tds::run(&root, sizes)?;
        println!("\n{report}");
        return write_unless_quick(&root, quick, tds::SECTION, &report);
    }
    if only == Some("remote") {
        let sizes = if quick { &remote::QUICK } else { &remote::FULL };
        let report = remote::run(&root, sizes)?;
        println!("\n{report}");
        return write_unless_quick(&root, quick, remote::SECTION, &report);
    }
    if sharing {
        let sizes = if quick {
            &transport::QUICK
        } else {
            &transport::FULL
        };
        let report = transport::run(&root, sizes)?;
        println!("\n{report}");
        write_unless_quick(&root, quick, transport::SECTION, &report)?;
    }
    if !(storage || scale) {
        return Ok(());
    }
    let sides = sides::Sides::prepare(&root)?;
    if storage {
        run_storage(&root, &sides, quick)?;
    }
    if scale {
        let sizes = if quick { &scale::QUICK } else { &scale::FULL };
        let mut samples = Samples::new();
        scale::run(&root, &sides, sizes, &mut samples)?;
        let report = scale_report::render(sizes, &samples)?;
        println!("\n{report}");
        write_unless_quick(&root, quick, scale_report::SECTION, &report)?;
    }
    Ok(())
}

/// The docs are rewritten by full runs only.
fn write_unless_quick(
    root: &std::path::Path,
    quick: bool,
    section: &str,
    report: &str,
) -> Result<()> {
    if quick {
        println!("(--quick: docs/performance.md left as it is)");
    } else {
        report::write_section(&root.join("docs/performance.md"), section, report)?;
        println!("wrote the `{section}` section of docs/performance.md");
    }
    Ok(())
}

/// The storage workloads (issue 6).
fn run_storage(root: &std::path::Path, sides: &sides::Sides, quick: bool) -> Result<()> {
    let sizes = if quick { &QUICK } else { &FULL };
    let mut samples = Samples::new();
    let engines = std::iter::once("tableshare").chain(PEERS);
    for round in 1..=sizes.rounds {
        for (workload, what) in [
            (sides::Workload::Write, "big write"),
            (sides::Workload::Appends, "appends and reads"),
        ] {
            println!("==> round {round} of {}: {what}", sizes.rounds);
            for engine in engines.clone() {
                let measured = sides.run(engine, workload, sizes)?;
                record(&mut samples, engine, &measured)?;
            }
        }
    }
    println!(
        "==> tableshare: opening as history grows, garbage collection ({} rounds)",
        sizes.rounds
    );
    let measured = sides.run("tableshare", sides::Workload::Versions, sizes)?;
    record(&mut samples, "tableshare", &measured)?;

    let report = report::render(sizes, &samples)?;
    println!("\n{report}");
    write_unless_quick(root, quick, report::SECTION, &report)
}

/// Adds one program's JSON object to `samples`: numbers are one value, arrays several; nulls
/// (a metric a side does not have) are skipped.
fn record(samples: &mut Samples, engine: &str, measured: &Value) -> Result<()> {
    let object = measured
        .as_object()
        .context("a benchmark program printed JSON that is not an object")?;
    let metrics = samples.entry(engine.to_owned()).or_default();
    for (key, value) in object {
        let values = metrics.entry(key.clone()).or_default();
        match value {
            Value::Null => {}
            Value::Number(n) => values.push(n.as_f64().context("metric out of range")?),
            Value::Array(items) => {
                for item in items {
                    values.push(
                        item.as_f64().with_context(|| {
                            format!("{engine}: metric `{key}` has a non-number")
                        })?,
                    );
                }
            }
            other => bail!("{engine}: metric `{key}` is not a number: {other}"),
        }
    }
    Ok(())
}
