//! Damaged storage: flipping one byte or truncating any data file, deletion vector or manifest
//! (the newest, older ones, the catalog's own) gives a `Corrupt` error naming that file, and a
//! spliced version chain one naming both versions: never wrong rows, never a panic. Every damage
//! is done on each store the suites run on (memory, local disk, S3; see `common`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{ids, sample_rows, sample_schema, stores, table_schema};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::file::reader::{FileReader, SerializedFileReader};
use tableshare_core::RowSet;
use tableshare_storage::{Catalog, CorruptReason, Predicate, ScanOptions, Selection, StorageError};

type Damage = fn(&[u8]) -> Vec<u8>;

// Guards every kind of stored file against every kind of damage.
#[tokio::test]
async fn damaged_files_are_reported_not_misread() {
    let damages: Vec<(&str, Damage)> = vec![
        ("flip first byte", |b| {
            let mut v = b.to_vec();
            v[0] ^= 0x20;
            v
        }),
        ("flip middle byte", |b| {
            let mut v = b.to_vec();
            v[b.len() / 2] ^= 0x01;
            v
        }),
        ("flip last byte", |b| {
            let mut v = b.to_vec();
            let n = v.len() - 1;
            v[n] ^= 0x01;
            v
        }),
        ("truncate half", |b| b[..b.len() / 2].to_vec()),
        ("truncate one", |b| b[..b.len() - 1].to_vec()),
        ("empty", |_| Vec::new()),
    ];
    for kind in ["data/", "dv/", "_versions/"] {
        for (name, damage) in &damages {
            for (store_name, store, _dir) in stores() {
                let store: Arc<dyn ObjectStore> = store;
                let c = Catalog::open(store.clone(), "");
                let t = c
                    .create_table("t", &table_schema(sample_schema()))
                    .await
                    .unwrap();
                t.insert(&sample_rows(&[(1, "a", 1.0), (2, "b", 2.0)]))
                    .await
                    .unwrap();
                t.delete(&Selection::Keys(RowSet::from_iter([0u64])))
                    .await
                    .unwrap();
                let dir = format!("tables/{}/", t.id());
                let all: Vec<_> = store
                    .list(Some(&Path::from(dir.clone())))
                    .try_collect()
                    .await
                    .unwrap();
                // The newest manifest (lowest inverted name) or the only data file / DV.
                let mut targets: Vec<String> = all
                    .iter()
                    .map(|m| m.location.to_string())
                    .filter(|p| p[dir.len()..].starts_with(kind))
                    .collect();
                targets.sort();
                let target = targets.first().unwrap().clone();
                let path = Path::from(target.clone());
                let bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
                store
                    .put(&path, PutPayload::from(Bytes::from(damage(&bytes))))
                    .await
                    .unwrap();
                let result = match c.open_table("t").await {
                    Ok(h) => h.scan().await.map(|d| ids(&d.batch)),
                    Err(e) => Err(e),
                };
                match result {
                    Err(StorageError::Corrupt { path, .. }) => {
                        assert!(
                            target.ends_with(&path),
                            "{store_name} {kind} {name}: error names {path}, damaged {target}"
                        );
                    }
                    other => panic!("{store_name} {kind} {name}: expected Corrupt, got {other:?}"),
                }
            }
        }
    }
}

/// A catalog on `store` with table `t` at version 3: two inserts and a delete.
async fn three_versions(store: Arc<dyn ObjectStore>) -> (Arc<dyn ObjectStore>, Catalog, String) {
    let c = Catalog::open(store.clone(), "");
    let t = c
        .create_table("t", &table_schema(sample_schema()))
        .await
        .unwrap();
    t.insert(&sample_rows(&[(1, "a", 1.0)])).await.unwrap();
    t.insert(&sample_rows(&[(2, "b", 2.0)])).await.unwrap();
    t.delete(&Selection::Keys(RowSet::from_iter([0u64])))
        .await
        .unwrap();
    let dir = format!("tables/{}", t.id());
    (store, c, dir)
}

