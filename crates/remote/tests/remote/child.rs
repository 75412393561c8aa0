//! The worker process of the fault tests: this test binary re-run with `TS_REMOTE_CHILD=1`
//! (see `common::spawn_worker`). Run normally, the test returns at once.

use std::time::Duration;

use tableshare_remote::{Scope, Worker};

use crate::common::{new_table, tick};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_child() {
    if std::env::var_os("TS_REMOTE_CHILD").is_none() {
        return;
    }
    let var = |name: &str| std::env::var(name).unwrap();
    let port: u16 = var("TS_PORT").parse().unwrap();
    let start: u64 = var("TS_START").parse().unwrap();
    let last: u64 = var("TS_LAST").parse().unwrap();
    let every = Duration::from_millis(var("TS_EVERY_MS").parse().unwrap());
    let table = new_table();
    for _ in 0..start {
        tick(&table);
    }
    let scope = Scope::new();
    scope.insert_with_incarnation("ticker", table.clone(), var("TS_INCARNATION"));
    let worker = Worker::builder("child")
        .listen(([127, 0, 0, 1], port).into())
        .serve(scope)
        .await
        .unwrap();
    println!("LISTENING {}", worker.address());
    while table.step() < last {
        tokio::time::sleep(every).await;
        tick(&table);
        println!("STEP {}", table.step());
    }
    // Keep serving until killed.
    tokio::time::sleep(Duration::from_secs(3600)).await;
}
