//! Where background compactions run: one thread per process, below the writers' CPU priority.
//!
//! A background compaction merges small files while the program goes on appending. On the
//! caller's tokio runtime the merge (decoding the small files, encoding the merged one) would
//! occupy one of its worker threads for milliseconds at a time, and an append woken on that
//! worker waits behind it: on a two-core machine that was most of the append latency tail (p99 over
//! 3x p50, against 1.2x with compaction off). So the merge runs on a runtime of its own: a
//! current-thread tokio runtime on a dedicated thread, started on first use and kept for the
//! life of the process. On Unix the thread lowers its own scheduling priority (nice
//! [`BACKGROUND_NICE`], as RocksDB does for its compaction threads), and the blocking threads
//! the runtime starts for file IO inherit it: when the cores are busy, the writers' threads run
//! first and the merge takes what is left. Its IO (reads, the merged file's put and fsync) is
//! not reprioritised; its commit is the same conditional create as any writer's.
//!
//! If the thread cannot be started, [`spawn`] runs the task on the caller's runtime instead
//! (the previous behaviour), so compaction never stops working.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Handle;
use tracing::warn;

/// The nice value the background thread takes (0 is normal, 19 the lowest priority).
pub(crate) const BACKGROUND_NICE: i32 = 10;

/// The background runtime, once started (`None`: it could not be started).
static BACKGROUND: OnceLock<Option<Handle>> = OnceLock::new();

/// Runs `task` on the background runtime (or, if that could not start, on the current one).
/// Returns `false` when neither exists (no tokio runtime at all): the task was not started.
pub(crate) fn spawn<F>(task: F) -> bool
where
    F: Future<Output = ()> + Send + 'static,
{
    if let Some(handle) = BACKGROUND.get_or_init(start) {
        drop(handle.spawn(task));
        return true;
    }
    match Handle::try_current() {
        Ok(handle) => {
            drop(handle.spawn(task));
            true
        }
        Err(_) => false,
    }
}

/// Starts the background thread and its runtime; `None` if either fails.
fn start() -> Option<Handle> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let started = std::thread::Builder::new()
        .name("tableshare-background".into())
        .spawn(move || {
            lower_priority();
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name("tableshare-background-io")
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    warn!(%error, "could not start the background runtime");
                    let _ = tx.send(None);
                    return;
                }
            };
            let _ = tx.send(Some(runtime.handle().clone()));
            // Drives the spawned tasks for the life of the process.
            runtime.block_on(std::future::pending::<()>());
        });
    if let Err(error) = started {
        warn!(%error, "could not start the background thread");
        return None;
    }
    rx.recv().ok().flatten()
}

/// Lowers the calling thread's scheduling priority to [`BACKGROUND_NICE`], unless it is already
/// lower (Linux applies
/// `setpriority` to the calling thread alone; threads it starts inherit the value).
#[cfg(unix)]
fn lower_priority() {
    let me = rustix::thread::gettid();
    // Never raise it: a process started below BACKGROUND_NICE stays where it is.
    let now = rustix::process::getpriority_process(Some(me)).unwrap_or(0);
    if now >= BACKGROUND_NICE {
        return;
    }
    if let Err(error) = rustix::process::setpriority_process(Some(me), BACKGROUND_NICE) {
        warn!(%error, "could not lower the background thread's priority");
    }
}

#[cfg(not(unix))]
fn lower_priority() {}

/// The nice value of the calling thread (tests: the background thread reports its own).
#[cfg(all(test, unix))]
pub(crate) fn current_nice() -> i32 {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(i32::MIN)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    // Guards the point of this module: tasks given to `spawn` run off the caller's threads, on
    // a thread whose priority is lowered, and so do the blocking threads it starts for IO.
    #[tokio::test]
    async fn background_tasks_run_below_the_callers_priority() {
        let caller = current_nice();
        let (tx, rx) = tokio::sync::oneshot::channel();
        assert!(spawn(async move {
            let on_thread = (std::thread::current().id(), current_nice());
            let in_blocking = tokio::task::spawn_blocking(current_nice).await.unwrap();
            let _ = tx.send((on_thread, in_blocking));
        }));
        let ((thread, nice), blocking_nice) = rx.await.unwrap();
        assert_ne!(thread, std::thread::current().id());
        assert!(
            nice > caller,
            "background nice {nice}, caller's {caller}: not lowered"
        );
        assert_eq!(nice, caller.max(BACKGROUND_NICE));
        assert_eq!(
            blocking_nice, nice,
            "blocking IO threads inherit the priority"
        );
    }
}
