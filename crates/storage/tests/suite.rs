//! The behavioural suite of the storage engine: every case is a plain `async fn case(&Catalog)`
//! run by [`run_all`] on each supported store (memory, local disk, S3 and Azure blobs), so no
//! store can skip a case. S3 and Azure are the local servers `cargo xtask ci` starts (moto and
//! Azurite); plain `cargo test` has none and says so (see `common`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;
#[path = "suite/history.rs"]
mod history;

use std::sync::Arc;

use arrow_array::types::Float32Type;
use arrow_array::{
    Array, BinaryArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int32Array,
    Int64Array, ListArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use common::{ids, sample_rows, sample_schema, table_schema};
use history::{compaction, diff_between_versions, gc_rules, live_follows_commits};
use tableshare_core::RowSet;
use tableshare_storage::{
    Catalog, EntryKind, Operation, Selection, StorageError, ViewDefinition, json_field,
};

async fn run_all(catalog: &Catalog) {
    catalog_paths(catalog).await;
    table_lifecycle(catalog).await;
    all_types_round_trip(catalog).await;
    update_delete_by_mask_and_keys(catalog).await;
    schema_evolution(catalog).await;
    revert_and_history(catalog).await;
    read_only_handles(catalog).await;
    diff_between_versions(catalog).await;
    live_follows_commits(catalog).await;
    gc_rules(catalog).await;
    rows_through_serde(catalog).await;
    compaction(catalog).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_on_memory() {
    run_all(&Catalog::in_memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    run_all(&Catalog::open_local(dir.path()).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_on_s3() {
    if let Some(store) = common::s3_store() {
        run_all(&Catalog::open(store, "")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_on_azure() {
    if let Some(store) = common::azure_store() {
        run_all(&Catalog::open(store, "")).await;
    }
}

// Guards the catalog: dirs, nesting, list (recursive or not), move, drop with/without force,
// and the error kinds the CLI maps.
async fn catalog_paths(c: &Catalog) {
    c.create_dir("cp").await.unwrap();
    c.create_dir("cp.sub").await.unwrap();
    let t = c
        .create_table("cp.sub.t", &table_schema(sample_schema()))
        .await
        .unwrap();
    assert_eq!(t.version(), 0);
    c.create_view(
        "cp.v",
        ViewDefinition::new("cp.sub.t")
            .with_column("double", "value * 2")
            .with_filter("id > 1"),
    )
    .await
    .unwrap();
    type Check = (&'static str, bool, Vec<(&'static str, EntryKind)>);
    let cases: Vec<Check> = vec![
        (
            "cp",
            false,
            vec![("cp.sub", EntryKind::Directory), ("cp.v", EntryKind::View)],
        ),
        (
            "cp",
            true,
            vec![
                ("cp.sub", EntryKind::Directory),
                ("cp.sub.t", EntryKind::Table),
                ("cp.v", EntryKind::View),
            ],
        ),
        ("cp.sub", false, vec![("cp.sub.t", EntryKind::Table)]),
    ];
    for (dir, recursive, expected) in cases {
        let got: Vec<(String, EntryKind)> = c
            .list(dir, recursive)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.path, e.kind))
            .collect();
        let expected: Vec<(String, EntryKind)> = expected
            .into_iter()
            .map(|(p, k)| (p.to_owned(), k))
            .collect();
        assert_eq!(got, expected, "list {dir} recursive={recursive}");
    }
    assert_eq!(
        c.view("cp.v").await.unwrap().computed_columns,
        vec![("double".to_owned(), "value * 2".to_owned())]
    );
    // Errors, data-driven.
    let errors: Vec<(&str, StorageError)> = vec![
        ("create existing", c.create_dir("cp").await.unwrap_err()),
        (
            "table in missing dir",
            c.create_table("nope.t", &table_schema(sample_schema()))
                .await
                .unwrap_err(),
        ),
        ("bad name", c.create_dir("1bad").await.unwrap_err()),
        ("drop non-empty", c.drop_dir("cp", false).await.unwrap_err()),
        ("open dir", c.open_table("cp.sub").await.unwrap_err()),
        (
            "open missing",
            c.open_table("cp.missing").await.unwrap_err(),
        ),
        ("bad version", c.open_table("cp.sub.t:x").await.unwrap_err()),
        (
            "drop dir as table",
            c.drop_table("cp.sub", false).await.unwrap_err(),
        ),
    ];
    for (name, e) in errors {
        let ok = match name {
            "create existing" => {
                matches!(e, StorageError::AlreadyExists { ref path } if path == "cp")
            }
            "table in missing dir" => {
                matches!(e, StorageError::NotFound { ref path } if path == "nope")
            }
            "bad name" | "bad version" => matches!(e, StorageError::InvalidPath { .. }),
            "drop non-empty" => matches!(e, StorageError::NotEmpty { .. }),
            "open dir" | "drop dir as table" => matches!(e, StorageError::WrongKind { .. }),
            "open missing" => matches!(e, StorageError::NotFound { .. }),
            _ => false,
        };
        assert!(ok, "{name}: {e:?}");
    }
    t.insert(&sample_rows(&[(1, "a", 1.0)])).await.unwrap();
    c.move_entry("cp.sub", "cp.moved").await.unwrap();
    let moved = c.open_table("cp.moved.t").await.unwrap();
    assert_eq!(ids(&moved.scan().await.unwrap().batch), vec![1]);
    assert!(c.get("cp.sub.t").await.unwrap().is_none());
    // Views follow a move of what they are defined on.
    assert_eq!(c.view("cp.v").await.unwrap().base, "cp.moved.t");
    // Dropping a table that views depend on (here also through a view of a view) is refused
    // without force, naming them, and changes nothing; with force the views go too.
    c.create_view("cp.vv", ViewDefinition::new("cp.v"))
        .await
        .unwrap();
    let refused = c.drop_table("cp.moved.t", false).await.unwrap_err();
    assert!(
        matches!(&refused, StorageError::HasDependents { path, dependents }
            if path == "cp.moved.t" && dependents == &["cp.v", "cp.vv"]),
        "{refused:?}"
    );
    assert!(c.get("cp.moved.t").await.unwrap().is_some());
    c.drop_table("cp.moved.t", true).await.unwrap();
    for gone in ["cp.moved.t", "cp.v", "cp.vv"] {
        assert!(c.get(gone).await.unwrap().is_none(), "{gone} survived");
    }
    c.drop_dir("cp", true).await.unwrap();
    assert!(
        c.list("", false)
            .await
            .unwrap()
            .iter()
            .all(|e| !e.path.starts_with("cp"))
    );
}

// Guards: insert returns versions in order, scans see whole versions, `path:N` time travel.
async fn table_lifecycle(c: &Catalog) {
    c.create_dir("life").await.unwrap();
    let t = c
        .create_table("life.t", &table_schema(sample_schema()))
        .await
        .unwrap();
    let steps: Vec<Vec<(i64, &str, f64)>> = vec![
        vec![(1, "Alice", 42.5), (2, "Bob", 37.8), (3, "Charlie", 91.2)],
        vec![(4, "Diana", 65.3)],
    ];
    for (i, rows) in steps.iter().enumerate() {
        assert_eq!(t.insert(&sample_rows(rows)).await.unwrap(), i as u64 + 1);
    }
    let data = t.scan().await.unwrap();
    assert_eq!(data.keys, vec![0, 1, 2, 3]);
    assert_eq!(ids(&data.batch), vec![1, 2, 3, 4]);
    for (version, expected) in [(0u64, vec![]), (1, vec![1, 2, 3]), (2, vec![1, 2, 3, 4])] {
        let pinned = c.open_table(&format!("life.t:{version}")).await.unwrap();
        assert_eq!(
            ids(&pinned.scan().await.unwrap().batch),
            expected,
            "version {version}"
        );
        assert_eq!(ids(&t.scan_at(version).await.unwrap().batch), expected);
    }
    let err = c.open_table("life.t:9").await.unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::VersionNotFound {
                version: 9,
                latest: 2,
                ..
            }
        ),
        "{err:?}"
    );
    // A second handle sees the latest version.
    assert_eq!(c.open_table("life.t").await.unwrap().version(), 2);
    // An empty insert commits nothing.
    assert_eq!(t.insert(&sample_rows(&[])).await.unwrap(), 2);
    // Schema mismatch is refused with the table's name.
    let bad = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)])),
        vec![Arc::new(StringArray::from(vec!["x"]))],
    )
    .unwrap();
    assert!(matches!(
        t.insert(&bad).await.unwrap_err(),
        StorageError::RowsDoNotFit { .. }
    ));
}

