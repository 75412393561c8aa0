//! Subscription options after `?`: values, defaults, the canonical order, and every error.
//!
//! Every case is the query of `pq://W/scope/t?QUERY`, so positions count from there (the query
//! starts at byte 15). The same parser serves direct addresses.

use std::time::Duration;

use tableshare_uri::{OnDisconnect, SubscriptionOptions, UriError, UriPart, WorkerUri};

use crate::ExpectErr;

const PREFIX: &str = "pq://W/scope/t?";

/// A query and the options and canonical query it gives, or its error.
type Case = (
    &'static str,
    Result<(SubscriptionOptions, &'static str), ExpectErr>,
);

/// The default options changed by `change`.
fn opts(change: impl FnOnce(&mut SubscriptionOptions)) -> SubscriptionOptions {
    let mut options = SubscriptionOptions::default();
    change(&mut options);
    options
}

/// Parses `pq://W/scope/t?{query}` and compares its options with `expected`, and its canonical
/// form with `pq://W/scope/t` followed by the expected canonical query (`""` for none).
fn check(query: &str, expected: Result<(SubscriptionOptions, &str), ExpectErr>) {
    let input = format!("{PREFIX}{query}");
    let got = WorkerUri::parse(&input);
    match expected {
        Ok((options, canonical_query)) => {
            let uri = got.unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
            assert_eq!(uri.options(), &options, "options of {input:?}");
            let canonical = format!("pq://W/scope/t{canonical_query}");
            assert_eq!(uri.to_string(), canonical, "canonical form of {input:?}");
            assert_eq!(
                WorkerUri::parse(&canonical).as_ref(),
                Ok(&uri),
                "reparse of {input:?}"
            );
        }
        Err(want) => assert_eq!(got, Err(want(input.clone())), "error for {input:?}"),
    }
}

#[test]
fn defaults() {
    let defaults = SubscriptionOptions::default();
    assert_eq!(
        defaults,
        SubscriptionOptions {
            snapshot: false,
            columns: None,
            on_disconnect: OnDisconnect::Clear,
            retry_window: Duration::from_millis(300_000),
            max_retries: None,
            blink: false,
        }
    );
    assert_eq!(
        SubscriptionOptions::DEFAULT_RETRY_WINDOW,
        Duration::from_secs(300)
    );
    assert_eq!(OnDisconnect::default(), OnDisconnect::Clear);
    assert_eq!(defaults.validate(), Ok(()));
}

#[test]
fn values() {
    let columns = |names: &[&str]| Some(names.iter().map(|n| n.to_string()).collect());
    let cases: Vec<Case> = vec![
        // Defaults written out are left out of the canonical form.
        ("snapshot=false", Ok((opts(|_| ()), ""))),
        ("blink=false", Ok((opts(|_| ()), ""))),
        ("onDisconnect=clear", Ok((opts(|_| ()), ""))),
        ("retryWindowMillis=300000", Ok((opts(|_| ()), ""))),
        (
            "snapshot=false&blink=false&onDisconnect=clear",
            Ok((opts(|_| ()), "")),
        ),
        (
            "snapshot=true",
            Ok((opts(|o| o.snapshot = true), "?snapshot=true")),
        ),
        ("blink", Ok((opts(|o| o.blink = true), "?blink"))),
        ("blink=true", Ok((opts(|o| o.blink = true), "?blink"))),
        (
            "snapshot=true&blink=false",
            Ok((opts(|o| o.snapshot = true), "?snapshot=true")),
        ),
        (
            "onDisconnect=retain",
            Ok((
                opts(|o| o.on_disconnect = OnDisconnect::Retain),
                "?onDisconnect=retain",
            )),
        ),
        (
            "retryWindowMillis=0",
            Ok((
                opts(|o| o.retry_window = Duration::ZERO),
                "?retryWindowMillis=0",
            )),
        ),
        (
            "retryWindowMillis=18446744073709551615",
            Ok((
                opts(|o| o.retry_window = Duration::from_millis(u64::MAX)),
                "?retryWindowMillis=18446744073709551615",
            )),
        ),
        (
            "maxRetries=0",
            Ok((opts(|o| o.max_retries = Some(0)), "?maxRetries=0")),
        ),
        (
            "maxRetries=4294967295",
            Ok((
                opts(|o| o.max_retries = Some(u32::MAX)),
                "?maxRetries=4294967295",
            )),
        ),
        (
            "maxRetries=007",
            Ok((opts(|o| o.max_retries = Some(7)), "?maxRetries=7")),
        ),
        // Column names: split on literal `,`, then decoded; encoded in the canonical form.
        (
            "columns=A",
            Ok((opts(|o| o.columns = columns(&["A"])), "?columns=A")),
        ),
        (
            "columns=a%2Cb,c%26d,e%3Df",
            Ok((
                opts(|o| o.columns = columns(&["a,b", "c&d", "e=f"])),
                "?columns=a%2Cb,c%26d,e%3Df",
            )),
        ),
        (
            "columns=a=b",
            Ok((opts(|o| o.columns = columns(&["a=b"])), "?columns=a%3Db")),
        ),
        (
            "columns=x/y?z",
            Ok((
                opts(|o| o.columns = columns(&["x/y?z"])),
                "?columns=x%2Fy%3Fz",
            )),
        ),
        (
            "columns=Col%201,%C3%A9",
            Ok((
                opts(|o| o.columns = columns(&["Col 1", "é"])),
                "?columns=Col%201,%C3%A9",
            )),
        ),
        // The column order is kept.
        (
            "columns=b,a",
            Ok((opts(|o| o.columns = columns(&["b", "a"])), "?columns=b,a")),
        ),
        // Any input order; one canonical order.
        (
            "blink&maxRetries=3&retryWindowMillis=1&onDisconnect=retain&columns=A&snapshot=false",
            Ok((
                opts(|o| {
                    o.blink = true;
                    o.max_retries = Some(3);
                    o.retry_window = Duration::from_millis(1);
                    o.on_disconnect = OnDisconnect::Retain;
                    o.columns = columns(&["A"]);
                }),
                "?columns=A&onDisconnect=retain&retryWindowMillis=1&maxRetries=3&blink",
            )),
        ),
    ];
    for (query, expected) in cases {
        check(query, expected);
    }
}

#[test]
fn errors() {
    const BOOL: &str = "`true` or `false`";
    const MILLIS: &str = "a whole number of milliseconds that fits in 64 bits";
    const RETRIES: &str = "a whole number from 0 to 4294967295";
    let cases: Vec<Case> = vec![
        (
            "",
            Err(|input| UriError::EmptyQuery {
                input,
                position: 14,
            }),
        ),
        (
            "blink&",
            Err(|input| UriError::EmptyOption {
                input,
                position: 21,
            }),
        ),
        (
            "&blink",
            Err(|input| UriError::EmptyOption {
                input,
                position: 15,
            }),
        ),
        (
            "blink&&snapshot=false",
            Err(|input| UriError::EmptyOption {
                input,
                position: 21,
            }),
        ),
        (
            "onDisconect=retain",
            Err(|input| UriError::UnknownOption {
                input,
                option: "onDisconect".into(),
                position: 15,
                suggestion: Some("onDisconnect"),
            }),
        ),
        (
            "blink&retryWindowMs=5",
            Err(|input| UriError::UnknownOption {
                input,
                option: "retryWindowMs".into(),
                position: 21,
                suggestion: Some("retryWindowMillis"),
            }),
        ),
        (
            "foo=1",
            Err(|input| UriError::UnknownOption {
                input,
                option: "foo".into(),
                position: 15,
                suggestion: None,
            }),
        ),
        (
            "=1",
            Err(|input| UriError::UnknownOption {
                input,
                option: "".into(),
                position: 15,
                suggestion: None,
            }),
        ),
        (
            "blink&blink",
            Err(|input| UriError::DuplicateOption {
                input,
                option: "blink",
                position: 21,
            }),
        ),
        (
            "snapshot=true&snapshot=true",
            Err(|input| UriError::DuplicateOption {
                input,
                option: "snapshot",
                position: 29,
            }),
        ),
        (
            "columns=a&columns=b",
            Err(|input| UriError::DuplicateOption {
                input,
                option: "columns",
                position: 25,
            }),
        ),
        (
            "snapshot",
            Err(|input| UriError::MissingOptionValue {
                input,
                option: "snapshot",
                position: 15,
            }),
        ),
        (
            "columns",
            Err(|input| UriError::MissingOptionValue {
                input,
                option: "columns",
                position: 15,
            }),
        ),
        (
            "onDisconnect",
            Err(|input| UriError::MissingOptionValue {
                input,
                option: "onDisconnect",
                position: 15,
            }),
        ),
        (
            "retryWindowMillis",
            Err(|input| UriError::MissingOptionValue {
                input,
                option: "retryWindowMillis",
                position: 15,
            }),
        ),
        (
            "maxRetries",
            Err(|input| UriError::MissingOptionValue {
                input,
                option: "maxRetries",
                position: 15,
            }),
        ),
        (
            "snapshot=yes",
            Err(|input| UriError::InvalidOptionValue {
                input,
                option: "snapshot",
                value: "yes".into(),
                expected: BOOL,
                position: 24,
            }),
        ),
        (
            "snapshot=TRUE",
            Err(|input| UriError::InvalidOptionValue {
                input,
                option: "snapshot",
                value: "TRUE".into(),
                expected: BOOL,
                position: 24,
            }),
        ),
        (
            "blink=1",
            Err(|input| UriError::InvalidOptionValue {
                input,
                option: "blink",
                value: "1".into(),
                expected: BOOL,
                position: 21,
            }),
        ),
        (
            "onDisconnect=keep",
            Err(|input| UriError::InvalidOptionValue {
                input,
                option: "onDisconnect",
                value: "keep".into(),
                expected: "`clear` or `retain`",
                position: 28,
            }),
        ),
        (
            "retryWindowMillis=-1",
            Err(|input| UriError::InvalidOptionValue {
                input,
                option: "retryWindowMillis",
                value: "-1".into(),
                expected: MILLIS,
                position: 33,
            }),
        ),
        (
            "retryWindowMillis=1.5",
            Err(|input| UriError::InvalidOptionValue {
                input,
                option: "retryWindowMillis",
                value: "1.5".into(),
                expected: MILLIS,
                position: 33,
            }),
        ),
        (
            "retryWindowMillis=",
            Err(|input| UriError::InvalidOptionValue {
                input,
                option: "retryWindowMillis",
                value: "".into(),
                expected: MILLIS,
                position: 33,
            }),
        ),
        (
            "retryWindowMillis=18446744073709551616",
            Err(|input| UriError::InvalidOptionValue {
                input,
                option: "retryWindowMillis",
                value: "18446744073709551616".into(),
                expected: MILLIS,
                position: 33,
            }),
        ),
        (
            "maxRetries=4294967296",
            Err(|input| UriError::InvalidOptionValue {
                input,
                option: "maxRetries",
                value: "4294967296".into(),
                expected: RETRIES,
                position: 26,
            }),
        ),
        (
            "maxRetries=+3",
            Err(|input| UriError::InvalidOptionValue {
                input,
                option: "maxRetries",
                value: "+3".into(),
                expected: RETRIES,
                position: 26,
            }),
        ),
        (
            "columns=",
            Err(|input| UriError::EmptyColumnName {
                input,
                position: 23,
            }),
        ),
        (
            "columns=a,,b",
            Err(|input| UriError::EmptyColumnName {
                input,
                position: 25,
            }),
        ),
        (
            "columns=a,",
            Err(|input| UriError::EmptyColumnName {
                input,
                position: 25,
            }),
        ),
        (
            "columns=,a",
            Err(|input| UriError::EmptyColumnName {
                input,
                position: 23,
            }),
        ),
        (
            "columns=a,a",
            Err(|_| UriError::DuplicateColumn { column: "a".into() }),
        ),
        (
            "columns=a,%61",
            Err(|_| UriError::DuplicateColumn { column: "a".into() }),
        ),
        (
            "columns=a b",
            Err(|input| UriError::UnencodedCharacter {
                input,
                part: UriPart::Column,
                ch: ' ',
                position: 24,
            }),
        ),
        (
            "columns=a#b",
            Err(|input| UriError::UnencodedCharacter {
                input,
                part: UriPart::Column,
                ch: '#',
                position: 24,
            }),
        ),
        (
            "columns=%zz",
            Err(|input| UriError::InvalidPercentEncoding {
                input,
                part: UriPart::Column,
                position: 23,
            }),
        ),
        (
            "columns=%FF",
            Err(|input| UriError::InvalidUtf8 {
                input,
                part: UriPart::Column,
                text: "%FF".into(),
            }),
        ),
        ("snapshot=true&blink", Err(|_| UriError::SnapshotWithBlink)),
        (
            "blink=true&snapshot=true",
            Err(|_| UriError::SnapshotWithBlink),
        ),
    ];
    for (query, expected) in cases {
        check(query, expected);
    }
}

#[test]
fn unknown_option_message_lists_the_known_ones() {
    let err = WorkerUri::parse("pq://W/scope/t?onDisconect=retain").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown option `onDisconect` at byte 15 of `pq://W/scope/t?onDisconect=retain` \
         (did you mean `onDisconnect`?); the known options are snapshot, columns, onDisconnect, \
         retryWindowMillis, maxRetries, blink"
    );
    let err = WorkerUri::parse("pq://W/scope/t?colour=red").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown option `colour` at byte 15 of `pq://W/scope/t?colour=red`; the known options are \
         snapshot, columns, onDisconnect, retryWindowMillis, maxRetries, blink"
    );
}