/// The manifest path of `version` under a log directory (the inverted, zero-padded name).
fn manifest_path(dir: &str, version: u64) -> Path {
    Path::from(format!("{dir}/_versions/{:020}.json", u64::MAX - version))
}

async fn flip_middle(store: &Arc<dyn ObjectStore>, path: &Path) {
    let bytes = store.get(path).await.unwrap().bytes().await.unwrap();
    let mut v = bytes.to_vec();
    let mid = v.len() / 2;
    v[mid] ^= 0x01;
    store
        .put(path, PutPayload::from(Bytes::from(v)))
        .await
        .unwrap();
}

fn assert_corrupt<T: std::fmt::Debug>(what: &str, result: Result<T, StorageError>, path: &Path) {
    match result {
        Err(StorageError::Corrupt { path: p, .. }) => {
            assert!(
                path.as_ref().ends_with(&p),
                "{what}: error names {p}, damaged {path}"
            );
        }
        other => panic!("{what}: expected Corrupt naming {path}, got {other:?}"),
    }
}

// Guards older versions: a damaged manifest of any older version is reported, naming it, when
// that version is opened or when history walks over it; the latest version stays readable
// unless the damaged one is the parent its open checks.
#[tokio::test]
async fn damaged_older_manifests_are_reported() {
    for (damaged, (_, store, _dir)) in
        (0..3u64).flat_map(|d| stores().into_iter().map(move |s| (d, s)))
    {
        let (store, c, dir) = three_versions(store).await;
        let path = manifest_path(&dir, damaged);
        flip_middle(&store, &path).await;
        assert_corrupt(
            "open t:N",
            c.open_table(&format!("t:{damaged}")).await.map(|_| ()),
            &path,
        );
        let opened = c.open_table("t").await;
        if damaged == 2 {
            // The parent of the latest: opening checks that link.
            assert_corrupt("open latest", opened.map(|_| ()), &path);
        } else {
            let t = opened.unwrap();
            assert_eq!(ids(&t.scan().await.unwrap().batch), vec![2]);
            assert_corrupt("history", t.history().await, &path);
        }
    }
}

// Guards the parent-hash chain: a validly sealed manifest spliced in for version 2 (one that
// is not the manifest version 3 was built on) is a Corrupt error naming both versions when the
// latest version is opened, and when history walks over the link.
#[tokio::test]
async fn a_spliced_chain_is_reported_naming_both_versions() {
    for (_, store, _dir) in stores() {
        let (store, c, dir) = three_versions(store).await;
        let path = manifest_path(&dir, 2);
        let sealed = store.get(&path).await.unwrap().bytes().await.unwrap();
        let text = std::str::from_utf8(&sealed).unwrap();
        let body_start = text.find("\"manifest\":").unwrap() + "\"manifest\":".len();
        let body = &text[body_start..text.len() - 1];
        // Same content but another transaction id: a different manifest with a valid envelope.
        let mut value: serde_json::Value = serde_json::from_str(body).unwrap();
        value["txn_id"] = serde_json::Value::from("spliced");
        let new_body = serde_json::to_string(&value).unwrap();
        let hash = blake3::hash(new_body.as_bytes()).to_hex().to_string();
        let resealed = format!("{{\"blake3\":\"{hash}\",\"manifest\":{new_body}}}");
        store
            .put(&path, PutPayload::from(Bytes::from(resealed)))
            .await
            .unwrap();
        // The spliced manifest alone is valid: version 2 opens.
        c.open_table("t:2").await.unwrap();
        for result in [
            c.open_table("t").await.map(|_| ()),
            c.open_table("t:3").await.map(|_| ()),
        ] {
            match result {
                Err(StorageError::Corrupt {
                    reason: CorruptReason::ChainBroken { version, parent },
                    ..
                }) => assert_eq!((version, parent), (3, 2)),
                other => panic!("expected a broken chain between 3 and 2, got {other:?}"),
            }
        }
    }
}