// Guards: every required column type survives a write/read round trip unchanged.
async fn all_types_round_trip(c: &Catalog) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("i32", DataType::Int32, true),
        Field::new("i64", DataType::Int64, true),
        Field::new("f32", DataType::Float32, true),
        Field::new("f64", DataType::Float64, true),
        Field::new("b", DataType::Boolean, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("bin", DataType::Binary, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("d", DataType::Date32, true),
        json_field("j", true),
        Field::new(
            "emb",
            DataType::List(Arc::new(Field::new_list_field(DataType::Float32, true))),
            true,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int32Array::from(vec![Some(1), None])),
            Arc::new(Int64Array::from(vec![Some(i64::MAX), None])),
            Arc::new(Float32Array::from(vec![Some(1.5), None])),
            Arc::new(Float64Array::from(vec![Some(-2.25), None])),
            Arc::new(BooleanArray::from(vec![Some(true), None])),
            Arc::new(StringArray::from(vec![Some("héllo"), None])),
            Arc::new(BinaryArray::from(vec![Some(&b"\x00\xff"[..]), None])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1_700_000_000_000_000), None])
                    .with_timezone("UTC"),
            ),
            Arc::new(Date32Array::from(vec![Some(19_000), None])),
            Arc::new(StringArray::from(vec![Some(r#"{"a":[1,2]}"#), None])),
            Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
                Some(vec![Some(0.5), Some(1.0)]),
                None,
            ])),
        ],
    )
    .unwrap();
    let t = c
        .create_table("types", &table_schema(schema.clone()))
        .await
        .unwrap();
    t.insert(&batch).await.unwrap();
    let back = c.open_table("types").await.unwrap();
    assert_eq!(
        back.schema(),
        schema,
        "schema (with the json marker) survives"
    );
    assert_eq!(back.scan().await.unwrap().batch, batch);
    c.drop_table("types", false).await.unwrap();
}

