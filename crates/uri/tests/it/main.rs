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

use tableshare_uri::UriError;

/// An expected parse error, given the input it is about.
type ExpectErr = fn(String) -> UriError;

/// The checks every address kind shares once its own fields have matched: the canonical form,
/// reading it back (through `parse` and through `FromStr`), and parsing `input` as a
/// [`TableUri`](tableshare_uri::TableUri) of the same kind.
fn check_parsed<T>(input: &str, uri: T, canonical: &str, parse: fn(&str) -> Result<T, UriError>)
where
    T: std::str::FromStr<Err = UriError>
        + std::fmt::Display
        + std::fmt::Debug
        + PartialEq
        + Into<tableshare_uri::TableUri>,
{
    assert_eq!(uri.to_string(), canonical, "canonical form of {input:?}");
    assert_eq!(parse(canonical).as_ref(), Ok(&uri), "reparse of {input:?}");
    assert_eq!(canonical.parse::<T>().as_ref(), Ok(&uri), "FromStr");
    assert_eq!(
        tableshare_uri::TableUri::parse(input),
        Ok(uri.into()),
        "TableUri of {input:?}"
    );
}

/// The checks every address kind shares for an expected error: the kind's own parser gives
/// exactly `want`, and so does [`TableUri`](tableshare_uri::TableUri) unless it is a scheme error
/// (those list every scheme there).
fn check_error<T: std::fmt::Debug + PartialEq>(
    input: &str,
    got: Result<T, UriError>,
    want: UriError,
) {
    assert_eq!(got, Err(want.clone()), "error for {input:?}");
    if !matches!(
        want,
        UriError::MissingScheme { .. } | UriError::UnsupportedScheme { .. }
    ) {
        assert_eq!(
            tableshare_uri::TableUri::parse(input),
            Err(want),
            "TableUri error for {input:?}"
        );
    }
}
