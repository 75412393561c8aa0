//! `tableshare demo`: the walkthroughs of the three seeds, run for real on the embedded default
//! (a fresh temporary home unless `--home` is given), printing each step and the table it
//! produced. Nothing here is simulated: the same library calls a program or the other commands
//! make, against a file:// cloud root under the home, a worker on a loopback port, and an
//! in-memory data-service backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use tableshare::remote::{RemoteTable, Resolved, Scope, SubscriptionState, Worker};
use tableshare::table::{LiveTableOptions, Snapshot};
use tableshare::tds::{MemoryBackend, MemoryTable, TableDataService};
use tableshare::transport::CloudConfig;
use tableshare::{Access, LiveTable, TableSchema, Tableshare};

use crate::exit::{CmdResult, Failure};
use crate::output::rows_pretty;

/// The org key the tour publishes with when the home configures none.
const DEMO_KEY: &str = "tableshare-demo-key";

/// Runs the tour in `home` (a fresh temporary folder when `None`).
pub(crate) fn run(home: Option<PathBuf>) -> CmdResult {
    let scratch;
    let temporary = home.is_none();
    let home = match home {
        Some(home) => home,
        None => {
            scratch = tempfile::Builder::new()
                .prefix("tableshare-demo-")
                .tempdir()
                .context("could not make a temporary home")
                .map_err(Failure::Failed)?;
            scratch.path().to_path_buf()
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the runtime")
        .map_err(Failure::Failed)?;
    let started = Instant::now();
    runtime
        .block_on(tour(&home))
        .map_err(|e| Failure::Failed(e.context("the demo stopped")))?;
    println!(
        "\nThe tour took {:.1} s.{}",
        started.elapsed().as_secs_f64(),
        if temporary {
            " Its temporary home is removed now; pass --home DIR to keep the tables.".to_owned()
        } else {
            format!(" Its tables are in {}.", home.display())
        }
    );
    Ok(())
}

async fn tour(home: &Path) -> Result<()> {
    println!("tableshare demo in {}", home.display());
    let cloud = CloudConfig::load(home)?;
    let cloud = if cloud.api_key().is_some() {
        cloud
    } else {
        println!("(no org key configured: publishing with a demo key)");
        cloud.with_api_key(DEMO_KEY)
    };
    let ts = Tableshare::open_with_cloud(home, cloud)?;
    shared_tables(&ts).await?;
    remote_tables(&ts).await?;
    data_service().await?;
    Ok(())
}

/// Query results (any number of batches) as one text table.
fn rows_pretty_all(batches: &[RecordBatch]) -> Result<String> {
    Ok(arrow_cast::pretty::pretty_format_batches(batches)?.to_string())
}

fn heading(text: &str) {
    println!("\n== {text} ==");
}

fn step(text: &str) {
    println!("\n-- {text}");
}

fn sample_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]))
}

fn sample(rows: &[(i64, &str, f64)]) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        sample_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )?)
}

