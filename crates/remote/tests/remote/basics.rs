//! The worker and client against each other in one process over real sockets: snapshot then
//! lockstep updates, column subsets, a plain Flight client, tokens, malformed input, worker
//! down with and without a definition, blink, static snapshots, the worker directory.

use std::time::Duration;

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{Criteria, FlightClient, FlightData, FlightDescriptor, Ticket};
use arrow_schema::DataType;
use futures::TryStreamExt;
use tableshare_core::TableDefinition;
use tableshare_remote::{
    ClientConfig, Directory, RemoteError, RemoteTableBuilder, Resolved, Scope, SubscriptionState,
    Worker, resolve,
};
use tableshare_uri::TableUri;
use tonic::Code;

use crate::common::{check_change, model, new_table, same_rows, tick};

async fn serve(steps: u64) -> (Worker, tableshare_core::LiveTable) {
    let table = new_table();
    for _ in 0..steps {
        tick(&table);
    }
    let scope = Scope::new();
    scope.insert("ticker", table.clone());
    (Worker::builder("basics").serve(scope).await.unwrap(), table)
}

fn uri(worker: &Worker, table: &str, query: &str) -> TableUri {
    let text = format!("{}{query}", worker.uri(table).unwrap());
    TableUri::parse(&text).unwrap()
}

/// Guards "ready means ready" and lockstep: the snapshot is applied when `subscribe` returns,
/// then every step the worker takes is reflected with content equal to the worker's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_every_step_in_lockstep() {
    let model = model(400);
    let (worker, table) = serve(50).await;
    let remote = RemoteTableBuilder::for_uri(uri(&worker, "ticker", ""))
        .subscribe()
        .await
        .unwrap();
    assert!(matches!(remote.state(), SubscriptionState::Live));
    let first = remote.latest().unwrap();
    assert_eq!(first.upstream_step, Some(50));
    check_change(&first, &model);
    let mut changes = remote.changes();
    for _ in 50..400 {
        tick(&table);
    }
    let last = remote.wait_for_step(400).await.unwrap();
    check_change(&last, &model);
    let mut seen = 0;
    let mut previous = 50;
    while let Ok(change) = changes.try_recv() {
        let step = change.upstream_step.unwrap();
        assert!(step > previous, "steps only move forward");
        previous = step;
        check_change(&change, &model);
        seen += 1;
    }
    assert!(seen > 0);
    assert_eq!(previous, 400);
    worker.shutdown().await.unwrap();
}

/// Guards the order `wait_for_step` promises: when it returns step n, the change that brought n
/// is already in every `changes()` receiver (it once published `latest` first, and a reader that
/// woke on it drained the channel one change short).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_waited_for_is_already_in_the_changes() {
    let (worker, table) = serve(1).await;
    let remote = RemoteTableBuilder::for_uri(uri(&worker, "ticker", ""))
        .subscribe()
        .await
        .unwrap();
    let mut changes = remote.changes();
    for step in 2..=300 {
        tick(&table);
        remote.wait_for_step(step).await.unwrap();
        let mut newest = None;
        while let Ok(change) = changes.try_recv() {
            newest = change.upstream_step;
        }
        assert_eq!(
            newest,
            Some(step),
            "the change for step {step} was not yet sent"
        );
    }
    worker.shutdown().await.unwrap();
}

/// Guards column subsets at the worker, and that an unknown column is refused naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_subsets_are_applied_at_the_worker() {
    let model = model(120);
    let (worker, table) = serve(20).await;
    let remote = RemoteTableBuilder::for_uri(uri(&worker, "ticker", "?columns=value,id"))
        .subscribe()
        .await
        .unwrap();
    let names: Vec<_> = remote
        .table()
        .schema()
        .arrow()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["value", "id"]);
    for _ in 20..120 {
        tick(&table);
    }
    check_change(&remote.wait_for_step(120).await.unwrap(), &model);
    let err = RemoteTableBuilder::for_uri(uri(&worker, "ticker", "?columns=id,nope"))
        .subscribe()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

