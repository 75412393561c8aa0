//! Views: stored in the catalog, queried with SQL (also over read-only bases and other views),
//! and live: ticking with their base in the same step, re-evaluating only the changed rows.

use std::time::Duration;

use arrow_array::RecordBatch;
use tableshare_core::{RowSet, Snapshot, TableEvent};
use tableshare_query::{QueryContext, QueryError, ViewProgram, update_where};
use tableshare_storage::{Selection, ViewDefinition};

use crate::common::{STORES, catalog, floats, ints, sample_rows, sample_table, strings};

const ROWS: [(i64, &str, f64); 4] = [
    (1, "Alice", 42.5),
    (2, "Bob", 37.8),
    (3, "Charlie", 91.2),
    (4, "Diana", 65.3),
];

fn doubled_over(base: &str) -> ViewDefinition {
    ViewDefinition::new(base)
        .with_column("computed_value", "value * 2")
        .with_column("label", "concat(name, '#', CAST(id AS VARCHAR))")
        .with_filter("computed_value > 80")
}

// Guards views as SQL tables on each store: computed columns, a filter over a computed column,
// a view on a read-only base (a snapshot), a view over a view, and a view following its base's
// new versions.
#[tokio::test]
async fn views_answer_sql() {
    for kind in STORES {
        let Some((catalog, _dir)) = catalog(kind) else {
            continue;
        };
        let table = sample_table(&catalog, "demo.t", &ROWS).await;
        catalog
            .create_view("demo.v", doubled_over("demo.t"))
            .await
            .unwrap();
        catalog
            .create_snapshot("demo.frozen", "demo.t", None)
            .await
            .unwrap();
        catalog
            .create_view("demo.fv", doubled_over("demo.frozen"))
            .await
            .unwrap();
        catalog
            .create_view(
                "demo.vv",
                ViewDefinition::new("demo.v")
                    .with_column("tripled", "computed_value + 1")
                    .with_filter("id <> 3"),
            )
            .await
            .unwrap();
        let ctx = QueryContext::with_catalog(catalog.clone());
        let rows = ctx.sql("SELECT * FROM demo.v ORDER BY id").await.unwrap();
        assert_eq!(ints(&rows, "id"), [Some(1), Some(3), Some(4)], "{kind}");
        assert_eq!(
            floats(&rows, "computed_value"),
            [Some(85.0), Some(182.4), Some(130.6)]
        );
        assert_eq!(
            strings(&rows, "label"),
            [
                Some("Alice#1".into()),
                Some("Charlie#3".into()),
                Some("Diana#4".into())
            ]
        );
        let rows = ctx
            .sql("SELECT id, tripled FROM demo.vv ORDER BY id")
            .await
            .unwrap();
        assert_eq!(ints(&rows, "id"), [Some(1), Some(4)]);
        assert_eq!(floats(&rows, "tripled"), [Some(86.0), Some(131.6)]);

        // The base moves on; the view follows, the view on the snapshot does not.
        table
            .insert(&sample_rows(&[(5, "Eve", 50.0)]))
            .await
            .unwrap();
        let rows = ctx.sql("SELECT count(*) AS n FROM demo.v").await.unwrap();
        assert_eq!(ints(&rows, "n"), [Some(4)]);
        let rows = ctx.sql("SELECT count(*) AS n FROM demo.fv").await.unwrap();
        assert_eq!(ints(&rows, "n"), [Some(3)], "{kind}");
        // Joined with its own base.
        let rows = ctx
            .sql("SELECT t.id FROM demo.t t JOIN demo.v v ON t.id = v.id WHERE t.value < 50")
            .await
            .unwrap();
        assert_eq!(ints(&rows, "id"), [Some(1)]);
    }
}

// Guards view definitions that cannot be evaluated: they fail with a view or SQL error
// naming the problem, never with wrong rows.
#[tokio::test]
async fn invalid_views_are_refused() {
    let (catalog, _dir) = catalog("memory").unwrap();
    let table = sample_table(&catalog, "t", &ROWS).await;
    let base = table.schema();
    for definition in [
        ViewDefinition::new("t").with_column("id", "1"),
        ViewDefinition::new("t").with_column("x", "nope * 2"),
        ViewDefinition::new("t").with_filter("value"),
        ViewDefinition::new("t")
            .with_column("x", "1")
            .with_column("x", "2"),
    ] {
        let err = ViewProgram::compile("v", base.clone(), &definition).unwrap_err();
        assert!(err.is_bad_input(), "{definition:?}: {err:?}");
    }
    catalog
        .create_view("orphan", ViewDefinition::new("gone"))
        .await
        .unwrap();
    let err = QueryContext::with_catalog(catalog)
        .sql("SELECT * FROM orphan")
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::InvalidView { .. }), "{err:?}");
}

