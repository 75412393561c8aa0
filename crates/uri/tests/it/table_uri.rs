//! `TableUri`: dispatch on the scheme, scheme errors, and conversions.

use tableshare_uri::{CloudUri, DirectUri, TableUri, UriError, WorkerUri};

use crate::ExpectErr;

/// An address and the kind and canonical form it gives, or its error.
type Case = (
    &'static str,
    Result<(&'static str, &'static str), ExpectErr>,
);

const ALL: &str = "`pxt://`, `pq://`, `ts://` or `ts+plain://`";

/// The kind an address parses to and its canonical form, or the error.
fn check(input: &str, expected: Result<(&str, &str), ExpectErr>) {
    let got = TableUri::parse(input);
    match expected {
        Ok((kind, canonical)) => {
            let uri = got.unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
            let got_kind = match &uri {
                TableUri::Cloud(_) => "cloud",
                TableUri::Worker(_) => "worker",
                TableUri::Direct(_) => "direct",
            };
            assert_eq!(got_kind, kind, "kind of {input:?}");
            assert_eq!(uri.to_string(), canonical, "canonical form of {input:?}");
            assert_eq!(
                canonical.parse::<TableUri>(),
                Ok(uri),
                "reparse of {input:?}"
            );
        }
        Err(want) => assert_eq!(got, Err(want(input.to_owned())), "error for {input:?}"),
    }
}

#[test]
fn dispatch() {
    let cases: Vec<Case> = vec![
        (
            "pxt://alice/sales_data",
            Ok(("cloud", "pxt://alice/sales_data")),
        ),
        ("Pxt://alice/a/b", Ok(("cloud", "pxt://alice/a.b"))),
        (
            "pq://SomePQ/scope/some_table",
            Ok(("worker", "pq://SomePQ/scope/some_table")),
        ),
        (
            "pq://1234567890/scope/some_table?blink",
            Ok(("worker", "pq://1234567890/scope/some_table?blink")),
        ),
        ("ts://h/scope/t", Ok(("direct", "ts://h:8470/scope/t"))),
        (
            "ts+plain://h:1/scope/t",
            Ok(("direct", "ts+plain://h:1/scope/t")),
        ),
        ("", Err(|_| UriError::Empty)),
        (
            "alice/sales_data",
            Err(|input| UriError::MissingScheme {
                input,
                expected: ALL,
            }),
        ),
        (
            "some_table",
            Err(|input| UriError::MissingScheme {
                input,
                expected: ALL,
            }),
        ),
        (
            "s3://bucket/prefix",
            Err(|input| UriError::UnsupportedScheme {
                input,
                scheme: "s3".into(),
                expected: ALL,
            }),
        ),
        (
            "://x",
            Err(|input| UriError::UnsupportedScheme {
                input,
                scheme: "".into(),
                expected: ALL,
            }),
        ),
        (
            " pxt://a/t",
            Err(|input| UriError::UnsupportedScheme {
                input,
                scheme: " pxt".into(),
                expected: ALL,
            }),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn conversions() {
    let cloud = CloudUri::parse("pxt://a/t").unwrap();
    let worker = WorkerUri::parse("pq://w/scope/t").unwrap();
    let direct = DirectUri::parse("ts://h/scope/t").unwrap();
    assert_eq!(TableUri::from(cloud.clone()), TableUri::Cloud(cloud));
    assert_eq!(TableUri::from(worker.clone()), TableUri::Worker(worker));
    assert_eq!(TableUri::from(direct.clone()), TableUri::Direct(direct));
}

#[test]
fn error_is_a_std_error() {
    fn source_of(err: &(dyn std::error::Error + 'static)) -> bool {
        err.source().is_some()
    }
    let err = TableUri::parse("nope").unwrap_err();
    assert!(!source_of(&err));
    assert_eq!(
        err.to_string(),
        "`nope` has no scheme: expected an address starting with `pxt://`, `pq://`, `ts://` or `ts+plain://`"
    );
}
