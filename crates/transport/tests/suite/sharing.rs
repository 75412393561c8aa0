//! The seed 000 walkthrough as cases: publish, replicate, push, pull, versions, independent
//! copies, incremental transfers, racing pushers, cloud ls and drop.

use std::sync::Arc;

use arrow_schema::{DataType, Field};
use tableshare_core::RowSet;
use tableshare_storage::Selection;
use tableshare_transport::{Access, TransportError};

use crate::common::*;

// Guards the seed's round trip: full history published, replica read-only and equal, each
// pushed version (insert, delete, schema change) pulled as its own local commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_replicate_push_pull() {
    for (kind, cloud, _dir) in clouds() {
        let alice = transport(&cloud, Some(KEY));
        let t = sample_table(&alice).await;
        let uri = alice
            .publish(
                "shared_demo.sample_data",
                "pxt://alice/shared.sample_data",
                Access::Public,
            )
            .await
            .unwrap();
        assert_eq!(uri.to_string(), "pxt://alice/shared.sample_data", "{kind}");
        let bob = transport(&cloud, None);
        let r = bob
            .replicate("pxt://alice/shared.sample_data", "replica")
            .await
            .unwrap();
        assert_eq!(r.versions, vec![0, 1], "{kind}");
        let replica = bob.catalog().open_table("replica").await.unwrap();
        assert!(replica.is_read_only());
        assert_eq!(ids(&replica).await, vec![1, 2, 3], "{kind}");
        let info = bob.catalog().replica_info("replica").await.unwrap();
        assert_eq!(info.upstream, "pxt://alice/shared.sample_data");
        assert_eq!(info.upstream_version, Some(1));

        t.insert(&rows(&[(4, "Diana", 65.3)])).await.unwrap();
        t.delete(&Selection::Keys(RowSet::from_iter([0u64])))
            .await
            .unwrap();
        t.add_column(Field::new("note", DataType::Utf8, true))
            .await
            .unwrap();
        let pushed = alice.push("shared_demo.sample_data").await.unwrap();
        assert_eq!(pushed.versions, vec![2, 3, 4], "{kind}");
        // Nothing new: a second push moves nothing.
        let again = alice.push("shared_demo.sample_data").await.unwrap();
        assert!(again.versions.is_empty() && again.files_sent == 0, "{kind}");

        let pulled = bob.pull("replica").await.unwrap();
        assert_eq!(pulled.versions, vec![2, 3, 4], "{kind}");
        let replica = bob.catalog().open_table("replica").await.unwrap();
        assert_eq!(replica.version(), 4);
        assert_eq!(ids(&replica).await, vec![2, 3, 4], "{kind}");
        assert!(
            replica.schema().column_with_name("note").is_some(),
            "{kind}"
        );
        // One local commit per upstream version, same history as the source.
        let ours: Vec<_> = t.history().await.unwrap();
        let theirs: Vec<_> = replica.history().await.unwrap();
        assert_eq!(ours, theirs, "{kind}");
        assert_eq!(
            bob.catalog()
                .replica_info("replica")
                .await
                .unwrap()
                .upstream_version,
            Some(4)
        );
        assert!(bob.pull("replica").await.unwrap().versions.is_empty());
        // Publishing again at the same address is a clear error.
        let other = transport(&cloud, Some(KEY));
        sample_table(&other).await;
        let err = other
            .publish(
                "shared_demo.sample_data",
                "pxt://alice/shared.sample_data",
                Access::Public,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::AlreadyExists { .. }),
            "{kind}: {err}"
        );
    }
}

// Guards `pxt://…:N`: a replica of an old version, and an independent writable copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_independent_copies() {
    for (kind, cloud, _dir) in clouds() {
        let alice = transport(&cloud, Some(KEY));
        let t = sample_table(&alice).await;
        t.insert(&rows(&[(4, "Diana", 65.3)])).await.unwrap();
        alice
            .publish("shared_demo.sample_data", "pxt://alice/d.t", Access::Public)
            .await
            .unwrap();
        let bob = transport(&cloud, None);
        bob.replicate("pxt://alice/d.t:1", "old").await.unwrap();
        let old = bob.catalog().open_table("old").await.unwrap();
        assert_eq!(
            (old.version(), ids(&old).await),
            (1, vec![1, 2, 3]),
            "{kind}"
        );
        assert_eq!(bob.pull("old").await.unwrap().versions, vec![2]);

        let copy = bob.create_copy("mine", "pxt://alice/d.t:1").await.unwrap();
        assert!(!copy.is_read_only());
        assert_eq!(ids(&copy).await, vec![1, 2, 3], "{kind}");
        copy.insert(&rows(&[(9, "Eve", 88.9)])).await.unwrap();
        assert_eq!(ids(&copy).await, vec![1, 2, 3, 9]);
        assert!(
            bob.catalog().replica_info("mine").await.is_err(),
            "no upstream"
        );
        let err = bob.replicate("pxt://alice/d.t:7", "x").await.unwrap_err();
        assert!(err.to_string().contains('7'), "{kind}: {err}");
        let err = bob.replicate("pxt://alice/nothing", "y").await.unwrap_err();
        assert!(matches!(err, TransportError::NotFound { .. }), "{err}");
    }
}