/// Guards the wire contract for plain Flight clients: list the tables with schemas and read a
/// consistent snapshot with `DoGet` from a bare table-name ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_flight_client_lists_and_reads() {
    let (worker, table) = serve(30).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", worker.address()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightClient::new(channel);
    let infos: Vec<_> = client
        .list_flights(Criteria::default().expression)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(infos.len(), 1);
    let info = infos.into_iter().next().unwrap();
    assert_eq!(info.flight_descriptor.as_ref().unwrap().path, ["ticker"]);
    let schema = info.clone().try_decode_schema().unwrap();
    assert_eq!(&schema, table.schema().arrow().as_ref());
    let snapshot = table.snapshot().unwrap();
    for ticket in [
        info.endpoint[0].ticket.clone().unwrap(),
        Ticket::new("ticker"),
    ] {
        let batches: Vec<_> = client
            .do_get(ticket)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let got = arrow_select::concat::concat_batches(&schema.clone().into(), &batches).unwrap();
        assert_eq!(got, snapshot.concat().unwrap());
    }
    let missing = client.do_get(Ticket::new("nope")).await.unwrap_err();
    assert!(missing.to_string().contains("nope"), "{missing}");
}

/// Guards token auth: requests without the token are refused `Unauthenticated`, by our client
/// (a clear error) and a plain one; with the token they are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_a_token_refuses_requests_without_it() {
    let table = new_table();
    tick(&table);
    let scope = Scope::new();
    scope.insert("ticker", table);
    let worker = Worker::builder("secure")
        .token("s3cret")
        .serve(scope)
        .await
        .unwrap();
    let target = uri(&worker, "ticker", "");
    for config in [
        ClientConfig::default(),
        ClientConfig::default().with_token("wrong"),
    ] {
        let err = RemoteTableBuilder::for_uri(target.clone())
            .config(config)
            .subscribe()
            .await
            .unwrap_err();
        assert!(matches!(err, RemoteError::Unauthenticated { .. }), "{err}");
    }
    let remote = RemoteTableBuilder::for_uri(target)
        .config(ClientConfig::default().with_token("s3cret"))
        .subscribe()
        .await
        .unwrap();
    assert_eq!(remote.table().snapshot().unwrap().num_rows(), 2);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", worker.address()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = FlightServiceClient::new(channel)
        .do_get(Ticket::new("ticker"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

/// Guards robustness: malformed tickets, commands and exchanges are refused with
/// `InvalidArgument` (never a crash), and the worker serves normally afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused_and_the_worker_survives() {
    let (worker, _table) = serve(10).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", worker.address()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightServiceClient::new(channel);
    for ticket in [
        &b"{\"table\":"[..],
        b"\xff\xfe\x00",
        b"   ",
        b"{\"table\":1}",
    ] {
        let status = client
            .do_get(Ticket::new(ticket.to_vec()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{ticket:?}");
    }
    for command in [
        &b"not json"[..],
        b"{\"table\":\"ticker\",\"resume\":5}",
        b"",
    ] {
        let first = FlightData::new().with_descriptor(FlightDescriptor::new_cmd(command.to_vec()));
        let status = client
            .do_exchange(futures::stream::iter([first]))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{command:?}");
    }
    let empty = client
        .do_exchange(futures::stream::iter(Vec::<FlightData>::new()))
        .await;
    assert!(empty.is_err());
    let descriptor = FlightDescriptor::new_path(vec!["a".into(), "b".into()]);
    let status = client.get_schema(descriptor).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    // A resume from a step the table never reached is answered with a full replacement.
    let remote = RemoteTableBuilder::for_uri(uri(&worker, "ticker", ""))
        .subscribe()
        .await
        .unwrap();
    assert_eq!(remote.latest().unwrap().upstream_step, Some(10));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Guards the worker-down contract: without a definition `subscribe` and `snapshot` fail naming
/// worker and table; with one, `subscribe` starts empty and fills when the worker comes up,
/// while `snapshot` still fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_down_with_and_without_a_definition() {
    let model = model(40);
    let port = free_port();
    let address = TableUri::parse(&format!("ts+plain://127.0.0.1:{port}/scope/ticker")).unwrap();
    let err = RemoteTableBuilder::for_uri(address.clone())
        .subscribe()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RemoteError::WorkerDown { .. }), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("ticker"),
        "{text}"
    );
    let definition =
        TableDefinition::new([("id", DataType::Int64), ("value", DataType::Float64)]).unwrap();
    let err = RemoteTableBuilder::for_uri(address.clone())
        .table_definition(definition.clone())
        .snapshot()
        .await
        .unwrap_err();
    assert!(matches!(err, RemoteError::WorkerDown { .. }), "{err}");

    let remote = RemoteTableBuilder::for_uri(address.clone())
        .table_definition(definition.clone())
        .subscribe()
        .await
        .unwrap();
    assert!(remote.table().snapshot().unwrap().is_empty());
    assert!(!matches!(remote.state(), SubscriptionState::Live));
    let table = new_table();
    for _ in 0..30 {
        tick(&table);
    }
    let scope = Scope::new();
    scope.insert("ticker", table.clone());
    let worker = Worker::builder("late")
        .listen(([127, 0, 0, 1], port).into())
        .serve(scope)
        .await
        .unwrap();
    check_change(&remote.wait_for_step(30).await.unwrap(), &model);
    let names: Vec<_> = remote
        .table()
        .schema()
        .arrow()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["id", "value"], "extra upstream columns are ignored");
    for _ in 30..40 {
        tick(&table);
    }
    check_change(&remote.wait_for_step(40).await.unwrap(), &model);

    // A definition the upstream does not satisfy fails, naming the column.
    for bad in [
        TableDefinition::new([("id", DataType::Int64), ("missing", DataType::Utf8)]).unwrap(),
        TableDefinition::new([("value", DataType::Utf8)]).unwrap(),
    ] {
        let err = RemoteTableBuilder::for_uri(address.clone())
            .table_definition(bad)
            .subscribe()
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("missing") || text.contains("value"), "{text}");
    }
    worker.shutdown().await.unwrap();
}

