//! Everything a backend says is checked, and a failing or hanging backend fails the table with a
//! message naming backend, table, location and column; nothing hangs. Each case guards one way
//! a real backend has gone wrong (seed 002's bugs, a callback that errs, a call that never
//! returns, a panic).

use std::sync::Arc;
use std::time::Duration;

use tableshare_tds::{ServiceOptions, TableDataService, TdsError};

use crate::common::{
    Fault, Faulty, add_ticker_data, failure, location_data, partition_values, seed_backend,
};

fn service(faulty: &Faulty, timeout: Duration) -> TableDataService<Faulty> {
    TableDataService::with_options(
        Arc::new(faulty.clone()),
        ServiceOptions::default().with_timeout(timeout),
    )
}

/// A backend with the seed's three locations, wrapped to misbehave.
fn seeded() -> (Faulty, tableshare_tds::MemoryTable) {
    let (backend, sample) = seed_backend();
    add_ticker_data(&sample, "GOOG", "NYSE");
    add_ticker_data(&sample, "MSFT", "BZX");
    add_ticker_data(&sample, "MSFT", "BZY");
    (Faulty::new(backend), sample)
}

/// Asserts that `error` names the backend, the table and the given location and column.
fn names(error: &TdsError, location: Option<&str>, column: Option<&str>, fragment: &str) {
    let context = error.context();
    assert_eq!(context.backend, "faulty");
    assert_eq!(context.table, "sample");
    assert_eq!(context.location.as_deref(), location, "{error}");
    assert_eq!(context.column.as_deref(), column, "{error}");
    let message = error.to_string();
    assert!(message.contains(fragment), "{message}");
    assert!(
        message.contains("backend faulty, table sample"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_values_of_two_rows_are_refused() {
    let (faulty, _sample) = seeded();
    faulty.set(Fault::TwoPartitionRows);
    for refreshing in [false, true] {
        let error = service(&faulty, Duration::from_secs(5))
            .make_table("sample".into(), refreshing)
            .await
            .unwrap_err();
        names(
            &error,
            Some("GOOG:NYSE"),
            None,
            "must be one row, got 2 rows",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_new_location_fails_the_refreshing_table() {
    let (faulty, sample) = seeded();
    let table = service(&faulty, Duration::from_secs(5))
        .make_table("sample".into(), true)
        .await
        .unwrap();
    let live = table.live();
    let (_, mut updates) = live.subscribe().unwrap();
    let twice = partition_values("IBM", "NYSE");
    let twice = arrow_select::concat::concat_batches(&twice.schema(), [&twice, &twice]).unwrap();
    sample
        .add_location("IBM:NYSE", Some(twice), location_data())
        .unwrap();
    let message = failure(&live).await;
    assert!(message.contains("location IBM:NYSE"), "{message}");
    assert!(message.contains("one row, got 2"), "{message}");
    // The subscriber hears the failure instead of waiting forever.
    let event = tokio::time::timeout(Duration::from_secs(5), updates.next())
        .await
        .expect("the subscriber is told");
    assert!(matches!(event, Some(Err(_))), "{event:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_partition_values_are_refused() {
    let (backend, sample) = seed_backend();
    sample.add_location("X", None, location_data()).unwrap();
    let error = service(&Faulty::new(backend), Duration::from_secs(5))
        .make_table("sample".into(), false)
        .await
        .unwrap_err();
    names(&error, Some("X"), None, "no partition values");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_row_count_and_type_from_column_values_are_refused() {
    for (fault, fragment) in [
        (Fault::ShortColumn, "got 1 rows"),
        (
            Fault::WrongType,
            "values have type Utf8, the schema says Boolean",
        ),
    ] {
        let (faulty, _sample) = seeded();
        faulty.set(fault);
        let error = service(&faulty, Duration::from_secs(5))
            .make_table_columns("sample".into(), false, &["Boolean"])
            .await
            .unwrap_err();
        assert!(matches!(error, TdsError::Contract { .. }), "{error}");
        let location = error.context().location.clone();
        assert!(location.is_some(), "{error}");
        names(&error, location.as_deref(), Some("Boolean"), fragment);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shrinking_size_is_refused() {
    let (faulty, _sample) = seeded();
    faulty.set(Fault::ShrinkingSize);
    let error = service(&faulty, Duration::from_secs(5))
        .make_table("sample".into(), true)
        .await
        .unwrap_err();
    names(
        &error,
        Some("GOOG:NYSE"),
        None,
        "the size shrank from 2 to 1 rows",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_call_fails_the_refreshing_table_with_its_message() {
    let (faulty, sample) = seeded();
    let table = service(&faulty, Duration::from_secs(5))
        .make_table("sample".into(), true)
        .await
        .unwrap();
    faulty.set(Fault::Error("the quote server is down".into()));
    add_ticker_data(&sample, "MSFT", "BZX");
    let message = failure(&table.live()).await;
    assert!(message.contains("the quote server is down"), "{message}");
    assert!(
        message.contains("backend faulty, table sample, location MSFT:BZX, column"),
        "{message}"
    );
    assert!(table.live().snapshot().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_failure_fails_the_table() {
    let (faulty, sample) = seeded();
    let table = service(&faulty, Duration::from_secs(5))
        .make_table("sample".into(), true)
        .await
        .unwrap();
    sample.fail_subscribers("lost the feed");
    let message = failure(&table.live()).await;
    assert!(message.contains("lost the feed"), "{message}");
    assert!(
        message.contains("backend faulty, table sample"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_never_answers_times_out_instead_of_hanging() {
    let (faulty, sample) = seeded();
    faulty.set(Fault::Hang);
    let started = tokio::time::Instant::now();
    let error = service(&faulty, Duration::from_millis(200))
        .make_table("sample".into(), false)
        .await
        .unwrap_err();
    assert!(matches!(error, TdsError::Timeout { .. }), "{error}");
    assert!(
        error.to_string().contains("did not answer within 200ms"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // The same inside a refreshing table: it fails, it does not stall.
    faulty.set(Fault::None);
    let table = service(&faulty, Duration::from_millis(200))
        .make_table("sample".into(), true)
        .await
        .unwrap();
    faulty.set(Fault::Hang);
    add_ticker_data(&sample, "GOOG", "NYSE");
    let message = failure(&table.live()).await;
    assert!(message.contains("location GOOG:NYSE"), "{message}");
    assert!(message.contains("did not answer within"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_backend_fails_the_table() {
    let (faulty, sample) = seeded();
    let table = service(&faulty, Duration::from_secs(5))
        .make_table("sample".into(), true)
        .await
        .unwrap();
    faulty.set(Fault::Panic);
    add_ticker_data(&sample, "MSFT", "BZY");
    let message = failure(&table.live()).await;
    assert!(
        message.contains("the backend panicked: column_values exploded"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_table_is_the_backends_error() {
    let (faulty, _sample) = seeded();
    let error = service(&faulty, Duration::from_secs(5))
        .make_table("nope".into(), false)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TdsError::Backend {
                operation: "table_schema",
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("table nope does not exist"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_column_is_not_found() {
    let (faulty, _sample) = seeded();
    let error = service(&faulty, Duration::from_secs(5))
        .make_table_columns("sample".into(), false, &["Nope"])
        .await
        .unwrap_err();
    assert!(matches!(error, TdsError::NotFound { .. }), "{error}");
    assert_eq!(error.context().column.as_deref(), Some("Nope"));
}
