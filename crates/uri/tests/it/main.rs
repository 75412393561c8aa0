//! Integration tests of `tableshare-uri` through its public API only, as the CLI and the facade
//! use it. One test binary (modules below) keeps link time down.
//!
//! Each area has one data-driven `check(input, expected)` helper; an expected error is written as
//! a function of the input, so cases do not repeat the input they are about.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design: the panic is the test failure"
)]

mod cloud;
mod direct;
mod json;
mod options;
mod props;
mod table_uri;
mod worker;

/// An expected parse error, given the input it is about.
type ExpectErr = fn(String) -> tableshare_uri::UriError;
