//! Unit tests of [`TableUpdate`]: construction rules, validation, coalescing and projection.

use std::sync::Arc;

use arrow_array::Int64Array;

use super::*;
use crate::test_support::{
    Row, added, batch, ids, names, owned, set, snapshot, snapshot_rows, update, values,
};

/// Applies `updates` to a table holding `start` one by one and, separately, coalesced into
/// one; both must end at `expected`, the coalesced one must stay valid against `start`.
fn check(start: &[Row], updates: Vec<TableUpdate>, expected: &[Row]) {
    let initial = snapshot(0, start);
    let mut one_by_one = initial.clone();
    for update in &updates {
        one_by_one = one_by_one.apply(update).unwrap();
    }
    assert_eq!(snapshot_rows(&one_by_one), owned(expected), "one by one");

    let mut updates = updates.into_iter();
    let first = updates.next().unwrap();
    let coalesced = updates.fold(first, |acc, next| acc.coalesce(next).unwrap());
    coalesced.validate_against(&initial.to_key_set()).unwrap();
    let at_once = initial.apply(&coalesced).unwrap();
    assert_eq!(
        snapshot_rows(&at_once),
        owned(expected),
        "coalesced: {coalesced:#?}"
    );
    assert_eq!(at_once, one_by_one);
}

const A: Row = (1, 10, Some("a"), Some(1.0));
const B: Row = (2, 20, Some("b"), None);
const C: Row = (3, 30, None, Some(3.0));

#[test]
fn coalescing_equals_applying_in_turn() {
    // Added, then removed: never existed.
    check(
        &[],
        vec![update(1, &[], &[A], vec![]), update(2, &[1], &[], vec![])],
        &[],
    );
    // Added, then changed: the change is folded into the added row.
    check(
        &[],
        vec![
            update(1, &[], &[A, B], vec![]),
            update(2, &[], &[], vec![names(&[2], &[None])]),
        ],
        &[A, (2, 20, None, None)],
    );
    // Different columns of different rows: both changes survive.
    check(
        &[A, B],
        vec![
            update(1, &[], &[], vec![names(&[1], &[Some("x")])]),
            update(2, &[], &[], vec![values(&[2], &[Some(9.0)])]),
        ],
        &[(1, 10, Some("x"), Some(1.0)), (2, 20, Some("b"), Some(9.0))],
    );
    // The same column twice: the later value wins.
    check(
        &[A, B],
        vec![
            update(1, &[], &[], vec![ids(&[1, 2], &[11, 21])]),
            update(2, &[], &[], vec![ids(&[2], &[22])]),
        ],
        &[(1, 11, Some("a"), Some(1.0)), (2, 22, Some("b"), None)],
    );
    // Changed, then removed.
    check(
        &[A, B],
        vec![
            update(1, &[], &[], vec![ids(&[1], &[11])]),
            update(2, &[1], &[], vec![]),
        ],
        &[B],
    );
    // Changed, then replaced: the replacement wins.
    check(
        &[A],
        vec![
            update(1, &[], &[], vec![ids(&[1], &[11])]),
            update(2, &[1], &[(1, 12, None, None)], vec![]),
        ],
        &[(1, 12, None, None)],
    );
    // Replaced, then changed.
    check(
        &[A, B],
        vec![
            update(1, &[1], &[(1, 12, None, None)], vec![]),
            update(2, &[], &[], vec![names(&[1, 2], &[Some("y"), Some("z")])]),
        ],
        &[(1, 12, Some("y"), None), (2, 20, Some("z"), None)],
    );
    // Added, then replaced, then removed and re-added out of key order.
    check(
        &[B],
        vec![
            update(1, &[], &[A, C], vec![]),
            update(2, &[1], &[(1, 99, None, None)], vec![]),
            update(3, &[2, 3], &[(2, 0, None, None)], vec![]),
        ],
        &[(1, 99, None, None), (2, 0, None, None)],
    );
    // A step that changes nothing.
    check(
        &[A],
        vec![update(1, &[], &[], vec![]), update(2, &[], &[], vec![])],
        &[A],
    );
}

