//! `pxt://` cloud addresses: the examples of the product docs, normalisation, and every error.

use tableshare_uri::{CloudUri, IdentifierProblem, TablePath, UriError};

use crate::ExpectErr;

/// What a cloud address should parse to.
struct Cloud {
    org: &'static str,
    db: Option<&'static str>,
    path: &'static str,
    version: Option<u64>,
    canonical: &'static str,
}

fn ok(
    org: &'static str,
    db: Option<&'static str>,
    path: &'static str,
    version: Option<u64>,
    canonical: &'static str,
) -> Result<Cloud, ExpectErr> {
    Ok(Cloud {
        org,
        db,
        path,
        version,
        canonical,
    })
}

/// Parses `input` as a cloud address (and as a [`TableUri`]) and compares with `expected`; a
/// success must also format to the canonical form and read back to the same value.
fn check(input: &str, expected: Result<Cloud, ExpectErr>) {
    let got = CloudUri::parse(input);
    match expected {
        Ok(want) => {
            let uri = got.unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
            assert_eq!(uri.org(), want.org, "org of {input:?}");
            assert_eq!(uri.db(), want.db, "db of {input:?}");
            assert_eq!(
                uri.path(),
                &TablePath::parse(want.path).unwrap(),
                "path of {input:?}"
            );
            assert_eq!(uri.path().to_string(), want.path, "path of {input:?}");
            assert_eq!(uri.version(), want.version, "version of {input:?}");
            crate::check_parsed(input, uri, want.canonical, CloudUri::parse);
        }
        Err(want) => crate::check_error(input, got, want(input.to_owned())),
    }
}

