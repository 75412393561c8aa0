//! Streaming scans against the whole-file read path (`TableDir::scan`, which decodes every
//! file whole): over a history with deletion vectors, updates that leave overlapping files,
//! compaction, and renamed, added and dropped columns, every version read with projections,
//! filters, key ranges, limits and batch sizes must give exactly the rows the whole-file path
//! gives after applying the same options, whether the manifest lists range hashes or not
//! (entries written before them are read whole).

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use futures::TryStreamExt;
use tableshare_core::{RowSet, TableSchema};

use super::*;
use crate::{Catalog, CatalogOptions, Selection};

/// Rows `ids` of the first schema: `id`, `name = n{id % 100}`, `value = id / 2`.
fn rows(ids: Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())),
            Arc::new(StringArray::from_iter_values(
                ids.clone().map(|i| format!("n{}", i % 100)),
            )),
            Arc::new(Float64Array::from_iter_values(ids.map(|i| i as f64 / 2.0))),
        ],
    )
    .unwrap()
}

/// The reference: `all` (the whole-file rows of a version) with `options` applied by hand.
fn expected(all: &crate::read::Rows, options: &ScanOptions) -> (Vec<u64>, Vec<ArrayRef>) {
    let schema = all.batch.schema();
    let mut keep: Vec<bool> = all.keys.iter().map(|k| options.keys.contains(k)).collect();
    for p in &options.filters {
        let bound = p.bind("t", &schema).unwrap();
        let (i, _) = schema.column_with_name(p.column()).unwrap();
        let matches = bound.evaluate(all.batch.column(i)).unwrap();
        for (row, keep) in keep.iter_mut().enumerate() {
            *keep &= matches.is_valid(row) && matches.value(row);
        }
    }
    let mut picked: Vec<usize> = (0..keep.len()).filter(|&i| keep[i]).collect();
    if let Some(limit) = options.limit {
        picked.truncate(limit);
    }
    let indices: Vec<u32> = picked.iter().map(|&i| i as u32).collect();
    let batch = crate::read::take_rows(&all.batch, &indices).unwrap();
    let names: Vec<String> = match &options.columns {
        Some(c) => c.clone(),
        None => schema.fields().iter().map(|f| f.name().clone()).collect(),
    };
    let columns = names
        .iter()
        .map(|n| Arc::clone(batch.column(schema.index_of(n).unwrap())))
        .collect();
    (picked.iter().map(|&i| all.keys[i]).collect(), columns)
}

// Guards streaming reads against the whole-file path on every version of a varied history
// (see the module docs), including the order of overlapping files and pruning by statistics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_matches_whole_file_reads() {
    // Files of at most 100,000 rows (two row groups); only files under 64 KiB are small.
    let options = CatalogOptions::default()
        .with_file_limits(100_000, 1 << 30)
        .with_compaction(64 << 10, 64);
    let c =
        Catalog::open_with_options(Arc::new(object_store::memory::InMemory::new()), "", options);
    let first = rows(0..0).schema();
    let t = c
        .create_table("t", &TableSchema::unpartitioned(first).unwrap())
        .await
        .unwrap();
    t.insert(&rows(0..150_000)).await.unwrap();
    t.insert(&rows(150_000..151_000)).await.unwrap();
    let deleted: RowSet = (0..1000).filter(|k| k % 7 == 0).collect();
    t.delete(&Selection::Keys(deleted)).await.unwrap();
    let values = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "value",
            DataType::Float64,
            true,
        )])),
        vec![Arc::new(Float64Array::from(vec![-1.0; 10]))],
    )
    .unwrap();
    let updated: RowSet = (15..20).chain(149_998..150_003).collect();
    t.update(&Selection::Keys(updated), &values).await.unwrap();
    t.rename_column("name", "label").await.unwrap();
    t.add_column(Field::new("extra", DataType::Int32, true))
        .await
        .unwrap();
    let extra = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("extra", DataType::Int32, true),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(-10..0)),
            Arc::new(Int32Array::from_iter_values(0..10)),
        ],
    )
    .unwrap();
    t.insert(&extra).await.unwrap();
    t.compact().await.unwrap();
    t.drop_column("value").await.unwrap();
    let latest = t.version();
    let files = t.current().manifest.files.clone();
    assert!(
        files.iter().any(|a| files
            .iter()
            .any(|b| a.path != b.path && a.key_min <= b.key_max && b.key_min <= a.key_max)),
        "the history leaves overlapping files: {files:?}"
    );
    for version in 1..=latest {
        let loaded = t.load_version(version).await.unwrap();
        let all = t.store.scan(&loaded).await.unwrap();
        let names: Vec<String> = loaded
            .manifest
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let text = if names.contains(&"label".to_owned()) {
            "label"
        } else {
            "name"
        };
        let mut cases = vec![
            ScanOptions::default(),
            ScanOptions::default().columns(names.iter().rev().cloned()),
            ScanOptions::default()
                .filter(Predicate::gt_eq("id", 149_990))
                .limit(5),
            ScanOptions::default()
                .filter(Predicate::eq(text, "n3"))
                .batch_size(100),
            ScanOptions::default().key_range(5..30).batch_size(3),
            ScanOptions::default()
                .key_range(140_000..150_005)
                .columns(["id"]),
            ScanOptions::default()
                .filter(Predicate::lt("id", 0))
                .columns([text]),
            ScanOptions::default().limit(1),
            ScanOptions::default().limit(0),
        ];
        if names.contains(&"value".to_owned()) {
            cases.push(
                ScanOptions::default()
                    .filter(Predicate::lt("value", 10))
                    .filter(Predicate::gt("id", 3)),
            );
        }
        if names.contains(&"extra".to_owned()) {
            cases.push(
                ScanOptions::default()
                    .filter(Predicate::gt_eq("extra", 5))
                    .columns(["extra", "id"]),
            );
        }
        // The same version as an old manifest would list it (no range hashes): its files are
        // read and verified whole, and must stream the same rows.
        let mut old = (*loaded.manifest).clone();
        old.files.iter_mut().for_each(|f| f.tail = None);
        let old = Loaded::new(Arc::new(old), loaded.hash.clone());
        let runs = cases
            .into_iter()
            .flat_map(|options| [(&loaded, options.clone()), (&old, options)]);
        for (loaded, options) in runs {
            let (keys, columns) = expected(&all, &options);
            let stream = scan_stream(&t.store, loaded, options.clone()).unwrap();
            let schema = stream.schema();
            let batches: Vec<ScanBatch> = stream.try_collect().await.unwrap();
            let got_keys: Vec<u64> = batches
                .iter()
                .flat_map(|b| b.keys.iter().copied())
                .collect();
            assert_eq!(got_keys, keys, "version {version} {options:?}");
            assert!(
                batches
                    .iter()
                    .all(|b| b.batch.num_rows() <= options.batch_size && b.batch.num_rows() > 0)
            );
            let parts: Vec<RecordBatch> = batches.into_iter().map(|b| b.batch).collect();
            let got = arrow_select::concat::concat_batches(&schema, &parts).unwrap();
            assert_eq!(
                got.num_columns(),
                columns.len(),
                "version {version} {options:?}"
            );
            for (g, e) in got.columns().iter().zip(&columns) {
                assert_eq!(g.to_data(), e.to_data(), "version {version} {options:?}");
            }
        }
    }
}
