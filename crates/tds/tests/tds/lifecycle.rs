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

/// The backend appending and adding locations from another thread while the table's task turns
/// news into steps: the two race (asserted: steps happened while the writer was still writing).
/// Every step a subscriber sees holds, per location, a prefix of its rows (never a torn or
/// duplicated row), and the table ends with exactly every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_racing_the_table_task_give_whole_steps() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use tableshare_tds::{MemoryBackend, MemoryTable};

    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    let partitioning = Arc::new(Schema::new(vec![Field::new("loc", DataType::Utf8, false)]));
    let backend = MemoryBackend::new();
    let table = backend
        .add_table(
            "race",
            MemoryTable::new(schema.clone(), Some(partitioning.clone())),
        )
        .unwrap();
    let rows = {
        let schema = schema.clone();
        move |range: std::ops::Range<i64>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from_iter_values(range))],
            )
            .unwrap()
        }
    };
    let values = {
        let partitioning = partitioning.clone();
        move |loc: &str| {
            RecordBatch::try_new(
                partitioning.clone(),
                vec![Arc::new(StringArray::from(vec![loc]))],
            )
            .unwrap()
        }
    };
    table
        .add_location("a", Some(values("a")), rows(0..1))
        .unwrap();
    let service = TableDataService::new(backend);
    let made = service.make_table("race".into(), true).await.unwrap();
    let live = made.live();
    let (mut mirror, mut updates) = live.subscribe().unwrap();

    const APPENDS: i64 = 300;
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (table, writing) = (table.clone(), writing.clone());
        let (rows, values) = (rows.clone(), values.clone());
        std::thread::spawn(move || {
            for n in 1..APPENDS {
                table.append("a", rows(n..n + 1)).unwrap();
                if n % 50 == 0 {
                    let loc = format!("l{n}");
                    table
                        .add_location(loc.clone(), Some(values(&loc)), rows(0..n))
                        .unwrap();
                }
                if n % 7 == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            writing.store(false, Ordering::SeqCst);
        })
    };
    let mut steps_while_writing = 0;
    let expected_total =
        APPENDS as usize + (1..APPENDS).filter(|n| n % 50 == 0).sum::<i64>() as usize;
    while mirror.num_rows() < expected_total {
        let event = tokio::time::timeout(Duration::from_secs(10), updates.next())
            .await
            .expect("the table keeps ticking")
            .unwrap()
            .unwrap();
        if writing.load(Ordering::SeqCst) {
            steps_while_writing += 1;
        }
        mirror = event.apply_to(&mirror).unwrap();
        // Per location, the rows are exactly 0..len in order: a prefix, nothing torn.
        let batch = mirror.concat().unwrap();
        let locs = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let ns = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let mut next: std::collections::HashMap<&str, i64> = Default::default();
        for row in 0..batch.num_rows() {
            let expected = next.entry(locs.value(row)).or_insert(0);
            assert_eq!(
                ns.value(row),
                *expected,
                "location {} row {row}",
                locs.value(row)
            );
            *expected += 1;
        }
    }
    writer.join().unwrap();
    assert!(
        steps_while_writing > 1,
        "the table never ticked while the writer wrote"
    );
    assert_eq!(mirror.num_rows(), expected_total);
    assert_eq!(mirror, live.snapshot().unwrap());
}
