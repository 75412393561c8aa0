//! Damaged storage: flipping one byte or truncating any data file, deletion vector or manifest
//! gives a `Corrupt` error naming that file: never wrong rows, never a panic. Every damage is
//! done on each store the suites run on (memory, local disk, S3; see `common`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{ids, sample_rows, sample_schema, stores, table_schema};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tableshare_core::RowSet;
use tableshare_storage::{Catalog, Selection, StorageError};

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
