//! Unit tests of [`LiveTable`]: atomic steps, keys, blink mode, failure, schema changes, and
//! lockstep under concurrent writers and subscribers.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::*;
use crate::test_support::{Row, added, batch, ids, owned, schema, set, snapshot_rows, update};

const A: Row = (0, 10, Some("a"), Some(1.0));
const B: Row = (1, 20, None, None);

fn table(options: LiveTableOptions) -> LiveTable {
    let table = LiveTable::new(schema(), options);
    table.append(batch(&[A, B])).unwrap();
    table
}

/// Offers `bad` to a table holding A and B; it must fail with `expected` (Debug form) and
/// leave the table, its step and its subscribers untouched.
fn check(bad: impl FnOnce(&LiveTable) -> Result<Step>, expected: &str) {
    let table = table(LiveTableOptions::default());
    let (before, mut subscription) = table.subscribe().unwrap();
    let error = bad(&table).unwrap_err();
    assert_eq!(format!("{error:?}"), expected);
    assert_eq!(table.snapshot().unwrap(), before);
    assert_eq!(table.step(), 1);
    assert_eq!(table.next_key(), 2);
    assert!(subscription.try_next().is_none(), "nothing was published");
}

fn other_batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

#[test]
fn bad_updates_leave_the_table_unchanged() {
    check(|t| t.remove(set(&[7])), "KeyNotPresent { key: 7 }");
    check(
        |t| t.apply(update(0, &[], &[B], vec![])),
        "DuplicateKey { key: 1 }",
    );
    check(
        |t| t.modify(vec![ids(&[9], &[0])]),
        "KeyNotPresent { key: 9 }",
    );
    check(
        |t| {
            let change = ColumnChange::new("nope", vec![0], Arc::new(Int64Array::from(vec![1])))?;
            t.modify(vec![change])
        },
        r#"UnknownColumn { column: "nope" }"#,
    );
    check(
        |t| {
            let fields = vec![Field::new("id", DataType::Int64, false)];
            t.append(other_batch(
                fields,
                vec![Arc::new(Int64Array::from(vec![1]))],
            ))
        },
        r#"MissingColumn { column: "name" }"#,
    );
    check(
        |t| {
            let fields = vec![
                Field::new("id", DataType::Utf8, false),
                Field::new("name", DataType::Utf8, true),
                Field::new("value", DataType::Utf8, true),
            ];
            let text: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
            t.append(other_batch(fields, vec![text.clone(), text.clone(), text]))
        },
        r#"ColumnTypeMismatch { column: "id", expected: Int64, found: Utf8 }"#,
    );
    check(
        |t| {
            let mut fields: Vec<Field> = schema()
                .arrow()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new("extra", DataType::Int64, true));
            let mut columns = batch(&[A]).columns().to_vec();
            columns.push(Arc::new(Int64Array::from(vec![1])));
            t.append(other_batch(fields, columns))
        },
        r#"UnknownColumn { column: "extra" }"#,
    );
    check(
        |t| t.apply_at(update(1, &[], &[], vec![])),
        "StepOrder { previous: 1, next: 1 }",
    );
}

#[test]
fn steps_keys_and_appends() {
    let table = table(LiveTableOptions::default());
    assert_eq!(
        table
            .apply(update(99, &[0], &[(100, 0, None, None)], vec![]))
            .unwrap(),
        2
    );
    assert_eq!(
        table.next_key(),
        101,
        "explicit keys move the next key past them"
    );
    assert_eq!(table.append(batch(&[A])).unwrap(), 3);
    assert_eq!(table.snapshot().unwrap().key_vec(), [1, 100, 101]);
    assert_eq!(table.apply_at(update(10, &[], &[], vec![])).unwrap(), 10);
    assert_eq!(table.step(), 10);

    let copy = LiveTable::from_snapshot(table.snapshot().unwrap(), LiveTableOptions::default());
    assert_eq!((copy.step(), copy.next_key()), (10, 102));
    copy.advance_next_key(500);
    copy.advance_next_key(7);
    assert_eq!(copy.next_key(), 500, "never backwards");
    copy.append(batch(&[A])).unwrap();
    assert_eq!(copy.snapshot().unwrap().last_key(), Some(500));
}

/// Regression guard: subscribers must receive updates in the table's schema even when the
/// producer's batch orders its columns differently.
#[test]
fn published_updates_carry_the_table_schema() {
    let table = table(LiveTableOptions::default());
    let (_, mut subscription) = table.subscribe().unwrap();
    let reordered = batch(&[A]).project(&[2, 0, 1]).unwrap();
    table.append(reordered).unwrap();
    let update = subscription
        .try_next()
        .unwrap()
        .unwrap()
        .into_update()
        .unwrap();
    assert_eq!(&update.schema(), schema().arrow());
    assert_eq!(update.added(), &added(&[(2, 10, Some("a"), Some(1.0))]));
}

