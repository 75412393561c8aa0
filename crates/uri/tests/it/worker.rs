//! `pq://` worker addresses: every example of seed 001, names and their encoding, and every error.

use std::time::Duration;

use tableshare_uri::{OnDisconnect, SubscriptionOptions, UriError, UriPart, WorkerRef, WorkerUri};

use crate::ExpectErr;

/// What a worker address should parse to.
struct Worker {
    worker: WorkerRef,
    table: &'static str,
    options: SubscriptionOptions,
    canonical: &'static str,
}

fn name(name: &str) -> WorkerRef {
    WorkerRef::Name(name.to_owned())
}

/// The default options changed by `change`.
fn opts(change: impl FnOnce(&mut SubscriptionOptions)) -> SubscriptionOptions {
    let mut options = SubscriptionOptions::default();
    change(&mut options);
    options
}

fn ok(
    worker: WorkerRef,
    table: &'static str,
    options: SubscriptionOptions,
    canonical: &'static str,
) -> Result<Worker, ExpectErr> {
    Ok(Worker {
        worker,
        table,
        options,
        canonical,
    })
}

/// Parses `input` as a worker address (and as a [`TableUri`]) and compares with `expected`; a
/// success must also format to the canonical form and read back to the same value.
fn check(input: &str, expected: Result<Worker, ExpectErr>) {
    let got = WorkerUri::parse(input);
    match expected {
        Ok(want) => {
            let uri = got.unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
            assert_eq!(uri.worker(), &want.worker, "worker of {input:?}");
            assert_eq!(uri.table(), want.table, "table of {input:?}");
            assert_eq!(uri.options(), &want.options, "options of {input:?}");
            crate::check_parsed(input, uri, want.canonical, WorkerUri::parse);
        }
        Err(want) => crate::check_error(input, got, want(input.to_owned())),
    }
}