#[test]
fn documented_examples() {
    let cases = [
        (
            "pxt://alice/sales_data",
            ok("alice", None, "sales_data", None, "pxt://alice/sales_data"),
        ),
        (
            "pxt://bob/experiments.results",
            ok(
                "bob",
                None,
                "experiments.results",
                None,
                "pxt://bob/experiments.results",
            ),
        ),
        (
            "pxt://team/shared.dataset_name",
            ok(
                "team",
                None,
                "shared.dataset_name",
                None,
                "pxt://team/shared.dataset_name",
            ),
        ),
        (
            "pxt://alice/shared.sample_data:3",
            ok(
                "alice",
                None,
                "shared.sample_data",
                Some(3),
                "pxt://alice/shared.sample_data:3",
            ),
        ),
        (
            "pxt://acme-corp:prod/a.b.c:12",
            ok(
                "acme-corp",
                Some("prod"),
                "a.b.c",
                Some(12),
                "pxt://acme-corp:prod/a.b.c:12",
            ),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn normalisation() {
    let max_name: &'static str = "n".repeat(128).leak();
    let max_uri: &'static str = format!("pxt://o/{max_name}").leak();
    let cases = [
        // Slashes between names are dots.
        (
            "pxt://team/shared/dataset_name",
            ok(
                "team",
                None,
                "shared.dataset_name",
                None,
                "pxt://team/shared.dataset_name",
            ),
        ),
        (
            "pxt://t/a/b.c/d",
            ok("t", None, "a.b.c.d", None, "pxt://t/a.b.c.d"),
        ),
        // The scheme is case-insensitive.
        (
            "PXT://alice/t",
            ok("alice", None, "t", None, "pxt://alice/t"),
        ),
        // Versions: zero, leading zeros, the largest.
        ("pxt://a/t:0", ok("a", None, "t", Some(0), "pxt://a/t:0")),
        ("pxt://a/t:007", ok("a", None, "t", Some(7), "pxt://a/t:7")),
        (
            "pxt://a/t:18446744073709551615",
            ok(
                "a",
                None,
                "t",
                Some(u64::MAX),
                "pxt://a/t:18446744073709551615",
            ),
        ),
        ("pxt://_/_", ok("_", None, "_", None, "pxt://_/_")),
        (
            "pxt://a-:b/c/d",
            ok("a-", Some("b"), "c.d", None, "pxt://a-:b/c.d"),
        ),
        (max_uri, ok("o", None, max_name, None, max_uri)),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn errors() {
    let too_long: &'static str = format!("pxt://o/{}", "n".repeat(129)).leak();
    let cases: Vec<(&str, Result<Cloud, ExpectErr>)> = vec![
        ("", Err(|_| UriError::Empty)),
        (
            "alice/sales_data",
            Err(|input| UriError::MissingScheme {
                input,
                expected: "`pxt://`",
            }),
        ),
        (
            "pxt:/alice/t",
            Err(|input| UriError::MissingScheme {
                input,
                expected: "`pxt://`",
            }),
        ),
        (
            "http://alice/t",
            Err(|input| UriError::UnsupportedScheme {
                input,
                scheme: "http".into(),
                expected: "`pxt://`",
            }),
        ),
        ("pxt:///t", Err(|input| UriError::MissingOrg { input })),
        ("pxt://:db/t", Err(|input| UriError::MissingOrg { input })),
        ("pxt://", Err(|input| UriError::MissingOrg { input })),
        ("pxt://alice", Err(|input| UriError::MissingPath { input })),
        ("pxt://alice/", Err(|input| UriError::MissingPath { input })),
        (
            "pxt://alice/:3",
            Err(|input| UriError::MissingPath { input }),
        ),
        (
            "pxt://1alice/t",
            Err(|_| UriError::InvalidOrg {
                org: "1alice".into(),
                problem: IdentifierProblem::InvalidStart { ch: '1' },
            }),
        ),
        (
            "pxt://-alice/t",
            Err(|_| UriError::InvalidOrg {
                org: "-alice".into(),
                problem: IdentifierProblem::InvalidStart { ch: '-' },
            }),
        ),
        (
            "pxt://al ice/t",
            Err(|_| UriError::InvalidOrg {
                org: "al ice".into(),
                problem: IdentifierProblem::InvalidChar {
                    ch: ' ',
                    position: 2,
                },
            }),
        ),
        (
            "pxt://user@alice/t",
            Err(|_| UriError::InvalidOrg {
                org: "user@alice".into(),
                problem: IdentifierProblem::InvalidChar {
                    ch: '@',
                    position: 4,
                },
            }),
        ),
        (
            "pxt://alice:/t",
            Err(|_| UriError::InvalidDb {
                db: "".into(),
                problem: IdentifierProblem::Empty,
            }),
        ),
        // Guards the cloud layout against aliasing: `_` is where tables of no database live
        // and `_org` holds the org key, so `pxt://alice:_/t` would be `pxt://alice/t`.
        (
            "pxt://alice:_/t",
            Err(|_| UriError::InvalidDb {
                db: "_".into(),
                problem: IdentifierProblem::ReservedDb,
            }),
        ),
        (
            "pxt://alice:_org/signing_key.pub",
            Err(|_| UriError::InvalidDb {
                db: "_org".into(),
                problem: IdentifierProblem::ReservedDb,
            }),
        ),
        (
            "pxt://alice:pr-od/t",
            Err(|_| UriError::InvalidDb {
                db: "pr-od".into(),
                problem: IdentifierProblem::InvalidChar {
                    ch: '-',
                    position: 2,
                },
            }),
        ),
        (
            "pxt://a/x..y",
            Err(|_| UriError::EmptyPathSegment {
                path: "x..y".into(),
                position: 2,
            }),
        ),
        (
            "pxt://a/x.",
            Err(|_| UriError::EmptyPathSegment {
                path: "x.".into(),
                position: 2,
            }),
        ),
        (
            "pxt://a/.x",
            Err(|_| UriError::EmptyPathSegment {
                path: ".x".into(),
                position: 0,
            }),
        ),
        (
            "pxt://a//x",
            Err(|_| UriError::EmptyPathSegment {
                path: "/x".into(),
                position: 0,
            }),
        ),
        (
            "pxt://a/x/../y",
            Err(|_| UriError::RelativePathSegment {
                path: "x/../y".into(),
                segment: "..".into(),
                position: 2,
            }),
        ),
        (
            "pxt://a/..",
            Err(|_| UriError::RelativePathSegment {
                path: "..".into(),
                segment: "..".into(),
                position: 0,
            }),
        ),
        (
            "pxt://a/x.1y",
            Err(|_| UriError::InvalidPathSegment {
                path: "x.1y".into(),
                segment: "1y".into(),
                position: 2,
                problem: IdentifierProblem::InvalidStart { ch: '1' },
            }),
        ),
        (
            "pxt://a/t ",
            Err(|_| UriError::InvalidPathSegment {
                path: "t ".into(),
                segment: "t ".into(),
                position: 0,
                problem: IdentifierProblem::InvalidChar {
                    ch: ' ',
                    position: 1,
                },
            }),
        ),
        (
            too_long,
            Err(|_| UriError::InvalidPathSegment {
                path: "n".repeat(129),
                segment: "n".repeat(129),
                position: 0,
                problem: IdentifierProblem::TooLong { len: 129 },
            }),
        ),
        (
            "pxt://a/t:",
            Err(|input| UriError::MissingVersion {
                input,
                position: 10,
            }),
        ),
        (
            "pxt://a/t:abc",
            Err(|input| UriError::InvalidVersion {
                input,
                version: "abc".into(),
                position: 10,
            }),
        ),
        (
            "pxt://a/t:-1",
            Err(|input| UriError::InvalidVersion {
                input,
                version: "-1".into(),
                position: 10,
            }),
        ),
        (
            "pxt://a/t:+1",
            Err(|input| UriError::InvalidVersion {
                input,
                version: "+1".into(),
                position: 10,
            }),
        ),
        (
            "pxt://a/t:18446744073709551616",
            Err(|input| UriError::VersionOverflow {
                input,
                version: "18446744073709551616".into(),
                position: 10,
            }),
        ),
        (
            "pxt://a/t:3x",
            Err(|input| UriError::TrailingCharacters {
                input,
                rest: "x".into(),
                position: 11,
            }),
        ),
        (
            "pxt://a/t:3:4",
            Err(|input| UriError::TrailingCharacters {
                input,
                rest: ":4".into(),
                position: 11,
            }),
        ),
        (
            "pxt://a/t:3/x",
            Err(|input| UriError::TrailingCharacters {
                input,
                rest: "/x".into(),
                position: 11,
            }),
        ),
        (
            "pxt://a/t?snapshot=true",
            Err(|input| UriError::TrailingCharacters {
                input,
                rest: "?snapshot=true".into(),
                position: 9,
            }),
        ),
        (
            "pxt://a/t#frag",
            Err(|input| UriError::TrailingCharacters {
                input,
                rest: "#frag".into(),
                position: 9,
            }),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn other_schemes_through_cloud_parse() {
    let err = CloudUri::parse("pq://SomePQ/scope/t").unwrap_err();
    assert_eq!(
        err,
        UriError::UnsupportedScheme {
            input: "pq://SomePQ/scope/t".into(),
            scheme: "pq".into(),
            expected: "`pxt://`",
        }
    );
    assert_eq!(
        err.to_string(),
        "unsupported scheme `pq://` in `pq://SomePQ/scope/t`: expected `pxt://`"
    );
}

#[test]
fn builder() {
    let uri = CloudUri::builder("acme-corp")
        .db("prod")
        .path("a/b.c")
        .version(12)
        .build()
        .unwrap();
    assert_eq!(
        uri,
        CloudUri::parse("pxt://acme-corp:prod/a.b.c:12").unwrap()
    );
    assert_eq!(
        uri.clone().with_version(None).to_string(),
        "pxt://acme-corp:prod/a.b.c"
    );
    assert_eq!(uri.with_version(Some(13)).version(), Some(13));

    assert_eq!(
        CloudUri::builder("").path("t").build(),
        Err(UriError::InvalidOrg {
            org: "".into(),
            problem: IdentifierProblem::Empty
        })
    );
    assert_eq!(CloudUri::builder("a").build(), Err(UriError::EmptyPath));
    assert_eq!(
        CloudUri::builder("a").db("1").path("t").build(),
        Err(UriError::InvalidDb {
            db: "1".into(),
            problem: IdentifierProblem::InvalidStart { ch: '1' }
        })
    );
    assert_eq!(
        CloudUri::builder("a").path("t.").build(),
        Err(UriError::EmptyPathSegment {
            path: "t.".into(),
            position: 2
        })
    );
}

#[test]
fn error_messages_say_what_and_where() {
    let cases = [
        (
            "pxt://a/t:",
            "missing version after `:` at byte 10 of `pxt://a/t:`",
        ),
        (
            "pxt://a/t:-1",
            "invalid version `-1` at byte 10 of `pxt://a/t:-1`: expected a non-negative integer",
        ),
        (
            "pxt://a/x..y",
            "empty segment at byte 2 of table path `x..y`",
        ),
        (
            "pxt://1a/t",
            "invalid organisation `1a`: a name must start with an ASCII letter or `_`, not '1'",
        ),
    ];
    for (input, message) in cases {
        assert_eq!(
            CloudUri::parse(input).unwrap_err().to_string(),
            message,
            "{input:?}"
        );
    }
}
