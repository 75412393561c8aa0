//! Streaming scans through the public API: what they read from the store (counted with
//! `FaultStore`), and what they accept. Row-for-row equality with the whole-file read path over
//! a varied history is checked inside the crate (`scan::equivalence`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use common::{ids, sample_rows, sample_schema, table_schema};
use futures::TryStreamExt;
use object_store::memory::InMemory;
use tableshare_core::RowSet;
use tableshare_storage::{
    Catalog, CatalogOptions, Predicate, ScanBatch, ScanOptions, Selection, StorageError, Table,
};
use tableshare_testkit::{FaultStore, Op};

/// `n` rows of the sample schema with `id = key`.
fn many_rows(n: i64) -> RecordBatch {
    RecordBatch::try_new(
        sample_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(0..n)),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("n{i}")),
            )),
            Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64))),
        ],
    )
    .unwrap()
}

/// Reads a stream and returns the ids it yielded and the GETs it made.
async fn read(store: &FaultStore, t: &Table, options: ScanOptions) -> (Vec<i64>, u64) {
    store.reset();
    let batches: Vec<ScanBatch> = t.scan_stream(options).unwrap().try_collect().await.unwrap();
    let got: Vec<i64> = batches.iter().flat_map(|b| ids(&b.batch)).collect();
    let keys: Vec<u64> = batches.iter().flat_map(|b| b.keys.clone()).collect();
    assert_eq!(
        keys,
        got.iter().map(|i| *i as u64).collect::<Vec<_>>(),
        "keys match ids"
    );
    let requests = store.requests();
    assert!(
        requests.iter().all(|r| r.op == Op::Get),
        "a scan only GETs: {requests:?}"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.path.contains("/data/") || r.path.contains("/dv/")),
        "a scan reads data files and deletion vectors only: {requests:?}"
    );
    (got, store.counts().get)
}

// Guards pruning: a file of five row groups is read with one GET for its tail plus one per row
// group wanted, so a limit, a filter on statistics or a key range fetches one row group, a
// filter no row group can match fetches none, and the whole file takes six.
#[tokio::test]
async fn limits_filters_and_key_ranges_fetch_only_needed_row_groups() {
    let store = FaultStore::new(Arc::new(InMemory::new()));
    let c = Catalog::open(store.clone(), "");
    let t = c
        .create_table("t", &table_schema(sample_schema()))
        .await
        .unwrap();
    let n = 4 * 65_536 + 1_000;
    t.insert(&many_rows(n)).await.unwrap();
    assert_eq!(t.file_count(), 1);
    type Case = (&'static str, ScanOptions, Vec<i64>, u64);
    let cases: Vec<Case> = vec![
        ("everything", ScanOptions::default(), (0..n).collect(), 6),
        (
            "one column",
            ScanOptions::default().columns(["id"]),
            (0..n).collect(),
            6,
        ),
        (
            "limit",
            ScanOptions::default().limit(10),
            (0..10).collect(),
            2,
        ),
        (
            "filter at the end",
            ScanOptions::default().filter(Predicate::gt_eq("id", n - 5)),
            (n - 5..n).collect(),
            2,
        ),
        (
            "string filter nothing matches",
            // Every name starts with "n", so every row group's max is below "o".
            ScanOptions::default().filter(Predicate::gt("name", "o")),
            vec![],
            1,
        ),
        (
            "filter nothing matches",
            ScanOptions::default().filter(Predicate::lt("value", -1.0)),
            vec![],
            1,
        ),
        (
            "key range",
            ScanOptions::default().key_range(70_000..70_003),
            vec![70_000, 70_001, 70_002],
            2,
        ),
        (
            "key range across groups",
            ScanOptions::default()
                .key_range(65_530..65_540)
                .batch_size(4),
            (65_530..65_540).collect(),
            3,
        ),
        ("limit zero", ScanOptions::default().limit(0), vec![], 0),
    ];
    for (name, options, expected, gets) in cases {
        let (got, made) = read(&store, &t, options).await;
        assert_eq!(got, expected, "{name}");
        assert_eq!(made, gets, "{name}: GETs");
    }
    // A row group whose rows are all deleted is not fetched: after deleting the first 70,000
    // keys, ten rows take the tail, the deletion vector and the second row group only.
    let gone: RowSet = (0..70_000).collect();
    t.delete(&Selection::Keys(gone)).await.unwrap();
    let (got, made) = read(&store, &t, ScanOptions::default().limit(10)).await;
    assert_eq!(got, (70_000..70_010).collect::<Vec<_>>());
    assert_eq!(made, 3, "tail, deletion vector, one row group");
}

// Guards early stopping across files: with many files, a limited read opens only the first
// files (the first run, plus at most the next ones being opened ahead), not every file.
#[tokio::test]
async fn a_limit_stops_before_later_files() {
    let store = FaultStore::new(Arc::new(InMemory::new()));
    let options = CatalogOptions::default().with_compaction(8 << 20, usize::MAX);
    let c = Catalog::open_with_options(store.clone(), "", options);
    let t = c
        .create_table("t", &table_schema(sample_schema()))
        .await
        .unwrap();
    for i in 0..20 {
        t.insert(&sample_rows(&[(2 * i, "a", 0.0), (2 * i + 1, "b", 1.0)]))
            .await
            .unwrap();
    }
    assert_eq!(t.file_count(), 20);
    let (all, full) = read(&store, &t, ScanOptions::default()).await;
    assert_eq!(all, (0..40).collect::<Vec<_>>());
    assert_eq!(full, 40, "a tail and a row group per file");
    let (first, limited) = read(&store, &t, ScanOptions::default().limit(3)).await;
    assert_eq!(first, vec![0, 1, 2]);
    assert!(limited <= 6, "{limited} GETs for 3 rows of 20 files");
}

// Guards the API contract: the stream's schema is the projection (in the order asked, under
// the names of the version read), bad columns and filters are refused before anything is
// read, and an empty table streams nothing.
#[tokio::test]
async fn options_are_checked_and_schemas_follow_the_version() {
    let c = Catalog::in_memory();
    let t = c
        .create_table("t", &table_schema(sample_schema()))
        .await
        .unwrap();
    let empty = t.scan_stream(ScanOptions::default()).unwrap();
    assert_eq!(empty.schema(), sample_schema());
    assert_eq!(empty.version(), 0);
    assert_eq!(empty.try_collect::<Vec<_>>().await.unwrap().len(), 0);
    let v1 = t
        .insert(&sample_rows(&[(1, "a", 1.0), (2, "b", 2.0)]))
        .await
        .unwrap();
    t.rename_column("name", "label").await.unwrap();
    let projected = t
        .scan_stream(ScanOptions::default().columns(["value", "label"]))
        .unwrap();
    let names: Vec<String> = projected
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, vec!["value", "label"]);
    let old = t
        .scan_stream_at(v1, ScanOptions::default().columns(["name"]))
        .await
        .unwrap();
    let rows = old.concat().await.unwrap();
    assert_eq!(rows.keys, vec![0, 1]);
    assert_eq!(rows.batch.schema().field(0).name(), "name");
    let refused = [
        ScanOptions::default().columns(["missing"]),
        ScanOptions::default().columns(["id", "id"]),
        ScanOptions::default().filter(Predicate::eq("missing", 1)),
        ScanOptions::default().filter(Predicate::eq("id", "text")),
        ScanOptions::default().filter(Predicate::eq("label", 1.5)),
    ];
    for options in refused {
        let err = t.scan_stream(options.clone()).unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidArgument { .. }),
            "{options:?}: {err:?}"
        );
    }
}
