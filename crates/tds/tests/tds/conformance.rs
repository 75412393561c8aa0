//! The conformance suite, run on the in-memory backend (the Parquet backend runs it in its own
//! module), and proof that the suite catches a broken backend: a backend that answers
//! `column_values` with too few rows must fail it, naming the case.

use std::sync::Arc;

use tableshare_tds::conformance::{Capabilities, grower, run_all};

use crate::common::{Fault, Faulty, add_ticker_data, location_data, seed_backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_backend_conforms() {
    let (backend, sample) = seed_backend();
    add_ticker_data(&sample, "GOOG", "NYSE");
    add_ticker_data(&sample, "MSFT", "BZX");
    let grow = {
        let sample = sample.clone();
        grower(move || {
            let sample = sample.clone();
            async move { Ok(sample.append("GOOG:NYSE", location_data())?) }
        })
    };
    let capabilities = Capabilities::new("sample".to_string())
        .with_unknown_table("nope".to_string())
        .with_grow(grow);
    run_all(Arc::new(backend), capabilities).await.unwrap();
    assert_eq!(
        sample.subscriber_count(),
        0,
        "the suite's subscriptions were all cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_catches_a_broken_backend() {
    let (backend, sample) = seed_backend();
    add_ticker_data(&sample, "GOOG", "NYSE");
    let faulty = Faulty::new(backend);
    faulty.set(Fault::ShortColumn);
    let failures = run_all(Arc::new(faulty), Capabilities::new("sample".to_string()))
        .await
        .unwrap_err();
    let cases: Vec<&str> = failures.0.iter().map(|failure| failure.case).collect();
    assert!(
        cases.contains(&"column_values_honour_offset_and_bounds"),
        "{failures}"
    );
    assert!(
        cases.contains(&"service_reads_what_the_backend_holds"),
        "{failures}"
    );
    assert!(!cases.contains(&"schema_is_well_formed"), "{failures}");
}

/// Guards the suite itself against hanging: a backend whose `column_values` never answers fails
/// the cases that read values (within the suite's bound), instead of blocking `run_all`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_fails_a_hanging_backend_instead_of_hanging() {
    let (backend, sample) = seed_backend();
    add_ticker_data(&sample, "GOOG", "NYSE");
    let faulty = Faulty::new(backend);
    faulty.set(Fault::Hang);
    let mut capabilities = Capabilities::new("sample".to_string());
    capabilities.wait = std::time::Duration::from_millis(100);
    let failures = run_all(Arc::new(faulty), capabilities).await.unwrap_err();
    let hung: Vec<&str> = failures
        .0
        .iter()
        .filter(|failure| failure.message.contains("did not finish within 300ms"))
        .map(|failure| failure.case)
        .collect();
    assert!(
        hung.contains(&"column_values_honour_offset_and_bounds"),
        "{failures}"
    );
    assert!(!hung.contains(&"schema_is_well_formed"), "{failures}");
}
