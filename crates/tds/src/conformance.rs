//! The conformance suite every backend must pass (object_store's `integration.rs` pattern):
//! plain `pub async fn` cases, run together by one [`run_all`], so no backend skips a case.
//!
//! Call it from your backend's tests with a table your backend serves and, when the backend
//! refreshes, a way to make that table grow:
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{Int64Array, RecordBatch};
//! use arrow_schema::{DataType, Field, Schema};
//! use tableshare_tds::conformance::{Capabilities, grower, run_all};
//! use tableshare_tds::{MemoryBackend, MemoryTable};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
//! let rows = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2, 3]))])?;
//! let backend = MemoryBackend::new();
//! let table = backend.add_table("t", MemoryTable::new(schema, None))?;
//! table.add_location("a", None, rows.clone())?;
//!
//! let grow = {
//!     let table = table.clone();
//!     grower(move || {
//!         let (table, rows) = (table.clone(), rows.clone());
//!         async move { Ok(table.append("a", rows)?) }
//!     })
//! };
//! let capabilities = Capabilities::new("t".to_string())
//!     .with_unknown_table("no such table".to_string())
//!     .with_grow(grow);
//! run_all(Arc::new(backend), capabilities).await?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, ArrayRef};
use futures::future::BoxFuture;

use crate::backend::{
    BackendError, LocationEvent, LocationSink, SizeEvent, SizeSink, TableDataServiceBackend,
};
use crate::calls::check_partition_values;
use crate::error::Context;
use crate::ext::BackendExt;
use crate::service::{ServiceOptions, TableDataService};

/// Makes the table under test grow: a new location or more rows in one (refreshing backends).
pub type Grower = Arc<dyn Fn() -> BoxFuture<'static, Result<(), BackendError>> + Send + Sync>;

/// What the suite may rely on: the table to test and what the backend can do.
pub struct Capabilities<B: TableDataServiceBackend> {
    /// A table the backend serves, with at least one location holding rows.
    pub table: B::TableKey,
    /// A key the backend does not serve: asking for it must be an error, not a hang or a panic.
    pub unknown_table: Option<B::TableKey>,
    /// Makes `table` grow; present when the backend's subscriptions report news.
    pub grow: Option<Grower>,
    /// How long the suite waits for news after a `grow` (default 10 s).
    pub wait: Duration,
}

impl<B: TableDataServiceBackend> Capabilities<B> {
    /// Testing `table`, a static backend.
    pub fn new(table: B::TableKey) -> Self {
        Self {
            table,
            unknown_table: None,
            grow: None,
            wait: Duration::from_secs(10),
        }
    }

    /// With a key the backend does not serve.
    pub fn with_unknown_table(mut self, table: B::TableKey) -> Self {
        self.unknown_table = Some(table);
        self
    }

    /// With a way to make the table grow (the backend refreshes).
    pub fn with_grow(mut self, grow: Grower) -> Self {
        self.grow = Some(grow);
        self
    }
}

/// A [`Grower`] from an async closure.
pub fn grower<F, Fut>(grow: F) -> Grower
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), BackendError>> + Send + 'static,
{
    Arc::new(move || Box::pin(grow()))
}

/// A case the backend failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The case.
    pub case: &'static str,
    /// What went wrong.
    pub message: String,
}

/// The cases a backend failed (at least one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Failures(pub Vec<Failure>);

impl fmt::Display for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} conformance case(s) failed:", self.0.len())?;
        for failure in &self.0 {
            writeln!(f, "  {}: {}", failure.case, failure.message)?;
        }
        Ok(())
    }
}

/// The outcome of one case: `Err` says what broke.
pub type CaseResult = Result<(), String>;

macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+));
        }
    };
}

fn backend_error(operation: &str) -> impl Fn(BackendError) -> String + '_ {
    move |error| format!("{operation} failed: {error}")
}