// Guards cost: pushing one row onto a published table moves one small file, not the table;
// files the cloud has are checked, not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_is_incremental() {
    for (kind, cloud, _dir) in clouds() {
        let alice = transport(&cloud, Some(KEY));
        let t = sample_table(&alice).await;
        let big: Vec<(i64, String, f64)> = (10..50_010)
            .map(|i| (i, format!("name-{i}"), i as f64))
            .collect();
        let refs: Vec<(i64, &str, f64)> =
            big.iter().map(|(a, b, c)| (*a, b.as_str(), *c)).collect();
        t.insert(&rows(&refs)).await.unwrap();
        let first = alice
            .publish("shared_demo.sample_data", "pxt://alice/big", Access::Public)
            .await;
        first.unwrap();
        let full: u64 = objects_named(&cloud, "/data/")
            .await
            .iter()
            .map(|(_, b)| b.len() as u64)
            .sum();
        t.insert(&rows(&[(1_000_000, "one", 1.0)])).await.unwrap();
        let r = alice.push("shared_demo.sample_data").await.unwrap();
        assert_eq!(r.files_sent, 1, "{kind}");
        assert!(r.files_skipped >= 2, "{kind}: {r:?}");
        assert!(
            r.bytes_sent * 50 < full,
            "{kind}: sent {} of {full}",
            r.bytes_sent
        );
        let bob = transport(&cloud, None);
        bob.replicate("pxt://alice/big:2", "b").await.unwrap();
        let p = bob.pull("b").await.unwrap();
        assert_eq!((p.versions.clone(), p.files_sent), (vec![3], 1), "{kind}");
    }
}

// Guards non-fast-forward: two clones of one published table push different versions at the
// same time; exactly one wins, the other is refused naming both versions, nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_pushers() {
    use std::time::Duration;

    use object_store::ObjectStore;
    use object_store::memory::InMemory;
    use tableshare_storage::Catalog;
    use tableshare_testkit::{Fault, FaultStore, Op};
    for (kind, cloud, _dir) in clouds() {
        let mut base: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let a = transport_on(Catalog::open(base.clone(), ""), &cloud, Some(KEY));
        sample_table(&a).await;
        a.publish(
            "shared_demo.sample_data",
            "pxt://alice/race",
            Access::Public,
        )
        .await
        .unwrap();
        drop(a);
        for round in 0..4i64 {
            // Two clones of the machine in step with the cloud: both are the publisher.
            let (sa, sb): (Arc<dyn ObjectStore>, Arc<dyn ObjectStore>) =
                (Arc::new(InMemory::new()), Arc::new(InMemory::new()));
            copy_store(&base, &sa).await;
            copy_store(&base, &sb).await;
            // Each pusher talks to the cloud through its own fault store, which holds its
            // manifest create for a moment: both pass the fast-forward check before either
            // commits, so the conditional create itself decides.
            let (fa, fb) = (
                FaultStore::new(cloud.clone()),
                FaultStore::new(cloud.clone()),
            );
            for f in [&fa, &fb] {
                f.fail_next(
                    Op::Put,
                    Some("_versions/"),
                    Fault::Delay(Duration::from_millis(150)),
                );
            }
            let (ca, cb): (Arc<dyn ObjectStore>, Arc<dyn ObjectStore>) = (fa.clone(), fb.clone());
            let a = transport_on(Catalog::open(sa.clone(), ""), &ca, Some(KEY));
            let b = transport_on(Catalog::open(sb.clone(), ""), &cb, Some(KEY));
            let ta = a
                .catalog()
                .open_table("shared_demo.sample_data")
                .await
                .unwrap();
            let tb = b
                .catalog()
                .open_table("shared_demo.sample_data")
                .await
                .unwrap();
            ta.insert(&rows(&[(100 + round, "from-a", 0.0)]))
                .await
                .unwrap();
            tb.insert(&rows(&[(200 + round, "from-b", 0.0)]))
                .await
                .unwrap();
            let barrier = tokio::sync::Barrier::new(2);
            let (ra, rb) = tokio::join!(
                async {
                    barrier.wait().await;
                    a.push("shared_demo.sample_data").await
                },
                async {
                    barrier.wait().await;
                    b.push("shared_demo.sample_data").await
                }
            );
            // The race happened: both issued the conditional create of the same version.
            let version_path = format!("_versions/{:020}.json", u64::MAX - (2 + round as u64));
            for (who, f) in [("a", &fa), ("b", &fb)] {
                let creates = f
                    .requests()
                    .iter()
                    .filter(|r| r.op == Op::Put && r.path.ends_with(&version_path))
                    .count();
                assert_eq!(
                    creates,
                    1,
                    "{kind}: {who} did not race for version {}",
                    2 + round
                );
            }
            let (loser, winner) = match (&ra, &rb) {
                (Ok(_), Err(e)) => (e, sa),
                (Err(e), Ok(_)) => (e, sb),
                other => panic!("{kind}: expected one winner, got {other:?}"),
            };
            match loser {
                TransportError::NonFastForward {
                    local_version,
                    remote_version,
                    ..
                } => {
                    assert_eq!(
                        *local_version, *remote_version,
                        "{kind}: both wrote one version"
                    );
                    assert_eq!(*remote_version, 2 + round as u64);
                    assert!(loser.to_string().contains(&remote_version.to_string()));
                }
                other => panic!("{kind}: {other}"),
            }
            base = winner;
        }
        let bob = transport(&cloud, None);
        bob.replicate("pxt://alice/race", "r").await.unwrap();
        let r = bob.catalog().open_table("r").await.unwrap();
        assert_eq!(r.version(), 5, "{kind}: one version per round, none lost");
        assert_eq!(ids(&r).await.len(), 3 + 4, "{kind}");
    }
}

