//! Unit tests of [`Subscription`]: coalescing, per-subscriber capacity and resync, resuming from
//! a known step, schema change events, waiting, and failure.

use std::time::Duration;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::*;
use crate::test_support::{Row, batch, ids, schema, set};
use crate::{LiveTable, LiveTableOptions};

const A: Row = (0, 1, None, None);

fn update_of(event: Option<Result<TableEvent>>) -> TableUpdate {
    event.unwrap().unwrap().into_update().unwrap()
}

/// Subscribes with `capacity` to a table holding two rows, runs `writes` appends, then reads
/// once with `try_next`; `expected` is (step reached, resyncs, reset?, added keys).
fn check(capacity: usize, writes: usize, expected: (Step, u64, bool, &[u64])) {
    let table = LiveTable::new(schema(), LiveTableOptions::default());
    table.append(batch(&[A, A])).unwrap();
    let options = SubscribeOptions::default().with_capacity(capacity);
    let (snapshot, mut subscription) = table.subscribe_with(options).unwrap();
    for _ in 0..writes {
        table.append(batch(&[A])).unwrap();
    }
    let update = update_of(subscription.try_next());
    let (step, resyncs, reset, added) = expected;
    assert_eq!(update.step(), step);
    assert_eq!(subscription.step(), step);
    assert_eq!(subscription.resyncs(), resyncs);
    assert_eq!(update.is_reset(), reset);
    assert!(update.removed().is_empty());
    assert_eq!(update.added().keys(), added);
    assert_eq!(snapshot.apply(&update).unwrap(), table.snapshot().unwrap());
    assert!(
        subscription.try_next().is_none(),
        "everything was delivered at once"
    );

    // After a resync, the next step arrives alone.
    table.modify(vec![ids(&[0], &[7])]).unwrap();
    let next = update_of(subscription.try_next());
    assert_eq!(next.step(), step + 1);
    assert_eq!(next.modified_keys(), set(&[0]));
}

#[test]
fn queued_steps_coalesce_and_lag_resyncs() {
    // One step: delivered as is.
    check(4, 1, (2, 0, false, &[2]));
    // Within the capacity: coalesced into one update, no resync.
    check(4, 4, (5, 0, false, &[2, 3, 4, 5]));
    // Beyond the capacity: one reset update to the current table.
    check(2, 5, (6, 1, true, &[0, 1, 2, 3, 4, 5, 6]));
}

/// Regression guard: capacity is per subscriber; a slow reader with a small capacity resyncs
/// while one with a larger capacity on the same table still coalesces.
#[test]
fn capacity_is_per_subscriber() {
    let table = LiveTable::new(schema(), LiveTableOptions::default());
    let (_, mut small) = table
        .subscribe_with(SubscribeOptions::default().with_capacity(2))
        .unwrap();
    let (_, mut large) = table
        .subscribe_with(SubscribeOptions::default().with_capacity(8))
        .unwrap();
    for _ in 0..5 {
        table.append(batch(&[A])).unwrap();
    }
    assert!(update_of(small.try_next()).is_reset());
    assert!(!update_of(large.try_next()).is_reset());
    assert_eq!((small.resyncs(), large.resyncs()), (1, 0));
    // The table's history bounds every subscriber.
    let table = LiveTable::new(
        schema(),
        LiveTableOptions::default().with_history_capacity(3),
    );
    let (_, mut large) = table.subscribe().unwrap();
    for _ in 0..4 {
        table.append(batch(&[A])).unwrap();
    }
    assert!(update_of(large.try_next()).is_reset());
}

#[test]
fn resuming_from_a_known_step() {
    let table = LiveTable::new(
        schema(),
        LiveTableOptions::default().with_history_capacity(4),
    );
    let mut held = Vec::new();
    for _ in 0..6 {
        table.append(batch(&[A])).unwrap();
        held.push(table.snapshot().unwrap());
    }
    // In reach: the missed steps, coalesced.
    let mut resumed = table
        .subscribe_from(4, SubscribeOptions::default())
        .unwrap();
    let update = update_of(resumed.try_next());
    assert_eq!((update.step(), update.is_reset()), (6, false));
    assert_eq!(update.added().keys(), [4, 5]);
    assert_eq!(held[3].apply(&update).unwrap(), table.snapshot().unwrap());
    // Out of the history: one reset.
    let mut resumed = table
        .subscribe_from(1, SubscribeOptions::default())
        .unwrap();
    let update = update_of(resumed.try_next());
    assert!(update.is_reset());
    assert_eq!(held[0].apply(&update).unwrap(), table.snapshot().unwrap());
    assert_eq!(resumed.resyncs(), 1);
    // Up to date: nothing yet.
    let mut resumed = table
        .subscribe_from(6, SubscribeOptions::default())
        .unwrap();
    assert!(resumed.try_next().is_none());
    let error = table
        .subscribe_from(7, SubscribeOptions::default())
        .unwrap_err();
    assert!(matches!(
        error,
        CoreError::StepAhead {
            step: 7,
            current: 6
        }
    ));
}

/// The table's schema with `value` renamed to `price` and a new column `venue`.
fn renamed_schema() -> TableSchema {
    let arrow = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("price", DataType::Float64, true),
        Field::new("venue", DataType::Utf8, true),
    ]);
    TableSchema::new(Arc::new(arrow), ["id"]).unwrap()
}

/// One row of [`renamed_schema`].
fn renamed_row() -> RecordBatch {
    RecordBatch::try_new(
        renamed_schema().arrow().clone(),
        vec![
            Arc::new(Int64Array::from(vec![9])),
            Arc::new(Float64Array::from(vec![Some(0.5)])),
            Arc::new(StringArray::from(vec![Some("XNYS")])),
        ],
    )
    .unwrap()
}

