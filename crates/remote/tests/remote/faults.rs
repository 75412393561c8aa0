//! Fault tests across real processes and sockets. Under each fault, every subscriber's content
//! equals the worker's at every upstream step it reports (`check_change` against the model).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{FlightData, FlightDescriptor};
use futures::StreamExt;
use tableshare_core::{LiveTable, TableEvent};
use tableshare_remote::{
    Change, ClientConfig, RemoteError, RemoteTable, RemoteTableBuilder, Scope, ServeConfig,
    SubscriptionState, Worker, wire,
};
use tableshare_uri::TableUri;
use tonic::Code;

use crate::common::{Proxy, check_change, model, new_table, rows, spawn_worker, tick};

fn direct(address: std::net::SocketAddr, query: &str) -> TableUri {
    TableUri::parse(&format!("ts+plain://{address}/scope/ticker{query}")).unwrap()
}

/// Records every change and state of a subscription.
struct Recorder {
    changes: Arc<Mutex<Vec<Change>>>,
    states: Arc<Mutex<Vec<String>>>,
}

fn record(remote: &RemoteTable) -> Recorder {
    let changes = Arc::new(Mutex::new(remote.latest().into_iter().collect::<Vec<_>>()));
    let states = Arc::new(Mutex::new(Vec::new()));
    let mut rx = remote.changes();
    let sink = changes.clone();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(change) => sink.lock().unwrap().push(change),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    panic!("recorder lagged by {n}")
                }
                Err(_) => return,
            }
        }
    });
    let mut watch = remote.states();
    let sink = states.clone();
    tokio::spawn(async move {
        while watch.changed().await.is_ok() {
            let state = watch.borrow_and_update().to_string();
            sink.lock().unwrap().push(state);
        }
    });
    Recorder { changes, states }
}

impl Recorder {
    fn check(&self, model: &[tableshare_core::Snapshot]) -> usize {
        let changes = self.changes.lock().unwrap();
        for change in changes.iter() {
            check_change(change, model);
        }
        changes.len()
    }

    fn saw_state(&self, prefix: &str) -> bool {
        self.states
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.starts_with(prefix))
    }
}

/// Every core event the local table emits, to see whether a reconnect resumed (a delta) or
/// replaced (a reset).
fn local_events(table: &LiveTable) -> Arc<Mutex<Vec<(u64, bool)>>> {
    let (_, mut subscription) = table.subscribe().unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    tokio::spawn(async move {
        while let Some(Ok(event)) = subscription.next().await {
            if let TableEvent::Update(update) = event {
                sink.lock()
                    .unwrap()
                    .push((update.step(), update.is_reset()));
            }
        }
    });
    events
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Guards reconnect and resume across a worker process killed mid-stream and restarted with
/// the same table (same incarnation and steps): `retain` keeps its rows and resumes with a delta
/// (no resend), `clear` empties in one step and refills; both end equal to the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_and_restarted_with_the_same_table() {
    let mut first = spawn_worker(0, 0, 1_000_000, 2, "ticker-v1").await;
    let address = first.address;
    let retain = RemoteTableBuilder::for_uri(direct(address, "?onDisconnect=retain"))
        .subscribe()
        .await
        .unwrap();
    let clear = RemoteTableBuilder::for_uri(direct(address, ""))
        .subscribe()
        .await
        .unwrap();
    let (r, c) = (record(&retain), record(&clear));
    let retain_events = local_events(retain.table());
    first.steps.wait_for(|s| *s >= 150).await.unwrap();
    first.child.kill().await.unwrap();
    let killed_at = *first.steps.borrow();
    until("a reconnect attempt", || {
        r.saw_state("reconnecting") && c.saw_state("reconnecting")
    })
    .await;
    let before = retain.table().snapshot().unwrap().num_rows();
    assert!(before > 0, "retain keeps the rows while disconnected");
    until("the clear subscriber to empty", || {
        clear.table().snapshot().unwrap().is_empty()
    })
    .await;
    let held = retain.latest().unwrap().upstream_step.unwrap();
    let resume_events = retain_events.lock().unwrap().len();

    let restart_at = killed_at + 20;
    let last = restart_at + 150;
    let model = model(last);
    let _second = spawn_worker(address.port(), restart_at, last, 2, "ticker-v1").await;
    retain.wait_for_step(last).await.unwrap();
    clear.wait_for_step(last).await.unwrap();
    assert!(r.check(&model) > 2 && c.check(&model) > 2);
    let events = retain_events.lock().unwrap();
    let (step, reset) = events[resume_events];
    assert!(
        step > held && !reset,
        "the first step after reconnecting is a delta, not a resend"
    );
    assert!(
        c.changes
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.upstream_step.is_none()),
        "clear cleared"
    );
}

