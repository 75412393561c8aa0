//! Faults: corrupt and truncated cloud files, and injected store faults (errors and lost
//! responses, through the testkit's FaultStore) at every request of a push and of a pull, on
//! the cloud side and on the replica's side. After each, both sides are at a committed version
//! and running the command again completes.

use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tableshare_storage::Catalog;
use tableshare_testkit::{Fault, FaultStore};
use tableshare_transport::{Access, TransportError};

use crate::common::*;

// Guards verification on pull, for whole-file downloads and for streamed ones (a threshold of
// one byte streams every file): a corrupt or truncated cloud data file fails the pull with an
// error naming the file, leaves the replica at its version and leaves no copy of the file on the
// replica's side; once repaired, pull completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_remote_file_leaves_replica() {
    for (streamed, (kind, cloud, _dir)) in [false, true]
        .into_iter()
        .flat_map(|s| clouds().into_iter().map(move |c| (s, c)))
    {
        let kind = format!("{kind}{}", if streamed { "/streamed" } else { "" });
        let alice = transport(&cloud, Some(KEY));
        let t = sample_table(&alice).await;
        alice
            .publish("shared_demo.sample_data", "pxt://alice/t", Access::Public)
            .await
            .unwrap();
        let replica_store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let mut bob = transport_on(Catalog::open(replica_store.clone(), ""), &cloud, None);
        if streamed {
            bob = bob.with_multipart_threshold(1);
        }
        bob.replicate("pxt://alice/t", "r").await.unwrap();
        let before = all_objects(&cloud).await;
        t.insert(&rows(&[(4, "Diana", 65.3)])).await.unwrap();
        alice.push("shared_demo.sample_data").await.unwrap();
        let (path, good) = all_objects(&cloud)
            .await
            .into_iter()
            .find(|(p, _)| p.as_ref().contains("/data/") && !before.iter().any(|(q, _)| q == p))
            .unwrap();
        let file = path.as_ref().rsplit('/').next().unwrap().to_owned();
        let mut flipped = good.to_vec();
        flipped[good.len() / 2] ^= 0x40;
        for damaged in [flipped, good[..good.len() - 3].to_vec()] {
            cloud.put(&path, PutPayload::from(damaged)).await.unwrap();
            let err = bob.pull("r").await.unwrap_err();
            assert!(err.to_string().contains(&file), "{kind}: {err}");
            let r = bob.catalog().open_table("r").await.unwrap();
            assert_eq!((r.version(), ids(&r).await), (1, vec![1, 2, 3]), "{kind}");
            let left = all_objects(&replica_store).await;
            assert!(
                !left.iter().any(|(p, _)| p.as_ref().ends_with(&file)),
                "{kind}: a damaged file was kept on the replica's side"
            );
        }
        cloud
            .put(&path, PutPayload::from_bytes(good))
            .await
            .unwrap();
        assert_eq!(bob.pull("r").await.unwrap().versions, vec![2], "{kind}");
    }
}

fn fired(store: &FaultStore) -> bool {
    store.requests().iter().any(|r| r.fault.is_some())
}

// Guards push under faults: a fault at request k of a push (every k, errors and lost
// responses) leaves the cloud at a committed version readable by a replica, and pushing again
// completes with the cloud equal to the local table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_survives_faults_at_every_request() {
    for fault in [Fault::Error, Fault::LostResponse] {
        let mut k = 0;
        loop {
            let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
            let faulty = FaultStore::new(inner.clone());
            let cloud: Arc<dyn ObjectStore> = faulty.clone();
            let alice = transport(&cloud, Some(KEY));
            let t = sample_table(&alice).await;
            alice
                .publish("shared_demo.sample_data", "pxt://alice/t", Access::Public)
                .await
                .unwrap();
            t.insert(&rows(&[(4, "Diana", 65.3)])).await.unwrap();
            t.insert(&rows(&[(5, "Eve", 1.0)])).await.unwrap();
            faulty.reset();
            faulty.fail_at(k, fault);
            let first = alice.push("shared_demo.sample_data").await;
            let hit = fired(&faulty);
            faulty.disarm();
            // Whatever happened, a reader sees a committed version.
            let check = transport(&inner, None);
            check.replicate("pxt://alice/t", "c").await.unwrap();
            let v = check.catalog().open_table("c").await.unwrap().version();
            assert!((1..=3).contains(&v), "{fault:?} at {k}: {v}");
            if first.is_err() {
                assert!(hit, "{fault:?} at {k}: failed without a fault: {first:?}");
            }
            alice.push("shared_demo.sample_data").await.unwrap();
            let bob = transport(&inner, None);
            bob.replicate("pxt://alice/t", "r").await.unwrap();
            let r = bob.catalog().open_table("r").await.unwrap();
            assert_eq!(
                (r.version(), ids(&r).await),
                (3, vec![1, 2, 3, 4, 5]),
                "{fault:?} at {k}"
            );
            if !hit {
                break;
            }
            k += 1;
        }
        assert!(k > 10, "{fault:?}: the push made {k} requests");
    }
}

