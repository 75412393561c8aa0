//! SQL over stored tables (every store), live tables, and both joined; names, versions and
//! errors.

use std::sync::Arc;

use arrow_array::{Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use tableshare_core::{LiveTable, LiveTableOptions, TableSchema};
use tableshare_query::{QueryContext, QueryError};
use tableshare_storage::StorageError;

use crate::common::{STORES, catalog, floats, ints, sample_rows, sample_table, strings};

// Guards SQL over stored tables on each store: catalog paths as table names (dotted, quoted,
// with `:N` for time travel), filters, aggregates, ordering and limits over several versions.
#[tokio::test]
async fn queries_stored_tables_on_every_store() {
    for kind in STORES {
        let Some((catalog, _dir)) = catalog(kind) else {
            continue;
        };
        let table = sample_table(
            &catalog,
            "shared_demo.sample_data",
            &[(1, "Alice", 42.5), (2, "Bob", 37.8), (3, "Charlie", 91.2)],
        )
        .await;
        table
            .insert(&sample_rows(&[(4, "Diana", 65.3)]))
            .await
            .unwrap();
        let ctx = QueryContext::with_catalog(catalog.clone());

        let rows = ctx
            .sql("SELECT id, name FROM shared_demo.sample_data WHERE value > 40 ORDER BY id")
            .await
            .unwrap();
        assert_eq!(ints(&rows, "id"), [Some(1), Some(3), Some(4)], "{kind}");
        assert_eq!(
            strings(&rows, "name"),
            [
                Some("Alice".into()),
                Some("Charlie".into()),
                Some("Diana".into())
            ]
        );

        let rows = ctx
            .sql(r#"SELECT count(*) AS n, sum(value) AS s FROM "shared_demo.sample_data""#)
            .await
            .unwrap();
        assert_eq!(ints(&rows, "n"), [Some(4)]);
        let s = floats(&rows, "s")[0].unwrap();
        assert!((s - (42.5 + 37.8 + 91.2 + 65.3)).abs() < 1e-9);

        // Version 1 held only the first three rows.
        let rows = ctx
            .sql(r#"SELECT max(id) AS m FROM "shared_demo.sample_data:1""#)
            .await
            .unwrap();
        assert_eq!(ints(&rows, "m"), [Some(3)], "{kind}");

        let rows = ctx
            .sql("SELECT id FROM shared_demo.sample_data LIMIT 2")
            .await
            .unwrap();
        assert_eq!(ints(&rows, "id").len(), 2);

        // A query sees the latest version when it is planned.
        table
            .insert(&sample_rows(&[(5, "Eve", 1.0)]))
            .await
            .unwrap();
        let rows = ctx
            .sql("SELECT count(*) AS n FROM shared_demo.sample_data")
            .await
            .unwrap();
        assert_eq!(ints(&rows, "n"), [Some(5)], "{kind}");
    }
}

// Guards pushdown: a filter on a many-file table is answered from the few files that can hold
// matching rows (the rest are never fetched), and the answer is still exact (DataFusion
// re-applies the filter, including its parts storage cannot evaluate).
#[tokio::test]
async fn filters_prune_files_and_stay_exact() {
    use object_store::memory::InMemory;
    let faults = tableshare_testkit::FaultStore::new(Arc::new(InMemory::new()));
    let catalog = tableshare_storage::Catalog::open(faults.clone(), "catalog");
    let table = sample_table(&catalog, "t", &[]).await;
    for file in 0..8i64 {
        let rows: Vec<(i64, String, f64)> = (0..100)
            .map(|i| {
                let id = file * 100 + i;
                (id, format!("n{id}"), id as f64)
            })
            .collect();
        let rows: Vec<(i64, &str, f64)> = rows.iter().map(|r| (r.0, r.1.as_str(), r.2)).collect();
        table.insert(&sample_rows(&rows)).await.unwrap();
    }
    assert!(
        table.file_count() >= 4,
        "several files: {}",
        table.file_count()
    );
    let ctx = QueryContext::with_catalog(catalog.clone());
    let all = ctx.sql("SELECT sum(value) AS s FROM t").await.unwrap();
    assert_eq!(floats(&all, "s"), [Some((0..800).sum::<i64>() as f64)]);

    faults.reset();
    let rows = ctx
        .sql("SELECT id FROM t WHERE id >= 750 AND id % 10 = 0 ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        ints(&rows, "id"),
        [Some(750), Some(760), Some(770), Some(780), Some(790)]
    );
    let pruned_gets = faults.counts().get;
    faults.reset();
    ctx.sql("SELECT id FROM t WHERE id % 10 = 0").await.unwrap();
    let full_gets = faults.counts().get;
    assert!(
        pruned_gets < full_gets,
        "the pruned scan reads less: {pruned_gets} vs {full_gets} gets"
    );
}

// Guards exact pushdown: a filter storage answers alone (every part `column op literal` with a
// literal of the column's own type) is not evaluated again by DataFusion, and it keeps exactly
// the rows DataFusion's own filter keeps, over nulls, NaN, -0.0 and 0.0; a filter with a part
// storage cannot evaluate is still re-applied. The reference is the same SQL over a DataFusion
// in-memory table of the same rows (no pushdown there).
#[tokio::test]
async fn exact_filters_run_once_and_agree_with_datafusion() {
    use datafusion::datasource::MemTable;
    use datafusion::physical_plan::displayable;
    let (catalog, _dir) = catalog("memory").unwrap();
    let rows = RecordBatch::try_new(
        crate::common::sample_schema(),
        vec![
            Arc::new(arrow_array::Int64Array::from_iter_values(0..8)),
            Arc::new(StringArray::from(vec![
                Some("a"),
                None,
                Some("b"),
                Some("c"),
                None,
                Some("a"),
                Some("d"),
                Some("b"),
            ])),
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                None,
                Some(f64::NAN),
                Some(-0.0),
                Some(0.0),
                Some(-2.0),
                None,
                Some(7.0),
            ])),
        ],
    )
    .unwrap();
    let table = sample_table(&catalog, "t", &[]).await;
    table.insert(&rows).await.unwrap();
    let ctx = QueryContext::with_catalog(catalog.clone());
    let memory = MemTable::try_new(rows.schema(), vec![vec![rows]]).unwrap();
    ctx.register_provider("reference", Arc::new(memory));

    let plan = async |sql: &str| {
        let frame = ctx.dataframe(sql).await.unwrap();
        let physical = frame.create_physical_plan().await.unwrap();
        displayable(physical.as_ref()).indent(true).to_string()
    };
    let exact = [
        "value > 1.0",
        "value >= -2.0",
        "value = 1.5",
        "value < 1.0",
        "value <= -1.0",
        "1.5 < value",
        "id >= 2 AND value < 100.0",
        "name = 'a'",
        "name > 'a' AND id < 7",
    ];
    let inexact = [
        "value > 1.0 OR id < 2",
        "id > 1 AND id % 2 = 0",
        "id > 1 AND name IS NULL",
        "id > 0 AND value >= 0.0",
    ];
    // Comparisons with a float zero stay with DataFusion, which holds -0.0 = 0.0 where
    // storage's total order has -0.0 < 0.0.
    let unpushed = [
        "value > 0.0",
        "value >= 0.0",
        "value = 0.0",
        "value <= -0.0",
        "value < 0.0",
    ];
    for (filter, pushed_exactly) in exact
        .iter()
        .map(|f| (f, true))
        .chain(inexact.iter().chain(&unpushed).map(|f| (f, false)))
    {
        let ours = format!("SELECT id FROM t WHERE {filter} ORDER BY id");
        let theirs = format!("SELECT id FROM reference WHERE {filter} ORDER BY id");
        let expected = ints(&ctx.sql(&theirs).await.unwrap(), "id");
        assert_eq!(
            ints(&ctx.sql(&ours).await.unwrap(), "id"),
            expected,
            "{filter}"
        );
        let shown = plan(&ours).await;
        assert_eq!(
            !shown.contains("FilterExec"),
            pushed_exactly,
            "{filter}:\n{shown}"
        );
    }
    // A limit over an exact filter reaches the scan, and still counts only matching rows.
    let limited = ctx
        .sql("SELECT id FROM t WHERE value >= -2.0 LIMIT 2")
        .await
        .unwrap();
    let reference = ints(
        &ctx.sql("SELECT id FROM reference WHERE value >= -2.0 ORDER BY id")
            .await
            .unwrap(),
        "id",
    );
    assert_eq!(ints(&limited, "id"), reference[..2]);
}