#[test]
fn validate() {
    let cases = [
        (opts(|_| ()), Ok(())),
        (opts(|o| o.snapshot = true), Ok(())),
        (
            opts(|o| o.columns = Some(vec!["a".into(), "b".into()])),
            Ok(()),
        ),
        (opts(|o| o.retry_window = Duration::from_millis(1)), Ok(())),
        (
            opts(|o| {
                o.snapshot = true;
                o.blink = true;
            }),
            Err(UriError::SnapshotWithBlink),
        ),
        (
            opts(|o| o.columns = Some(vec![])),
            Err(UriError::EmptyColumnList),
        ),
        (
            opts(|o| o.columns = Some(vec!["a".into(), String::new()])),
            Err(UriError::EmptyName {
                part: UriPart::Column,
            }),
        ),
        (
            opts(|o| o.columns = Some(vec!["a".into(), "b".into(), "a".into()])),
            Err(UriError::DuplicateColumn { column: "a".into() }),
        ),
        (
            opts(|o| o.retry_window = Duration::from_nanos(1)),
            Err(UriError::InvalidRetryWindow {
                window: Duration::from_nanos(1),
            }),
        ),
        (
            opts(|o| o.retry_window = Duration::from_millis(u64::MAX) + Duration::from_millis(1)),
            Err(UriError::InvalidRetryWindow {
                window: Duration::from_millis(u64::MAX) + Duration::from_millis(1),
            }),
        ),
    ];
    for (options, expected) in cases {
        assert_eq!(options.validate(), expected, "{options:?}");
    }
}
