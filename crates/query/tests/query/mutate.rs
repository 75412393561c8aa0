//! SQL updates and deletes on stored tables: values, keys, versions, refusals, and a race with
//! a rival writer.

use tableshare_core::RowSet;
use tableshare_query::{QueryContext, QueryError, delete_where, update_where};
use tableshare_storage::{Operation, Selection, StorageError};

use crate::common::{STORES, catalog, floats, ints, sample_table, strings};

const ROWS: [(i64, &str, f64); 4] = [
    (1, "Alice", 42.5),
    (2, "Bob", 37.8),
    (3, "Charlie", 91.2),
    (4, "Diana", 65.3),
];

// Guards update with SET expressions over the row's own values (cast to the column's type)
// and a WHERE, and delete with a WHERE, on each store: the right rows change, the others and
// the row keys stay, each is one version with the right operation.
#[tokio::test]
async fn update_and_delete_with_sql() {
    for kind in STORES {
        let Some((catalog, _dir)) = catalog(kind) else {
            continue;
        };
        let table = sample_table(&catalog, "demo.t", &ROWS).await;
        let keys_before = table.scan().await.unwrap().keys;

        let done = update_where(
            &table,
            &[("value", "value * 2"), ("name", "upper(name) || '!'")],
            Some("value < 50 AND id <> 1 OR name = 'Diana'"),
        )
        .await
        .unwrap();
        assert_eq!((done.rows, done.version), (2, 2), "{kind}");
        // An integer expression into a float column is cast.
        let done = update_where(&table, &[("value", "id + 100")], Some("id = 3"))
            .await
            .unwrap();
        assert_eq!((done.rows, done.version), (1, 3));

        let ctx = QueryContext::with_catalog(catalog.clone());
        let rows = ctx.sql("SELECT * FROM demo.t ORDER BY id").await.unwrap();
        assert_eq!(
            strings(&rows, "name"),
            [
                Some("Alice".into()),
                Some("BOB!".into()),
                Some("Charlie".into()),
                Some("DIANA!".into())
            ]
        );
        assert_eq!(
            floats(&rows, "value"),
            [Some(42.5), Some(75.6), Some(103.0), Some(130.6)]
        );
        assert_eq!(table.scan().await.unwrap().keys, keys_before, "keys stay");

        let done = delete_where(&table, "name LIKE '%!'").await.unwrap();
        assert_eq!((done.rows, done.version), (2, 4));
        // Nothing matches: no new version.
        let done = delete_where(&table, "id > 100").await.unwrap();
        assert_eq!((done.rows, done.version), (0, 4));
        let rows = ctx.sql("SELECT id FROM demo.t ORDER BY id").await.unwrap();
        assert_eq!(ints(&rows, "id"), [Some(1), Some(3)]);

        // Without WHERE every row is set.
        let done = update_where(&table, &[("value", "0")], None).await.unwrap();
        assert_eq!(done.rows, 2);
        let rows = ctx.sql("SELECT sum(value) AS s FROM demo.t").await.unwrap();
        assert_eq!(floats(&rows, "s"), [Some(0.0)]);

        let history = table.history().await.unwrap();
        assert!(matches!(
            history[0].operation,
            Operation::Update { rows: 2, .. }
        ));
        assert!(matches!(
            history[1].operation,
            Operation::Delete { rows: 2 }
        ));
    }
}

// Guards "bad SQL changes nothing" and the read-only refusal: unknown columns, type errors,
// non-boolean filters and parse errors are `Sql` errors before anything is written; a pinned
// version refuses with `ReadOnly`.
#[tokio::test]
async fn bad_sql_and_read_only_change_nothing() {
    let (catalog, _dir) = catalog("memory").unwrap();
    let table = sample_table(&catalog, "t", &ROWS).await;
    let bad_updates: [(&str, &str, Option<&str>); 6] = [
        ("nope", "1", None),
        ("value", "nope + 1", None),
        ("value", "1 +", None),
        ("value", "1", Some("nope = 2")),
        ("value", "1", Some("id + 1")),
        ("id", "'not a number' || name", Some("id = 1 AND")),
    ];
    for (column, sql, filter) in bad_updates {
        let err = update_where(&table, &[(column, sql)], filter)
            .await
            .unwrap_err();
        assert!(
            matches!(err, QueryError::Sql { .. }) && err.is_bad_input(),
            "{column}={sql} where {filter:?}: {err:?}"
        );
    }
    for filter in ["nope > 1", "value +", "name"] {
        let err = delete_where(&table, filter).await.unwrap_err();
        assert!(matches!(err, QueryError::Sql { .. }), "{filter}: {err:?}");
    }
    assert_eq!(table.refresh().await.unwrap(), 1, "nothing was written");

    let pinned = catalog.open_table("t:1").await.unwrap();
    let err = delete_where(&pinned, "id = 1").await.unwrap_err();
    assert!(
        matches!(err, QueryError::Storage(StorageError::ReadOnly { .. })),
        "{err:?}"
    );
    let err = update_where(&pinned, &[("value", "1")], Some("id = 99"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::Storage(StorageError::ReadOnly { .. })),
        "refused even when nothing matches: {err:?}"
    );
    assert_eq!(table.refresh().await.unwrap(), 1);
}

// Guards the race between a SQL update and a rival writer: the update evaluates its WHERE on
// its handle's version while a rival (another handle) has since deleted one of the selected
// rows; the commit must fail with `RowConflict` instead of resurrecting or overwriting it, and
// an update of rows the rival did not touch must rebase and succeed.
#[tokio::test]
async fn update_racing_a_rival_delete() {
    for kind in STORES {
        let Some((catalog, _dir)) = catalog(kind) else {
            continue;
        };
        let ours = sample_table(&catalog, "t", &ROWS).await;
        let rival = catalog.open_table("t").await.unwrap();
        let key_of_bob = rival.scan().await.unwrap().keys[1];
        let v = rival
            .delete(&Selection::Keys(
                RowSet::from_sorted_keys(&[key_of_bob]).unwrap(),
            ))
            .await
            .unwrap();
        assert_eq!(v, 2);
        assert_eq!(
            ours.version(),
            1,
            "the race: our handle has not seen the delete"
        );

        let err = update_where(&ours, &[("value", "-1")], Some("name = 'Bob'"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, QueryError::Storage(StorageError::RowConflict { .. })),
            "{kind}: {err:?}"
        );
        let done = update_where(&ours, &[("value", "-1")], Some("id = 3"))
            .await
            .unwrap();
        assert_eq!(done.version, 3, "rebased onto the rival's version");
        let ctx = QueryContext::with_catalog(catalog.clone());
        let rows = ctx
            .sql("SELECT id, value FROM t ORDER BY id")
            .await
            .unwrap();
        assert_eq!(ints(&rows, "id"), [Some(1), Some(3), Some(4)]);
        assert_eq!(floats(&rows, "value"), [Some(42.5), Some(-1.0), Some(65.3)]);
    }
}