/// Regression guard: a row removed and re-added by the *first* update and then removed by
/// the second must stay removed in the coalesced update (R1 is kept even though A1 has it).
#[test]
fn replaced_then_removed_stays_removed() {
    check(
        &[A, B],
        vec![
            update(1, &[1], &[(1, 0, None, None)], vec![]),
            update(2, &[1], &[], vec![]),
        ],
        &[B],
    );
}

#[test]
fn coalescing_is_canonical() {
    let u1 = update(1, &[], &[A], vec![values(&[2], &[None])]);
    let u2 = update(2, &[], &[C], vec![names(&[2], &[Some("n")])]);
    let both = u1.coalesce(u2).unwrap();
    assert_eq!(both.modified_columns(), ["name", "value"], "schema order");
    assert_eq!(both.modified_keys(), set(&[2]));
    assert_eq!(both.added(), &added(&[A, C]));
}

#[test]
fn construction_checks_what_needs_no_table() {
    let check = |rows: &[Row], removed: &[u64], change: ColumnChange, expected: &str| {
        let error = TableUpdate::new(1, set(removed), added(rows), vec![change]).unwrap_err();
        assert_eq!(format!("{error:?}"), expected);
    };
    check(
        &[A],
        &[],
        ids(&[1], &[0]),
        r#"ModifiedAddedRow { column: "id", key: 1 }"#,
    );
    check(
        &[],
        &[2],
        ids(&[2], &[0]),
        r#"ModifiedRemovedRow { column: "id", key: 2 }"#,
    );
    check(
        &[],
        &[],
        ColumnChange::new(
            "nope",
            vec![],
            Arc::new(Int64Array::from(Vec::<i64>::new())),
        )
        .unwrap(),
        r#"UnknownColumn { column: "nope" }"#,
    );
    check(
        &[],
        &[],
        ColumnChange::new("name", vec![1], Arc::new(Int64Array::from(vec![1]))).unwrap(),
        r#"ColumnTypeMismatch { column: "name", expected: Utf8, found: Int64 }"#,
    );
    check(
        &[],
        &[],
        ColumnChange::new("id", vec![1], Arc::new(Int64Array::from(vec![None]))).unwrap(),
        r#"NullInNonNullableColumn { column: "id", nulls: 1 }"#,
    );
    let twice = TableUpdate::new(
        1,
        RowSet::new(),
        added(&[]),
        vec![ids(&[1], &[0]), ids(&[2], &[0])],
    );
    assert!(matches!(twice, Err(CoreError::DuplicateColumn { column }) if column == "id"));
    let unsorted = AddedRows::new(vec![2, 1], batch(&[A, B]));
    assert!(matches!(
        unsorted,
        Err(CoreError::KeysNotAscending {
            position: 1,
            previous: 2,
            key: 1
        })
    ));
    let short = ColumnChange::new("id", vec![1, 2], Arc::new(Int64Array::from(vec![1])));
    assert!(matches!(
        short,
        Err(CoreError::RowCountMismatch { keys: 2, rows: 1 })
    ));
}

#[test]
fn validation_against_keys() {
    let held = set(&[1, 2]);
    let check = |update: TableUpdate, expected: &str| {
        let got = update.validate_against(&held).map_err(|e| format!("{e:?}"));
        assert_eq!(got.err().as_deref().unwrap_or("Ok"), expected);
    };
    check(
        update(
            1,
            &[1],
            &[(1, 0, None, None), (3, 0, None, None)],
            vec![ids(&[2], &[5])],
        ),
        "Ok",
    );
    check(update(1, &[3, 4], &[], vec![]), "KeyNotPresent { key: 3 }");
    check(update(1, &[], &[B], vec![]), "DuplicateKey { key: 2 }");
    check(
        update(1, &[], &[], vec![ids(&[7], &[0])]),
        "KeyNotPresent { key: 7 }",
    );
}