/// Seed 000: create, fill, publish, push, replicate, pull, independent copy.
async fn shared_tables(ts: &Tableshare) -> Result<()> {
    heading("Seed 000: shared tables (publish, push, replicate, pull)");
    // A home given with --home may hold an earlier tour (or the user's own `shared_demo`):
    // take the first free name rather than drop anything.
    let mut dir = "shared_demo".to_owned();
    let mut n = 1;
    while ts.catalog().get(dir.as_str()).await?.is_some() {
        n += 1;
        dir = format!("shared_demo_{n}");
    }
    let path = |name: &str| format!("{dir}.{name}");
    step(&format!(
        "create_dir {dir}; create_table {}; insert 3 rows",
        path("sample_data")
    ));
    ts.create_dir(&dir).await?;
    let table = ts
        .create_table(
            &path("sample_data"),
            &TableSchema::unpartitioned(sample_schema())?,
        )
        .await?;
    table
        .insert(&sample(&[
            (1, "Alice", 42.5),
            (2, "Bob", 37.8),
            (3, "Charlie", 91.2),
        ])?)
        .await?;
    println!("{}", table.show(10).await?);

    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let target = format!("pxt://demo/shared.sample_data_{stamp}");
    step(&format!(
        "publish {} {target} (public)",
        path("sample_data")
    ));
    let uri = ts
        .publish(&path("sample_data"), &target, Access::Public)
        .await?;
    println!("published: {uri}");

    step("insert a row locally, then push");
    table.insert(&sample(&[(4, "Diana", 65.3)])?).await?;
    let pushed = table.push().await?;
    println!(
        "pushed versions {:?} ({} files, {} bytes)",
        pushed.versions, pushed.files_sent, pushed.bytes_sent
    );

    step(&format!("replicate {uri} {}", path("replicated_data")));
    let replica = ts
        .replicate(&uri.to_string(), &path("replicated_data"))
        .await?;
    println!(
        "a read-only replica at version {} (read-only: {})",
        replica.version(),
        replica.is_read_only()
    );
    println!("{}", replica.show(10).await?);

    let view = path("high_value");
    step(&format!(
        "a view on the replica: {view} = replicated_data + value_x2 = value * 2, where value > 50"
    ));
    ts.create_view(
        &view,
        &path("replicated_data"),
        [("value_x2", "value * 2")],
        Some("value > 50"),
    )
    .await?;
    let show_view = format!("SELECT * FROM {view} ORDER BY id");
    println!("{}", rows_pretty_all(&ts.sql(&show_view).await?)?);

    step("the publisher inserts and pushes again; the replica pulls");
    table.insert(&sample(&[(5, "Eve", 88.9)])?).await?;
    table.push().await?;
    let pulled = replica.pull().await?;
    println!(
        "pulled versions {:?}; the replica now has {} rows",
        pulled.versions,
        replica.row_count()
    );
    println!("{}", replica.show(10).await?);
    println!("the view on the replica follows it:");
    println!("{}", rows_pretty_all(&ts.sql(&show_view).await?)?);

    step(&format!(
        "an independent copy of {uri}:2 at {}",
        path("local_copy")
    ));
    let copy = ts
        .create_table_from(&path("local_copy"), &format!("{uri}:2"))
        .await?;
    copy.insert(&sample(&[(6, "Frank", 12.0)])?).await?;
    println!(
        "a writable table with no upstream (read-only: {}), {} rows after one more insert",
        copy.is_read_only(),
        copy.row_count()
    );
    println!("{}", copy.show(10).await?);
    Ok(())
}

fn quotes_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("Sym", DataType::Utf8, false),
        Field::new("Price", DataType::Float64, true),
    ]))
}

fn quote(sym: &str, price: f64) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        quotes_schema(),
        vec![
            Arc::new(StringArray::from(vec![sym.to_owned()])),
            Arc::new(Float64Array::from(vec![price])),
        ],
    )?)
}

fn pretty(snapshot: &Snapshot) -> Result<String> {
    rows_pretty(&snapshot.concat()?)
}

async fn serve_quotes(
    ts: &Tableshare,
    table: &LiveTable,
    listen: std::net::SocketAddr,
) -> Result<Worker> {
    let scope = Scope::new();
    // The same incarnation across restarts: the subscriber resumes after its last step
    // instead of taking the whole table again.
    scope.insert_with_incarnation("quotes", table.clone(), "demo-quotes");
    let directory = ts
        .directory()
        .cloned()
        .ok_or_else(|| anyhow!("the demo home has no worker directory"))?;
    Ok(Worker::builder("DemoWorker")
        .serial(4_242)
        .listen(listen)
        .directory(directory)
        .serve(scope)
        .await?)
}

async fn wait_for(remote: &RemoteTable, upstream_step: u64) -> Result<Snapshot> {
    let change = tokio::time::timeout(Duration::from_secs(20), remote.wait_for_step(upstream_step))
        .await
        .map_err(|_| anyhow!("the subscriber did not reach step {upstream_step} in 20 s"))??;
    Ok(change.snapshot)
}