// Guards pull under faults, on the cloud side and on the replica's side: after a fault at any
// request the replica is at a committed version (the old or the new), and pulling again
// completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_survives_faults_at_every_request() {
    for side in ["cloud", "local"] {
        for fault in [Fault::Error, Fault::LostResponse] {
            let mut k = 0;
            loop {
                let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
                let cloud_faults = FaultStore::new(inner.clone());
                let cloud: Arc<dyn ObjectStore> = cloud_faults.clone();
                let local_faults = FaultStore::new(Arc::new(InMemory::new()));
                let alice = transport(&inner, Some(KEY));
                let t = sample_table(&alice).await;
                alice
                    .publish("shared_demo.sample_data", "pxt://alice/t", Access::Public)
                    .await
                    .unwrap();
                let bob = transport_on(Catalog::open(local_faults.clone(), ""), &cloud, None);
                bob.replicate("pxt://alice/t", "r").await.unwrap();
                t.insert(&rows(&[(4, "Diana", 65.3)])).await.unwrap();
                t.insert(&rows(&[(5, "Eve", 1.0)])).await.unwrap();
                alice.push("shared_demo.sample_data").await.unwrap();
                let faulty = if side == "cloud" {
                    &cloud_faults
                } else {
                    &local_faults
                };
                faulty.reset();
                faulty.fail_at(k, fault);
                let first = bob.pull("r").await;
                let hit = fired(faulty);
                faulty.disarm();
                let r = bob.catalog().open_table("r").await.unwrap();
                assert!((1..=3).contains(&r.version()), "{side} {fault:?} at {k}");
                if first.is_err() {
                    assert!(hit, "{side} {fault:?} at {k}: {first:?}");
                }
                bob.pull("r").await.unwrap();
                let r = bob.catalog().open_table("r").await.unwrap();
                assert_eq!(
                    (r.version(), ids(&r).await),
                    (3, vec![1, 2, 3, 4, 5]),
                    "{side} {fault:?} at {k}"
                );
                if !hit {
                    break;
                }
                k += 1;
            }
            assert!(k > 5, "{side} {fault:?}: the pull made {k} requests");
        }
    }
}

// Guards the hostile-address rule: `..`, absolute paths, percent tricks and odd characters are
// refused before anything is read or written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_addresses_refused() {
    let cloud: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let alice = transport(&cloud, Some(KEY));
    sample_table(&alice).await;
    for bad in [
        "pxt://alice/../x",
        "pxt://alice/a/../../b",
        "pxt:///etc/passwd",
        "pxt://alice//abs",
        "pxt://alice/a%2F..%2Fb",
        "pxt://al..ice/t",
        "pxt://alice/t\u{0}x",
        "pxt://alice/t x",
        "s3://bucket/t",
    ] {
        let err = alice
            .publish("shared_demo.sample_data", bad, Access::Public)
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::InvalidAddress { .. }),
            "{bad}: {err}"
        );
        let err = alice.replicate(bad, "r").await.unwrap_err();
        assert!(
            matches!(err, TransportError::InvalidAddress { .. }),
            "{bad}: {err}"
        );
    }
    assert!(all_objects(&cloud).await.is_empty());
    let err = alice.cloud_ls("../x").await.unwrap_err();
    assert!(
        matches!(err, TransportError::InvalidAddress { .. }),
        "{err}"
    );
}