fn quotes_live() -> LiveTable {
    let arrow = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("price", DataType::Float64, true),
    ]));
    let live = LiveTable::new(
        TableSchema::unpartitioned(arrow.clone()).unwrap(),
        LiveTableOptions::default(),
    );
    live.append(
        RecordBatch::try_new(
            arrow,
            vec![
                Arc::new(StringArray::from(vec!["Alice", "Charlie", "Zed"])),
                Arc::new(Float64Array::from(vec![1.5, 2.5, 9.0])),
            ],
        )
        .unwrap(),
    )
    .unwrap();
    live
}

// Guards joins across kinds: a stored table joined with a live table registered under its
// address, and a live table's query seeing its step at the time of the query.
#[tokio::test]
async fn joins_a_stored_table_with_a_live_table() {
    for kind in STORES {
        let Some((catalog, _dir)) = catalog(kind) else {
            continue;
        };
        sample_table(
            &catalog,
            "demo.people",
            &[(1, "Alice", 42.5), (2, "Bob", 37.8), (3, "Charlie", 91.2)],
        )
        .await;
        let live = quotes_live();
        let ctx = QueryContext::with_catalog(catalog);
        ctx.register_live("pq://worker/scope/quotes", live.clone());
        let sql = r#"SELECT p.id, q.price FROM demo.people p
                     JOIN "pq://worker/scope/quotes" q ON p.name = q.name ORDER BY p.id"#;
        let rows = ctx.sql(sql).await.unwrap();
        assert_eq!(ints(&rows, "id"), [Some(1), Some(3)], "{kind}");
        assert_eq!(floats(&rows, "price"), [Some(1.5), Some(2.5)]);

        // The live table ticks: the next query sees Bob's quote.
        live.append(
            RecordBatch::try_new(
                Arc::clone(live.schema().arrow()),
                vec![
                    Arc::new(StringArray::from(vec!["Bob"])),
                    Arc::new(Float64Array::from(vec![7.0])),
                ],
            )
            .unwrap(),
        )
        .unwrap();
        let rows = ctx.sql(sql).await.unwrap();
        assert_eq!(ints(&rows, "id"), [Some(1), Some(2), Some(3)]);
        assert_eq!(floats(&rows, "price"), [Some(1.5), Some(7.0), Some(2.5)]);
    }
}