#[test]
fn schema_changes_are_events_between_updates() {
    let table = LiveTable::new(schema(), LiveTableOptions::default());
    table
        .append(batch(&[(0, 1, Some("x"), Some(2.5))]))
        .unwrap();
    let (mut copy, mut subscription) = table.subscribe().unwrap();
    table.append(batch(&[A])).unwrap();
    let step = table
        .change_schema(renamed_schema(), &[("value", "price")])
        .unwrap();
    assert_eq!(step, 3);
    table.remove(set(&[0])).unwrap();

    // The update before the change, the change, the update after: never coalesced across.
    let mut events = Vec::new();
    while let Some(event) = subscription.try_next() {
        let event = event.unwrap();
        copy = event.apply_to(&copy).unwrap();
        events.push(event);
    }
    assert_eq!(
        events.iter().map(TableEvent::step).collect::<Vec<_>>(),
        [2, 3, 4]
    );
    let TableEvent::SchemaChange(change) = &events[1] else {
        panic!("expected a schema change, got {:?}", events[1]);
    };
    assert_eq!(change.renames(), [("value", "price")]);
    assert_eq!(change.source_of("venue"), None);
    assert!(!change.is_resync());
    // The change survives a trip through its parts (the form it travels in).
    let parts = SchemaChange::new(3, change.schema().clone(), change.sources().to_vec());
    assert_eq!(parts.unwrap(), *change);
    let short = SchemaChange::new(3, renamed_schema(), vec![None]).unwrap_err();
    assert!(matches!(
        short,
        CoreError::SourceCountMismatch {
            columns: 3,
            sources: 1
        }
    ));
    assert_eq!(copy, table.snapshot().unwrap());
    assert_eq!(copy.schema(), &renamed_schema());
    // The table is not failed and takes updates under the new schema.
    assert!(table.failure().is_none());
    assert_eq!(table.schema(), renamed_schema());
}

/// Regression guard: a reader that lags across a schema change beyond its capacity gets the
/// change (renames matched by column identity), then a reset under the new schema.
#[test]
fn a_resync_across_a_schema_change_carries_the_renames() {
    let table = LiveTable::new(schema(), LiveTableOptions::default());
    table.append(batch(&[A])).unwrap();
    let (copy, mut subscription) = table
        .subscribe_with(SubscribeOptions::default().with_capacity(1))
        .unwrap();
    table
        .change_schema(renamed_schema(), &[("value", "price")])
        .unwrap();
    table.append(renamed_row()).unwrap();
    let Some(Ok(TableEvent::SchemaChange(change))) = subscription.try_next() else {
        panic!("expected a schema change first");
    };
    assert!(change.is_resync());
    assert_eq!(change.renames(), [("value", "price")]);
    let copy = change.apply(&copy).unwrap();
    assert!(copy.is_empty());
    let update = update_of(subscription.try_next());
    assert!(update.is_reset());
    assert_eq!(copy.apply(&update).unwrap(), table.snapshot().unwrap());
    assert_eq!(subscription.resyncs(), 1);
}

#[test]
fn bad_schema_changes_leave_the_table_unchanged() {
    let table = LiveTable::new(schema(), LiveTableOptions::default());
    table.append(batch(&[A])).unwrap();
    let check = |renames: &[(&str, &str)], expected: &str| {
        let error = table.change_schema(renamed_schema(), renames).unwrap_err();
        assert_eq!(format!("{error:?}"), expected);
        assert_eq!((table.step(), table.schema()), (1, schema()));
    };
    check(&[("nope", "price")], r#"UnknownColumn { column: "nope" }"#);
    check(
        &[("value", "price"), ("value", "venue")],
        r#"DuplicateColumn { column: "value" }"#,
    );
    // `name` (Utf8) cannot continue as `price` (Float64).
    check(
        &[("name", "price")],
        r#"ColumnTypeMismatch { column: "price", expected: Float64, found: Utf8 }"#,
    );
    // A new column that may not be null cannot start out null while the table has rows.
    let mut fields: Vec<Field> = schema()
        .arrow()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("required", DataType::Int64, false));
    let strict = TableSchema::new(Arc::new(Schema::new(fields)), ["id"]).unwrap();
    let error = table.change_schema(strict, &[]).unwrap_err();
    assert_eq!(
        format!("{error:?}"),
        r#"NullInNonNullableColumn { column: "required", nulls: 1 }"#
    );
    assert_eq!((table.step(), table.schema()), (1, schema()));
}

#[tokio::test(flavor = "current_thread")]
async fn next_waits_for_the_next_step() {
    let table = LiveTable::new(schema(), LiveTableOptions::default());
    let (_, mut subscription) = table.subscribe().unwrap();
    let writer = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        table.append(batch(&[A])).unwrap();
    };
    let (event, ()) = tokio::join!(subscription.next(), writer);
    assert_eq!(event.unwrap().unwrap().step(), 1);

    drop(table);
    assert!(subscription.next().await.is_none(), "the table is gone");
}

#[test]
fn a_lagging_reader_of_a_failed_table_gets_the_failure() {
    let table = LiveTable::new(schema(), LiveTableOptions::default());
    let (_, mut subscription) = table
        .subscribe_with(SubscribeOptions::default().with_capacity(1))
        .unwrap();
    for _ in 0..3 {
        table.append(batch(&[A])).unwrap();
    }
    table.fail("broken");
    let error = subscription.try_next().unwrap().unwrap_err();
    assert!(matches!(error, CoreError::TableFailed { .. }));
    assert!(subscription.try_next().is_none());
    assert!(subscription.is_finished());
}
