//! Unit tests of [`Snapshot`]: applying updates (chunk by chunk, with chunk bounds small enough
//! that every case crosses chunks), positions, bounded batches, projection and logical equality.

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::*;
use crate::test_support::{
    Row, batch, ids, keys, names, owned, schema, snapshot, snapshot_rows, update, values,
};

/// A snapshot of `rows` at `step` cut into chunks of at most `max_rows`.
fn chunked(step: Step, rows: &[Row], max_rows: usize) -> Snapshot {
    snapshot(step, rows).with_chunk_bounds(ChunkBounds::new(max_rows))
}

/// Applies `update` to a table of `start` at step 1, once in one chunk and once in chunks of two
/// rows; `expected` is the rows after, or the error's Debug form.
fn check(start: &[Row], update: TableUpdate, expected: std::result::Result<&[Row], &str>) {
    for max_rows in [ChunkBounds::DEFAULT_MAX_ROWS, 2] {
        let before = chunked(1, start, max_rows);
        match (before.apply(&update), expected) {
            (Ok(after), Ok(rows)) => {
                assert_eq!(snapshot_rows(&after), owned(rows), "max_rows {max_rows}");
                assert_eq!(after.step(), update.step());
                assert!(after.chunks().all(|chunk| chunk.num_rows() <= max_rows));
                assert!(after.chunks().all(|chunk| chunk.num_rows() > 0));
            }
            (Err(error), Err(expected)) => assert_eq!(format!("{error:?}"), expected),
            (got, expected) => panic!("{update:?}: got {got:?}, expected {expected:?}"),
        }
        assert_eq!(before, snapshot(1, start), "a snapshot never changes");
    }
}

const A: Row = (1, 10, Some("a"), Some(1.0));
const B: Row = (5, 50, None, None);
const C: Row = (9, 90, Some("c"), Some(9.0));
const D: Row = (12, 120, Some("d"), None);
const E: Row = (20, 200, None, Some(2.0));

#[test]
fn applying_updates() {
    check(&[], update(2, &[], &[A, B], vec![]), Ok(&[A, B]));
    check(&[A], update(2, &[], &[C], vec![]), Ok(&[A, C]));
    check(&[A, C], update(2, &[], &[B], vec![]), Ok(&[A, B, C]));
    check(&[A, B, C], update(2, &[1, 9], &[], vec![]), Ok(&[B]));
    check(&[A, B, C], update(2, &[1, 5, 9], &[], vec![]), Ok(&[]));
    check(
        &[A, B],
        update(2, &[5], &[(5, 0, Some("new"), None)], vec![]),
        Ok(&[A, (5, 0, Some("new"), None)]),
    );
    check(
        &[A, B, C],
        update(
            2,
            &[1],
            &[(0, 7, None, None)],
            vec![ids(&[9], &[91]), names(&[5, 9], &[Some("b"), None])],
        ),
        Ok(&[
            (0, 7, None, None),
            (5, 50, Some("b"), None),
            (9, 91, None, Some(9.0)),
        ]),
    );
    check(
        &[A, B, C],
        update(2, &[], &[], vec![values(&[1, 5, 9], &[None, None, None])]),
        Ok(&[
            (1, 10, Some("a"), None),
            (5, 50, None, None),
            (9, 90, Some("c"), None),
        ]),
    );
    check(&[A], update(1, &[], &[], vec![]), Ok(&[A]));
    // Keys before the first chunk, between chunks and after the last, in one step.
    check(
        &[B, C, D],
        update(
            2,
            &[9],
            &[(0, 0, None, None), (10, 1, None, None), E],
            vec![],
        ),
        Ok(&[(0, 0, None, None), B, (10, 1, None, None), D, E]),
    );
}

#[test]
fn a_reset_replaces_every_row() {
    let reset = TableUpdate::reset(2, crate::test_support::added(&[B, E]));
    check(&[A, B, C, D], reset, Ok(&[B, E]));
}