/// Regression guard for resyncs: a reset swallows what came before it, and what follows a reset
/// stays part of it, so a lagging reader's reset can be coalesced like any update.
#[test]
fn resets_coalesce() {
    let reset = |step, rows: &[Row]| TableUpdate::reset(step, added(rows));
    // Reset, then a change of a row it added and a removal: still a reset.
    let after_reset = vec![
        reset(2, &[A, B]),
        update(3, &[1], &[C], vec![ids(&[2], &[21])]),
    ];
    check(&[A, C], after_reset.clone(), &[(2, 21, Some("b"), None), C]);
    let mut updates = after_reset.into_iter();
    let first = updates.next().unwrap();
    let both = first.coalesce(updates.next().unwrap()).unwrap();
    assert!(both.is_reset() && both.removed().is_empty() && both.modified().is_empty());
    // Anything, then a reset: the reset alone.
    let before_reset = vec![update(2, &[1], &[], vec![]), reset(3, &[C])];
    check(&[A, B], before_reset.clone(), &[C]);
    let mut updates = before_reset.into_iter();
    let first = updates.next().unwrap();
    let last = updates.next().unwrap();
    assert_eq!(first.coalesce(last.clone()).unwrap(), last);
    assert!(
        !reset(4, &[]).is_empty(),
        "a reset to nothing still empties the table"
    );
}

#[test]
fn coalescing_rejects_disorder_and_other_schemas() {
    let later = update(2, &[], &[], vec![]);
    let error = later
        .clone()
        .coalesce(update(2, &[], &[], vec![]))
        .unwrap_err();
    assert!(matches!(
        error,
        CoreError::StepOrder {
            previous: 2,
            next: 2
        }
    ));
    let projected = update(3, &[], &[], vec![]).project(&["id"]).unwrap();
    let error = later.coalesce(projected).unwrap_err();
    assert!(matches!(error, CoreError::SchemaMismatch { .. }));
}

#[test]
fn projection_keeps_keys_and_drops_other_columns() {
    let full = update(
        4,
        &[9],
        &[A],
        vec![names(&[2], &[None]), values(&[3], &[Some(1.0)])],
    );
    let check = |columns: &[&str], expected_changes: &[&str]| {
        let projected = full.project(columns).unwrap();
        assert_eq!(projected.step(), 4);
        assert_eq!(projected.removed(), full.removed());
        assert_eq!(projected.added().keys(), full.added().keys());
        assert_eq!(projected.added().batch().num_columns(), columns.len());
        assert_eq!(projected.modified_columns(), expected_changes);
    };
    check(&["value", "name"], &["value", "name"]);
    check(&["id"], &[]);
    check(&[], &[]);
    assert!(matches!(
        full.project(&["x"]),
        Err(CoreError::UnknownColumn { .. })
    ));
}

/// Rows `rows` as `AddedRows` cut into batches at `cuts` (row positions).
fn added_in_chunks(rows: &[Row], cuts: &[usize]) -> AddedRows {
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|c| *c < rows.len()));
    bounds.push(rows.len());
    let chunks = bounds
        .windows(2)
        .map(|w| batch(&rows[w[0]..w[1]]))
        .collect();
    AddedRows::from_chunks(
        crate::test_support::schema().arrow().clone(),
        rows.iter().map(|r| r.0).collect(),
        chunks,
    )
    .unwrap()
}