/// The view's rows computed from scratch from the base's rows (the reference for live views).
fn expected(program: &ViewProgram, base: &Snapshot) -> (Vec<u64>, RecordBatch) {
    let batch = base.concat().unwrap();
    program.evaluate(&base.key_vec(), &batch).unwrap()
}

fn assert_view_matches(program: &ViewProgram, base: &Snapshot, view: &Snapshot) {
    assert_eq!(view.step(), base.step(), "the view is at its base's step");
    let (keys, rows) = expected(program, base);
    assert_eq!(view.key_vec(), keys);
    assert_eq!(view.concat().unwrap(), rows);
}

// Guards the live view: it ticks with its stored base in the same step for inserts, updates
// that move rows into and out of the filter, updates that keep them, and deletes; each of its
// updates carries only the rows the base step changed (a one-row update is a one-row change).
#[tokio::test]
async fn live_view_ticks_with_its_base() {
    for kind in ["memory", "local"] {
        let (catalog, _dir) = catalog(kind).unwrap();
        let table = sample_table(&catalog, "demo.t", &ROWS).await;
        catalog
            .create_view("demo.v", doubled_over("demo.t"))
            .await
            .unwrap();
        let ctx = QueryContext::with_catalog(catalog.clone());
        let view = ctx.live_view("demo.v").await.unwrap();
        let base = table.live().await.unwrap();
        let program = ViewProgram::compile("v", table.schema(), &doubled_over("demo.t")).unwrap();
        let (first, mut changes) = view.table().subscribe().unwrap();
        assert_view_matches(&program, &base.snapshot().unwrap(), &first);
        assert_eq!(first.key_vec().len(), 3);

        // Each step, then the view's update for it.
        let step = table
            .insert(&sample_rows(&[(5, "Eve", 50.0), (6, "Fay", 1.0)]))
            .await;
        let step = step.unwrap();
        let update = next_update(&mut changes).await;
        assert_eq!(update.step(), step);
        assert_eq!(update.added().len(), 1, "Eve passes, Fay does not");
        let snap = view.wait_for_step(step).await.unwrap();
        assert_view_matches(&program, &base.snapshot().unwrap(), &snap);

        // One row's value changes and it stays in the view: a one-row change, nothing else.
        let done = update_where(&table, &[("value", "value + 1")], Some("id = 3"))
            .await
            .unwrap();
        let update = next_update(&mut changes).await;
        assert_eq!(update.step(), done.version);
        assert!(update.added().is_empty() && update.removed().is_empty());
        assert_eq!(update.modified_keys().len(), 1);
        let snap = view.wait_for_step(done.version).await.unwrap();
        assert_view_matches(&program, &base.snapshot().unwrap(), &snap);

        // Bob moves into the view, Alice out of it.
        let done = update_where(
            &table,
            &[("value", "CASE WHEN id = 2 THEN 99.0 ELSE 1.0 END")],
            Some("id IN (1, 2)"),
        )
        .await
        .unwrap();
        let update = next_update(&mut changes).await;
        assert_eq!(update.added().len(), 1);
        assert_eq!(update.removed().len(), 1);
        let snap = view.wait_for_step(done.version).await.unwrap();
        assert_view_matches(&program, &base.snapshot().unwrap(), &snap);

        // Deleting a row the view holds and one it does not.
        let keys = table.scan().await.unwrap().keys;
        let gone = RowSet::from_sorted_keys(&[keys[0], keys[1]]).unwrap();
        let v = table.delete(&Selection::Keys(gone)).await.unwrap();
        let update = next_update(&mut changes).await;
        assert_eq!(
            update.removed().len(),
            1,
            "{kind}: only the row the view held"
        );
        let snap = view.wait_for_step(v).await.unwrap();
        assert_view_matches(&program, &base.snapshot().unwrap(), &snap);
        let rows = snap.concat().unwrap();
        assert_eq!(ints(&[rows], "id"), [Some(3), Some(4), Some(5)]);
    }
}