// Guards: update keeps row keys, a mask selects in scan order, delete removes, broadcast update.
async fn update_delete_by_mask_and_keys(c: &Catalog) {
    let t = c
        .create_table("ud", &table_schema(sample_schema()))
        .await
        .unwrap();
    t.insert(&sample_rows(&[
        (1, "a", 1.0),
        (2, "b", 2.0),
        (3, "c", 3.0),
        (4, "d", 4.0),
    ]))
    .await
    .unwrap();
    let values = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "value",
            DataType::Float64,
            true,
        )])),
        vec![Arc::new(Float64Array::from(vec![20.0, 40.0]))],
    )
    .unwrap();
    let mask = BooleanArray::from(vec![false, true, false, true]);
    t.update(&Selection::Mask(mask), &values).await.unwrap();
    let broadcast = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("name", DataType::Utf8, true)])),
        vec![Arc::new(StringArray::from(vec!["z"]))],
    )
    .unwrap();
    t.update(
        &Selection::Keys([0u64, 3].into_iter().collect()),
        &broadcast,
    )
    .await
    .unwrap();
    t.delete(&Selection::Keys(RowSet::from_iter([2u64])))
        .await
        .unwrap();
    let data = t.scan().await.unwrap();
    assert_eq!(data.keys, vec![0, 1, 3]);
    let expected = sample_rows(&[(1, "z", 1.0), (2, "b", 20.0), (4, "z", 40.0)]);
    assert_eq!(data.batch, expected);
    let history = t.history().await.unwrap();
    let ops: Vec<(&str, u64, u64, u64)> = history
        .iter()
        .map(|h| {
            (
                h.operation.name(),
                h.rows_added,
                h.rows_removed,
                h.rows_updated,
            )
        })
        .collect();
    assert_eq!(
        ops,
        vec![
            ("delete", 0, 1, 0),
            ("update", 0, 0, 2),
            ("update", 0, 0, 2),
            ("insert", 4, 0, 0),
            ("create", 0, 0, 0)
        ]
    );
    // A key that is not live is refused.
    let err = t
        .delete(&Selection::Keys(RowSet::from_iter([2u64])))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::InvalidArgument { .. }),
        "{err:?}"
    );
    // Deleting everything drops the files entirely.
    t.delete(&Selection::Mask(BooleanArray::from(vec![true, true, true])))
        .await
        .unwrap();
    assert_eq!(t.scan().await.unwrap().keys, Vec::<u64>::new());
    assert_eq!(t.row_count(), 0);
    c.drop_table("ud", false).await.unwrap();
}