// Guards the error contract: bad SQL, unknown columns and non-queries are `Sql` (bad input),
// unknown tables `TableNotFound`, and nothing is created by a refused statement.
#[tokio::test]
async fn errors_say_what_is_wrong() {
    let (catalog, _dir) = catalog("memory").unwrap();
    sample_table(&catalog, "t", &[(1, "a", 1.0)]).await;
    let ctx = QueryContext::with_catalog(catalog.clone());
    let cases = [
        "SELEC id FROM t",
        "SELECT nope FROM t",
        "SELECT id FROM t WHERE name > ",
        "CREATE TABLE u AS SELECT * FROM t",
        "INSERT INTO t VALUES (2, 'b', 2.0)",
        "SELECT Id FROM t",
    ];
    for sql in cases {
        let err = ctx.sql(sql).await.unwrap_err();
        assert!(
            matches!(err, QueryError::Sql { .. }) && err.is_bad_input(),
            "{sql}: {err:?}"
        );
    }
    let err = ctx.sql("SELECT * FROM missing.table").await.unwrap_err();
    assert!(
        matches!(&err, QueryError::TableNotFound { name } if name == "missing.table"),
        "{err:?}"
    );
    assert!(!err.is_bad_input());
    assert!(catalog.get("u").await.unwrap().is_none());
    assert_eq!(catalog.open_table("t").await.unwrap().row_count(), 1);
}

// Guards corruption reporting through SQL: a data file whose bytes were damaged on disk fails
// the query with storage's `Corrupt` error naming the file, never wrong rows.
#[tokio::test]
async fn corrupt_data_file_fails_the_query() {
    let (catalog, dir) = catalog("local").unwrap();
    let table = sample_table(&catalog, "t", &[(1, "a", 1.0), (2, "b", 2.0)]).await;
    let root = dir
        .as_ref()
        .unwrap()
        .path()
        .join("catalog/tables")
        .join(table.id().to_string());
    let file = parquet_files(&root).pop().expect("a data file");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let ctx = QueryContext::with_catalog(catalog);
    let err = ctx.sql("SELECT sum(value) AS s FROM t").await.unwrap_err();
    assert!(
        matches!(err, QueryError::Storage(StorageError::Corrupt { .. })),
        "{err:?}"
    );
}

/// The Parquet files under `dir`, at any depth.
fn parquet_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path);
        }
    }
    out
}