/// Seed 001: a worker serves a ticking table; a subscriber follows it by `pq://` address,
/// through a disconnect and a reconnect; a static snapshot by address.
async fn remote_tables(ts: &Tableshare) -> Result<()> {
    heading("Seed 001: live remote tables (serve, subscribe, reconnect)");
    let table = LiveTable::new(
        TableSchema::unpartitioned(quotes_schema())?,
        LiveTableOptions::default(),
    );
    table.append(quote("AAPL", 189.5)?)?;
    let worker = serve_quotes(ts, &table, ([127, 0, 0, 1], 0).into()).await?;
    let address = worker.address();
    step(&format!(
        "worker DemoWorker (serial 4242) serves `quotes` at {address}"
    ));

    let uri = "pq://DemoWorker/scope/quotes?retryWindowMillis=30000";
    step(&format!("subscribe {uri}"));
    let Resolved::Live(remote) = ts.resolve(uri).await? else {
        return Err(anyhow!("{uri} resolved to a snapshot"));
    };
    println!("{}", pretty(&wait_for(&remote, 1).await?)?);

    step("the worker's table ticks twice; the subscriber follows in lockstep");
    table.append(quote("MSFT", 411.0)?)?;
    table.append(quote("NVDA", 120.3)?)?;
    let seen = wait_for(&remote, table.step()).await?;
    println!("subscriber at step {}:\n{}", table.step(), pretty(&seen)?);

    step("the worker stops (a disconnect)");
    worker.shutdown().await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(remote.state(), SubscriptionState::Live) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("subscriber state: {}", remote.state());
    table.append(quote("AMZN", 178.2)?)?;

    step("the worker comes back on the same address with the same table");
    let worker = serve_quotes(ts, &table, address).await?;
    let seen = wait_for(&remote, table.step()).await?;
    println!(
        "subscriber state: {}; caught up to step {}:\n{}",
        remote.state(),
        table.step(),
        pretty(&seen)?
    );

    let snapshot_uri = "pq://DemoWorker/scope/quotes?snapshot=true&columns=Sym";
    step(&format!("a static snapshot: {snapshot_uri}"));
    match ts.resolve(snapshot_uri).await? {
        Resolved::Snapshot(snapshot) => println!("{}", pretty(&snapshot)?),
        _ => return Err(anyhow!("{snapshot_uri} did not give a snapshot")),
    }
    drop(remote);
    worker.shutdown().await?;
    Ok(())
}

fn location_rows(first: i64) -> Result<RecordBatch> {
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("Seq", Arc::new(Int64Array::from(vec![first, first + 1]))),
        ("Price", Arc::new(Float64Array::from(vec![1.01, -1.01]))),
    ];
    Ok(RecordBatch::try_from_iter(columns)?)
}

fn partitioning() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("Ticker", DataType::Utf8, true),
        Field::new("Exchange", DataType::Utf8, true),
    ]))
}

/// One row in the partitioning schema: a location's partition values.
fn partition(ticker: &str, exchange: &str) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        partitioning(),
        vec![
            Arc::new(StringArray::from(vec![ticker])),
            Arc::new(StringArray::from(vec![exchange])),
        ],
    )?)
}

async fn next_step(table: &LiveTable, after: u64) -> Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while table.step() <= after {
        if Instant::now() > deadline {
            return Err(anyhow!("the data-service table did not tick in 20 s"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!("{}", pretty(&table.snapshot()?)?);
    Ok(table.step())
}

/// Seed 002: a refreshing table from a data-service backend, growing as locations arrive.
async fn data_service() -> Result<()> {
    heading("Seed 002: the table data service (a refreshing, partitioned table)");
    let backend = MemoryBackend::new();
    let rows = location_rows(0)?;
    let sample = backend.add_table(
        "sample",
        MemoryTable::new(rows.schema(), Some(partitioning())),
    )?;
    sample.add_location("GOOG:NYSE", Some(partition("GOOG", "NYSE")?), rows)?;
    sample.add_location(
        "MSFT:BZX",
        Some(partition("MSFT", "BZX")?),
        location_rows(0)?,
    )?;

    step("make_table(\"sample\", refreshing): two locations of two rows");
    let service = TableDataService::new(backend);
    // The service table owns the backend subscriptions: it stays alive while the table ticks.
    let refreshing = service.make_table("sample".to_owned(), true).await?;
    let table = refreshing.live();
    let mut at = next_step(&table, 0).await?;

    step("a new location (GOOG/BZX) arrives while the table is open");
    sample.add_location(
        "GOOG:BZX",
        Some(partition("GOOG", "BZX")?),
        location_rows(0)?,
    )?;
    at = next_step(&table, at).await?;

    step("an existing location (MSFT/BZX) grows by two rows");
    sample.append("MSFT:BZX", location_rows(2)?)?;
    next_step(&table, at).await?;

    step("make_partitioned_table(\"sample\", refreshing): one constituent per location");
    let partitioned = service
        .make_partitioned_table("sample".to_owned(), true)
        .await?;
    let merged = partitioned.merged();
    let deadline = Instant::now() + Duration::from_secs(20);
    while merged.snapshot()?.num_rows() < 8 {
        if Instant::now() > deadline {
            return Err(anyhow!("the partitioned table did not fill in 20 s"));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for constituent in partitioned.constituents() {
        println!(
            "{}: {} rows",
            constituent.key().join("/"),
            constituent.table().snapshot()?.num_rows()
        );
    }
    Ok(())
}
