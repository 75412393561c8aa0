//! `ts://` and `ts+plain://` direct worker addresses: hosts, ports, TLS, and every error.

use tableshare_uri::{
    DEFAULT_PORT, DirectUri, HostProblem, SubscriptionOptions, UriError, UriPart,
};

use crate::ExpectErr;

/// What a direct address should parse to.
struct Direct {
    host: &'static str,
    port: u16,
    tls: bool,
    table: &'static str,
    options: SubscriptionOptions,
    canonical: &'static str,
}

fn ok(
    host: &'static str,
    port: u16,
    tls: bool,
    table: &'static str,
    canonical: &'static str,
) -> Result<Direct, ExpectErr> {
    Ok(Direct {
        host,
        port,
        tls,
        table,
        options: SubscriptionOptions::default(),
        canonical,
    })
}

/// Parses `input` as a direct address (and as a [`TableUri`]) and compares with `expected`; a
/// success must also format to the canonical form and read back to the same value.
fn check(input: &str, expected: Result<Direct, ExpectErr>) {
    let got = DirectUri::parse(input);
    match expected {
        Ok(want) => {
            let uri = got.unwrap_or_else(|e| panic!("{input:?} should parse: {e}"));
            assert_eq!(uri.host(), want.host, "host of {input:?}");
            assert_eq!(uri.port(), want.port, "port of {input:?}");
            assert_eq!(uri.tls(), want.tls, "tls of {input:?}");
            assert_eq!(uri.table(), want.table, "table of {input:?}");
            assert_eq!(uri.options(), &want.options, "options of {input:?}");
            crate::check_parsed(input, uri, want.canonical, DirectUri::parse);
        }
        Err(want) => crate::check_error(input, got, want(input.to_owned())),
    }
}

#[test]
fn default_port_is_8470_for_both_schemes() {
    assert_eq!(DEFAULT_PORT, 8470);
    check(
        "ts://h/scope/t",
        ok("h", 8470, true, "t", "ts://h:8470/scope/t"),
    );
    check(
        "ts+plain://h/scope/t",
        ok("h", 8470, false, "t", "ts+plain://h:8470/scope/t"),
    );
}