// Guards cloud ls and drop: listing shows access and version; drop needs the key and removes
// the table; replicas keep working offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_ls_and_drop() {
    for (kind, cloud, _dir) in clouds() {
        let alice = transport(&cloud, Some(KEY));
        let t = sample_table(&alice).await;
        alice
            .publish(
                "shared_demo.sample_data",
                "pxt://alice/a.pub",
                Access::Public,
            )
            .await
            .unwrap();
        t.insert(&rows(&[(5, "E", 1.0)])).await.unwrap();
        let t2 = alice
            .catalog()
            .create_table("other", &t.table_schema().unwrap())
            .await
            .unwrap();
        let _ = t2;
        alice
            .publish("other", "pxt://alice:db1/b.priv", Access::Private)
            .await
            .unwrap();
        let listed = alice.cloud_ls("alice").await.unwrap();
        let got: Vec<_> = listed
            .iter()
            .map(|e| (e.uri.as_str(), e.access, e.version))
            .collect();
        assert_eq!(
            got,
            vec![
                ("pxt://alice/a.pub", Access::Public, 1),
                ("pxt://alice:db1/b.priv", Access::Private, 0)
            ],
            "{kind}"
        );
        // Listing walks folders (the org, then each database), never the tables' own files.
        let watched = tableshare_testkit::FaultStore::new(cloud.clone());
        let watched_cloud: Arc<dyn object_store::ObjectStore> = watched.clone();
        assert_eq!(
            transport(&watched_cloud, None)
                .cloud_ls("alice")
                .await
                .unwrap(),
            listed
        );
        let mut lists: Vec<String> = watched
            .requests()
            .iter()
            .filter(|r| r.op == tableshare_testkit::Op::List)
            .map(|r| r.path.clone())
            .collect();
        lists.sort();
        assert_eq!(lists, ["alice", "alice/_", "alice/db1"], "{kind}");
        let bob = transport(&cloud, None);
        bob.replicate("pxt://alice/a.pub", "r").await.unwrap();
        let err = bob.cloud_drop("pxt://alice/a.pub").await.unwrap_err();
        assert!(matches!(err, TransportError::KeyRequired { .. }), "{err}");
        alice.cloud_drop("pxt://alice/a.pub").await.unwrap();
        assert_eq!(alice.cloud_ls("alice").await.unwrap().len(), 1);
        assert!(
            objects_named(&cloud, "alice/_/a.pub/").await.is_empty(),
            "{kind}"
        );
        let r = bob.catalog().open_table("r").await.unwrap();
        assert_eq!(
            ids(&r).await,
            vec![1, 2, 3],
            "{kind}: replica works offline"
        );
        assert!(matches!(
            bob.pull("r").await.unwrap_err(),
            TransportError::NotFound { .. }
        ));
        let err = alice.cloud_drop("pxt://alice/a.pub").await.unwrap_err();
        assert!(matches!(err, TransportError::NotFound { .. }), "{err}");
    }
}

