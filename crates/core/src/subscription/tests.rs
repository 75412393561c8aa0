use std::time::Duration;

use super::*;
use crate::test_support::{Row, batch, ids, schema, set};
use crate::{LiveTable, LiveTableOptions};

const A: Row = (0, 1, None, None);

/// Subscribes to a table with a ring of `capacity`, runs `writes` appends, then reads once
/// with `try_next`; `expected` is (step reached, resyncs, removed keys, added keys).
fn check(capacity: usize, writes: usize, expected: (Step, u64, &[u64], &[u64])) {
    let options = LiveTableOptions::default().with_subscriber_capacity(capacity);
    let table = LiveTable::new(schema(), options);
    table.append(batch(&[A, A])).unwrap();
    let (snapshot, mut subscription) = table.subscribe().unwrap();
    for _ in 0..writes {
        table.append(batch(&[A])).unwrap();
    }
    let update = subscription.try_next().unwrap().unwrap();
    let (step, resyncs, removed, added) = expected;
    assert_eq!(update.step(), step);
    assert_eq!(subscription.step(), step);
    assert_eq!(subscription.resyncs(), resyncs);
    assert_eq!(update.removed().to_vec(), removed);
    assert_eq!(update.added().keys(), added);
    assert_eq!(
        &snapshot.apply(&update).unwrap(),
        &table.snapshot().unwrap()
    );
    assert_eq!(subscription.keys(), table.snapshot().unwrap().key_set());
    assert!(
        subscription.try_next().is_none(),
        "everything was delivered at once"
    );

    // After a resync, stale queued steps are skipped and the next step arrives alone.
    table.modify(vec![ids(&[0], &[7])]).unwrap();
    let next = subscription.try_next().unwrap().unwrap();
    assert_eq!(next.step(), step + 1);
    assert_eq!(next.modified_keys(), set(&[0]));
}

#[test]
fn queued_steps_coalesce_and_lag_resyncs() {
    // One step: delivered as is.
    check(4, 1, (2, 0, &[], &[2]));
    // Within the ring: coalesced into one update, no resync.
    check(4, 4, (5, 0, &[], &[2, 3, 4, 5]));
    // Beyond the ring: resync, replacing every held row with the snapshot.
    check(2, 5, (6, 1, &[0, 1], &[0, 1, 2, 3, 4, 5, 6]));
}

#[tokio::test(flavor = "current_thread")]
async fn next_waits_for_the_next_step() {
    let table = LiveTable::new(schema(), LiveTableOptions::default());
    let (_, mut subscription) = table.subscribe().unwrap();
    let writer = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        table.append(batch(&[A])).unwrap();
    };
    let (update, ()) = tokio::join!(subscription.next(), writer);
    assert_eq!(update.unwrap().unwrap().step(), 1);

    drop(table);
    assert!(subscription.next().await.is_none(), "the table is gone");
}

#[test]
fn a_lagging_reader_of_a_failed_table_gets_the_failure() {
    let table = LiveTable::new(
        schema(),
        LiveTableOptions::default().with_subscriber_capacity(1),
    );
    let (_, mut subscription) = table.subscribe().unwrap();
    for _ in 0..3 {
        table.append(batch(&[A])).unwrap();
    }
    table.fail("broken");
    let error = subscription.try_next().unwrap().unwrap_err();
    assert!(matches!(error, CoreError::TableFailed { .. }));
    assert!(subscription.try_next().is_none());
    assert!(subscription.is_finished());
}
