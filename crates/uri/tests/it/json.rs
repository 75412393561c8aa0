//! The JSON form of addresses: exactly the objects of `tableshare uri parse --json`.

use std::time::Duration;

use tableshare_uri::{
    CloudUri, DirectUri, SubscriptionOptions, TablePath, TableUri, WorkerRef, WorkerUri,
};

const DEFAULT_OPTIONS: &str = r#"{"snapshot":false,"columns":null,"on_disconnect":"clear","retry_window_ms":300000,"max_retries":null,"blink":false}"#;

/// `input` parses to a value that serializes to exactly `json`, and `json` deserializes back to
/// the value; the same holds for the kind's own type.
fn check(input: &str, json: &str) {
    let uri = TableUri::parse(input).unwrap();
    assert_eq!(
        serde_json::to_string(&uri).unwrap(),
        json,
        "JSON of {input:?}"
    );
    assert_eq!(
        serde_json::from_str::<TableUri>(json).unwrap(),
        uri,
        "from JSON of {input:?}"
    );
    let own = match &uri {
        TableUri::Cloud(u) => {
            assert_eq!(serde_json::from_str::<CloudUri>(json).unwrap(), *u);
            serde_json::to_string(u)
        }
        TableUri::Worker(u) => {
            assert_eq!(serde_json::from_str::<WorkerUri>(json).unwrap(), *u);
            serde_json::to_string(u)
        }
        TableUri::Direct(u) => {
            assert_eq!(serde_json::from_str::<DirectUri>(json).unwrap(), *u);
            serde_json::to_string(u)
        }
    };
    assert_eq!(own.unwrap(), json, "JSON of the {input:?} kind's own type");
}

#[test]
fn exact_shapes() {
    let cases = [
        (
            "pxt://alice/dir/sub/table",
            r#"{"kind":"cloud","org":"alice","db":null,"path":"dir.sub.table","version":null}"#.to_owned(),
        ),
        (
            "pxt://acme-corp:prod/a.b.c:12",
            r#"{"kind":"cloud","org":"acme-corp","db":"prod","path":"a.b.c","version":12}"#.to_owned(),
        ),
        (
            "pq://SomePQ/scope/some_table",
            format!(
                r#"{{"kind":"worker","worker":{{"name":"SomePQ"}},"table":"some_table","options":{DEFAULT_OPTIONS}}}"#
            ),
        ),
        (
            "pq://1234567890/scope/some_table",
            format!(
                r#"{{"kind":"worker","worker":{{"serial":1234567890}},"table":"some_table","options":{DEFAULT_OPTIONS}}}"#
            ),
        ),
        (
            "pq://Sla%5Csh%20PQ/scope/dir.t?columns=Col1,Col%2C2&onDisconnect=retain&retryWindowMillis=30000&maxRetries=3&blink",
            r#"{"kind":"worker","worker":{"name":"Sla\\sh PQ"},"table":"dir.t","options":{"snapshot":false,"columns":["Col1","Col,2"],"on_disconnect":"retain","retry_window_ms":30000,"max_retries":3,"blink":true}}"#.to_owned(),
        ),
        (
            "ts://h/scope/t",
            format!(
                r#"{{"kind":"direct","host":"h","port":8470,"tls":true,"table":"t","options":{DEFAULT_OPTIONS}}}"#
            ),
        ),
        (
            "ts+plain://[::1]:9000/scope/t?snapshot=true",
            r#"{"kind":"direct","host":"[::1]","port":9000,"tls":false,"table":"t","options":{"snapshot":true,"columns":null,"on_disconnect":"clear","retry_window_ms":300000,"max_retries":null,"blink":false}}"#.to_owned(),
        ),
    ];
    for (input, json) in cases {
        check(input, &json);
    }
}

/// `json` does not deserialize as a [`TableUri`]; the error message contains `message`.
fn check_rejected(json: &str, message: &str) {
    let err = serde_json::from_str::<TableUri>(json)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(message),
        "{json}: expected {message:?} in {err:?}"
    );
}

