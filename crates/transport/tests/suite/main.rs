//! The transport suite: every case runs on each cloud store (memory, local disk, S3 when the
//! test S3 server is configured, as `cargo xtask ci` does), from real local catalogs.
#![allow(clippy::unwrap_used, unreachable_pub, reason = "tests")]

mod access;
mod common;
mod faults;
mod http;
mod sharing;
