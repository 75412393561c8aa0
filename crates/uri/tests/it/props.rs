//! Property tests: formatting then parsing gives the same value for arbitrary names and options,
//! parsing never panics, and whatever parses is stable under formatting; JSON round-trips.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use proptest::prelude::*;
use tableshare_uri::{
    CloudUri, DirectUri, OnDisconnect, SubscriptionOptions, TablePath, TableUri, VersionedPath,
    WorkerRef, WorkerUri,
};

/// Names as users write them: anything, the troublesome characters of our grammar, all digits.
fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 /?&%=,#.:@+~;\\\\\\[\\]_-]{1,16}",
        "[0-9]{1,25}",
        "[é€😀\u{0}\t\n a-z]{1,8}",
        "\\PC{1,12}",
    ]
    .prop_filter("names are not empty", |name| !name.is_empty())
}

fn any_options() -> impl Strategy<Value = SubscriptionOptions> {
    let columns = prop::option::of(prop::collection::vec(any_name(), 1..5).prop_map(
        |mut names| {
            let mut seen = Vec::new();
            names.retain(|n| {
                let fresh = !seen.contains(n);
                seen.push(n.clone());
                fresh
            });
            names
        },
    ));
    let retry_window = prop_oneof![
        Just(SubscriptionOptions::DEFAULT_RETRY_WINDOW),
        any::<u64>().prop_map(Duration::from_millis),
        (0u64..100_000).prop_map(Duration::from_millis),
    ];
    (
        any::<bool>(),
        columns,
        prop_oneof![Just(OnDisconnect::Clear), Just(OnDisconnect::Retain)],
        retry_window,
        prop::option::of(any::<u32>()),
        any::<bool>(),
    )
        .prop_map(
            |(snapshot, columns, on_disconnect, retry_window, max_retries, blink)| {
                SubscriptionOptions {
                    snapshot,
                    columns,
                    on_disconnect,
                    retry_window,
                    max_retries,
                    // Both at once are contradictory: keep the snapshot.
                    blink: blink && !snapshot,
                }
            },
        )
}

fn any_worker_uri() -> impl Strategy<Value = WorkerUri> {
    let worker = prop_oneof![
        any::<u64>().prop_map(WorkerRef::Serial),
        any_name().prop_map(WorkerRef::Name),
    ];
    (worker, any_name(), any_options()).prop_map(|(worker, table, options)| {
        WorkerUri::builder(worker)
            .table(table)
            .options(options)
            .build()
            .unwrap()
    })
}

fn identifier() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z_][a-zA-Z0-9_]{0,12}", "[a-zA-Z_][a-zA-Z0-9_]{127}"]
}

fn any_cloud_uri() -> impl Strategy<Value = CloudUri> {
    let org = prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_-]{0,12}",
        "[a-zA-Z_][a-zA-Z0-9_-]{127}"
    ];
    (
        org,
        // Database names never start with `_` (reserved by the cloud layout).
        prop::option::of(
            identifier().prop_filter("reserved database name", |db| !db.starts_with('_')),
        ),
        prop::collection::vec(identifier(), 1..5),
        any::<bool>(),
        prop::option::of(any::<u64>()),
    )
        .prop_map(|(org, db, names, slashes, version)| {
            let path = names.join(if slashes { "/" } else { "." });
            let mut builder = CloudUri::builder(org).path(path).version(version);
            if let Some(db) = db {
                builder = builder.db(db);
            }
            builder.build().unwrap()
        })
}

fn any_host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_]([a-zA-Z0-9_-]{0,10}[a-zA-Z0-9_])?(\\.[a-zA-Z_][a-zA-Z0-9_-]{0,5}[a-zA-Z0-9_]){0,3}",
        any::<Ipv4Addr>().prop_map(|ip| ip.to_string()),
        any::<Ipv6Addr>().prop_map(|ip| ip.to_string()),
        any::<Ipv6Addr>().prop_map(|ip| format!("[{ip}]")),
    ]
}

fn any_direct_uri() -> impl Strategy<Value = DirectUri> {
    (
        any_host(),
        1..=u16::MAX,
        any::<bool>(),
        any_name(),
        any_options(),
    )
        .prop_map(|(host, port, tls, table, options)| {
            DirectUri::builder(host)
                .port(port)
                .tls(tls)
                .table(table)
                .options(options)
                .build()
                .unwrap()
        })
}

fn any_table_uri() -> impl Strategy<Value = TableUri> {
    prop_oneof![
        any_cloud_uri().prop_map(TableUri::Cloud),
        any_worker_uri().prop_map(TableUri::Worker),
        any_direct_uri().prop_map(TableUri::Direct),
    ]
}

/// Pieces of addresses, valid and not.
fn fragment() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("%"),
        Just("%2"),
        Just("%E2"),
        Just("%82"),
        Just("%FF"),
        Just("%31"),
        Just("%2C"),
        Just("?"),
        Just("&"),
        Just("="),
        Just(":"),
        Just("/"),
        Just("/scope/"),
        Just("scope"),
        Just("."),
        Just(".."),
        Just(","),
        Just("["),
        Just("]"),
        Just("::1"),
        Just("@"),
        Just("#"),
        Just(" "),
        Just("-"),
        Just("_"),
        Just("é"),
        Just("0"),
        Just("7"),
        Just("65535"),
        Just("99999999999999999999"),
        Just("a"),
        Just("t"),
        Just("Ab"),
        Just("blink"),
        Just("snapshot=true"),
        Just("columns="),
        Just("onDisconnect=retain"),
        Just("retryWindowMillis=5"),
        Just("maxRetries="),
        Just("true"),
        Just("false"),
        Just("pq://"),
        Just("pxt://"),
        Just("ts://"),
    ]
}

