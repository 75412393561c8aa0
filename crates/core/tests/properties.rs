//! Property tests of the table model against a plain model: a `BTreeMap` from row key to row.
//!
//! The unit tests pin down individual cases; these check the guarantees the rest of the
//! workspace builds on, over random sequences of valid updates (removals of existing keys,
//! additions under fresh and reused keys including remove-and-re-add in one step, per-column
//! changes, appends):
//!
//! 1. a live table equals the model after every step;
//! 2. a subscriber started at any step, applying what it receives to its snapshot, reproduces
//!    the table at every later step (also reading only every few steps);
//! 3. coalescing any contiguous run of updates equals applying them in turn, and coalescing is
//!    associative;
//! 4. a subscriber that reads too rarely for the ring still ends equal to the table, through
//!    resyncs that the test checks did happen;
//! 5. projection commutes with applying;
//! 6. a blink table holds exactly the last step's rows;
//! 7. a reader resuming from any step it held (`subscribe_from`) ends equal to the table,
//!    through coalescing while the steps are in reach and a reset otherwise;
//! 8. schema changes (a column renamed and renamed back, between random updates) reach every
//!    subscriber as events, whatever its capacity and reading pace, and its copy stays equal
//!    to the table.
//!
//! Every table here is cut into chunks of at most [`MAX_ROWS`] rows, so that nearly every step
//! splits or merges chunks; [`chunks_split_and_merge_under_random_updates`] checks that they do,
//! and every property checks positions (rank and select) against the model.

// Test code: a failed unwrap is a test failure with a clear message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod model;

use model::*;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use tableshare_core::{
    AddedRows, ChunkStats, LiveTable, RowSet, Step, SubscribeOptions, TableEvent, TableUpdate,
};

