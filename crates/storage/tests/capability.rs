//! Guards the store capability check (`src/capability.rs`) and the one commit outcome it is not
//! allowed to blur: a store without atomic conditional create is refused with
//! `UnsupportedStore` naming it, before anything is written; the stores we support pass and
//! leave no probe object behind; a store that merely fails while being probed gives a store
//! error and the next write probes again; and a commit whose `AlreadyExists` cannot be read back
//! is `CommitOutcomeUnknown`, never a plain store error.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{sample_rows, sample_schema, stores, table_schema};
use futures::TryStreamExt;
use object_store::aws::S3ConditionalPut;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tableshare_storage::{Catalog, StorageError};
use tableshare_testkit::{Fault, FaultStore, LaxCreate, LaxCreateStore, Op};

/// Every object path in a store.
async fn all_paths(store: &Arc<dyn ObjectStore>) -> Vec<String> {
    paths_under(store, "").await
}

/// Every object path under `prefix` (`""`: the whole store).
async fn paths_under(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<String> {
    let prefix = (!prefix.is_empty()).then(|| Path::from(prefix));
    let metas: Vec<_> = store.list(prefix.as_ref()).try_collect().await.unwrap();
    metas.into_iter().map(|m| m.location.to_string()).collect()
}

/// Checks that a write through a catalog at `prefix` of `store` is refused as
/// `UnsupportedStore` naming `store_name` and `lacking`, and that nothing was committed.
async fn check_refused(store: Arc<dyn ObjectStore>, prefix: &str, store_name: &str, lacking: &str) {
    let catalog = Catalog::open(Arc::clone(&store), prefix);
    // Reads never probe: an empty store reads as an empty catalog.
    assert!(catalog.list("", false).await.unwrap().is_empty());
    for attempt in 0..2 {
        match catalog.create_dir("d").await {
            Err(err @ StorageError::UnsupportedStore { .. }) => {
                let message = err.to_string();
                assert!(
                    message.contains(store_name) && message.contains(lacking),
                    "attempt {attempt}: {message}"
                );
            }
            other => {
                panic!("{store_name}: attempt {attempt}: expected UnsupportedStore, got {other:?}")
            }
        }
    }
    let left = paths_under(&store, prefix).await;
    assert!(
        left.iter().all(|p| !p.contains("_versions")),
        "{store_name}: something was committed: {left:?}"
    );
}

// Guards: a store that answers NotImplemented, or that overwrites on a conditional create, is
// refused before any commit, with an error naming the store and what it lacks.
#[tokio::test]
async fn stores_without_atomic_conditional_create_are_refused() {
    let cases = [
        (LaxCreate::NotImplemented, "conditional create"),
        (LaxCreate::Overwrite, "atomic conditional create"),
    ];
    for (lax, lacking) in cases {
        let store = LaxCreateStore::new(Arc::new(InMemory::new()), lax);
        check_refused(store, "", "LaxCreateStore", lacking).await;
    }
    // The real thing: object_store's S3 client with conditional put turned off.
    if let Some(builder) = common::s3_builder() {
        let s3 = builder
            .with_conditional_put(S3ConditionalPut::Disabled)
            .build()
            .unwrap();
        let prefix = format!("t/{}", uuid::Uuid::new_v4());
        check_refused(Arc::new(s3), &prefix, "AmazonS3", "conditional create").await;
    }
}

// Guards: a table insert (data files first, then the manifest) through a catalog handle on a
// lax store is refused too, before its first data file is written.
#[tokio::test]
async fn writes_to_an_existing_table_on_a_lax_store_are_refused() {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let good = Catalog::open(Arc::clone(&inner), "");
    good.create_table("t", &table_schema(sample_schema()))
        .await
        .unwrap();
    let before = all_paths(&inner).await;
    let lax = Catalog::open(
        LaxCreateStore::new(Arc::clone(&inner), LaxCreate::Overwrite),
        "",
    );
    let table = lax.open_table("t").await.unwrap();
    assert_eq!(table.scan().await.unwrap().batch.num_rows(), 0);
    let err = table
        .insert(&sample_rows(&[(1, "a", 1.0)]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::UnsupportedStore { .. }),
        "{err:?}"
    );
    assert_eq!(all_paths(&inner).await, before, "nothing was written");
}

// Guards the primitive itself, through object_store on each store (on S3: `PutMode::Create`
// sends `If-None-Match: *`, and the server's 412 must come back as `AlreadyExists`): a second
// create of one path is refused and leaves the first object as it was.
#[tokio::test]
async fn conditional_create_refuses_a_second_create() {
    for (name, store, _dir) in stores() {
        let path = Path::from("x/object");
        let create = || PutOptions::from(PutMode::Create);
        store
            .put_opts(&path, PutPayload::from_static(b"first"), create())
            .await
            .unwrap();
        let second = store
            .put_opts(&path, PutPayload::from_static(b"second"), create())
            .await;
        assert!(
            matches!(second, Err(object_store::Error::AlreadyExists { .. })),
            "{name}: {second:?}"
        );
        let now = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(&now[..], b"first", "{name}");
    }
}

// Guards: memory, local disk and S3 pass the probe; it runs once per catalog handle (two puts
// and a delete of one probe object) and leaves nothing behind.
#[tokio::test]
async fn supported_stores_pass_once_per_handle() {
    for (name, store, _dir) in stores() {
        let faults = FaultStore::new(Arc::clone(&store));
        let catalog = Catalog::open(faults.clone(), "");
        catalog.create_dir("a").await.unwrap();
        catalog.create_dir("b").await.unwrap();
        let probes: Vec<Op> = faults
            .requests()
            .into_iter()
            .filter(|r| r.path.contains("_probes"))
            .map(|r| r.op)
            .collect();
        assert_eq!(probes, [Op::Put, Op::Put], "{name}");
        // FaultStore records deletes without a path; creating directories deletes nothing else.
        assert_eq!(faults.counts().delete, 1, "{name}");
        let left = all_paths(&store).await;
        assert!(
            left.iter().all(|p| !p.contains("_probes")),
            "{name}: {left:?}"
        );
        // A second handle probes again (once).
        faults.reset();
        let other = Catalog::open(faults.clone(), "");
        other.create_dir("c").await.unwrap();
        let probes = faults
            .requests()
            .iter()
            .filter(|r| r.path.contains("_probes"))
            .count();
        assert_eq!((probes, faults.counts().delete), (2, 1), "{name}");
    }
}

// Guards: a store that fails while being probed is a store failure, not an unsupported store,
// and is not remembered: the next write probes again and succeeds.
#[tokio::test]
async fn a_failing_probe_is_a_store_error_and_is_retried() {
    for fault in [Fault::Error, Fault::LostResponse] {
        for nth_put in [0, 1] {
            let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let store = FaultStore::new(Arc::clone(&inner));
            let catalog = Catalog::open(store.clone(), "");
            // Arm the fault on the first or the second create of the probe object (a zero delay
            // lets the first one through when the second is meant).
            if nth_put == 1 {
                store.fail_next(Op::Put, Some("_probes"), Fault::Delay(Duration::ZERO));
            }
            store.fail_next(Op::Put, Some("_probes"), fault);
            let err = catalog.create_dir("d").await.unwrap_err();
            let what = format!("{fault:?} at probe put {nth_put}");
            assert!(
                matches!(
                    err,
                    StorageError::Store {
                        operation: "conditional create probe",
                        ..
                    }
                ),
                "{what}: {err:?}"
            );
            let fired: Vec<_> = store
                .requests()
                .into_iter()
                .filter_map(|r| r.fault)
                .collect();
            assert_eq!(fired.last(), Some(&fault), "{what}");
            // Nothing was committed, the probe object is gone, and the next write probes again.
            assert!(catalog.list("", false).await.unwrap().is_empty(), "{what}");
            assert!(
                all_paths(&inner)
                    .await
                    .iter()
                    .all(|p| !p.contains("_probes")),
                "{what}"
            );
            catalog.create_dir("d").await.unwrap();
            assert_eq!(catalog.list("", false).await.unwrap().len(), 1, "{what}");
        }
    }
}

// Guards log.rs: when the manifest create reports AlreadyExists (a rival won) and reading the
// winner back fails, the commit outcome is unknown to this writer; it must say so
// (`CommitOutcomeUnknown`), not report a plain store error a caller might treat as "nothing
// happened".
#[tokio::test]
async fn failed_read_back_after_already_exists_is_outcome_unknown() {
    for (name, inner, _dir) in stores() {
        let store = FaultStore::new(inner);
        let a = Catalog::open(store.clone(), "");
        a.create_table("t", &table_schema(sample_schema()))
            .await
            .unwrap();
        let stale = a.open_table("t").await.unwrap();
        let b = Catalog::open(store.clone(), "");
        let rival = b.open_table("t").await.unwrap();
        assert_eq!(
            rival.insert(&sample_rows(&[(1, "a", 1.0)])).await.unwrap(),
            1
        );
        // The stale handle tries version 1, is told AlreadyExists, and cannot read it back.
        let v1_manifest = format!("_versions/{:020}.json", u64::MAX - 1);
        store.fail_next(Op::Get, Some(&v1_manifest), Fault::Error);
        let err = stale
            .insert(&sample_rows(&[(2, "b", 2.0)]))
            .await
            .unwrap_err();
        match err {
            StorageError::CommitOutcomeUnknown { path, .. } => {
                assert!(path.ends_with(&v1_manifest), "{name}: {path}");
            }
            other => panic!("{name}: expected CommitOutcomeUnknown, got {other:?}"),
        }
        // Nothing was deleted, and retrying through a fresh handle lands exactly once.
        let fresh = a.open_table("t").await.unwrap();
        assert_eq!(
            fresh.insert(&sample_rows(&[(2, "b", 2.0)])).await.unwrap(),
            2
        );
        assert_eq!(
            common::ids(&fresh.scan().await.unwrap().batch),
            vec![1, 2],
            "{name}"
        );
    }
}