/// Guards a restarted worker that rebuilt its table from scratch (new incarnation, steps
/// starting over): the subscriber is told with one atomic replacement and follows the new table
/// without being restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_restarted_with_a_reset_table() {
    let mut first = spawn_worker(0, 0, 1_000_000, 2, "run-1").await;
    let address = first.address;
    let remote = RemoteTableBuilder::for_uri(direct(address, "?onDisconnect=retain"))
        .subscribe()
        .await
        .unwrap();
    let recorder = record(&remote);
    let events = local_events(remote.table());
    first.steps.wait_for(|s| *s >= 120).await.unwrap();
    first.child.kill().await.unwrap();
    until("a reconnect attempt", || recorder.saw_state("reconnecting")).await;
    let seen = events.lock().unwrap().len();
    let model = model(400);
    let second = spawn_worker(address.port(), 0, 60, 2, "run-2").await;
    drop(second.steps);
    until("the new incarnation", || {
        remote
            .latest()
            .and_then(|c| c.incarnation)
            .is_some_and(|i| i == "run-2")
            && remote.latest().and_then(|c| c.upstream_step) == Some(60)
    })
    .await;
    recorder.check(&model);
    let events = events.lock().unwrap();
    assert!(
        events[seen].1,
        "the first step after the restart replaces the table atomically"
    );
    assert!(
        events.windows(2).all(|w| w[1].0 > w[0].0),
        "local steps keep increasing"
    );
}

