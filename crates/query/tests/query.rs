//! The query layer's integration tests, one binary with a module per area: SQL over stored and
//! live tables on every store (`sql`), SQL updates and deletes (`mutate`), views as tables and
//! as live tables that tick with their base (`views`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests panic on failure by design: the panic is the test failure"
)]

#[path = "query/common.rs"]
mod common;
#[path = "query/mutate.rs"]
mod mutate;
#[path = "query/sql.rs"]
mod sql;
#[path = "query/views.rs"]
mod views;
