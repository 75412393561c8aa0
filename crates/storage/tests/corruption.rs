//! Damaged storage: flipping one byte or truncating any data file, deletion vector or manifest
//! gives a `Corrupt` error naming that file: never wrong rows, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{ids, sample_rows, sample_schema, table_schema};
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::file::reader::{FileReader, SerializedFileReader};
use tableshare_core::RowSet;
use tableshare_storage::{Catalog, Predicate, ScanOptions, Selection, StorageError};

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
            let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
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
                        "{kind} {name}: error names {path}, damaged {target}"
                    );
                }
                other => panic!("{kind} {name}: expected Corrupt, got {other:?}"),
            }
        }
    }
}

// Guards verification at the granularity of ranged reads: a byte flipped inside one column
// chunk is Corrupt (naming the file) for every read that touches that chunk (projected,
// filtered or whole), and reads that skip the chunk never fetch it, so they still succeed.
#[tokio::test]
async fn projected_reads_verify_what_they_read() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let c = Catalog::open(store.clone(), "");
    let t = c
        .create_table("t", &table_schema(sample_schema()))
        .await
        .unwrap();
    let rows: Vec<(i64, String, f64)> = (0..1000).map(|i| (i, format!("n{i}"), i as f64)).collect();
    let rows: Vec<(i64, &str, f64)> = rows.iter().map(|(i, s, v)| (*i, s.as_str(), *v)).collect();
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