/// Runs every case on `backend`; all run, and every failure is reported.
///
/// # Errors
///
/// [`Failures`] listing each case that failed and why.
pub async fn run_all<B: TableDataServiceBackend>(
    backend: Arc<B>,
    capabilities: Capabilities<B>,
) -> Result<(), Failures> {
    let caps = &capabilities;
    let shared = &backend;
    let backend = backend.as_ref();
    let outcomes: Vec<(&'static str, CaseResult)> = vec![
        (
            "schema_is_well_formed",
            bounded(caps, schema_is_well_formed(backend, caps)).await,
        ),
        (
            "locations_carry_one_row_of_partition_values",
            bounded(
                caps,
                locations_carry_one_row_of_partition_values(backend, caps),
            )
            .await,
        ),
        (
            "sizes_never_shrink",
            bounded(caps, sizes_never_shrink(backend, caps)).await,
        ),
        (
            "column_values_honour_offset_and_bounds",
            bounded(caps, column_values_honour_offset_and_bounds(backend, caps)).await,
        ),
        (
            "subscriptions_send_what_exists_first",
            bounded(caps, subscriptions_send_what_exists_first(backend, caps)).await,
        ),
        (
            "unknown_table_is_an_error",
            bounded(caps, unknown_table_is_an_error(backend, caps)).await,
        ),
        (
            "subscriptions_report_growth_until_dropped",
            bounded(
                caps,
                subscriptions_report_growth_until_dropped(backend, caps),
            )
            .await,
        ),
        (
            "service_reads_what_the_backend_holds",
            bounded(caps, service_reads_what_the_backend_holds(shared, caps)).await,
        ),
    ];
    let failures: Vec<Failure> = outcomes
        .into_iter()
        .filter_map(|(case, outcome)| outcome.err().map(|message| Failure { case, message }))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Failures(failures))
    }
}

/// Runs one case, failing it when it does not finish within three times the suite's wait: a
/// backend call that never answers fails its case instead of hanging the suite.
async fn bounded<B: TableDataServiceBackend>(
    caps: &Capabilities<B>,
    case: impl Future<Output = CaseResult>,
) -> CaseResult {
    let limit = caps.wait.saturating_mul(3);
    tokio::time::timeout(limit, case)
        .await
        .unwrap_or_else(|_| Err(format!("did not finish within {limit:?}")))
}

/// `table_schema` answers; no column is both a data and a partitioning column.
pub async fn schema_is_well_formed<B: TableDataServiceBackend>(
    backend: &B,
    caps: &Capabilities<B>,
) -> CaseResult {
    let schemas = backend
        .table_schema(&caps.table)
        .await
        .map_err(backend_error("table_schema"))?;
    ensure!(
        !schemas.data.fields().is_empty(),
        "the data schema has no columns"
    );
    if let Some(partitioning) = &schemas.partitioning {
        for field in partitioning.fields() {
            ensure!(
                schemas.data.field_with_name(field.name()).is_err(),
                "column {} is both a data and a partitioning column",
                field.name()
            );
        }
    }
    Ok(())
}