// Guards the catalog's own manifests: a damaged latest catalog manifest is a Corrupt error
// naming that manifest on every catalog operation, and the tables stay readable through their
// storage directories; a damaged older catalog manifest does not matter to current operations.
#[tokio::test]
async fn damaged_catalog_manifests_name_themselves() {
    for (_, store, _dir) in stores() {
        let (store, c, dir) = three_versions(store).await;
        let id = uuid::Uuid::parse_str(dir.trim_start_matches("tables/")).unwrap();
        c.create_dir("d").await.unwrap(); // catalog version 1
        // An older catalog manifest: current operations never read it.
        flip_middle(&store, &manifest_path("catalog", 0)).await;
        assert_eq!(c.list("", false).await.unwrap().len(), 2);
        // The latest one: named by every catalog operation.
        let latest = manifest_path("catalog", 1);
        flip_middle(&store, &latest).await;
        assert_corrupt("list", c.list("", false).await, &latest);
        assert_corrupt("open", c.open_table("t").await.map(|_| ()), &latest);
        assert_corrupt("create", c.create_dir("e").await, &latest);
        // The table's data is still there, by its storage id.
        let t = c.open_table_by_id(id).await.unwrap();
        assert!(t.is_read_only());
        assert_eq!(ids(&t.scan().await.unwrap().batch), vec![2]);
    }
}

// Guards verification at the granularity of ranged reads: a byte flipped inside one column
// chunk is Corrupt (naming the file) for every read that touches that chunk (projected,
// filtered or whole), and reads that skip the chunk never fetch it, so they still succeed.
#[tokio::test]
async fn projected_reads_verify_what_they_read() {
    for (_, store, _dir) in stores() {
        let c = Catalog::open(store.clone(), "");
        let t = c
            .create_table("t", &table_schema(sample_schema()))
            .await
            .unwrap();
        let rows: Vec<(i64, String, f64)> =
            (0..1000).map(|i| (i, format!("n{i}"), i as f64)).collect();
        let rows: Vec<(i64, &str, f64)> =
            rows.iter().map(|(i, s, v)| (*i, s.as_str(), *v)).collect();
        t.insert(&sample_rows(&rows)).await.unwrap();
        let dir = format!("tables/{}/data/", t.id());
        let files: Vec<_> = store
            .list(Some(&Path::from(dir)))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(files.len(), 1);
        let path = files[0].location.clone();
        let bytes = store.get(&path).await.unwrap().bytes().await.unwrap();
        // The `name` column is the file's third column (after `_row_key` and `id`).
        let footer = SerializedFileReader::new(bytes.clone()).unwrap();
        let (start, len) = footer.metadata().row_group(0).column(2).byte_range();
        let mut damaged = bytes.to_vec();
        damaged[(start + len / 2) as usize] ^= 0x10;
        store
            .put(&path, PutPayload::from(Bytes::from(damaged)))
            .await
            .unwrap();

        let skipping = [
            ScanOptions::default().columns(["id"]),
            ScanOptions::default().columns(["value", "id"]),
            ScanOptions::default()
                .columns(["id"])
                .filter(Predicate::gt("value", 10.0)),
        ];
        for options in skipping {
            let data = t.scan_stream(options.clone()).unwrap().concat().await;
            let data = data.unwrap_or_else(|e| panic!("{options:?}: {e:?}"));
            assert!(!data.keys.is_empty(), "{options:?}");
        }
        let touching = [
            ScanOptions::default(),
            ScanOptions::default().columns(["name"]),
            ScanOptions::default()
                .columns(["id"])
                .filter(Predicate::eq("name", "n5")),
        ];
        for options in touching {
            match t.scan_stream(options.clone()).unwrap().concat().await {
                Err(StorageError::Corrupt { path: named, .. }) => {
                    assert!(
                        path.as_ref().ends_with(&named),
                        "{options:?}: names {named}"
                    );
                }
                other => panic!("{options:?}: expected Corrupt, got {other:?}"),
            }
        }
        assert!(matches!(t.scan().await, Err(StorageError::Corrupt { .. })));
    }
}
