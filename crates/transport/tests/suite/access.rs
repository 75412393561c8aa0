//! Access enforced in the bytes: the key is required before anything is touched, versions are
//! signed and a replica refuses what its pinned key does not verify, private tables are
//! unreadable without the key and their stored bytes reveal no column name or value.

use object_store::{ObjectStoreExt, PutPayload};
use tableshare_transport::{Access, TransportError};

use crate::common::*;

// Guards: publish, push and drop without a key fail before any cloud object is written, and
// say how to set the key; a wrong key is AccessDenied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_required_and_checked() {
    for (kind, cloud, _dir) in clouds() {
        let nokey = transport(&cloud, None);
        sample_table(&nokey).await;
        let err = nokey
            .publish("shared_demo.sample_data", "pxt://alice/t", Access::Public)
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::KeyRequired { .. }),
            "{kind}: {err}"
        );
        assert!(err.to_string().contains("TABLESHARE_API_KEY"), "{err}");
        assert!(
            all_objects(&cloud).await.is_empty(),
            "{kind}: nothing touched"
        );
        let err = nokey.push("shared_demo.sample_data").await.unwrap_err();
        assert!(
            matches!(err, TransportError::KeyRequired { .. }),
            "{kind}: {err}"
        );

        let alice = transport(&cloud, Some(KEY));
        sample_table(&alice).await;
        alice
            .publish("shared_demo.sample_data", "pxt://alice/t", Access::Public)
            .await
            .unwrap();
        let before = all_objects(&cloud).await;
        let mallory = transport(&cloud, Some("not-the-key"));
        sample_table(&mallory).await;
        let err = mallory
            .publish("shared_demo.sample_data", "pxt://alice/u", Access::Public)
            .await
            .unwrap_err();
        assert!(
            matches!(err, TransportError::AccessDenied { .. }),
            "{kind}: {err}"
        );
        let err = mallory.cloud_drop("pxt://alice/t").await.unwrap_err();
        assert!(
            matches!(err, TransportError::AccessDenied { .. }),
            "{kind}: {err}"
        );
        assert_eq!(
            all_objects(&cloud).await,
            before,
            "{kind}: a wrong key changes nothing"
        );
    }
}

// Guards authenticity: a writer of the bucket without the org key adds a version (a real
// manifest, signed with another key) and replaces the org's public key; the replica, which
// pinned the key, refuses the version and stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_writer_cannot_inject() {
    for (kind, cloud, _dir) in clouds() {
        let alice = transport(&cloud, Some(KEY));
        let t = sample_table(&alice).await;
        alice
            .publish("shared_demo.sample_data", "pxt://alice/t", Access::Public)
            .await
            .unwrap();
        let bob = transport(&cloud, None);
        bob.replicate("pxt://alice/t", "r").await.unwrap();

        // Mallory publishes her own rows with her own key in her own org on the same bucket,
        // then copies her version 2 (files, manifest, signature) into alice's table and puts
        // her public key in place of alice's.
        let mallory = transport(&cloud, Some("mallory-key"));
        let mt = sample_table(&mallory).await;
        mt.insert(&rows(&[(666, "injected", 6.6)])).await.unwrap();
        mallory
            .publish("shared_demo.sample_data", "pxt://mallory/t", Access::Public)
            .await
            .unwrap();
        let _ = t;
        for (p, b) in objects_named(&cloud, "mallory/_/t/").await {
            let target = p.as_ref().replace("mallory/_/t/", "alice/_/t/");
            if p.as_ref().contains("_versions/")
                && !p.as_ref().ends_with(&format!("{:020}.json", u64::MAX - 2))
            {
                continue;
            }
            if p.as_ref().ends_with("_share.json") {
                continue;
            }
            cloud
                .put(&target.as_str().into(), PutPayload::from_bytes(b))
                .await
                .unwrap();
        }
        let mkey = objects_named(&cloud, "mallory/_org/").await.remove(0).1;
        cloud
            .put(
                &"alice/_org/signing_key.pub".into(),
                PutPayload::from_bytes(mkey),
            )
            .await
            .unwrap();

        let err = bob.pull("r").await.unwrap_err();
        assert!(
            matches!(err, TransportError::Unauthentic { version: 2, .. }),
            "{kind}: {err}"
        );
        let r = bob.catalog().open_table("r").await.unwrap();
        assert_eq!((r.version(), ids(&r).await), (1, vec![1, 2, 3]), "{kind}");
        // A replica made now pins the wrong key, but alice's own versions then fail for it:
        // the forged key cannot make alice's signed history verify.
        let carol = transport(&cloud, None);
        let err = carol.replicate("pxt://alice/t", "c").await.unwrap_err();
        assert!(
            matches!(err, TransportError::Unauthentic { version: 0, .. }),
            "{kind}: {err}"
        );
        assert!(
            carol.catalog().list("", true).await.unwrap().is_empty(),
            "{kind}"
        );
    }
}

// Guards private tables: replicate or pull without the key is AccessDenied; with it the rows
// arrive; the cloud's bytes contain no column name and no cell value (while a public table's
// bytes do, so the scan can find them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_tables_are_sealed() {
    for (kind, cloud, _dir) in clouds() {
        let alice = transport(&cloud, Some(KEY));
        let t = sample_table(&alice).await;
        alice
            .publish("shared_demo.sample_data", "pxt://alice/p", Access::Private)
            .await
            .unwrap();
        let nokey = transport(&cloud, None);
        let err = nokey.replicate("pxt://alice/p", "r").await.unwrap_err();
        assert!(
            matches!(err, TransportError::AccessDenied { .. }),
            "{kind}: {err}"
        );
        let wrong = transport(&cloud, Some("wrong"));
        let err = wrong.replicate("pxt://alice/p", "r").await.unwrap_err();
        assert!(
            matches!(err, TransportError::AccessDenied { .. }),
            "{kind}: {err}"
        );
        assert!(nokey.catalog().list("", true).await.unwrap().is_empty());

        let bob = transport(&cloud, Some(KEY));
        bob.replicate("pxt://alice/p", "r").await.unwrap();
        t.insert(&rows(&[(4, "Diana", 65.3)])).await.unwrap();
        alice.push("shared_demo.sample_data").await.unwrap();
        assert_eq!(bob.pull("r").await.unwrap().versions, vec![2]);
        let r = bob.catalog().open_table("r").await.unwrap();
        assert_eq!(ids(&r).await, vec![1, 2, 3, 4], "{kind}");

        let needles: [&[u8]; 5] = [b"Alice", b"Charlie", b"Diana", b"value", b"name"];
        let private = objects_named(&cloud, "alice/_/p/").await;
        assert!(private.len() > 5, "{kind}");
        for (p, b) in &private {
            for n in needles {
                assert!(
                    !b.windows(n.len()).any(|w| w == n),
                    "{kind}: {p} reveals {}",
                    String::from_utf8_lossy(n)
                );
            }
        }
        alice
            .publish("shared_demo.sample_data", "pxt://alice/q", Access::Public)
            .await
            .unwrap_err();
        let other = transport(&cloud, Some(KEY));
        sample_table(&other).await;
        other
            .publish("shared_demo.sample_data", "pxt://alice/q", Access::Public)
            .await
            .unwrap();
        let public = objects_named(&cloud, "alice/_/q/").await;
        assert!(
            public
                .iter()
                .any(|(_, b)| b.windows(5).any(|w| w == b"Alice")),
            "{kind}: the scan finds values in a public table"
        );
    }
}