/// Every location has partition values that are one row of the partitioning schema (or none
/// without partitioning columns); no location is listed twice; the table has one.
pub async fn locations_carry_one_row_of_partition_values<B: TableDataServiceBackend>(
    backend: &B,
    caps: &Capabilities<B>,
) -> CaseResult {
    let schemas = backend
        .table_schema(&caps.table)
        .await
        .map_err(backend_error("table_schema"))?;
    let locations = backend
        .table_locations(&caps.table)
        .await
        .map_err(backend_error("table_locations"))?;
    ensure!(
        !locations.is_empty(),
        "the table under test has no locations"
    );
    let mut seen = HashSet::new();
    let context = Context::table(&backend.name(), &caps.table);
    for (location, values) in locations {
        ensure!(
            seen.insert(location.clone()),
            "location {location} is listed twice"
        );
        check_partition_values(
            &context.at(&location),
            "table_locations",
            schemas.partitioning.as_ref(),
            values,
        )
        .map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// Asking a location's size twice never gives fewer rows the second time.
pub async fn sizes_never_shrink<B: TableDataServiceBackend>(
    backend: &B,
    caps: &Capabilities<B>,
) -> CaseResult {
    for location in backend
        .location_keys(&caps.table)
        .await
        .map_err(backend_error("table_locations"))?
    {
        let first = backend
            .table_location_size(&caps.table, &location)
            .await
            .map_err(backend_error("table_location_size"))?;
        let second = backend
            .table_location_size(&caps.table, &location)
            .await
            .map_err(backend_error("table_location_size"))?;
        ensure!(
            second >= first,
            "location {location} shrank from {first} to {second}"
        );
    }
    Ok(())
}

/// `column_values` gives the column's type, between `min_rows` and `max_rows` rows, starting at
/// `offset`: reading in small pages gives exactly what one whole read gives.
pub async fn column_values_honour_offset_and_bounds<B: TableDataServiceBackend>(
    backend: &B,
    caps: &Capabilities<B>,
) -> CaseResult {
    let schemas = backend
        .table_schema(&caps.table)
        .await
        .map_err(backend_error("table_schema"))?;
    let locations = backend
        .location_keys(&caps.table)
        .await
        .map_err(backend_error("table_locations"))?;
    let mut any_rows = false;
    for location in locations.iter().take(4) {
        let size = backend
            .table_location_size(&caps.table, location)
            .await
            .map_err(backend_error("table_location_size"))?;
        let rows = usize::try_from(size).map_err(|error| error.to_string())?;
        any_rows |= rows > 0;
        for field in schemas.data.fields() {
            let column = field.name();
            let whole = backend
                .column_values(&caps.table, location, column, 0, rows, rows)
                .await
                .map_err(backend_error("column_values"))?;
            ensure!(
                whole.len() == rows,
                "location {location} column {column}: asked for {rows} rows, got {}",
                whole.len()
            );
            ensure!(
                whole.data_type() == field.data_type(),
                "location {location} column {column}: type {}, the schema says {}",
                whole.data_type(),
                field.data_type()
            );
            let mut pages: Vec<ArrayRef> = Vec::new();
            let mut offset = 0;
            while offset < rows {
                let min = 3.min(rows - offset);
                let page = backend
                    .column_values(&caps.table, location, column, offset as u64, min, min + 2)
                    .await
                    .map_err(backend_error("column_values"))?;
                ensure!(
                    (min..=min + 2).contains(&page.len()),
                    "location {location} column {column}: asked for {min} to {} rows at \
                     offset {offset}, got {}",
                    min + 2,
                    page.len()
                );
                ensure!(
                    page.as_ref() == whole.slice(offset, page.len()).as_ref(),
                    "location {location} column {column}: rows at offset {offset} differ from \
                     the same rows read whole"
                );
                offset += page.len().max(1);
                pages.push(page);
            }
        }
    }
    ensure!(any_rows, "no location of the table under test holds rows");
    Ok(())
}

/// Subscribing sends every existing location, and each location's current size, before the
/// subscribe call returns.
pub async fn subscriptions_send_what_exists_first<B: TableDataServiceBackend>(
    backend: &B,
    caps: &Capabilities<B>,
) -> CaseResult {
    let expected: HashSet<B::LocationKey> = backend
        .location_keys(&caps.table)
        .await
        .map_err(backend_error("table_locations"))?
        .into_iter()
        .collect();
    let (sink, mut events) = LocationSink::channel();
    let handle = backend
        .subscribe_to_table_locations(&caps.table, sink)
        .await
        .map_err(backend_error("subscribe_to_table_locations"))?;
    let mut sent = HashSet::new();
    while let Ok(event) = events.try_recv() {
        match event {
            LocationEvent::Added(location, _) => {
                ensure!(
                    sent.insert(location.clone()),
                    "location {location} was sent twice"
                );
            }
            LocationEvent::Failed(message) => {
                return Err(format!("subscription failed: {message}"));
            }
            _ => {}
        }
    }
    ensure!(
        sent.is_superset(&expected),
        "the subscription sent {} of the {} existing locations before returning",
        sent.intersection(&expected).count(),
        expected.len()
    );
    for location in &expected {
        let size = backend
            .table_location_size(&caps.table, location)
            .await
            .map_err(backend_error("table_location_size"))?;
        let (sink, mut sizes) = SizeSink::channel();
        let size_handle = backend
            .subscribe_to_table_location_size(&caps.table, location, sink)
            .await
            .map_err(backend_error("subscribe_to_table_location_size"))?;
        match sizes.try_recv() {
            Ok(SizeEvent::Size(reported)) => ensure!(
                reported >= size,
                "location {location}: subscribed size {reported} is below the size {size}"
            ),
            other => {
                return Err(format!(
                    "location {location}: no size before the subscribe call returned ({other:?})"
                ));
            }
        }
        drop(size_handle);
    }
    drop(handle);
    Ok(())
}

/// Asking for a table the backend does not serve is an error.
pub async fn unknown_table_is_an_error<B: TableDataServiceBackend>(
    backend: &B,
    caps: &Capabilities<B>,
) -> CaseResult {
    let Some(unknown) = &caps.unknown_table else {
        return Ok(());
    };
    ensure!(
        backend.table_schema(unknown).await.is_err(),
        "table_schema of {unknown} succeeded"
    );
    ensure!(
        backend.table_locations(unknown).await.is_err(),
        "table_locations of {unknown} succeeded"
    );
    Ok(())
}

/// After `grow`, a subscription reports a new location or a larger size; once its handle is
/// dropped the backend lets go of the sink (the channel closes).
pub async fn subscriptions_report_growth_until_dropped<B: TableDataServiceBackend>(
    backend: &B,
    caps: &Capabilities<B>,
) -> CaseResult {
    let Some(grow) = &caps.grow else {
        return Ok(());
    };
    let (sink, mut locations) = LocationSink::channel();
    let handle = backend
        .subscribe_to_table_locations(&caps.table, sink)
        .await
        .map_err(backend_error("subscribe_to_table_locations"))?;
    let (size_sink, mut sizes) = SizeSink::channel();
    let mut size_handles = Vec::new();
    let mut known = HashSet::new();
    while let Ok(event) = locations.try_recv() {
        if let LocationEvent::Added(location, _) = event {
            size_handles.push(
                backend
                    .subscribe_to_table_location_size(&caps.table, &location, size_sink.clone())
                    .await
                    .map_err(backend_error("subscribe_to_table_location_size"))?,
            );
            known.insert(location);
        }
    }
    let mut last_sizes = Vec::new();
    while let Ok(SizeEvent::Size(size)) = sizes.try_recv() {
        last_sizes.push(size);
    }
    grow().await.map_err(backend_error("grow"))?;
    let news = tokio::time::timeout(caps.wait, async {
        loop {
            tokio::select! {
                Some(event) = locations.recv() => match event {
                    LocationEvent::Added(location, _) if !known.contains(&location) => return Ok(()),
                    LocationEvent::Failed(message) => return Err(message),
                    _ => {}
                },
                Some(event) = sizes.recv() => match event {
                    SizeEvent::Size(size) if !last_sizes.contains(&size) => return Ok(()),
                    SizeEvent::Failed(message) => return Err(message),
                    SizeEvent::Size(_) => {}
                },
            }
        }
    })
    .await;
    match news {
        Err(_) => {
            return Err(format!(
                "no news within {:?} of the table growing",
                caps.wait
            ));
        }
        Ok(Err(message)) => return Err(format!("a subscription failed: {message}")),
        Ok(Ok(())) => {}
    }
    drop(handle);
    drop(size_handles);
    drop(size_sink);
    let closed = tokio::time::timeout(caps.wait, async {
        while locations.recv().await.is_some() {}
        while sizes.recv().await.is_some() {}
    })
    .await;
    ensure!(
        closed.is_ok(),
        "the backend still holds a sink {:?} after its handle was dropped",
        caps.wait
    );
    Ok(())
}

/// A static service table, read in small pages, holds exactly the backend's rows: the sum of the
/// sizes, each data column equal to the locations' values in order.
pub async fn service_reads_what_the_backend_holds<B: TableDataServiceBackend>(
    shared: &Arc<B>,
    caps: &Capabilities<B>,
) -> CaseResult {
    let backend = shared.as_ref();
    let service =
        TableDataService::with_options(shared.clone(), ServiceOptions::default().with_page_size(5));
    let table = service
        .make_table(caps.table.clone(), false)
        .await
        .map_err(|error| error.to_string())?;
    let rows = table
        .live()
        .snapshot()
        .and_then(|snapshot| snapshot.concat())
        .map_err(|error| error.to_string())?;
    let schemas = backend
        .table_schema(&caps.table)
        .await
        .map_err(backend_error("table_schema"))?;
    let mut expected: Vec<Vec<ArrayRef>> = vec![Vec::new(); schemas.data.fields().len()];
    let mut total = 0u64;
    for location in table_locations_now(backend, caps).await? {
        total += backend
            .table_location_size(&caps.table, &location)
            .await
            .map_err(backend_error("table_location_size"))?;
        for (index, field) in schemas.data.fields().iter().enumerate() {
            let values = backend
                .location_column(&caps.table, &location, field.name())
                .await
                .map_err(backend_error("column_values"))?;
            if let Some(column) = expected.get_mut(index) {
                column.push(values);
            }
        }
    }
    ensure!(
        rows.num_rows() as u64 == total,
        "the table has {} rows, the sizes sum to {total}",
        rows.num_rows()
    );
    for (field, parts) in schemas.data.fields().iter().zip(expected) {
        let parts: Vec<&dyn Array> = parts.iter().map(|part| part.as_ref()).collect();
        let want = arrow_select::concat::concat(&parts).map_err(|error| error.to_string())?;
        let got = rows
            .column_by_name(field.name())
            .ok_or_else(|| format!("the table lacks column {}", field.name()))?;
        ensure!(
            got.as_ref() == want.as_ref(),
            "column {} differs from the backend's values",
            field.name()
        );
    }
    Ok(())
}

async fn table_locations_now<B: TableDataServiceBackend>(
    backend: &B,
    caps: &Capabilities<B>,
) -> Result<Vec<B::LocationKey>, String> {
    backend
        .location_keys(&caps.table)
        .await
        .map_err(backend_error("table_locations"))
}