#[test]
fn invalid_updates_are_rejected() {
    check(
        &[A],
        update(2, &[5], &[], vec![]),
        Err("KeyNotPresent { key: 5 }"),
    );
    check(
        &[A],
        update(2, &[], &[(1, 0, None, None)], vec![]),
        Err("DuplicateKey { key: 1 }"),
    );
    check(
        &[A],
        update(2, &[], &[], vec![ids(&[2], &[0])]),
        Err("KeyNotPresent { key: 2 }"),
    );
    check(
        &[A],
        update(0, &[], &[], vec![]),
        Err("StepOrder { previous: 1, next: 0 }"),
    );
}

#[test]
fn added_columns_are_matched_by_name() {
    let reordered = Arc::new(Schema::new(vec![
        Field::new("value", DataType::Float64, true),
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let batch = |ids: Vec<Option<i64>>| {
        RecordBatch::try_new(
            reordered.clone(),
            vec![
                Arc::new(Float64Array::from(vec![Some(2.0)])),
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(vec![Some("r")])),
            ],
        )
        .unwrap()
    };
    let make = |ids| {
        TableUpdate::new(
            2,
            RowSet::new(),
            AddedRows::new(vec![3], batch(ids)).unwrap(),
            vec![],
        )
        .unwrap()
    };
    check(
        &[A],
        make(vec![Some(30)]),
        Ok(&[A, (3, 30, Some("r"), Some(2.0))]),
    );
    // The table's `id` is not nullable even though the producer's is.
    check(
        &[A],
        make(vec![None]),
        Err(r#"NullInNonNullableColumn { column: "id", nulls: 1 }"#),
    );
}

#[test]
fn positions_rank_and_select_across_chunks() {
    let rows = [A, B, C, D, E];
    for max_rows in [2, 3, 64] {
        let snapshot = chunked(1, &rows, max_rows);
        for (position, key) in keys(&rows).into_iter().enumerate() {
            assert_eq!(snapshot.position_of(key), Some(position));
            assert_eq!(snapshot.key_at(position), Some(key));
            assert!(snapshot.contains_key(key));
        }
        for absent in [0, 2, 10, 21, u64::MAX] {
            assert_eq!(snapshot.position_of(absent), None, "{absent}");
        }
        assert_eq!(snapshot.key_at(5), None);
        assert_eq!(
            (snapshot.first_key(), snapshot.last_key()),
            (Some(1), Some(20))
        );
    }
    let empty = Snapshot::empty(schema());
    assert_eq!((empty.position_of(0), empty.key_at(0)), (None, None));
}

#[test]
fn rows_by_position_without_a_scan() {
    let rows = [A, B, C, D, E];
    let snapshot = chunked(1, &rows, 2);
    let check = |positions: Range<usize>, expected: &[&[RowKey]]| {
        let got: Vec<Vec<RowKey>> = snapshot
            .rows_at(positions.clone())
            .map(|(keys, batch)| {
                assert_eq!(keys.len(), batch.num_rows());
                keys.to_vec()
            })
            .collect();
        assert_eq!(got, expected, "{positions:?}");
    };
    check(0..5, &[&[1, 5], &[9, 12], &[20]]);
    check(1..4, &[&[5], &[9, 12]]);
    check(3..4, &[&[12]]);
    check(4..99, &[&[20]]);
    check(2..2, &[]);
    check(7..9, &[]);
    let (_, page) = snapshot.rows_at(1..3).last().unwrap();
    assert_eq!(page, batch(&[C]), "values come with their keys");
}

#[test]
fn batches_are_bounded_and_concat_is_the_whole_table() {
    let rows = [A, B, C, D, E];
    let snapshot = chunked(1, &rows, 3);
    assert_eq!(snapshot.num_chunks(), 2);
    let got: Vec<(Vec<RowKey>, usize)> = snapshot
        .batches(2)
        .map(|(keys, batch)| (keys.to_vec(), batch.num_rows()))
        .collect();
    assert_eq!(
        got,
        [(vec![1, 5], 2), (vec![9], 1), (vec![12, 20], 2)],
        "batches never span chunks"
    );
    assert_eq!(snapshot.concat().unwrap(), batch(&rows));
    assert_eq!(snapshot.key_vec(), keys(&rows));
    assert_eq!(snapshot.to_key_set().to_vec(), keys(&rows));
    assert_eq!(Snapshot::empty(schema()).concat().unwrap().num_rows(), 0);
}

#[test]
fn equality_ignores_chunking() {
    let rows = [A, B, C, D, E];
    assert_eq!(chunked(1, &rows, 2), chunked(1, &rows, 64));
    assert_ne!(chunked(1, &rows, 2), chunked(1, &rows[..4], 64));
    assert_ne!(chunked(1, &rows, 2), chunked(2, &rows, 2));
    let changed = [A, B, C, D, (20, 200, None, Some(3.0))];
    assert_ne!(chunked(1, &rows, 2), chunked(1, &changed, 3));
}

#[test]
fn appends_grow_a_tail_that_splits_and_merges() {
    // One-row appends with chunks of at most 8 rows: the tail merges similar neighbours, full
    // chunks stay, and no chunk ever exceeds the bound.
    let bounds = ChunkBounds::new(8);
    let mut table = Snapshot::empty(schema()).with_chunk_bounds(bounds);
    let mut stats = ChunkStats::default();
    for key in 0..100u64 {
        let row: Row = (key, key as i64, None, None);
        let (next, counted) = table
            .apply_counted(&update(key + 1, &[], &[row], vec![]))
            .unwrap();
        stats.add(counted);
        table = next;
        assert!(table.chunks().all(|chunk| chunk.num_rows() <= 8));
        assert_eq!(table.num_rows(), key as usize + 1);
    }
    assert!(stats.merges > 0);
    assert!(
        table.num_chunks() <= 100 / 8 + 4,
        "{} chunks",
        table.num_chunks()
    );
    // A replaced row leaves the chunk's size alone.
    let (_, counted) = table
        .apply_counted(&update(101, &[0], &[(0, 0, None, None)], vec![]))
        .unwrap();
    assert_eq!(counted.splits, 0);
    // Inserting into a full chunk splits it in two.
    let wide = Snapshot::new(schema(), 1, vec![0, 2, 4, 6, 8, 10, 12, 14], batch(&[A; 8]))
        .unwrap()
        .with_chunk_bounds(bounds);
    let (after, counted) = wide
        .apply_counted(&update(2, &[], &[(3, 3, None, None)], vec![]))
        .unwrap();
    assert_eq!(counted.splits, 1);
    assert_eq!(
        after.chunks().map(Chunk::num_rows).collect::<Vec<_>>(),
        [5, 4]
    );
}

#[test]
fn untouched_chunks_are_shared() {
    let snapshot = chunked(1, &[A, B, C, D, E], 2);
    let after = snapshot
        .apply(&update(2, &[], &[], vec![ids(&[20], &[0])]))
        .unwrap();
    let shared = snapshot
        .chunk_list()
        .iter()
        .zip(after.chunk_list())
        .filter(|(a, b)| Arc::ptr_eq(a, b))
        .count();
    assert_eq!(
        shared,
        snapshot.num_chunks() - 1,
        "only the last chunk was rebuilt"
    );
}

#[test]
fn snapshot_round_trips_through_an_update_and_projects() {
    let full = chunked(7, &[A, B, C], 2);
    let rebuilt = Snapshot::empty(schema())
        .apply(&full.to_update().unwrap())
        .unwrap();
    assert_eq!(rebuilt, full);

    let projected = full.project(&["value", "id"]).unwrap();
    assert_eq!(projected.key_vec(), full.key_vec());
    assert_eq!(projected.num_chunks(), full.num_chunks());
    assert_eq!(projected.schema().partition_columns(), ["id"]);
    assert_eq!(
        projected.concat().unwrap().column(0),
        full.concat().unwrap().column(2)
    );
    let none = full.project::<&str>(&[]).unwrap();
    let whole = none.concat().unwrap();
    assert_eq!(
        (none.num_rows(), whole.num_rows(), whole.num_columns()),
        (3, 3, 0)
    );
}

// Guards `from_batches`, how a streamed table becomes a snapshot: parts in key order give the
// same table as one batch would (one chunk per part); parts out of order across their borders
// and parts whose keys and rows disagree are refused.
#[test]
fn from_batches_builds_the_table_part_by_part() {
    let rows: Vec<Row> = (0..10u64)
        .map(|k| (k * 2, k as i64, Some("x"), Some(k as f64)))
        .collect();
    let whole = snapshot(3, &rows);
    let parts = |cuts: &[usize]| {
        let mut out = Vec::new();
        let mut start = 0;
        for end in cuts.iter().copied().chain([rows.len()]) {
            out.push((keys(&rows[start..end]), batch(&rows[start..end])));
            start = end;
        }
        out
    };
    let built = Snapshot::from_batches(schema(), 3, parts(&[3, 4, 9])).unwrap();
    assert_eq!(built, whole);
    assert_eq!(built.num_chunks(), 4);
    let mut swapped = parts(&[5]);
    swapped.swap(0, 1);
    assert!(Snapshot::from_batches(schema(), 3, swapped).is_err());
    let mut short = parts(&[5]);
    short[0].0.pop();
    assert!(Snapshot::from_batches(schema(), 3, short).is_err());
}

// Guards keys held as ranges: a snapshot built from ranges equals the one built from the same
// keys one by one, answers positions and key sets from the ranges, gives them back unchanged
// as the rows of a reset, and ranges that overlap (within a part or across parts) or do not
// count the rows are refused.
#[test]
#[allow(
    clippy::single_range_in_vec_init,
    reason = "a part's keys given as one range"
)]
fn ranged_snapshots_equal_their_keys() {
    let rows: Vec<Row> = (0..10)
        .map(|i| {
            let key = if i < 6 { 100 + i } else { 200 + i };
            (key, i as i64, Some("x"), Some(i as f64))
        })
        .collect();
    let plain = snapshot(3, &rows);
    let all = batch(&rows);
    let ranged = Snapshot::from_ranged_batches(
        plain.schema().clone(),
        3,
        [
            (vec![100..104], all.slice(0, 4)),
            (vec![104..106, 206..210], all.slice(4, 6)),
        ],
    )
    .unwrap();
    assert_eq!(ranged, plain);
    assert_eq!(ranged.key_vec(), keys(&rows));
    assert_eq!(ranged.position_of(207), Some(7));
    assert_eq!(ranged.key_at(5), Some(105));
    assert!(!ranged.contains_key(106));
    assert_eq!(ranged.to_key_set(), plain.to_key_set());
    // Ranks and key-range reads, across the gap between the runs.
    assert_eq!(ranged.rank(0), 0);
    assert_eq!(ranged.rank(103), 3);
    assert_eq!(ranged.rank(150), 6);
    assert_eq!(ranged.rank(1_000), 10);
    let read = |keys: Range<RowKey>| -> usize { ranged.rows_in(keys).map(|b| b.num_rows()).sum() };
    assert_eq!(read(0..100), 0);
    assert_eq!(read(102..208), 6);
    assert_eq!(read(200..300), 4);
    #[allow(
        clippy::reversed_empty_ranges,
        reason = "an inverted range reads nothing"
    )]
    let inverted = 300..200;
    assert_eq!(read(inverted), 0);
    let first = ranged.chunks().next().unwrap();
    assert_eq!(first.key_ranges(), vec![100..104]);
    assert_eq!(first.key_set_of(1..3).to_vec(), vec![101, 102]);

    // The rows of a reset keep the ranges; applied, they rebuild the same table.
    let added = AddedRows::from_snapshot(&ranged).unwrap();
    assert_eq!(added.key_ranges(), vec![100..106, 206..210]);
    let reset = TableUpdate::reset(4, added);
    let rebuilt = snapshot(1, &[]).apply(&reset).unwrap();
    assert_eq!(rebuilt.key_vec(), keys(&rows));
    assert_eq!(rebuilt.concat().unwrap(), plain.concat().unwrap());

    let refused = |parts: Vec<(Vec<Range<RowKey>>, RecordBatch)>| {
        Snapshot::from_ranged_batches(plain.schema().clone(), 3, parts).unwrap_err()
    };
    assert!(matches!(
        refused(vec![(vec![100..104, 103..109], all.clone())]),
        CoreError::KeysNotAscending { .. }
    ));
    assert!(matches!(
        refused(vec![
            (vec![100..104], all.slice(0, 4)),
            (vec![90..96], all.slice(4, 6))
        ]),
        CoreError::KeysNotAscending { .. }
    ));
    assert!(matches!(
        refused(vec![(vec![100..109], all.clone())]),
        CoreError::RowCountMismatch { keys: 9, rows: 10 }
    ));
}