/// Guards blink: the local table holds only the rows added by the latest step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blink_keeps_only_the_current_steps_rows() {
    let (worker, table) = serve(6).await;
    let remote = RemoteTableBuilder::for_uri(uri(&worker, "ticker", "?blink"))
        .subscribe()
        .await
        .unwrap();
    assert!(remote.table().is_blink());
    let mut changes = remote.changes();
    // Step 7 appends two rows (7 % 6 == 1).
    tick(&table);
    let change = changes.recv().await.unwrap();
    assert_eq!(change.upstream_step, Some(7));
    let ids = change.snapshot.concat().unwrap();
    let ids = ids
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .unwrap();
    assert_eq!(ids.values(), &[70, 71]);
    // Step 8 only modifies: nothing added, so the blink table is empty.
    tick(&table);
    let change = changes.recv().await.unwrap();
    assert_eq!(change.upstream_step, Some(8));
    assert!(change.snapshot.is_empty());
    worker.shutdown().await.unwrap();
}

/// Guards `snapshot=true` through `resolve` and the builder: a static copy equal to the
/// worker's table, projected to the columns asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_snapshots() {
    let model = model(25);
    let (worker, _table) = serve(25).await;
    let Resolved::Snapshot(snapshot) = resolve(
        &uri(&worker, "ticker", "?snapshot=true"),
        ClientConfig::default(),
    )
    .await
    .unwrap() else {
        panic!("snapshot=true resolves to a snapshot");
    };
    assert!(same_rows(&snapshot, &model[25]));
    let projected = RemoteTableBuilder::for_remote_cluster(&format!("http://{}", worker.address()))
        .table_name("ticker")
        .included_columns(["name"])
        .snapshot()
        .await
        .unwrap();
    assert!(same_rows(
        &projected,
        &model[25].project(&["name"]).unwrap()
    ));
    let Resolved::Live(_) = resolve(&uri(&worker, "ticker", ""), ClientConfig::default())
        .await
        .unwrap()
    else {
        panic!("a plain address resolves to a subscription");
    };
}