// Guards chunked added rows (a large step handed over piece by piece): applying them, as an
// append past the last key and as inserts between held keys, gives the same table as one
// batch, and the appended tail becomes table chunks that share the pieces' buffers (no copy).
#[test]
fn rows_added_in_chunks_apply_like_one_batch_without_copying() {
    let start = [A, (10, 100, Some("j"), None)];
    let new: Vec<Row> = vec![
        (4, 40, Some("d"), None),
        (5, 50, None, Some(5.0)),
        (11, 110, Some("k"), Some(1.5)),
        (12, 120, Some("l"), None),
        (13, 130, None, None),
    ];
    let chunked = added_in_chunks(&new, &[1, 3]);
    assert_eq!(chunked.chunks().len(), 3);
    assert_eq!(chunked, added(&new), "equal however cut");
    let one = initial_after(&start, added(&new));
    let pieces = initial_after(&start, chunked.clone());
    assert_eq!(pieces, one);
    let mut all: Vec<Row> = start.to_vec();
    all.extend(new.iter().copied());
    all.sort_by_key(|r| r.0);
    assert_eq!(snapshot_rows(&pieces), owned(&all));

    // Keys 11..=13 (past the last held key, 10) arrive as the tail, as slices of the pieces;
    // with chunks of at most 2 rows the piece holding 12 and 13 becomes a chunk of its own and
    // keeps its buffers.
    let piece_buffers: Vec<*const u8> = chunked
        .chunks()
        .iter()
        .map(|c| c.column(0).to_data().buffers()[0].as_ptr())
        .collect();
    let tail_shares_a_piece = pieces.chunks().any(|chunk| {
        chunk.keys() == [12, 13]
            && piece_buffers.contains(&chunk.batch().column(0).to_data().buffers()[0].as_ptr())
    });
    assert!(tail_shares_a_piece, "the tail was copied");

    // Projection and coalescing keep the rows whatever the cut.
    let projected = TableUpdate::new(1, RowSet::new(), chunked.clone(), Vec::new())
        .unwrap()
        .project(&["name"])
        .unwrap();
    assert_eq!(projected.added().chunks().len(), 3);
    assert_eq!(projected.added().batch().num_rows(), new.len());
    check(
        &start,
        vec![
            TableUpdate::new(1, RowSet::new(), chunked, Vec::new()).unwrap(),
            update(2, &[4, 11], &[], Vec::new()),
        ],
        &[
            A,
            (5, 50, None, Some(5.0)),
            (10, 100, Some("j"), None),
            (12, 120, Some("l"), None),
            (13, 130, None, None),
        ],
    );
}

/// `start` after one update adding `rows`.
fn initial_after(start: &[Row], rows: AddedRows) -> crate::Snapshot {
    let update = TableUpdate::new(1, RowSet::new(), rows, Vec::new()).unwrap();
    snapshot(0, start)
        .with_chunk_bounds(crate::ChunkBounds::new(2))
        .apply(&update)
        .unwrap()
}

// Guards the checks of `from_chunks`: keys must match the rows, batches the schema.
#[test]
fn chunked_rows_are_checked() {
    let schema = crate::test_support::schema().arrow().clone();
    let err = AddedRows::from_chunks(
        schema.clone(),
        vec![1, 2, 3],
        vec![batch(&[A]), batch(&[B])],
    )
    .unwrap_err();
    assert!(
        matches!(err, CoreError::RowCountMismatch { keys: 3, rows: 2 }),
        "{err}"
    );
    let other = RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "x",
            arrow_schema::DataType::Int64,
            false,
        )])),
        vec![Arc::new(Int64Array::from(vec![1]))],
    )
    .unwrap();
    let err =
        AddedRows::from_chunks(schema.clone(), vec![1, 2], vec![batch(&[A]), other]).unwrap_err();
    assert!(matches!(err, CoreError::SchemaMismatch { .. }), "{err}");
    let err = AddedRows::from_chunks(schema.clone(), vec![2, 1], vec![batch(&[A, B])]).unwrap_err();
    assert!(matches!(err, CoreError::KeysNotAscending { .. }), "{err}");
    let none = AddedRows::from_chunks(schema, Vec::new(), Vec::new()).unwrap();
    assert!(none.is_empty());
    assert_eq!(none.batch().num_rows(), 0);
}
