//! The data service's integration tests, one binary (CI builds few test binaries): seed 002's
//! usage scenario, the checks on misbehaving backends, paging and caching counted at the
//! backend, retraction, blink and retry, and the conformance suite run on the shipped backends.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

#[path = "tds/common.rs"]
mod common;
#[path = "tds/conformance.rs"]
mod conformance;
#[path = "tds/lifecycle.rs"]
mod lifecycle;
#[path = "tds/paging.rs"]
mod paging;
#[path = "tds/parquet.rs"]
mod parquet;
#[path = "tds/seed.rs"]
mod seed;
#[path = "tds/validation.rs"]
mod validation;