/// Guards the worker directory: `pq://NAME` and `pq://SERIAL` resolve through it; a shut-down
/// worker is gone; a worker that stops beating goes stale and counts as down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_resolves_names_and_serials_and_detects_stale_workers() {
    let home = tempfile::tempdir().unwrap();
    let directory = Directory::local(home.path().join("workers")).unwrap();
    let table = new_table();
    tick(&table);
    let scope = Scope::new();
    scope.insert("t", table);
    let worker = Worker::builder("Sla\\sh PQ")
        .serial(1234567890)
        .directory(directory.clone())
        .heartbeat(Duration::from_millis(100))
        .serve(scope.clone())
        .await
        .unwrap();
    let config = ClientConfig::default().with_directory(directory.clone());
    for text in ["pq://Sla%5Csh%20PQ/scope/t", "pq://1234567890/scope/t"] {
        let uri = TableUri::parse(text).unwrap();
        let remote = RemoteTableBuilder::for_uri(uri)
            .config(config.clone())
            .subscribe()
            .await
            .unwrap();
        assert_eq!(remote.table().snapshot().unwrap().num_rows(), 2, "{text}");
    }
    let by_builder = RemoteTableBuilder::in_local_cluster(directory.clone(), "Sla\\sh PQ", "t")
        .snapshot()
        .await
        .unwrap();
    assert_eq!(by_builder.num_rows(), 2);
    let entries = directory.list().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert!(entries[0].is_up());
    worker.shutdown().await.unwrap();
    assert!(directory.list().await.unwrap().is_empty());

    // A worker that dies without deregistering: its entry goes stale.
    let worker = Worker::builder("dies")
        .serial(42)
        .directory(directory.clone())
        .heartbeat(Duration::from_millis(50))
        .serve(scope)
        .await
        .unwrap();
    drop(worker);
    tokio::time::sleep(Duration::from_millis(1400)).await;
    let entries = directory.list().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert!(!entries[0].is_up());
    let err = RemoteTableBuilder::for_uri(TableUri::parse("pq://dies/scope/t").unwrap())
        .config(config)
        .subscribe()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("stale") && err.to_string().contains("dies"),
        "{err}"
    );
}

/// Makes a CA and a server certificate for `localhost` / 127.0.0.1 with the openssl tool;
/// returns (CA PEM, server certificate PEM, server key PEM).
fn certificates(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let openssl = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=tableshare test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    (read("ca.pem"), read("server.pem"), read("server.key"))
}

/// Guards the TLS address form: a `ts://` subscription to a TLS worker verifies its certificate
/// and ticks; a client that does not trust the CA, and a plaintext client, are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_addresses_use_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let table = new_table();
    tick(&table);
    let scope = Scope::new();
    scope.insert("ticker", table.clone());
    let worker = Worker::builder("tls")
        .tls(cert, key)
        .serve(scope)
        .await
        .unwrap();
    let address = worker.uri("ticker").unwrap().to_string();
    assert!(address.starts_with("ts://"), "{address}");
    let trusted = ClientConfig::default().with_tls(ca, Some("localhost".into()));
    let remote = RemoteTableBuilder::for_uri(TableUri::parse(&address).unwrap())
        .config(trusted)
        .subscribe()
        .await
        .unwrap();
    tick(&table);
    check_change(&remote.wait_for_step(2).await.unwrap(), &model(2));
    let untrusted = RemoteTableBuilder::for_uri(TableUri::parse(&address).unwrap())
        .config(ClientConfig::default().with_tls(b"".to_vec(), Some("localhost".into())))
        .snapshot()
        .await;
    assert!(
        untrusted.is_err(),
        "a client that does not trust the CA is refused"
    );
    let plain = format!("ts+plain://{}/scope/ticker", worker.address());
    let plain = RemoteTableBuilder::for_uri(TableUri::parse(&plain).unwrap())
        .snapshot()
        .await;
    assert!(plain.is_err(), "plaintext to a TLS worker fails");
    worker.shutdown().await.unwrap();
}