/// Some fragments run together.
fn fragments(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..max).prop_map(|parts| parts.concat())
}

/// Strings made of URI-ish fragments, shaped like addresses often enough to reach deep into the
/// parsers (past the scheme, the authority, the path, into the options).
fn uri_ish() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just("pq://"),
        Just("pxt://"),
        Just("ts://"),
        Just("ts+plain://"),
        Just("PQ://"),
        Just("http://"),
        Just(""),
    ];
    let option = prop_oneof![
        fragments(3),
        (fragments(2), fragments(3)).prop_map(|(k, v)| format!("{k}={v}")),
        Just("blink".to_owned()),
        Just("snapshot=true".to_owned()),
        prop::collection::vec(prop_oneof![Just("a"), Just("%2C"), Just("b")], 1..4)
            .prop_map(|c| format!("columns={}", c.join(","))),
    ];
    let structured = (
        scheme.clone(),
        prop_oneof![
            fragments(3),
            Just("w".to_owned()),
            Just("h:1".to_owned()),
            Just("[::1]".to_owned())
        ],
        prop_oneof![Just("/scope/"), Just("/"), Just(""), Just(":")],
        fragments(3),
        prop::option::of(prop::collection::vec(option, 0..4)),
    )
        .prop_map(|(scheme, authority, middle, table, options)| {
            let query = options
                .map(|o| format!("?{}", o.join("&")))
                .unwrap_or_default();
            format!("{scheme}{authority}{middle}{table}{query}")
        });
    prop_oneof![
        (scheme, fragments(14)).prop_map(|(scheme, rest)| format!("{scheme}{rest}")),
        structured,
    ]
}

/// Whatever parses formats to a form that parses to the same value, and to the same text again.
fn assert_stable(input: &str) {
    if let Ok(uri) = TableUri::parse(input) {
        let canonical = uri.to_string();
        assert_eq!(
            TableUri::parse(&canonical).as_ref(),
            Ok(&uri),
            "{input:?} -> {canonical:?}"
        );
        let json = serde_json::to_string(&uri).unwrap();
        assert_eq!(
            serde_json::from_str::<TableUri>(&json).unwrap(),
            uri,
            "{json}"
        );
    }
    // The standalone parsers do not panic either.
    let _ = CloudUri::parse(input);
    let _ = WorkerUri::parse(input);
    let _ = DirectUri::parse(input);
    let _ = TablePath::parse(input);
    // Whatever parses as a catalog address is stable under formatting.
    if let Ok(address) = VersionedPath::parse(input) {
        assert_eq!(VersionedPath::parse(&address.to_string()), Ok(address));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn worker_uris_round_trip(uri in any_worker_uri()) {
        let text = uri.to_string();
        prop_assert_eq!(WorkerUri::parse(&text), Ok(uri.clone()), "{}", text);
        prop_assert_eq!(TableUri::parse(&text), Ok(TableUri::Worker(uri)));
    }

    #[test]
    fn cloud_uris_round_trip(uri in any_cloud_uri()) {
        let text = uri.to_string();
        prop_assert_eq!(CloudUri::parse(&text), Ok(uri.clone()), "{}", text);
        prop_assert_eq!(TableUri::parse(&text), Ok(TableUri::Cloud(uri)));
    }

    #[test]
    fn direct_uris_round_trip(uri in any_direct_uri()) {
        let text = uri.to_string();
        prop_assert_eq!(DirectUri::parse(&text), Ok(uri.clone()), "{}", text);
        prop_assert_eq!(TableUri::parse(&text), Ok(TableUri::Direct(uri)));
    }

    #[test]
    fn json_round_trips(uri in any_table_uri()) {
        let json = serde_json::to_string(&uri).unwrap();
        prop_assert_eq!(serde_json::from_str::<TableUri>(&json).unwrap(), uri.clone(), "{}", json);
        let inner = match &uri {
            TableUri::Cloud(u) => serde_json::to_string(u),
            TableUri::Worker(u) => serde_json::to_string(u),
            TableUri::Direct(u) => serde_json::to_string(u),
        };
        prop_assert_eq!(inner.unwrap(), json);
    }

    #[test]
    fn table_paths_round_trip(names in prop::collection::vec(identifier(), 1..6)) {
        let path = TablePath::parse(&names.join("/")).unwrap();
        prop_assert_eq!(path.segments(), &names[..]);
        prop_assert_eq!(TablePath::parse(&path.to_string()), Ok(path));
    }

    // Guards the `path:N` catalog address: format then parse gives the same path and version.
    #[test]
    fn versioned_paths_round_trip(
        names in prop::collection::vec(identifier(), 1..6),
        version in prop::option::of(any::<u64>()),
    ) {
        let address = VersionedPath::new(TablePath::parse(&names.join(".")).unwrap(), version);
        let text = address.to_string();
        prop_assert_eq!(VersionedPath::parse(&text), Ok(address.clone()), "{}", text);
        prop_assert_eq!(text.parse::<VersionedPath>(), Ok(address));
    }

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        assert_stable(&input);
        for scheme in ["pq://", "pxt://", "ts://", "ts+plain://"] {
            assert_stable(&format!("{scheme}{input}"));
        }
    }

    #[test]
    fn uri_ish_strings_never_panic(input in uri_ish()) {
        assert_stable(&input);
    }
}