#[test]
fn blink_tables_hold_only_the_last_step() {
    let table = table(LiveTableOptions::default().with_blink(true));
    let (_, mut subscription) = table.subscribe().unwrap();
    table.append(batch(&[(0, 5, None, None)])).unwrap();
    let snapshot = table.snapshot().unwrap();
    assert_eq!(snapshot_rows(&snapshot), owned(&[(2, 5, None, None)]));

    let update = subscription
        .try_next()
        .unwrap()
        .unwrap()
        .into_update()
        .unwrap();
    assert_eq!(
        update.removed(),
        &set(&[0, 1]),
        "the update says the old rows blinked out"
    );
    assert_eq!(update.added(), &added(&[(2, 5, None, None)]));

    let error = table.modify(vec![ids(&[2], &[1])]).unwrap_err();
    assert!(matches!(error, CoreError::BlinkModification { column } if column == "id"));
    assert_eq!(
        table
            .apply(TableUpdate::empty(0, schema().arrow().clone()))
            .unwrap(),
        3
    );
    assert!(
        table.snapshot().unwrap().is_empty(),
        "an empty step blinks everything out"
    );
}

#[derive(Debug, thiserror::Error)]
#[error("upstream went away")]
struct Upstream;

#[test]
fn failure_reaches_readers_and_writers() {
    let table = table(LiveTableOptions::default());
    let (_, mut subscription) = table.subscribe().unwrap();
    table.append(batch(&[A])).unwrap();
    table.fail(Upstream);
    table.fail("a second failure is ignored");

    let cause = |error: CoreError| match error {
        CoreError::TableFailed { source } => source.to_string(),
        other => panic!("expected TableFailed, got {other:?}"),
    };
    assert_eq!(cause(table.snapshot().unwrap_err()), "upstream went away");
    assert_eq!(cause(table.subscribe().unwrap_err()), "upstream went away");
    assert_eq!(
        cause(table.append(batch(&[A])).unwrap_err()),
        "upstream went away"
    );
    assert_eq!(table.step(), 2);

    // The subscriber first gets the step published before the failure, then the failure.
    assert_eq!(subscription.try_next().unwrap().unwrap().step(), 2);
    assert_eq!(
        cause(subscription.try_next().unwrap().unwrap_err()),
        "upstream went away"
    );
    assert!(subscription.try_next().is_none());
    assert!(subscription.is_finished());
}

#[test]
fn dropping_the_table_ends_subscriptions_after_delivery() {
    let table = table(LiveTableOptions::default());
    let (_, mut subscription) = table.subscribe().unwrap();
    assert_eq!(table.subscriber_count(), 1);
    table.append(batch(&[A])).unwrap();
    drop(table);
    assert!(!subscription.is_finished());
    assert_eq!(subscription.try_next().unwrap().unwrap().step(), 2);
    assert!(subscription.try_next().is_none());
    assert!(subscription.is_finished());
}

/// Regression guard for the lockstep guarantee under contention: subscriptions taken while
/// writers race must each reproduce the table exactly, including through lag resyncs.
#[test]
fn concurrent_writers_and_subscribers_stay_in_lockstep() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const WRITES: i64 = 150;
    let table = LiveTable::new(
        schema(),
        LiveTableOptions::default().with_history_capacity(4),
    );
    let writers_done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for writer in 0..2 {
            let (table, writers_done) = (table.clone(), &writers_done);
            scope.spawn(move || {
                for i in 0..WRITES {
                    table.append(batch(&[(0, i, None, None)])).unwrap();
                    if i % 3 == writer {
                        // Races the other writer for the same key: one of them may miss.
                        let first = table.snapshot().unwrap().first_key().unwrap();
                        let _ = table.remove(set(&[first]));
                    }
                }
                writers_done.fetch_add(1, Ordering::SeqCst);
            });
        }
        for _ in 0..2 {
            let (table, writers_done) = (table.clone(), &writers_done);
            scope.spawn(move || {
                let (mut mirror, mut subscription) = table.subscribe().unwrap();
                let mut follow = |mirror: &mut Snapshot| {
                    if let Some(update) = subscription.try_next() {
                        *mirror = update.unwrap().apply_to(mirror).unwrap();
                    } else {
                        std::thread::yield_now();
                    }
                };
                while writers_done.load(Ordering::SeqCst) < 2 {
                    follow(&mut mirror);
                }
                let last = table.snapshot().unwrap();
                while mirror.step() < last.step() {
                    follow(&mut mirror);
                }
                assert_eq!(mirror, last);
            });
        }
    });
}

/// Regression guard for the cost of a step: a one-row append to a table of several full chunks
/// rebuilds at most the tail chunk and shares every other chunk with the previous snapshot, so
/// its work does not grow with the table.
#[test]
fn an_append_shares_every_chunk_but_the_tail() {
    let rows: Vec<Row> = (0..200_000u64)
        .map(|key| (key, key as i64, None, None))
        .collect();
    let start = Snapshot::new(schema(), 1, crate::test_support::keys(&rows), batch(&rows)).unwrap();
    let table = LiveTable::from_snapshot(start, LiveTableOptions::default());
    for _ in 0..50 {
        let before = table.snapshot().unwrap();
        table.append(batch(&[A])).unwrap();
        let after = table.snapshot().unwrap();
        let shared = before
            .chunk_list()
            .iter()
            .zip(after.chunk_list())
            .take_while(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert!(
            shared + 1 >= before.num_chunks(),
            "{shared} of {} shared",
            before.num_chunks()
        );
        assert!(after.num_chunks() <= before.num_chunks() + 1);
    }
    assert_eq!(table.snapshot().unwrap().num_rows(), 200_050);
}