#[test]
fn addresses() {
    let cases = [
        (
            "ts+plain://h:9000/scope/t",
            ok("h", 9000, false, "t", "ts+plain://h:9000/scope/t"),
        ),
        (
            "ts://127.0.0.1:1/scope/t",
            ok("127.0.0.1", 1, true, "t", "ts://127.0.0.1:1/scope/t"),
        ),
        (
            "ts://[::1]:65535/scope/t",
            ok("[::1]", 65535, true, "t", "ts://[::1]:65535/scope/t"),
        ),
        (
            "ts://[0:0::1]/scope/t",
            ok("[::1]", 8470, true, "t", "ts://[::1]:8470/scope/t"),
        ),
        (
            "ts://[2001:DB8::A]:1/scope/t",
            ok(
                "[2001:db8::a]",
                1,
                true,
                "t",
                "ts://[2001:db8::a]:1/scope/t",
            ),
        ),
        (
            "TS+PLAIN://Worker-1.Example.com/scope/t",
            ok(
                "worker-1.example.com",
                8470,
                false,
                "t",
                "ts+plain://worker-1.example.com:8470/scope/t",
            ),
        ),
        (
            "ts://h:08470/scope/t",
            ok("h", 8470, true, "t", "ts://h:8470/scope/t"),
        ),
        (
            "ts://my_service/scope/t",
            ok(
                "my_service",
                8470,
                true,
                "t",
                "ts://my_service:8470/scope/t",
            ),
        ),
        (
            "ts://h/scope/dir.sub.table",
            ok(
                "h",
                8470,
                true,
                "dir.sub.table",
                "ts://h:8470/scope/dir.sub.table",
            ),
        ),
        (
            "ts://h/scope/a%20b",
            ok("h", 8470, true, "a b", "ts://h:8470/scope/a%20b"),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
    let with_options = Direct {
        host: "h",
        port: 8470,
        tls: true,
        table: "t",
        options: SubscriptionOptions {
            snapshot: true,
            columns: Some(vec!["a,b".into(), "c".into()]),
            ..SubscriptionOptions::default()
        },
        canonical: "ts://h:8470/scope/t?snapshot=true&columns=a%2Cb,c",
    };
    check(
        "ts://h/scope/t?columns=a%2Cb,c&snapshot=true",
        Ok(with_options),
    );
}

#[test]
fn errors() {
    let cases: Vec<(&str, Result<Direct, ExpectErr>)> = vec![
        (
            "tls://h/scope/t",
            Err(|input| UriError::UnsupportedScheme {
                input,
                scheme: "tls".into(),
                expected: "`ts://` or `ts+plain://`",
            }),
        ),
        (
            "ts+tls://h/scope/t",
            Err(|input| UriError::UnsupportedScheme {
                input,
                scheme: "ts+tls".into(),
                expected: "`ts://` or `ts+plain://`",
            }),
        ),
        (
            "ts:///scope/t",
            Err(|input| UriError::MissingHost { input }),
        ),
        (
            "ts://:80/scope/t",
            Err(|input| UriError::MissingHost { input }),
        ),
        ("ts+plain://", Err(|input| UriError::MissingHost { input })),
        (
            "ts://h:/scope/t",
            Err(|input| UriError::InvalidPort {
                input,
                port: "".into(),
                position: 7,
            }),
        ),
        (
            "ts://h:0/scope/t",
            Err(|input| UriError::InvalidPort {
                input,
                port: "0".into(),
                position: 7,
            }),
        ),
        (
            "ts://h:65536/scope/t",
            Err(|input| UriError::InvalidPort {
                input,
                port: "65536".into(),
                position: 7,
            }),
        ),
        (
            "ts://h:http/scope/t",
            Err(|input| UriError::InvalidPort {
                input,
                port: "http".into(),
                position: 7,
            }),
        ),
        (
            "ts://h:+80/scope/t",
            Err(|input| UriError::InvalidPort {
                input,
                port: "+80".into(),
                position: 7,
            }),
        ),
        (
            "ts://h:80:90/scope/t",
            Err(|input| UriError::InvalidPort {
                input,
                port: "80:90".into(),
                position: 7,
            }),
        ),
        (
            "ts://[::1]:0/scope/t",
            Err(|input| UriError::InvalidPort {
                input,
                port: "0".into(),
                position: 11,
            }),
        ),
        (
            "ts://user@h/scope/t",
            Err(|_| UriError::InvalidHost {
                host: "user@h".into(),
                problem: HostProblem::InvalidChar {
                    ch: '@',
                    position: 4,
                },
            }),
        ),
        (
            "ts://a b/scope/t",
            Err(|_| UriError::InvalidHost {
                host: "a b".into(),
                problem: HostProblem::InvalidChar {
                    ch: ' ',
                    position: 1,
                },
            }),
        ),
        (
            "ts://a..b/scope/t",
            Err(|_| UriError::InvalidHost {
                host: "a..b".into(),
                problem: HostProblem::EmptyLabel { position: 2 },
            }),
        ),
        (
            "ts://-a/scope/t",
            Err(|_| UriError::InvalidHost {
                host: "-a".into(),
                problem: HostProblem::HyphenAtLabelEdge { position: 0 },
            }),
        ),
        (
            "ts://::1/scope/t",
            Err(|_| UriError::InvalidHost {
                host: "::1".into(),
                problem: HostProblem::UnbracketedIpv6,
            }),
        ),
        (
            "ts://[::1/scope/t",
            Err(|_| UriError::InvalidHost {
                host: "[::1".into(),
                problem: HostProblem::InvalidIpv6,
            }),
        ),
        (
            "ts://[::1]x/scope/t",
            Err(|_| UriError::InvalidHost {
                host: "[::1]x".into(),
                problem: HostProblem::InvalidIpv6,
            }),
        ),
        (
            "ts://[nope]/scope/t",
            Err(|_| UriError::InvalidHost {
                host: "[nope]".into(),
                problem: HostProblem::InvalidIpv6,
            }),
        ),
        (
            "ts://999.1.1.1/scope/t",
            Err(|_| UriError::InvalidHost {
                host: "999.1.1.1".into(),
                problem: HostProblem::InvalidIpv4,
            }),
        ),
        (
            "ts://h/app/t",
            Err(|input| UriError::UnknownNamespace {
                input,
                namespace: "app".into(),
                position: 7,
            }),
        ),
        (
            "ts://h/scope",
            Err(|input| UriError::MissingTable { input }),
        ),
        ("ts://h", Err(|input| UriError::MissingTable { input })),
        (
            "ts://h/scope/t/u",
            Err(|input| UriError::ExtraPathSegment {
                input,
                rest: "/u".into(),
                position: 14,
            }),
        ),
        (
            "ts://h/scope/t u",
            Err(|input| UriError::UnencodedCharacter {
                input,
                part: UriPart::Table,
                ch: ' ',
                position: 14,
            }),
        ),
        (
            "ts://h/scope/t?blink&snapshot=true",
            Err(|_| UriError::SnapshotWithBlink),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn builder() {
    let cases = [
        (DirectUri::builder("h").table("t"), "ts://h:8470/scope/t"),
        (
            DirectUri::builder("::1").port(9000).table("t"),
            "ts://[::1]:9000/scope/t",
        ),
        (
            DirectUri::builder("[::1]").tls(false).table("t"),
            "ts+plain://[::1]:8470/scope/t",
        ),
        (
            DirectUri::builder("Example.COM").table("t").blink(true),
            "ts://example.com:8470/scope/t?blink",
        ),
        (
            DirectUri::builder("10.0.0.1").port(1).table("a/b"),
            "ts://10.0.0.1:1/scope/a%2Fb",
        ),
    ];
    for (builder, canonical) in cases {
        let uri = builder.build().unwrap();
        assert_eq!(uri.to_string(), canonical);
        assert_eq!(DirectUri::parse(canonical).unwrap(), uri);
    }
    let errors = [
        (
            DirectUri::builder("").table("t"),
            UriError::InvalidHost {
                host: "".into(),
                problem: HostProblem::Empty,
            },
        ),
        (
            DirectUri::builder("bad host").table("t"),
            UriError::InvalidHost {
                host: "bad host".into(),
                problem: HostProblem::InvalidChar {
                    ch: ' ',
                    position: 3,
                },
            },
        ),
        (
            DirectUri::builder("h").port(0).table("t"),
            UriError::InvalidPort {
                input: "0".into(),
                port: "0".into(),
                position: 0,
            },
        ),
        (
            DirectUri::builder("h"),
            UriError::EmptyName {
                part: UriPart::Table,
            },
        ),
        (
            DirectUri::builder("h")
                .table("t")
                .snapshot(true)
                .blink(true),
            UriError::SnapshotWithBlink,
        ),
    ];
    for (builder, error) in errors {
        assert_eq!(builder.build(), Err(error));
    }
}
