//! Cross-crate: SQL over a partitioned data-service table (tableshare-tds through
//! tableshare-query, registered by the facade) reads only the locations its filters on
//! partitioning columns keep, answers exactly as over the merged table, and keeps answering
//! right as the table grows a location or its list of locations lags the table.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design: the panic is the test failure"
)]

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use tableshare::Tableshare;
use tableshare::query::datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};
use tableshare::tds::{MemoryBackend, MemoryTable, TableDataService};

fn data_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![Field::new(
        "price",
        DataType::Int64,
        false,
    )]))
}

fn partitioning() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("Ticker", DataType::Utf8, false),
        Field::new("Exchange", DataType::Utf8, false),
    ]))
}

fn add(table: &MemoryTable, ticker: &str, exchange: &str, prices: &[i64]) {
    let values = RecordBatch::try_new(
        partitioning(),
        vec![
            Arc::new(StringArray::from(vec![ticker])) as ArrayRef,
            Arc::new(StringArray::from(vec![exchange])),
        ],
    )
    .unwrap();
    let rows = RecordBatch::try_new(
        data_schema(),
        vec![Arc::new(Int64Array::from(prices.to_vec())) as ArrayRef],
    )
    .unwrap();
    table
        .add_location(format!("{ticker}:{exchange}"), Some(values), rows)
        .unwrap();
}

/// How many parts the scan of `sql`'s plan reads (the partitioned source's partitions).
async fn parts_read(session: &Tableshare, sql: &str) -> usize {
    let plan = session
        .query_context()
        .dataframe(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    fn scan_parts(plan: &Arc<dyn ExecutionPlan>) -> Option<usize> {
        if plan.name() == "StreamingTableExec" {
            return Some(plan.output_partitioning().partition_count());
        }
        plan.children().into_iter().find_map(scan_parts)
    }
    scan_parts(&plan).unwrap()
}

async fn total(session: &Tableshare, sql: &str) -> i64 {
    let batches = session.query_context().sql(sql).await.unwrap();
    let column = batches[0].column(0);
    column
        .as_any()
        .downcast_ref::<Int64Array>()
        .map_or(0, |sums| if sums.is_null(0) { 0 } else { sums.value(0) })
}

// Guards partition pruning: a filter on partitioning columns reads only the locations it keeps
// (counted in the plan), a filter on data columns or none reads every one, every answer equals
// the merged table's, and a location that arrives later is pruned or read by the same rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_on_partition_columns_read_only_their_locations() {
    let home = tempfile::tempdir().unwrap();
    let session = Tableshare::open(home.path()).unwrap();
    let backend = MemoryBackend::new();
    let sample = MemoryTable::new(data_schema(), Some(partitioning()));
    backend.add_table("sample", sample.clone()).unwrap();
    add(&sample, "GOOG", "NYSE", &[1, 2]);
    add(&sample, "MSFT", "BZX", &[10, 20]);
    add(&sample, "MSFT", "BZY", &[100, 200]);
    let service = TableDataService::new(backend);
    let table = Arc::new(
        service
            .make_partitioned_table("sample".into(), true)
            .await
            .unwrap(),
    );
    session.register_partitioned("sample", Arc::clone(&table));
    session
        .query_context()
        .register_live("merged", table.merged());

    let msft = r#"SELECT sum(price) FROM sample WHERE "Ticker" = 'MSFT'"#;
    assert_eq!(total(&session, msft).await, 330);
    assert_eq!(parts_read(&session, msft).await, 2);
    let one = r#"SELECT sum(price) FROM sample WHERE "Ticker" = 'MSFT' AND "Exchange" = 'BZY'"#;
    assert_eq!(total(&session, one).await, 300);
    assert_eq!(parts_read(&session, one).await, 1);
    let none = r#"SELECT sum(price) FROM sample WHERE "Ticker" = 'IBM'"#;
    assert_eq!(total(&session, none).await, 0);
    assert_eq!(parts_read(&session, none).await, 0);
    // Not prunable: a data column, an OR across a data column, no filter.
    for (sql, expected) in [
        ("SELECT sum(price) FROM sample WHERE price > 5", 330),
        (
            r#"SELECT sum(price) FROM sample WHERE "Ticker" = 'GOOG' OR price = 100"#,
            103,
        ),
        ("SELECT sum(price) FROM sample", 333),
    ] {
        assert_eq!(total(&session, sql).await, expected, "{sql}");
        assert_eq!(parts_read(&session, sql).await, 3, "{sql}");
        let merged = sql.replace("FROM sample", "FROM merged");
        assert_eq!(total(&session, &merged).await, expected, "{merged}");
    }

    // A parts list that lags the table (a location announced or retracted between the list
    // and the snapshot a query takes): rows no listed part covers are still read, never lost.
    let lagging: tableshare::query::PartList = {
        let table = Arc::clone(&table);
        Arc::new(move || {
            table
                .constituents()
                .into_iter()
                .filter(|c| c.location() != "MSFT:BZY")
                .map(|c| tableshare::query::Part {
                    values: c.partition_values().cloned(),
                    keys: c.merged_keys(),
                })
                .collect()
        })
    };
    session
        .query_context()
        .register_partitioned("lagging", table.merged(), lagging);
    let lagging_msft = msft.replace("FROM sample", "FROM lagging");
    assert_eq!(total(&session, &lagging_msft).await, 330);
    assert_eq!(parts_read(&session, &lagging_msft).await, 2);

    // A new location: the same filter now reads it too (and still not GOOG's).
    add(&sample, "MSFT", "NYSE", &[1000]);
    let merged = table.merged();
    for _ in 0..100 {
        if merged.snapshot().unwrap().num_rows() == 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(merged.snapshot().unwrap().num_rows(), 7);
    assert_eq!(total(&session, msft).await, 1330);
    assert_eq!(parts_read(&session, msft).await, 3);
}