/// Every URI of seed 001 means what the seed says it means.
#[test]
fn seed_001_examples() {
    let defaults = SubscriptionOptions::default;
    let cases = [
        // "a PQ called SomePQ with serial number 1234567890 ... produces a table called some_table"
        (
            "pq://SomePQ/scope/some_table",
            ok(
                name("SomePQ"),
                "some_table",
                defaults(),
                "pq://SomePQ/scope/some_table",
            ),
        ),
        (
            "pq://1234567890/scope/some_table",
            ok(
                WorkerRef::Serial(1234567890),
                "some_table",
                defaults(),
                "pq://1234567890/scope/some_table",
            ),
        ),
        // "To get a static snapshot of the upstream table, use the snapshot option."
        (
            "pq://SomePQ/scope/some_table?snapshot=true",
            ok(
                name("SomePQ"),
                "some_table",
                opts(|o| o.snapshot = true),
                "pq://SomePQ/scope/some_table?snapshot=true",
            ),
        ),
        // "gets only Col1, Col2, and Col3"
        (
            "pq://SomePQ/scope/some_table?columns=Col1,Col2,Col3",
            ok(
                name("SomePQ"),
                "some_table",
                opts(|o| o.columns = Some(vec!["Col1".into(), "Col2".into(), "Col3".into()])),
                "pq://SomePQ/scope/some_table?columns=Col1,Col2,Col3",
            ),
        ),
        // "retains all rows in the event of a disconnection"
        (
            "pq://SomePQ/scope/some_table?onDisconnect=retain",
            ok(
                name("SomePQ"),
                "some_table",
                opts(|o| o.on_disconnect = OnDisconnect::Retain),
                "pq://SomePQ/scope/some_table?onDisconnect=retain",
            ),
        ),
        // "sets the retry window to 30 seconds (30,000 milliseconds)"
        (
            "pq://SomePQ/scope/some_table?retryWindowMillis=30000",
            ok(
                name("SomePQ"),
                "some_table",
                opts(|o| o.retry_window = Duration::from_secs(30)),
                "pq://SomePQ/scope/some_table?retryWindowMillis=30000",
            ),
        ),
        // "retries up to 3 times within the default 5-minute window"
        (
            "pq://SomePQ/scope/some_table?maxRetries=3",
            ok(
                name("SomePQ"),
                "some_table",
                opts(|o| {
                    assert_eq!(o.retry_window, Duration::from_secs(5 * 60));
                    o.max_retries = Some(3);
                }),
                "pq://SomePQ/scope/some_table?maxRetries=3",
            ),
        ),
        // "connects to the upstream table as a blink table"
        (
            "pq://SomePQ/scope/some_table?blink",
            ok(
                name("SomePQ"),
                "some_table",
                opts(|o| o.blink = true),
                "pq://SomePQ/scope/some_table?blink",
            ),
        ),
        // "combines columns, retryWindowMillis, maxRetries, and blink"
        (
            "pq://SomePQ/scope/some_table?columns=Col1,Col2,Col3&retryWindowMillis=30000&maxRetries=3&blink",
            ok(
                name("SomePQ"),
                "some_table",
                opts(|o| {
                    o.columns = Some(vec!["Col1".into(), "Col2".into(), "Col3".into()]);
                    o.retry_window = Duration::from_millis(30_000);
                    o.max_retries = Some(3);
                    o.blink = true;
                }),
                "pq://SomePQ/scope/some_table?columns=Col1,Col2,Col3&retryWindowMillis=30000&maxRetries=3&blink",
            ),
        ),
        // "a PQ named Sla\sh PQ that produces some_table"
        (
            "pq://Sla%5Csh%20PQ/scope/some_table",
            ok(
                name("Sla\\sh PQ"),
                "some_table",
                defaults(),
                "pq://Sla%5Csh%20PQ/scope/some_table",
            ),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn names_and_encoding() {
    let defaults = SubscriptionOptions::default;
    let cases = [
        // Tables are catalog paths: dots stay literal.
        (
            "pq://SomePQ/scope/shared_demo.sample_data",
            ok(
                name("SomePQ"),
                "shared_demo.sample_data",
                defaults(),
                "pq://SomePQ/scope/shared_demo.sample_data",
            ),
        ),
        // Serial or name is decided on the raw text: encoded digits are a name.
        (
            "pq://%3123/scope/t",
            ok(name("123"), "t", defaults(), "pq://%3123/scope/t"),
        ),
        (
            "pq://%31%32%33/scope/t",
            ok(name("123"), "t", defaults(), "pq://%3123/scope/t"),
        ),
        (
            "pq://0/scope/t",
            ok(WorkerRef::Serial(0), "t", defaults(), "pq://0/scope/t"),
        ),
        (
            "pq://007/scope/t",
            ok(WorkerRef::Serial(7), "t", defaults(), "pq://7/scope/t"),
        ),
        (
            "pq://18446744073709551615/scope/t",
            ok(
                WorkerRef::Serial(u64::MAX),
                "t",
                defaults(),
                "pq://18446744073709551615/scope/t",
            ),
        ),
        (
            "pq://12a/scope/t",
            ok(name("12a"), "t", defaults(), "pq://12a/scope/t"),
        ),
        // Lowercase escapes, raw sub-delimiters and `+` are read; the canonical form encodes them.
        (
            "pq://a%2fb/scope/t",
            ok(name("a/b"), "t", defaults(), "pq://a%2Fb/scope/t"),
        ),
        (
            "pq://a+b/scope/c&d=e",
            ok(
                name("a+b"),
                "c&d=e",
                defaults(),
                "pq://a%2Bb/scope/c%26d%3De",
            ),
        ),
        (
            "pq://a:b@c/scope/t",
            ok(name("a:b@c"), "t", defaults(), "pq://a%3Ab%40c/scope/t"),
        ),
        (
            "pq://%E2%82%AC/scope/%F0%9F%98%80",
            ok(
                name("€"),
                "😀",
                defaults(),
                "pq://%E2%82%AC/scope/%F0%9F%98%80",
            ),
        ),
        (
            "pq://w/scope/a%2Fb%3Fc",
            ok(name("w"), "a/b?c", defaults(), "pq://w/scope/a%2Fb%3Fc"),
        ),
        (
            "pq://w/scope/%25",
            ok(name("w"), "%", defaults(), "pq://w/scope/%25"),
        ),
        // The scheme is case-insensitive.
        (
            "PQ://w/scope/t",
            ok(name("w"), "t", defaults(), "pq://w/scope/t"),
        ),
        // Options after `?` on a worker with no table are still a missing table (below); an
        // option-free `?`-less address is plain.
        (
            "pq://w/scope/t",
            ok(name("w"), "t", defaults(), "pq://w/scope/t"),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn errors() {
    let cases: Vec<(&str, Result<Worker, ExpectErr>)> = vec![
        ("", Err(|_| UriError::Empty)),
        (
            "SomePQ/scope/t",
            Err(|input| UriError::MissingScheme {
                input,
                expected: "`pq://`",
            }),
        ),
        (
            "pxt://a/t",
            Err(|input| UriError::UnsupportedScheme {
                input,
                scheme: "pxt".into(),
                expected: "`pq://`",
            }),
        ),
        (
            "pq:///scope/t",
            Err(|input| UriError::MissingWorker { input }),
        ),
        ("pq://", Err(|input| UriError::MissingWorker { input })),
        (
            "pq://?blink",
            Err(|input| UriError::MissingWorker { input }),
        ),
        (
            "pq://18446744073709551616/scope/t",
            Err(|input| UriError::SerialOverflow {
                input,
                serial: "18446744073709551616".into(),
            }),
        ),
        (
            "pq://X/app/t",
            Err(|input| UriError::UnknownNamespace {
                input,
                namespace: "app".into(),
                position: 7,
            }),
        ),
        (
            "pq://X/Scope/t",
            Err(|input| UriError::UnknownNamespace {
                input,
                namespace: "Scope".into(),
                position: 7,
            }),
        ),
        (
            "pq://X/app",
            Err(|input| UriError::UnknownNamespace {
                input,
                namespace: "app".into(),
                position: 7,
            }),
        ),
        (
            "pq://X//t",
            Err(|input| UriError::UnknownNamespace {
                input,
                namespace: "".into(),
                position: 7,
            }),
        ),
        ("pq://X", Err(|input| UriError::MissingTable { input })),
        ("pq://X/", Err(|input| UriError::MissingTable { input })),
        (
            "pq://X/scope",
            Err(|input| UriError::MissingTable { input }),
        ),
        (
            "pq://X/scope/",
            Err(|input| UriError::MissingTable { input }),
        ),
        (
            "pq://X/scope/?blink",
            Err(|input| UriError::MissingTable { input }),
        ),
        (
            "pq://X?blink",
            Err(|input| UriError::MissingTable { input }),
        ),
        (
            "pq://X/scope/a/b",
            Err(|input| UriError::ExtraPathSegment {
                input,
                rest: "/b".into(),
                position: 14,
            }),
        ),
        (
            "pq://X/scope/a/",
            Err(|input| UriError::ExtraPathSegment {
                input,
                rest: "/".into(),
                position: 14,
            }),
        ),
        (
            "pq://Some PQ/scope/t",
            Err(|input| UriError::UnencodedCharacter {
                input,
                part: UriPart::Worker,
                ch: ' ',
                position: 9,
            }),
        ),
        (
            "pq://Sla\\sh/scope/t",
            Err(|input| UriError::UnencodedCharacter {
                input,
                part: UriPart::Worker,
                ch: '\\',
                position: 8,
            }),
        ),
        (
            "pq://wé/scope/t",
            Err(|input| UriError::UnencodedCharacter {
                input,
                part: UriPart::Worker,
                ch: 'é',
                position: 6,
            }),
        ),
        (
            "pq://w/scope/some table",
            Err(|input| UriError::UnencodedCharacter {
                input,
                part: UriPart::Table,
                ch: ' ',
                position: 17,
            }),
        ),
        (
            "pq://w/scope/t#frag",
            Err(|input| UriError::UnencodedCharacter {
                input,
                part: UriPart::Table,
                ch: '#',
                position: 14,
            }),
        ),
        (
            "pq://w%/scope/t",
            Err(|input| UriError::InvalidPercentEncoding {
                input,
                part: UriPart::Worker,
                position: 6,
            }),
        ),
        (
            "pq://w%4/scope/t",
            Err(|input| UriError::InvalidPercentEncoding {
                input,
                part: UriPart::Worker,
                position: 6,
            }),
        ),
        (
            "pq://w/scope/%zz",
            Err(|input| UriError::InvalidPercentEncoding {
                input,
                part: UriPart::Table,
                position: 13,
            }),
        ),
        (
            "pq://%FF/scope/t",
            Err(|input| UriError::InvalidUtf8 {
                input,
                part: UriPart::Worker,
                text: "%FF".into(),
            }),
        ),
        (
            "pq://w/scope/%C3",
            Err(|input| UriError::InvalidUtf8 {
                input,
                part: UriPart::Table,
                text: "%C3".into(),
            }),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn error_messages_say_what_and_where() {
    let cases = [
        (
            "pq://X/app/t",
            "unknown namespace `app` at byte 7 of `pq://X/app/t`: only `scope` exists (…/scope/TABLE)",
        ),
        (
            "pq://Some PQ/scope/t",
            "character ' ' at byte 9 of `pq://Some PQ/scope/t` must be percent-encoded in a worker name (as `%20`)",
        ),
        (
            "pq://w/scope/a/b",
            "unexpected path `/b` at byte 14 of `pq://w/scope/a/b` after the table name (write `/` inside a table name as %2F)",
        ),
    ];
    for (input, message) in cases {
        assert_eq!(
            WorkerUri::parse(input).unwrap_err().to_string(),
            message,
            "{input:?}"
        );
    }
}

#[test]
fn builder() {
    let built = WorkerUri::builder("SomePQ")
        .table("some_table")
        .columns(["Col1", "Col2", "Col3"])
        .retry_window(Duration::from_secs(30))
        .max_retries(3)
        .blink(true)
        .build()
        .unwrap();
    assert_eq!(
        built,
        WorkerUri::parse(
            "pq://SomePQ/scope/some_table?columns=Col1,Col2,Col3&retryWindowMillis=30000&maxRetries=3&blink"
        )
        .unwrap()
    );
    let by_serial = WorkerUri::builder(WorkerRef::Serial(1234567890))
        .table("t")
        .build()
        .unwrap();
    assert_eq!(by_serial.worker(), &WorkerRef::Serial(1234567890));
    let all_digits = WorkerUri::builder("1234567890").table("t").build().unwrap();
    assert_eq!(all_digits.to_string(), "pq://%31234567890/scope/t");
    assert_eq!(
        WorkerUri::parse(&all_digits.to_string()).unwrap(),
        all_digits
    );
    let reset = WorkerUri::builder("w")
        .table("t")
        .snapshot(true)
        .max_retries(3)
        .max_retries(None)
        .options(opts(|o| o.on_disconnect = OnDisconnect::Retain))
        .build()
        .unwrap();
    assert_eq!(reset.to_string(), "pq://w/scope/t?onDisconnect=retain");

    let cases: Vec<(Result<WorkerUri, UriError>, UriError)> = vec![
        (
            WorkerUri::builder("").table("t").build(),
            UriError::EmptyName {
                part: UriPart::Worker,
            },
        ),
        (
            WorkerUri::builder("w").build(),
            UriError::EmptyName {
                part: UriPart::Table,
            },
        ),
        (
            WorkerUri::builder("w")
                .table("t")
                .snapshot(true)
                .blink(true)
                .build(),
            UriError::SnapshotWithBlink,
        ),
        (
            WorkerUri::builder("w")
                .table("t")
                .columns(["a", "a"])
                .build(),
            UriError::DuplicateColumn { column: "a".into() },
        ),
        (
            WorkerUri::builder("w")
                .table("t")
                .columns(Vec::<String>::new())
                .build(),
            UriError::EmptyColumnList,
        ),
        (
            WorkerUri::builder("w")
                .table("t")
                .columns(["a", ""])
                .build(),
            UriError::EmptyName {
                part: UriPart::Column,
            },
        ),
        (
            WorkerUri::builder("w")
                .table("t")
                .retry_window(Duration::from_micros(1500))
                .build(),
            UriError::InvalidRetryWindow {
                window: Duration::from_micros(1500),
            },
        ),
        (
            WorkerUri::builder("w")
                .table("t")
                .retry_window(Duration::MAX)
                .build(),
            UriError::InvalidRetryWindow {
                window: Duration::MAX,
            },
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, Err(want));
    }
}