// Guards: add/drop/rename column, each version keeping its own schema; renamed data is kept.
async fn schema_evolution(c: &Catalog) {
    let t = c
        .create_table("se", &table_schema(sample_schema()))
        .await
        .unwrap();
    t.insert(&sample_rows(&[(1, "a", 1.0)])).await.unwrap(); // v1
    t.add_column(Field::new("extra", DataType::Boolean, true))
        .await
        .unwrap(); // v2
    t.rename_column("name", "label").await.unwrap(); // v3
    t.drop_column("value").await.unwrap(); // v4
    let data = t.scan().await.unwrap();
    let names: Vec<String> = data
        .batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, vec!["id", "label", "extra"]);
    assert_eq!(
        data.batch.column(1).as_ref(),
        &StringArray::from(vec!["a"]) as &dyn Array
    );
    assert_eq!(data.batch.column(2).null_count(), 1);
    assert_eq!(
        t.scan_at(1).await.unwrap().batch,
        sample_rows(&[(1, "a", 1.0)])
    );
    assert_eq!(t.schema_at(2).await.unwrap().fields().len(), 4);
    let errors = [
        t.add_column(Field::new("id", DataType::Int64, true))
            .await
            .unwrap_err(),
        t.add_column(Field::new("nn", DataType::Int64, false))
            .await
            .unwrap_err(),
        t.drop_column("nope").await.unwrap_err(),
        t.rename_column("id", "label").await.unwrap_err(),
        t.add_column(Field::new("_row_key", DataType::Int64, true))
            .await
            .unwrap_err(),
    ];
    for e in errors {
        assert!(matches!(e, StorageError::InvalidArgument { .. }), "{e:?}");
    }
    c.drop_table("se", false).await.unwrap();
}

// Guards: revert undoes the latest version as a new version, twice undoes the undo; history.
async fn revert_and_history(c: &Catalog) {
    let t = c
        .create_table("rv", &table_schema(sample_schema()))
        .await
        .unwrap();
    t.insert(&sample_rows(&[(1, "a", 1.0)])).await.unwrap();
    t.insert(&sample_rows(&[(2, "b", 2.0)])).await.unwrap();
    assert_eq!(t.revert().await.unwrap(), 3);
    assert_eq!(ids(&t.scan().await.unwrap().batch), vec![1]);
    assert_eq!(t.revert().await.unwrap(), 4);
    assert_eq!(ids(&t.scan().await.unwrap().batch), vec![1, 2]);
    t.drop_column("name").await.unwrap();
    t.revert().await.unwrap();
    assert_eq!(
        t.schema(),
        sample_schema(),
        "reverting a drop brings the column back"
    );
    // New keys never reuse reverted ones.
    t.insert(&sample_rows(&[(3, "c", 3.0)])).await.unwrap();
    assert_eq!(t.scan().await.unwrap().keys, vec![0, 1, 2]);
    let h = t.history().await.unwrap();
    assert_eq!(h.len(), 8);
    // h[4] is version 3 (undid the insert of version 2), h[3] version 4 (undid that undo).
    assert_eq!(
        h[4].operation,
        Operation::Revert {
            to_version: 1,
            reverted_version: 2
        }
    );
    assert_eq!((h[4].rows_added, h[4].rows_removed), (0, 1));
    assert_eq!(
        h[3].operation,
        Operation::Revert {
            to_version: 2,
            reverted_version: 3
        }
    );
    assert_eq!((h[3].rows_added, h[3].rows_removed), (1, 0));
    assert!(
        h.windows(2)
            .all(|w| w[0].version == w[1].version + 1 && w[0].timestamp_ms >= w[1].timestamp_ms)
    );
    let fresh = c
        .create_table("rv0", &table_schema(sample_schema()))
        .await
        .unwrap();
    assert!(matches!(
        fresh.revert().await.unwrap_err(),
        StorageError::InvalidArgument { .. }
    ));
    c.drop_table("rv", false).await.unwrap();
    c.drop_table("rv0", false).await.unwrap();
}

