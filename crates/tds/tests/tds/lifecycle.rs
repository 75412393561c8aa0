//! Beyond the original (which is append-only and leaves a failed table failed): a retracted
//! location's rows leave in one step, a blink location's rows are replaced at each size step, a
//! failed table can be retried, and dropping a table cancels its backend subscriptions.

use std::time::Duration;

use tableshare_tds::TableDataService;

use crate::common::{
    Fault, Faulty, add_ticker_data, expected_rows, failure, next_step, rows, seed_backend,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retracted_location_leaves_in_one_step() {
    let (backend, sample) = seed_backend();
    add_ticker_data(&sample, "GOOG", "NYSE");
    add_ticker_data(&sample, "MSFT", "BZX");
    add_ticker_data(&sample, "MSFT", "BZY");
    let service = TableDataService::new(backend);
    let table = service
        .make_partitioned_table("sample".into(), true)
        .await
        .unwrap();
    let merged = table.merged();
    let (before, mut updates) = merged.subscribe().unwrap();

    sample.retract("MSFT:BZX").unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), updates.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let update = event.into_update().unwrap();
    assert_eq!(update.removed().len(), 2, "both rows leave in the one step");
    assert!(update.added().is_empty());
    assert_eq!(
        update.apply_to_check(&before),
        expected_rows(&[("GOOG", "NYSE", 1), ("MSFT", "BZY", 1)])
    );
    assert_eq!(
        rows(&merged),
        expected_rows(&[("GOOG", "NYSE", 1), ("MSFT", "BZY", 1)])
    );
    assert!(table.constituent(&["MSFT", "BZX"]).is_none());

    // The key may come back as a new location, with its new rows.
    add_ticker_data(&sample, "MSFT", "BZX");
    next_step(&merged, 2).await;
    assert_eq!(
        rows(&merged),
        expected_rows(&[("GOOG", "NYSE", 1), ("MSFT", "BZY", 1), ("MSFT", "BZX", 1)])
    );
    assert!(table.constituent(&["MSFT", "BZX"]).is_some());
}

/// `apply_to` for an update event, checked, as one batch.
trait ApplyCheck {
    fn apply_to_check(&self, snapshot: &tableshare_core::Snapshot) -> arrow_array::RecordBatch;
}

impl ApplyCheck for tableshare_core::TableUpdate {
    fn apply_to_check(&self, snapshot: &tableshare_core::Snapshot) -> arrow_array::RecordBatch {
        snapshot.apply(self).unwrap().concat().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blink_location_replaces_its_rows_each_step() {
    let (backend, sample) = seed_backend();
    add_ticker_data(&sample, "GOOG", "NYSE");
    add_ticker_data(&sample, "MSFT", "BZX");
    let service = TableDataService::new(backend);
    let table = service.make_table("sample".into(), true).await.unwrap();
    let live = table.live();
    sample.mark_blink("MSFT:BZX").unwrap();
    add_ticker_data(&sample, "MSFT", "BZX");
    next_step(&live, 1).await;
    // MSFT:BZX shows only the two rows of its last size step; GOOG:NYSE keeps its rows.
    assert_eq!(
        rows(&live),
        expected_rows(&[("GOOG", "NYSE", 1), ("MSFT", "BZX", 1)])
    );
    let keys_before = live.snapshot().unwrap().key_vec();
    add_ticker_data(&sample, "MSFT", "BZX");
    next_step(&live, 2).await;
    assert_eq!(
        rows(&live),
        expected_rows(&[("GOOG", "NYSE", 1), ("MSFT", "BZX", 1)])
    );
    let keys_after = live.snapshot().unwrap().key_vec();
    assert_eq!(
        keys_before[..2],
        keys_after[..2],
        "GOOG:NYSE keeps its keys"
    );
    assert_ne!(
        keys_before[2..],
        keys_after[2..],
        "the blink rows are new rows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_table_can_be_retried() {
    let (backend, sample) = seed_backend();
    add_ticker_data(&sample, "GOOG", "NYSE");
    let faulty = Faulty::new(backend);
    let service = TableDataService::new(faulty.clone());
    let table = service.make_table("sample".into(), true).await.unwrap();
    assert!(
        !table.retry().await.unwrap(),
        "a healthy table is left alone"
    );

    faulty.set(Fault::Error("flaky".into()));
    add_ticker_data(&sample, "MSFT", "BZX");
    assert!(failure(&table.live()).await.contains("flaky"));

    // Still failing: the retry says so and the failed table stays.
    let error = table.retry().await.unwrap_err();
    assert!(error.to_string().contains("flaky"), "{error}");
    assert!(table.failure().is_some());

    faulty.set(Fault::None);
    assert!(table.retry().await.unwrap());
    let live = table.live();
    assert!(table.failure().is_none());
    assert_eq!(
        rows(&live),
        expected_rows(&[("GOOG", "NYSE", 1), ("MSFT", "BZX", 1)])
    );
    // And it refreshes again.
    add_ticker_data(&sample, "GOOG", "NYSE");
    next_step(&live, 1).await;
    assert_eq!(
        rows(&live),
        expected_rows(&[("GOOG", "NYSE", 2), ("MSFT", "BZX", 1)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_table_cancels_its_subscriptions() {
    let (backend, sample) = seed_backend();
    add_ticker_data(&sample, "GOOG", "NYSE");
    add_ticker_data(&sample, "MSFT", "BZX");
    let service = TableDataService::new(backend);
    let table = service.make_table("sample".into(), true).await.unwrap();
    // One location subscription and one size subscription per location.
    assert_eq!(sample.subscriber_count(), 3);
    drop(table);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while sample.subscriber_count() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscriptions left behind"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
