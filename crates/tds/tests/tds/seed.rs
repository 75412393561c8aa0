//! Seed 002's usage scenario, step by step: GOOG/NYSE, MSFT/BZX and MSFT/BZY with the seed's
//! two rows of every column type; a refreshing table (6 rows, Ticker and Exchange first); then
//! GOOG/BZX added and two more rows appended to MSFT/BZX and MSFT/BZY (12 rows). Exact rows and
//! partition values are checked after every step, for the whole table and the partitioned one.
//! Also guards the seed's own bug: its static `make_table` fails; ours works.

use tableshare_tds::TableDataService;

use crate::common::{add_ticker_data, expected_rows, next_step, rows, seed_backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_usage_refreshing_whole_table_ticks_step_by_step() {
    let (backend, sample) = seed_backend();
    add_ticker_data(&sample, "GOOG", "NYSE");
    add_ticker_data(&sample, "MSFT", "BZX");
    add_ticker_data(&sample, "MSFT", "BZY");
    let service = TableDataService::new(backend);
    let table = service.make_table("sample".into(), true).await.unwrap();
    let live = table.live();

    let schema = live.schema();
    assert_eq!(schema.partition_columns(), ["Ticker", "Exchange"]);
    assert_eq!(schema.arrow().field(0).name(), "Ticker");
    assert_eq!(schema.arrow().field(1).name(), "Exchange");
    assert_eq!(live.step(), 1, "the existing locations arrive as one step");
    assert_eq!(
        rows(&live),
        expected_rows(&[("GOOG", "NYSE", 1), ("MSFT", "BZX", 1), ("MSFT", "BZY", 1)])
    );
    assert_eq!(rows(&live).num_rows(), 6);

    // A new location arrives with its rows, in one step.
    add_ticker_data(&sample, "GOOG", "BZX");
    let step = next_step(&live, 1).await;
    assert_eq!(step, 2);
    assert_eq!(
        rows(&live),
        expected_rows(&[
            ("GOOG", "NYSE", 1),
            ("MSFT", "BZX", 1),
            ("MSFT", "BZY", 1),
            ("GOOG", "BZX", 1)
        ])
    );

    add_ticker_data(&sample, "MSFT", "BZX");
    next_step(&live, 2).await;
    assert_eq!(
        rows(&live),
        expected_rows(&[
            ("GOOG", "NYSE", 1),
            ("MSFT", "BZX", 2),
            ("MSFT", "BZY", 1),
            ("GOOG", "BZX", 1)
        ])
    );

    add_ticker_data(&sample, "MSFT", "BZY");
    next_step(&live, 3).await;
    let all = rows(&live);
    assert_eq!(all.num_rows(), 12);
    assert_eq!(
        all,
        expected_rows(&[
            ("GOOG", "NYSE", 1),
            ("MSFT", "BZX", 2),
            ("MSFT", "BZY", 2),
            ("GOOG", "BZX", 1)
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_usage_static_table_holds_what_was_there() {
    let (backend, sample) = seed_backend();
    add_ticker_data(&sample, "GOOG", "NYSE");
    add_ticker_data(&sample, "MSFT", "BZX");
    add_ticker_data(&sample, "MSFT", "BZY");
    let service = TableDataService::new(backend);
    let table = service.make_table("sample".into(), false).await.unwrap();
    let live = table.live();
    let expected = expected_rows(&[("GOOG", "NYSE", 1), ("MSFT", "BZX", 1), ("MSFT", "BZY", 1)]);
    assert_eq!(rows(&live), expected);

    // A static table does not move when the backend does.
    add_ticker_data(&sample, "GOOG", "BZX");
    add_ticker_data(&sample, "MSFT", "BZX");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(live.step(), 1);
    assert_eq!(rows(&live), expected);
    assert_eq!(
        sample.subscriber_count(),
        0,
        "a static table subscribes to nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_usage_partitioned_constituents_keyed_by_partition_values() {
    let (backend, sample) = seed_backend();
    add_ticker_data(&sample, "GOOG", "NYSE");
    add_ticker_data(&sample, "MSFT", "BZX");
    add_ticker_data(&sample, "MSFT", "BZY");
    let service = TableDataService::new(backend);
    let table = service
        .make_partitioned_table("sample".into(), true)
        .await
        .unwrap();
    let keys = |table: &tableshare_tds::PartitionedTable<_>| -> Vec<Vec<String>> {
        table
            .constituents()
            .iter()
            .map(|constituent| constituent.key().to_vec())
            .collect()
    };
    assert_eq!(
        keys(&table),
        [["GOOG", "NYSE"], ["MSFT", "BZX"], ["MSFT", "BZY"]]
    );
    for (ticker, exchange) in [("GOOG", "NYSE"), ("MSFT", "BZX"), ("MSFT", "BZY")] {
        let constituent = table.constituent(&[ticker, exchange]).unwrap();
        assert_eq!(constituent.location(), format!("{ticker}:{exchange}"));
        assert_eq!(
            constituent.partition_values().unwrap(),
            &crate::common::partition_values(ticker, exchange)
        );
        assert_eq!(
            rows(constituent.table()),
            expected_rows(&[(ticker, exchange, 1)])
        );
    }
    let merged = table.merged();
    assert_eq!(rows(&merged).num_rows(), 6);

    add_ticker_data(&sample, "GOOG", "BZX");
    next_step(&merged, 1).await;
    assert_eq!(
        keys(&table),
        [
            ["GOOG", "NYSE"],
            ["MSFT", "BZX"],
            ["MSFT", "BZY"],
            ["GOOG", "BZX"]
        ],
        "the new location's constituent is there when the merged table ticks"
    );
    let goog_bzx = table.constituent(&["GOOG", "BZX"]).unwrap();
    assert_eq!(rows(goog_bzx.table()), expected_rows(&[("GOOG", "BZX", 1)]));

    add_ticker_data(&sample, "MSFT", "BZX");
    add_ticker_data(&sample, "MSFT", "BZY");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while rows(&merged).num_rows() < 12 {
        assert!(tokio::time::Instant::now() < deadline, "merged table stuck");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert_eq!(
        rows(&merged),
        expected_rows(&[
            ("GOOG", "NYSE", 1),
            ("MSFT", "BZX", 2),
            ("MSFT", "BZY", 2),
            ("GOOG", "BZX", 1)
        ])
    );
    for (ticker, exchange, copies) in [
        ("GOOG", "NYSE", 1),
        ("MSFT", "BZX", 2),
        ("MSFT", "BZY", 2),
        ("GOOG", "BZX", 1),
    ] {
        let constituent = table.constituent(&[ticker, exchange]).unwrap();
        assert_eq!(
            rows(constituent.table()),
            expected_rows(&[(ticker, exchange, copies)]),
            "constituent {ticker}/{exchange}"
        );
    }
}