// Guards: replicas, snapshots and `path:N` refuse every mutation with ReadOnly naming the table
// and the operation; snapshots pin their version.
async fn read_only_handles(c: &Catalog) {
    let t = c
        .create_table("ro", &table_schema(sample_schema()))
        .await
        .unwrap();
    t.insert(&sample_rows(&[(1, "a", 1.0)])).await.unwrap();
    assert_eq!(c.create_snapshot("ro_snap", "ro", None).await.unwrap(), 1);
    t.insert(&sample_rows(&[(2, "b", 2.0)])).await.unwrap();
    let snap = c.open_table("ro_snap").await.unwrap();
    assert_eq!(ids(&snap.scan().await.unwrap().batch), vec![1]);
    // A replica filled the way the transport does: objects and manifests copied as they are,
    // through the public format tier.
    let writer = c
        .create_replica("ro_rep", "pxt://alice/shared.ro")
        .await
        .unwrap();
    let (store, prefix) = c.location();
    let root = tableshare_storage::format::StoreRoot::new(store.clone(), prefix);
    let src = format!("tables/{}", t.id());
    let log = tableshare_storage::format::VersionLog::new(root.clone(), src.clone());
    for v in 0..=t.version() {
        let bytes = root.get_opt(&log.version_path(v)).await.unwrap().unwrap();
        writer.commit_manifest(v, bytes.clone()).await.unwrap();
        writer.commit_manifest(v, bytes).await.unwrap(); // idempotent
    }
    for (name, _) in root.list(&src).await.unwrap() {
        let rel = name.strip_prefix(&format!("{src}/")).unwrap().to_owned();
        if let Some(hash) = tableshare_storage::format::hash_of_name(&rel) {
            let bytes = root.get_opt(&name).await.unwrap().unwrap();
            let to = format!("{}/{rel}", writer.table_dir());
            root.put_content(&to, bytes, hash).await.unwrap();
        }
    }
    writer.set_upstream_version(2).await.unwrap();
    assert_eq!(
        c.replica_info("ro_rep").await.unwrap().upstream_version,
        Some(2)
    );
    let rep = c.open_table("ro_rep").await.unwrap();
    assert_eq!(ids(&rep.scan().await.unwrap().batch), vec![1, 2]);
    let pinned = c.open_table("ro:1").await.unwrap();
    for (handle, why) in [
        (&snap, "snapshot"),
        (&rep, "replica"),
        (&pinned, "pinned version"),
    ] {
        let attempts = [
            (
                "insert",
                handle.insert(&sample_rows(&[(9, "x", 9.0)])).await,
            ),
            (
                "delete",
                handle
                    .delete(&Selection::Keys(RowSet::from_iter([0u64])))
                    .await,
            ),
            (
                "add_column",
                handle
                    .add_column(Field::new("n", DataType::Int64, true))
                    .await,
            ),
            ("revert", handle.revert().await),
        ];
        for (op, result) in attempts {
            match result {
                Err(StorageError::ReadOnly {
                    table,
                    operation,
                    why: w,
                }) => {
                    assert_eq!((operation, w), (op, why));
                    assert!(table.starts_with("ro"), "{table}");
                }
                other => panic!("{why} {op}: {other:?}"),
            }
        }
    }
    assert_eq!(pinned.path(), "ro:1");
    for p in ["ro", "ro_snap", "ro_rep"] {
        c.drop_table(p, false).await.unwrap();
    }
}

// Guards: rows through serde, including JSON-marked columns taking any JSON value.
async fn rows_through_serde(c: &Catalog) {
    #[derive(serde::Serialize)]
    struct Row {
        id: i64,
        name: Option<String>,
        value: f64,
        meta: serde_json::Value,
    }
    let mut fields: Vec<Field> = sample_schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(json_field("meta", true));
    let schema = Arc::new(Schema::new(fields));
    let t = c
        .create_table("serde_rows", &table_schema(schema))
        .await
        .unwrap();
    let rows = vec![
        Row {
            id: 1,
            name: Some("Alice".into()),
            value: 42.5,
            meta: serde_json::json!({"k": [1, 2]}),
        },
        Row {
            id: 2,
            name: None,
            value: 37.8,
            meta: serde_json::Value::Null,
        },
    ];
    t.insert_rows(&rows).await.unwrap();
    let b = t.scan().await.unwrap().batch;
    assert_eq!(ids(&b), vec![1, 2]);
    let meta = b.column(3).as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(meta.value(0), r#"{"k":[1,2]}"#);
    assert!(meta.is_null(1));
    c.drop_table("serde_rows", false).await.unwrap();
}