/// Guards connection faults between live processes' sockets: a connection cut by the proxy and
/// one blackholed (open but silent, detected by keepalive) are both followed by a reconnect that
/// resumes, with the content equal to the worker's throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_and_blackholed_by_a_proxy() {
    let steps = 2_500;
    let model = model(steps);
    let table = new_table();
    let scope = Scope::new();
    scope.insert("ticker", table.clone());
    let worker = Worker::builder("proxied").serve(scope).await.unwrap();
    let proxy = Proxy::start(worker.address()).await;
    let config = ClientConfig::default().with_keepalive_timeout(Duration::from_millis(400));
    let remote = RemoteTableBuilder::for_uri(direct(proxy.address, "?onDisconnect=retain"))
        .config(config)
        .subscribe()
        .await
        .unwrap();
    let recorder = record(&remote);
    let writer = tokio::spawn({
        let table = table.clone();
        async move {
            for _ in 0..steps {
                tick(&table);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    remote.wait_for_step(200).await.unwrap();
    proxy.cut();
    until("a reconnect after the cut", || {
        recorder.saw_state("reconnecting")
    })
    .await;
    until("live again", || {
        matches!(remote.state(), SubscriptionState::Live)
    })
    .await;
    let after_cut = remote.latest().unwrap().upstream_step.unwrap();
    remote.wait_for_step(after_cut + 100).await.unwrap();
    recorder.states.lock().unwrap().clear();
    proxy.blackhole();
    until("the blackhole to be detected", || {
        recorder.saw_state("reconnecting")
    })
    .await;
    let stalled = remote.latest().unwrap().upstream_step.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        remote.latest().unwrap().upstream_step.unwrap(),
        stalled,
        "nothing passes a blackhole"
    );
    proxy.heal();
    writer.await.unwrap();
    remote.wait_for_step(steps).await.unwrap();
    assert!(recorder.check(&model) > 10);
    worker.shutdown().await.unwrap();
}

/// Guards the retry limits: with the worker gone for good, the subscription gives up after
/// `maxRetries` attempts and the table fails with an error that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_exhausted_fail_the_table_saying_so() {
    let table = new_table();
    tick(&table);
    let scope = Scope::new();
    scope.insert("ticker", table);
    let worker = Worker::builder("gone").serve(scope).await.unwrap();
    let remote = RemoteTableBuilder::for_uri(direct(
        worker.address(),
        "?maxRetries=3&retryWindowMillis=20000",
    ))
    .subscribe()
    .await
    .unwrap();
    let recorder = record(&remote);
    worker.shutdown().await.unwrap();
    until("failure", || {
        matches!(remote.state(), SubscriptionState::Failed { .. })
    })
    .await;
    let SubscriptionState::Failed { error } = remote.state() else {
        unreachable!()
    };
    assert!(
        matches!(*error, RemoteError::RetriesExhausted { attempts: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("3 attempt"), "{error}");
    assert!(recorder.saw_state("reconnecting (attempt 3)"));
    let failure = remote.table().snapshot().unwrap_err();
    let cause = std::error::Error::source(&failure).unwrap().to_string();
    assert!(cause.contains("gave up reconnecting"), "{cause}");

    // A short window gives up by time, whatever the attempt count.
    let table = new_table();
    let scope = Scope::new();
    scope.insert("ticker", table);
    let worker = Worker::builder("gone2").serve(scope).await.unwrap();
    let remote = RemoteTableBuilder::for_uri(direct(worker.address(), "?retryWindowMillis=300"))
        .subscribe()
        .await
        .unwrap();
    let started = Instant::now();
    worker.shutdown().await.unwrap();
    until("failure", || {
        matches!(remote.state(), SubscriptionState::Failed { .. })
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Guards bounded memory with a slow subscriber (a throttled link): its pending steps are
/// coalesced (it reports fewer steps than the table took, each equal to the worker's), while
/// the writer and a fast subscriber are not held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_is_coalesced_and_delays_no_one() {
    let steps = 3_000;
    let model = model(steps);
    let table = new_table();
    let scope = Scope::new();
    scope.insert("ticker", table.clone());
    let config = ServeConfig::default()
        .with_queue_depth(2)
        .with_subscriber_capacity(16);
    let worker = Worker::builder("slow")
        .config(config)
        .serve(scope)
        .await
        .unwrap();
    let proxy = Proxy::start(worker.address()).await;
    let fast = RemoteTableBuilder::for_uri(direct(worker.address(), ""))
        .subscribe()
        .await
        .unwrap();
    let slow = RemoteTableBuilder::for_uri(direct(proxy.address, "?onDisconnect=retain"))
        .subscribe()
        .await
        .unwrap();
    let (f, s) = (record(&fast), record(&slow));
    proxy
        .throttle
        .store(48, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    for _ in 0..steps {
        tick(&table);
        if table.step().is_multiple_of(100) {
            tokio::task::yield_now().await;
        }
    }
    let writing = started.elapsed();
    fast.wait_for_step(steps).await.unwrap();
    let fast_done = started.elapsed();
    let slow_then = slow.latest().unwrap().upstream_step.unwrap();
    assert!(
        slow_then < steps,
        "the slow subscriber was behind when the fast one finished"
    );
    proxy.throttle.store(0, std::sync::atomic::Ordering::SeqCst);
    slow.wait_for_step(steps).await.unwrap();
    let slow_changes = s.check(&model);
    let fast_changes = f.check(&model);
    assert!(
        slow_changes < steps as usize / 2,
        "the slow subscriber's steps were coalesced ({slow_changes} changes for {steps} steps)"
    );
    println!(
        "writer {writing:?}, fast done {fast_done:?}, slow saw {slow_changes} changes, fast {fast_changes}"
    );
    worker.shutdown().await.unwrap();
}

/// Guards the "disconnected with a reason" half of slow-subscriber handling: a reader that
/// never keeps up (big steps, a tiny allowance) is told why it is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_keeps_up_is_disconnected_with_a_reason() {
    let table = new_table();
    let scope = Scope::new();
    scope.insert("ticker", table.clone());
    let config = ServeConfig::default()
        .with_queue_depth(1)
        .with_subscriber_capacity(1)
        .with_max_resyncs_in_a_row(0);
    let worker = Worker::builder("strict")
        .config(config)
        .serve(scope)
        .await
        .unwrap();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", worker.address()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let request = wire::Request {
        table: "ticker".into(),
        columns: None,
        resume: None,
    };
    let first = FlightData::new().with_descriptor(FlightDescriptor::new_cmd(request.to_bytes()));
    let mut stream = FlightServiceClient::new(channel)
        .do_exchange(futures::stream::iter([first]))
        .await
        .unwrap()
        .into_inner();
    stream.next().await.unwrap().unwrap();
    // Big steps while the reader sleeps: the transport's buffers fill and the reader falls
    // further behind than its allowance.
    let ids: Vec<i64> = (0..20_000).collect();
    for _ in 0..40 {
        table.append(rows(&ids)).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = loop {
        match stream.next().await {
            Some(Ok(_)) => continue,
            Some(Err(status)) => break status,
            None => panic!("the stream ended without a reason"),
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    assert!(status.message().contains("too slow"), "{status}");
    worker.shutdown().await.unwrap();
}

/// Guards late joiners under load: many subscribers join while the table ticks fast; each gets
/// a consistent snapshot and then every step after it, equal to the worker's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_subscribers_join_while_the_table_ticks_fast() {
    let steps = 3_000;
    let model = model(steps);
    let table = new_table();
    let scope = Scope::new();
    scope.insert("ticker", table.clone());
    let worker = Worker::builder("busy").serve(scope).await.unwrap();
    let address = worker.address();
    let writer = tokio::spawn({
        let table = table.clone();
        async move {
            for i in 0..steps {
                tick(&table);
                if i.is_multiple_of(4) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    });
    let mut joined = Vec::new();
    for _ in 0..16 {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let remote = RemoteTableBuilder::for_uri(direct(address, ""))
            .subscribe()
            .await
            .unwrap();
        let start = remote.latest().unwrap().upstream_step.unwrap();
        let recorder = record(&remote);
        joined.push((remote, recorder, start));
    }
    writer.await.unwrap();
    let starts: Vec<u64> = joined.iter().map(|(_, _, s)| *s).collect();
    assert!(
        starts.windows(2).any(|w| w[1] > w[0]),
        "subscribers joined at different steps: {starts:?}"
    );
    assert!(
        starts.iter().any(|s| *s < steps),
        "some joined while the table was ticking"
    );
    for (remote, recorder, _) in &joined {
        remote.wait_for_step(steps).await.unwrap();
        assert!(recorder.check(&model) >= 1);
    }
    worker.shutdown().await.unwrap();
}