// Guards "live readers tick per version": a subscriber of a replica sees a pull of three
// versions (insert, add column, insert) as three steps: the update to 2, the schema change at 3
// (which cannot be coalesced with its neighbours), then the update to 4; never one jump.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_replica_ticks_per_pulled_version() {
    use tableshare_core::TableEvent;
    let cloud: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let alice = transport(&cloud, Some(KEY));
    let t = sample_table(&alice).await;
    alice
        .publish(
            "shared_demo.sample_data",
            "pxt://alice/live",
            Access::Public,
        )
        .await
        .unwrap();
    let bob = transport(&cloud, None);
    bob.replicate("pxt://alice/live", "r").await.unwrap();
    let replica = bob.catalog().open_table("r").await.unwrap();
    let live = replica.live().await.unwrap();
    let (snapshot, mut sub) = live.subscribe().unwrap();
    assert_eq!((snapshot.num_rows(), snapshot.step()), (3, 1));
    t.insert(&rows(&[(4, "Diana", 65.3)])).await.unwrap();
    t.add_column(Field::new("note", DataType::Utf8, true))
        .await
        .unwrap();
    let with_note = arrow_array::RecordBatch::try_new(
        t.schema(),
        vec![
            Arc::new(arrow_array::Int64Array::from(vec![5])),
            Arc::new(arrow_array::StringArray::from(vec!["Eve"])),
            Arc::new(arrow_array::Float64Array::from(vec![88.9])),
            Arc::new(arrow_array::StringArray::from(vec!["new"])),
        ],
    )
    .unwrap();
    t.insert(&with_note).await.unwrap();
    alice.push("shared_demo.sample_data").await.unwrap();
    assert_eq!(bob.pull("r").await.unwrap().versions, vec![2, 3, 4]);
    let mut seen = Vec::new();
    while seen.last().map(|(s, _)| *s) != Some(4) {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), sub.next())
            .await
            .expect("the live replica ticked")
            .unwrap()
            .unwrap();
        let kind = match event {
            TableEvent::Update(_) => "update",
            TableEvent::SchemaChange(_) => "schema",
            _ => "other",
        };
        seen.push((event.step(), kind));
    }
    assert_eq!(seen, vec![(2, "update"), (3, "schema"), (4, "update")]);
}

// Guards multipart uploads: with a low threshold every object goes up in parts, and the
// replica (which verifies every byte) is equal to the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_arrive_whole() {
    for (kind, cloud, _dir) in clouds() {
        let alice = transport(&cloud, Some(KEY)).with_multipart_threshold(1024);
        let t = sample_table(&alice).await;
        let big: Vec<(i64, String, f64)> = (10..20_010)
            .map(|i| (i, format!("n-{i}"), i as f64))
            .collect();
        let refs: Vec<(i64, &str, f64)> =
            big.iter().map(|(a, b, c)| (*a, b.as_str(), *c)).collect();
        t.insert(&rows(&refs)).await.unwrap();
        alice
            .publish("shared_demo.sample_data", "pxt://alice/mp", Access::Private)
            .await
            .unwrap();
        let bob = transport(&cloud, Some(KEY));
        bob.replicate("pxt://alice/mp", "r").await.unwrap();
        let r = bob.catalog().open_table("r").await.unwrap();
        assert_eq!(ids(&r).await, ids(&t).await, "{kind}");

        // Public files above the threshold stream both ways (StoreRoot::copy_verified_to).
        alice
            .publish(
                "shared_demo.sample_data",
                "pxt://alice/mp_pub",
                Access::Public,
            )
            .await
            .unwrap_err(); // the table is already published (as pxt://alice/mp)
        let carol = transport(&cloud, Some(KEY)).with_multipart_threshold(1024);
        let c = sample_table(&carol).await;
        c.insert(&rows(&refs)).await.unwrap();
        carol
            .publish(
                "shared_demo.sample_data",
                "pxt://alice/mp_pub",
                Access::Public,
            )
            .await
            .unwrap();
        let dave = transport(&cloud, None).with_multipart_threshold(1024);
        dave.replicate("pxt://alice/mp_pub", "r").await.unwrap();
        let r = dave.catalog().open_table("r").await.unwrap();
        assert_eq!(ids(&r).await, ids(&c).await, "{kind}: streamed public copy");
    }
}
