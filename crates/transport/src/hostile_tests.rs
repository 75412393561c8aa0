//! Hostile manifests, signed with the org's real key (a compromised or buggy publisher): a file
//! outside the table, odd characters, a hash that is not the name's, a size or a row count that
//! lies, a broken chain. Each is refused with a clear error and nothing is written locally:
//! neither by `replicate` (no replica appears) nor by `pull` (the replica's store is unchanged).
//! These live inside the crate because forging a signed version needs its signing internals.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use tableshare_core::TableSchema;
use tableshare_storage::Catalog;
use tableshare_storage::format::{TableManifest, seal};
use tableshare_uri::CloudUri;

use crate::keys::OrgKeys;
use crate::versions::put_version;
use crate::{Access, CloudConfig, Transport, TransportError};

const KEY: &str = "org-key";

async fn all(store: &Arc<dyn ObjectStore>) -> Vec<(String, bytes::Bytes)> {
    let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
    let mut out = Vec::new();
    for m in metas {
        let b = store.get(&m.location).await.unwrap().bytes().await.unwrap();
        out.push((m.location.to_string(), b));
    }
    out.sort();
    out
}

/// Publishes a two-version table, replicates it, then commits a forged, signed version 2 made
/// by `edit` from version 1; returns what `pull` and a fresh `replicate` said, after checking
/// that neither wrote anything locally.
async fn forge(
    edit: impl Fn(&mut TableManifest),
    extra: Option<(String, bytes::Bytes)>,
) -> (TransportError, TransportError) {
    let cloud: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let config = CloudConfig::with_store(Arc::clone(&cloud), "").with_api_key(KEY);
    let alice = Transport::new(Catalog::in_memory(), config.clone());
    let arrow = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let t = alice
        .catalog()
        .create_table("t", &TableSchema::unpartitioned(arrow.clone()).unwrap())
        .await
        .unwrap();
    let rows = Int64Array::from(vec![1, 2, 3]);
    t.insert(&RecordBatch::try_new(arrow, vec![Arc::new(rows)]).unwrap())
        .await
        .unwrap();
    alice
        .publish("t", "pxt://acme/t", Access::Public)
        .await
        .unwrap();
    let bob_store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let bob = Transport::new(
        Catalog::open(Arc::clone(&bob_store), ""),
        config.clone().without_api_key(),
    );
    bob.replicate("pxt://acme/t", "r").await.unwrap();

    let uri = CloudUri::parse("pxt://acme/t").unwrap();
    let ct = alice.cloud_table(&uri).unwrap();
    if let Some((name, bytes)) = extra {
        ct.root.put_overwrite(&ct.rel(&name), bytes).await.unwrap();
    }
    let v1 = ct.log.read(1).await.unwrap().unwrap();
    let mut m = TableManifest::decode("v1", &v1.body, 1).unwrap();
    m.version = 2;
    m.parent_version = Some(1);
    m.parent_hash = Some(v1.hash.clone());
    m.txn_id = "forged".into();
    edit(&mut m);
    let body = serde_json::to_vec(&m).unwrap();
    let keys = OrgKeys::derive(KEY, "acme").unwrap();
    let hash = tableshare_storage::format::blake3_hex(&body);
    put_version(&ct, 2, seal(&body), &hash, &keys, Access::Public)
        .await
        .unwrap();

    let before = all(&bob_store).await;
    let pulled = bob.pull("r").await.unwrap_err();
    assert_eq!(
        all(&bob_store).await,
        before,
        "pull wrote locally: {pulled}"
    );
    let carol_store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let carol = Transport::new(
        Catalog::open(Arc::clone(&carol_store), ""),
        config.without_api_key(),
    );
    let replicated = carol.replicate("pxt://acme/t", "r").await.unwrap_err();
    assert!(
        carol.catalog().list("", true).await.unwrap().is_empty(),
        "replicate left an entry: {replicated}"
    );
    (pulled, replicated)
}

fn check(name: &str, edit: impl Fn(&mut TableManifest), expect: fn(&TransportError) -> bool) {
    check_with(name, edit, None, expect);
}

fn check_with(
    name: &str,
    edit: impl Fn(&mut TableManifest),
    extra: Option<(String, bytes::Bytes)>,
    expect: fn(&TransportError) -> bool,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (pulled, replicated) = rt.block_on(forge(edit, extra));
    assert!(expect(&pulled), "{name}: pull said {pulled}");
    assert!(expect(&replicated), "{name}: replicate said {replicated}");
}

fn hostile(e: &TransportError) -> bool {
    matches!(e, TransportError::Hostile { version: 2, .. })
}

fn corrupt(e: &TransportError) -> bool {
    matches!(
        e,
        TransportError::Storage(tableshare_storage::StorageError::Corrupt { .. })
    )
}

#[test]
fn hostile_manifests_are_refused_with_nothing_written() {
    let hash = "ab".repeat(32);
    let outside = format!("data/{hash}-../../../../etc/passwd.parquet");
    check("dot-dot", |m| m.files[0].path = outside.clone(), hostile);
    check(
        "absolute",
        |m| m.files[0].path = "/etc/passwd".into(),
        hostile,
    );
    check(
        "percent",
        |m| m.files[0].path = format!("data/%2e%2e%2f{hash}.parquet"),
        hostile,
    );
    check(
        "odd characters",
        |m| m.files[0].path = format!("data/{hash}-0123456789abcde\n.parquet"),
        hostile,
    );
    check(
        "another table's object",
        |m| m.files[0].path = format!("../other/data/{hash}.parquet"),
        hostile,
    );
    check(
        "hash differs from name",
        |m| m.files[0].blake3 = hash.clone(),
        hostile,
    );
    // A count that lies contradicts the manifest itself.
    check("row count", |m| m.row_count += 1, corrupt);
    // A size that lies about a file the receiver holds: the manifest contradicts its parent.
    check("size too small", |m| m.files[0].size -= 10, hostile);
    check("size too large", |m| m.files[0].size += 1000, hostile);
    // A size that lies about a new file: the ranged read fetches at most size + 1 bytes and
    // refuses the file before it is stored or its version committed.
    let big = bytes::Bytes::from(vec![7u8; 100_000]);
    let big_hash = tableshare_storage::format::blake3_hex(&big);
    let big_name = format!("data/{big_hash}-0123456789abcdef.parquet");
    let entry_name = big_name.clone();
    check_with(
        "new file larger than recorded",
        move |m| {
            let mut f = m.files[0].clone();
            f.path = entry_name.clone();
            f.blake3 = big_hash.clone();
            f.size = 100;
            f.rows = 1;
            f.key_min = m.next_row_key;
            f.key_max = m.next_row_key;
            f.tail = None;
            f.deletion_vector = None;
            m.next_row_key += 1;
            m.row_count += 1;
            m.files.push(f);
        },
        Some((big_name, big)),
        |e| {
            matches!(
                e,
                TransportError::Storage(tableshare_storage::StorageError::Corrupt {
                    reason: tableshare_storage::CorruptReason::SizeMismatch {
                        expected: 100,
                        actual: 101
                    },
                    ..
                })
            )
        },
    );
    check(
        "broken chain",
        |m| m.parent_hash = Some(hash.clone()),
        hostile,
    );
}
