//! Column values are fetched lazily, page by page, only for the columns asked for, several
//! pages at once, cached within the budget, and a cached range is never fetched twice. Counted
//! at the backend, since that is where the cost is.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arrow_array::{Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use tableshare_tds::{MemoryBackend, MemoryTable, ServiceOptions, TableDataService};

use crate::common::{Faulty, next_step, rows};

fn numbers(range: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("n", DataType::Int64, false),
        Field::new("m", DataType::Int64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(range.clone())),
            Arc::new(Int64Array::from_iter_values(range.map(|n| n * 10))),
        ],
    )
    .unwrap()
}

/// A backend with table "numbers": location "a" holding `rows` rows (n, m = 10 n).
fn backend(rows: i64) -> (Faulty, MemoryTable) {
    let memory = MemoryBackend::new();
    let table = memory
        .add_table("numbers", MemoryTable::new(numbers(0..0).schema(), None))
        .unwrap();
    table.add_location("a", None, numbers(0..rows)).unwrap();
    (Faulty::new(memory), table)
}

fn service(faulty: &Faulty, options: ServiceOptions) -> TableDataService<Faulty> {
    TableDataService::with_options(Arc::new(faulty.clone()), options)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_asked_columns_are_fetched_a_page_at_a_time() {
    let (faulty, _table) = backend(10);
    let service = service(&faulty, ServiceOptions::default().with_page_size(4));
    let table = service
        .make_table_columns("numbers".into(), false, &["n"])
        .await
        .unwrap();
    let mut calls = faulty.calls();
    calls.sort();
    assert_eq!(
        calls,
        [
            ("a".to_string(), "n".to_string(), 0, 4, 4),
            ("a".to_string(), "n".to_string(), 4, 4, 4),
            ("a".to_string(), "n".to_string(), 8, 2, 2),
        ]
    );
    let batch = rows(&table.live());
    assert_eq!(batch.num_columns(), 1);
    assert_eq!(
        batch.column(0).as_ref(),
        &Int64Array::from_iter_values(0..10)
    );

    // A second table over the same column costs nothing: every page is cached.
    let again = service
        .make_table_columns("numbers".into(), false, &["n"])
        .await
        .unwrap();
    assert_eq!(faulty.calls().len(), 3);
    assert_eq!(rows(&again.live()), batch);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growth_fetches_only_the_new_rows() {
    let (faulty, table) = backend(10);
    let service = service(&faulty, ServiceOptions::default().with_page_size(4));
    let made = service.make_table("numbers".into(), true).await.unwrap();
    let live = made.live();
    table.append("a", numbers(10..13)).unwrap();
    next_step(&live, 1).await;
    assert_eq!(rows(&live), numbers(0..13));
    // No row of any column was asked for twice.
    let calls = faulty.calls();
    for column in ["n", "m"] {
        let mut asked: Vec<u64> = calls
            .iter()
            .filter(|call| call.1 == column)
            .flat_map(|call| call.2..call.2 + call.3 as u64)
            .collect();
        asked.sort_unstable();
        assert_eq!(
            asked,
            (0..13).collect::<Vec<_>>(),
            "column {column}: {calls:?}"
        );
    }
    // The partly filled page 2 (rows 8..10) was extended by 10..12, page 3 fetched for 12.
    assert!(
        calls.contains(&("a".into(), "n".into(), 10, 2, 2)),
        "{calls:?}"
    );
    assert!(
        calls.contains(&("a".into(), "n".into(), 12, 1, 1)),
        "{calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_bounds_the_cache() {
    let (faulty, _table) = backend(1000);
    let budget = 4096;
    let service = service(
        &faulty,
        ServiceOptions::default()
            .with_page_size(100)
            .with_cache_budget(budget),
    );
    let first = service.make_table("numbers".into(), false).await.unwrap();
    assert!(
        service.cached_bytes() <= budget,
        "{}",
        service.cached_bytes()
    );
    assert!(service.cached_bytes() > 0);
    let calls = faulty.calls().len();
    assert_eq!(calls, 20, "ten pages of two columns");
    // Evicted pages are fetched again, correctly.
    let second = service.make_table("numbers".into(), false).await.unwrap();
    assert!(faulty.calls().len() > calls);
    assert_eq!(rows(&second.live()), rows(&first.live()));

    // A budget of zero caches nothing.
    let (faulty, _table) = backend(10);
    let service = self::service(&faulty, ServiceOptions::default().with_cache_budget(0));
    service.make_table("numbers".into(), false).await.unwrap();
    service.make_table("numbers".into(), false).await.unwrap();
    assert_eq!(faulty.calls().len(), 4);
    assert_eq!(service.cached_bytes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_fetched_concurrently_within_the_limit() {
    let (mut faulty, _table) = backend(80);
    faulty.delay = Duration::from_millis(30);
    let service = service(
        &faulty,
        ServiceOptions::default()
            .with_page_size(10)
            .with_concurrency(4),
    );
    let started = tokio::time::Instant::now();
    let table = service
        .make_table_columns("numbers".into(), false, &["n"])
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let most = faulty.max_in_flight.load(Ordering::SeqCst);
    assert!(most > 1, "pages were fetched one at a time");
    assert!(most <= 4, "{most} calls at once, over the limit of 4");
    assert_eq!(faulty.calls().len(), 8);
    assert!(elapsed < Duration::from_millis(8 * 30), "{elapsed:?}");
    assert_eq!(rows(&table.live()).num_rows(), 80);
}

/// Two tables made at once over the same column race for the same pages; the per-page lock
/// makes one fetch serve both. The overlap of the two makes is asserted, so the race happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_readers_share_one_fetch_per_page() {
    let (mut faulty, _table) = backend(40);
    faulty.delay = Duration::from_millis(20);
    let service = service(&faulty, ServiceOptions::default().with_page_size(10));
    let make = |service: TableDataService<Faulty>| async move {
        let started = tokio::time::Instant::now();
        let table = service
            .make_table_columns("numbers".into(), false, &["n"])
            .await
            .unwrap();
        (started, tokio::time::Instant::now(), table)
    };
    let (a, b) = tokio::join!(
        tokio::spawn(make(service.clone())),
        tokio::spawn(make(service.clone()))
    );
    let ((a_start, a_end, a), (b_start, b_end, b)) = (a.unwrap(), b.unwrap());
    assert!(
        a_start < b_end && b_start < a_end,
        "the two makes did not overlap"
    );
    assert_eq!(faulty.calls().len(), 4, "{:?}", faulty.calls());
    assert_eq!(rows(&a.live()), rows(&b.live()));
}

// Guards the scan's cost: a step hands the table its pages as they are, one table chunk per
// page, instead of joining a location's pages (and then every location) into one batch. Pages
// of 50,000 rows show it: a joined step would be cut at the table's own chunk size (65,536).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_keeps_the_pages_as_table_chunks() {
    let (faulty, _table) = backend(300_000);
    let service = service(&faulty, ServiceOptions::default().with_page_size(50_000));
    let table = service.make_table("numbers".into(), false).await.unwrap();
    let snapshot = table.live().snapshot().unwrap();
    let sizes: Vec<usize> = snapshot.chunks().map(|chunk| chunk.num_rows()).collect();
    assert_eq!(sizes, vec![50_000; 6]);
    assert_eq!(rows(&table.live()), numbers(0..300_000));
}