// ---------------------------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(config())]

    /// 1. A live table equals the model after every step.
    #[test]
    fn live_table_follows_the_model(ops in ops(1..32)) {
        let table = LiveTable::new(schema(), options());
        for (i, planned) in plan_all(&ops).iter().enumerate() {
            prop_assert_eq!(drive(&table, planned), i as Step + 1);
            let snapshot = table.snapshot().unwrap();
            prop_assert_eq!(snapshot.step(), i as Step + 1);
            prop_assert_eq!(rows_of(&snapshot), planned.after.clone());
            check_positions(&snapshot)?;
        }
    }

    /// 2. A subscriber started at any step reproduces the table at every later step, whether
    ///    it reads after every step or only every few (receiving coalesced updates).
    #[test]
    fn subscribers_reproduce_the_table(
        ops in ops(1..24),
        start in any::<Index>(),
        read_every in 1usize..4,
    ) {
        let planned = plan_all(&ops);
        let start = start.index(planned.len() + 1);
        let table = LiveTable::new(schema(), options());
        for p in &planned[..start] {
            drive(&table, p);
        }
        let (mut mirror, mut subscription) = table.subscribe().unwrap();
        prop_assert_eq!(mirror.step(), start as Step);
        for (i, p) in planned[start..].iter().enumerate() {
            drive(&table, p);
            if (i + 1) % read_every == 0 {
                let update = subscription.try_next().unwrap().unwrap();
                prop_assert_eq!(update.step(), table.step(), "no gap, no stale step");
                mirror = update.apply_to(&mirror).unwrap();
                prop_assert_eq!(&mirror, &table.snapshot().unwrap());
                prop_assert_eq!(rows_of(&mirror), p.after.clone());
                check_positions(&mirror)?;
            }
        }
        if let Some(update) = subscription.try_next() {
            mirror = update.unwrap().apply_to(&mirror).unwrap();
        }
        prop_assert!(subscription.try_next().is_none(), "no duplicate");
        prop_assert_eq!(&mirror, &table.snapshot().unwrap());
        prop_assert_eq!(subscription.resyncs(), 0);
    }

    /// 3. Coalescing any contiguous run equals applying it in turn; coalescing is associative
    ///    (both in effect and as a value).
    #[test]
    fn coalescing_equals_applying_in_turn(
        ops in ops(1..16),
        a in any::<Index>(),
        b in any::<Index>(),
    ) {
        let planned = plan_all(&ops);
        let (mut i, mut j) = (a.index(planned.len()), b.index(planned.len()));
        if i > j {
            std::mem::swap(&mut i, &mut j);
        }
        let before = state_before(&planned, i);
        let run = coalesce_run(&planned[i..=j]);
        prop_assert_eq!(run.step(), j as Step + 1);
        run.validate_against(&before.to_key_set()).unwrap();
        let after = before.apply(&run).unwrap();
        prop_assert_eq!(rows_of(&after), planned[j].after.clone());
        prop_assert_eq!(&after, &state_before(&planned, j + 1));
    }

    #[test]
    fn coalescing_is_associative(
        ops in ops(3..16),
        cuts in proptest::array::uniform3(any::<Index>()),
    ) {
        let planned = plan_all(&ops);
        let n = planned.len();
        // Three consecutive non-empty runs [a, b), [b, c), [c, d) with d <= n.
        let b = 1 + cuts[0].index(n - 2);
        let c = b + 1 + cuts[1].index(n - b - 1);
        let d = c + 1 + cuts[2].index(n - c);
        let a = cuts[2].index(b);
        let (x, y, z) = (
            coalesce_run(&planned[a..b]),
            coalesce_run(&planned[b..c]),
            coalesce_run(&planned[c..d]),
        );
        let left = x.clone().coalesce(y.clone()).unwrap().coalesce(z.clone()).unwrap();
        let right = x.coalesce(y.coalesce(z).unwrap()).unwrap();
        let before = state_before(&planned, a);
        prop_assert_eq!(before.apply(&left).unwrap(), before.apply(&right).unwrap());
        prop_assert_eq!(left, right);
    }

    /// 4. A subscriber too slow for its ring still ends equal to the table, and the lag path
    ///    (resync from a snapshot) is taken: with a ring of 2 and reads every 3 or more steps,
    ///    every read after a full interval finds the ring overwritten.
    #[test]
    fn slow_subscribers_resync_and_end_equal(
        ops in ops(8..24),
        start in 0usize..4,
        read_every in 3usize..6,
    ) {
        let planned = plan_all(&ops);
        let table = LiveTable::new(schema(), options());
        for p in &planned[..start] {
            drive(&table, p);
        }
        let subscribe = SubscribeOptions::default().with_capacity(2);
        let (mut mirror, mut subscription) = table.subscribe_with(subscribe).unwrap();
        for (i, p) in planned[start..].iter().enumerate() {
            drive(&table, p);
            if (i + 1) % read_every == 0 {
                let update = subscription.try_next().unwrap().unwrap();
                mirror = update.apply_to(&mirror).unwrap();
                prop_assert_eq!(&mirror, &table.snapshot().unwrap());
                check_positions(&mirror)?;
            }
        }
        if let Some(update) = subscription.try_next() {
            mirror = update.unwrap().apply_to(&mirror).unwrap();
        }
        prop_assert_eq!(&mirror, &table.snapshot().unwrap());
        prop_assert_eq!(rows_of(&mirror), planned.last().unwrap().after.clone());
        prop_assert!(subscription.resyncs() > 0, "the lag path was exercised");
    }

    /// 5. Projection commutes with applying, for any column subset in any order.
    #[test]
    fn projection_commutes_with_applying(
        ops in ops(1..12),
        columns in proptest::sample::subsequence(COLUMNS.to_vec(), 0..=3).prop_shuffle(),
    ) {
        let planned = plan_all(&ops);
        let mut state = empty();
        for p in &planned {
            let after = state.apply(&p.update).unwrap();
            let projected_after = after.project(&columns).unwrap();
            let projected_update = p.update.project(&columns).unwrap();
            let via_projection = state.project(&columns).unwrap().apply(&projected_update).unwrap();
            prop_assert_eq!(&projected_after, &via_projection);
            prop_assert_eq!(rows_of(&via_projection), project_model(&p.after, &columns));
            state = after;
        }
    }

    /// 6. A blink table holds exactly the rows its last step added, and its subscribers see
    ///    the same through ordinary updates.
    #[test]
    fn blink_tables_hold_the_last_step(additions in proptest::collection::vec(
        prop_oneof![
            proptest::collection::vec((0..KEY_SPACE, row()), 0..5).prop_map(Some),
            Just(None),
        ],
        1..16,
    ), rows in proptest::collection::vec(row(), 0..4)) {
        let table = LiveTable::new(schema(), options().with_blink(true));
        let (mut mirror, mut subscription) = table.subscribe().unwrap();
        for explicit in &additions {
            let expected: Model = match explicit {
                // Explicit keys, possibly the ones the previous step held.
                Some(keyed) => {
                    let added: Model = keyed.iter().cloned().collect();
                    let keys = added.keys().copied().collect();
                    let rows = AddedRows::new(keys, batch(added.values())).unwrap();
                    let update = TableUpdate::new(0, RowSet::new(), rows, Vec::new()).unwrap();
                    table.apply(update).unwrap();
                    added
                }
                // Appended under fresh keys.
                None => {
                    let first = table.next_key();
                    table.append(batch(&rows)).unwrap();
                    (first..).zip(rows.iter().cloned()).collect()
                }
            };
            let snapshot = table.snapshot().unwrap();
            prop_assert_eq!(rows_of(&snapshot), expected);
            let update = subscription.try_next().unwrap().unwrap().into_update().unwrap();
            prop_assert_eq!(update.removed(), &mirror.to_key_set());
            mirror = mirror.apply(&update).unwrap();
            prop_assert_eq!(&mirror, &snapshot);
        }
    }

    /// 7. A reader that holds the table at any step and resumes with `subscribe_from` (any
    ///    capacity, any history) ends equal to the table: coalescing while the missed steps are
    ///    in reach, one reset otherwise, and reading on as the table moves.
    #[test]
    fn resumed_readers_end_equal(
        ops in ops(2..24),
        held in any::<Index>(),
        capacity in 1usize..6,
        history in 1usize..8,
        later in 0usize..4,
    ) {
        let planned = plan_all(&ops);
        let later = later.min(planned.len() - 1);
        let (now, rest) = planned.split_at(planned.len() - later);
        let table = LiveTable::new(schema(), options().with_history_capacity(history));
        let mut snapshots = vec![table.snapshot().unwrap()];
        for p in now {
            drive(&table, p);
            snapshots.push(table.snapshot().unwrap());
        }
        let held = held.index(snapshots.len());
        let mut mirror = snapshots[held].clone();
        let options = SubscribeOptions::default().with_capacity(capacity);
        let mut subscription = table.subscribe_from(held as Step, options).unwrap();
        let missed = now.len() - held;
        let in_reach = missed <= capacity.min(history);
        for p in rest {
            drive(&table, p);
        }
        while let Some(event) = subscription.try_next() {
            mirror = event.unwrap().apply_to(&mirror).unwrap();
        }
        prop_assert_eq!(&mirror, &table.snapshot().unwrap());
        check_positions(&mirror)?;
        if in_reach && missed + rest.len() <= capacity.min(history) {
            prop_assert_eq!(subscription.resyncs(), 0);
        }
        if !in_reach {
            prop_assert_eq!(subscription.resyncs(), 1);
        }
    }

    /// 8. Schema changes are events in the stream: with a column renamed (and renamed back two
    ///    steps later) at random steps, a subscriber of any capacity reading at any pace applies
    ///    what it receives and stays equal to the table.
    #[test]
    fn schema_changes_reach_subscribers(
        ops in ops(1..16),
        renames in proptest::collection::btree_set(0usize..16, 0..4),
        capacity in 1usize..6,
        read_every in 1usize..4,
    ) {
        let planned = plan_all(&ops);
        let table = LiveTable::new(schema(), options());
        let subscribe = SubscribeOptions::default().with_capacity(capacity);
        let (mut mirror, mut subscription) = table.subscribe_with(subscribe).unwrap();
        let mut changes = 0;
        for (i, p) in planned.iter().enumerate() {
            if renames.contains(&i) {
                table.change_schema(renamed(), &[("value", "price")]).unwrap();
                drive_renamed(&table, p);
                table.change_schema(schema(), &[("price", "value")]).unwrap();
            } else {
                drive(&table, p);
            }
            if (i + 1) % read_every == 0 {
                while let Some(event) = subscription.try_next() {
                    let event = event.unwrap();
                    if let TableEvent::SchemaChange(change) = &event {
                        changes += 1;
                        let renamed = change.renames();
                        prop_assert!(renamed.len() <= 1, "{:?}", renamed);
                    }
                    mirror = event.apply_to(&mirror).unwrap();
                }
                prop_assert_eq!(&mirror, &table.snapshot().unwrap());
            }
        }
        while let Some(event) = subscription.try_next() {
            mirror = event.unwrap().apply_to(&mirror).unwrap();
        }
        prop_assert_eq!(&mirror, &table.snapshot().unwrap());
        prop_assert_eq!(rows_of(&mirror), planned.last().unwrap().after.clone());
        if !renames.iter().any(|i| *i < planned.len()) {
            prop_assert_eq!(changes, 0);
        }
    }
}

/// The size rules are exercised, not just present: over many random update sequences on tables
/// with chunks of at most [`MAX_ROWS`] rows, chunks split and merge, and every table still
/// equals the model. Runs with a fixed seed, so the counts are reproducible.
#[test]
fn chunks_split_and_merge_under_random_updates() {
    let mut runner = TestRunner::deterministic();
    let strategy = ops(16..48);
    let mut total = ChunkStats::default();
    for _ in 0..64 {
        let ops = strategy.new_tree(&mut runner).unwrap().current();
        let table = LiveTable::new(schema(), options());
        let planned = plan_all(&ops);
        for p in &planned {
            drive(&table, p);
        }
        if let Some(last) = planned.last() {
            assert_eq!(rows_of(&table.snapshot().unwrap()), last.after);
        }
        total.add(table.chunk_stats());
    }
    assert!(total.splits > 0, "no chunk was ever split: {total:?}");
    assert!(total.merges > 0, "no chunks were ever merged: {total:?}");
}