async fn next_update(changes: &mut tableshare_core::Subscription) -> tableshare_core::TableUpdate {
    let event = tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .expect("the view ticks")
        .expect("the view lives")
        .expect("the view did not fail");
    match event {
        TableEvent::Update(update) => update,
        other => panic!("unexpected {other:?}"),
    }
}

// Guards lockstep under a race: a writer commits to the base as fast as it can while the view
// follows; the view must pass through several of the base's steps (the race happened) and, at
// the end, hold exactly the rows a from-scratch evaluation of the base gives, at the same step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_view_keeps_up_with_a_racing_writer() {
    let (catalog, _dir) = catalog("memory").unwrap();
    let table = sample_table(&catalog, "t", &ROWS).await;
    let definition = ViewDefinition::new("t")
        .with_column("big", "value > 60")
        .with_filter("id % 2 = 0 OR big");
    catalog.create_view("v", definition.clone()).await.unwrap();
    let ctx = QueryContext::with_catalog(catalog.clone());
    let view = ctx.live_view("v").await.unwrap();
    let base = table.live().await.unwrap();
    let (_, mut changes) = view.table().subscribe().unwrap();
    let writer = {
        let catalog = catalog.clone();
        tokio::spawn(async move {
            let table = catalog.open_table("t").await.unwrap();
            let mut last = 0;
            for i in 0..30i64 {
                last = if i % 3 == 2 {
                    update_where(
                        &table,
                        &[("value", "value + 7")],
                        Some(&format!("id % 5 = {}", i % 5)),
                    )
                    .await
                    .unwrap()
                    .version
                } else {
                    let id = 100 + i;
                    table
                        .insert(&sample_rows(&[(id, "w", (id % 97) as f64)]))
                        .await
                        .unwrap()
                };
            }
            last
        })
    };
    let mut seen = Vec::new();
    while !writer.is_finished() {
        if let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(20), changes.next()).await
        {
            seen.push(event.unwrap().step());
        }
    }
    let last = writer.await.unwrap();
    let final_version = table.refresh().await.unwrap();
    assert_eq!(final_version, last);
    let snap = view.wait_for_step(final_version).await.unwrap();
    assert!(
        seen.len() >= 2,
        "the view ticked while the writer ran: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "steps ascend: {seen:?}"
    );
    let program = ViewProgram::compile("v", table.schema(), &definition).unwrap();
    let base_snapshot = loop {
        let s = base.snapshot().unwrap();
        if s.step() >= final_version {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_view_matches(&program, &base_snapshot, &snap);
}

// Guards live views stacked on views: the outer view ticks at the stored base's step, and its
// rows equal what SQL over the same view returns at that version (the two evaluations agree).
#[tokio::test]
async fn live_view_over_a_view_agrees_with_sql() {
    let (catalog, _dir) = catalog("local").unwrap();
    let table = sample_table(&catalog, "demo.t", &ROWS).await;
    catalog
        .create_view("demo.v", doubled_over("demo.t"))
        .await
        .unwrap();
    catalog
        .create_view(
            "demo.vv",
            ViewDefinition::new("demo.v")
                .with_column("plus_one", "computed_value + 1")
                .with_filter("id <> 3"),
        )
        .await
        .unwrap();
    let ctx = QueryContext::with_catalog(catalog.clone());
    let live = ctx.live_view("demo.vv").await.unwrap();
    let version = table
        .insert(&sample_rows(&[(5, "Eve", 50.0), (6, "Fay", 10.0)]))
        .await
        .unwrap();
    let done = update_where(&table, &[("value", "value + 100")], Some("id = 2"))
        .await
        .unwrap();
    assert_eq!(done.version, version + 1);
    let snapshot = live.wait_for_step(done.version).await.unwrap();
    assert_eq!(snapshot.step(), done.version);
    let live_rows = [snapshot.concat().unwrap()];
    let sql = ctx.sql("SELECT * FROM demo.vv ORDER BY id").await.unwrap();
    assert_eq!(ints(&live_rows, "id"), [Some(1), Some(2), Some(4), Some(5)]);
    assert_eq!(ints(&sql, "id"), ints(&live_rows, "id"));
    assert_eq!(floats(&sql, "plus_one"), floats(&live_rows, "plus_one"));
}