#[test]
fn deserializing_validates() {
    let worker = |worker: &str, table: &str, options: &str| {
        format!(r#"{{"kind":"worker","worker":{worker},"table":"{table}","options":{options}}}"#)
    };
    let cases = [
        (
            r#"{"kind":"cloud","org":"1a","db":null,"path":"t","version":null}"#.to_owned(),
            "invalid organisation `1a`",
        ),
        (
            r#"{"kind":"cloud","org":"a","db":"x y","path":"t","version":null}"#.to_owned(),
            "invalid database `x y`",
        ),
        (
            r#"{"kind":"cloud","org":"a","db":null,"path":"a..b","version":null}"#.to_owned(),
            "empty segment at byte 2 of table path `a..b`",
        ),
        (
            r#"{"kind":"cloud","org":"a","db":null,"path":"t","version":-1}"#.to_owned(),
            "invalid value",
        ),
        (
            r#"{"kind":"cloud","org":"a","db":null,"path":"t","verison":3}"#.to_owned(),
            "unknown field `verison`",
        ),
        (
            r#"{"kind":"cloud","db":null,"path":"t"}"#.to_owned(),
            "missing field `org`",
        ),
        (
            r#"{"kind":"file","path":"t"}"#.to_owned(),
            "unknown variant `file`",
        ),
        (
            r#"{"org":"a","path":"t"}"#.to_owned(),
            "missing field `kind`",
        ),
        (
            worker(r#"{"name":""}"#, "t", DEFAULT_OPTIONS),
            "empty worker name",
        ),
        (
            worker(r#"{"serial":-1}"#, "t", DEFAULT_OPTIONS),
            "invalid value",
        ),
        (
            worker(r#"{"id":1}"#, "t", DEFAULT_OPTIONS),
            "unknown variant `id`",
        ),
        (
            worker(r#"{"name":"w"}"#, "", DEFAULT_OPTIONS),
            "empty table name",
        ),
        (
            worker(r#"{"name":"w"}"#, "t", r#"{"snapshot":true,"blink":true}"#),
            "`snapshot=true` and `blink` contradict each other",
        ),
        (
            worker(r#"{"name":"w"}"#, "t", r#"{"columns":["a","a"]}"#),
            "column `a` is listed twice",
        ),
        (
            worker(r#"{"name":"w"}"#, "t", r#"{"columns":[]}"#),
            "lists no column",
        ),
        (
            worker(r#"{"name":"w"}"#, "t", r#"{"on_disconnect":"keep"}"#),
            "unknown variant `keep`",
        ),
        (
            worker(r#"{"name":"w"}"#, "t", r#"{"retryWindowMillis":5}"#),
            "unknown field `retryWindowMillis`",
        ),
        (
            r#"{"kind":"direct","host":"bad host","port":1,"tls":true,"table":"t"}"#.to_owned(),
            "invalid host `bad host`",
        ),
        (
            r#"{"kind":"direct","host":"h","port":0,"tls":true,"table":"t"}"#.to_owned(),
            "invalid port `0`",
        ),
        (
            r#"{"kind":"direct","host":"h","port":65536,"tls":true,"table":"t"}"#.to_owned(),
            "invalid value",
        ),
        (
            r#"{"kind":"direct","host":"h","port":1,"table":"t"}"#.to_owned(),
            "missing field `tls`",
        ),
    ];
    for (json, message) in cases {
        check_rejected(&json, message);
    }
}

#[test]
fn lenient_where_harmless() {
    // A missing `options` object, or missing fields in it, take the defaults; `db` and `version`
    // may be left out; a bare IPv6 host and an upper-case DNS name are canonicalised.
    let worker: TableUri =
        serde_json::from_str(r#"{"kind":"worker","worker":{"serial":7},"table":"t"}"#).unwrap();
    assert_eq!(worker, TableUri::parse("pq://7/scope/t").unwrap());
    let worker: TableUri = serde_json::from_str(
        r#"{"kind":"worker","worker":{"name":"w"},"table":"t","options":{"blink":true}}"#,
    )
    .unwrap();
    assert_eq!(worker, TableUri::parse("pq://w/scope/t?blink").unwrap());
    let cloud: TableUri =
        serde_json::from_str(r#"{"kind":"cloud","org":"a","path":"x/y"}"#).unwrap();
    assert_eq!(cloud, TableUri::parse("pxt://a/x.y").unwrap());
    let direct: TableUri =
        serde_json::from_str(r#"{"kind":"direct","host":"::1","port":1,"tls":false,"table":"t"}"#)
            .unwrap();
    assert_eq!(
        direct,
        TableUri::parse("ts+plain://[::1]:1/scope/t").unwrap()
    );
}

#[test]
fn kinds_deserialize_only_from_their_own_kind() {
    let json = format!(
        r#"{{"kind":"worker","worker":{{"name":"w"}},"table":"t","options":{DEFAULT_OPTIONS}}}"#
    );
    let err = serde_json::from_str::<CloudUri>(&json)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expected an address of kind `cloud`, found kind `worker`"),
        "{err}"
    );
    let err = serde_json::from_str::<DirectUri>(&json)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("expected an address of kind `direct`, found kind `worker`"),
        "{err}"
    );
    assert!(serde_json::from_str::<WorkerUri>(&json).is_ok());
}

#[test]
fn parts() {
    assert_eq!(
        serde_json::to_string(&TablePath::parse("a/b").unwrap()).unwrap(),
        r#""a.b""#
    );
    assert_eq!(
        serde_json::from_str::<TablePath>(r#""a/b""#).unwrap(),
        TablePath::parse("a.b").unwrap()
    );
    assert!(serde_json::from_str::<TablePath>(r#""a..b""#).is_err());
    assert_eq!(
        serde_json::to_string(&WorkerRef::Serial(1)).unwrap(),
        r#"{"serial":1}"#
    );
    assert_eq!(
        serde_json::to_string(&WorkerRef::Name("n".into())).unwrap(),
        r#"{"name":"n"}"#
    );
    assert_eq!(
        serde_json::to_string(&SubscriptionOptions::default()).unwrap(),
        DEFAULT_OPTIONS
    );
    let sub_millisecond = SubscriptionOptions {
        retry_window: Duration::from_micros(1),
        ..SubscriptionOptions::default()
    };
    let err = serde_json::to_string(&sub_millisecond)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a whole number of milliseconds"), "{err}");
}
