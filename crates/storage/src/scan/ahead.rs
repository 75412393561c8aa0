//! Reading ahead: driving a run's stream on its own task, a bounded number of batches ahead.
//!
//! A stream only makes progress while it is polled, so runs chained one after another would
//! fetch and decode strictly in turn. A scan instead hands each of the next few runs to a
//! task that reads at most [`RUN_BUFFER`] batches ahead of the consumer: their store requests
//! and decoding overlap with the consumer's work, and memory stays bounded by the buffers of
//! the runs in flight. Dropping the stream aborts the task, so nothing more is read once the
//! consumer is gone (a limit reached, an error, or the caller losing interest).

use futures::StreamExt;
use tokio::task::JoinHandle;

use super::file::KeyedStream;
use crate::error::StorageError;

/// Batches a run's task may hold ready ahead of the consumer.
pub(crate) const RUN_BUFFER: usize = 2;

/// Aborts the task when the stream reading from it is dropped.
struct AbortOnDrop(Option<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// Drives `stream` on a task of the current tokio runtime, at most [`RUN_BUFFER`] batches
/// ahead of the returned stream. Outside a runtime the stream is returned as it is.
///
/// A panic in the task is resumed in the reader, and a task cancelled by a shutting-down
/// runtime ends the stream with [`StorageError::NoRuntime`]: the stream never ends early
/// without saying so.
pub(crate) fn read_ahead(stream: KeyedStream) -> KeyedStream {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return stream;
    };
    let (tx, rx) = tokio::sync::mpsc::channel(RUN_BUFFER);
    let task = runtime.spawn(async move {
        let mut stream = stream;
        while let Some(item) = stream.next().await {
            let failed = item.is_err();
            // A closed channel means the reader is gone.
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    let state = Some((rx, AbortOnDrop(Some(task))));
    futures::stream::unfold(state, |state| async move {
        let (mut rx, mut guard) = state?;
        if let Some(item) = rx.recv().await {
            return Some((item, Some((rx, guard))));
        }
        // The task has ended: after its stream did, or by panicking, or cancelled.
        let task = guard.0.take()?;
        match task.await {
            Ok(()) => None,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Some((
                Err(StorageError::NoRuntime {
                    what: "streaming a scan (the runtime shut down)",
                }),
                None,
            )),
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{RecordBatch, UInt64Array};
    use arrow_schema::{DataType, Field, Schema};
    use futures::StreamExt;

    use super::*;
    use crate::error::Result;
    use crate::scan::ScanBatch;

    fn batch(key: u64) -> Result<ScanBatch> {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::UInt64, false)]));
        let column = Arc::new(UInt64Array::from(vec![key]));
        Ok(ScanBatch {
            keys: vec![key],
            batch: RecordBatch::try_new(schema, vec![column]).unwrap(),
        })
    }

    // Guards the read-ahead task: every batch arrives in order, and an error is passed on and
    // ends the stream (nothing after it is read).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_batches_in_order_and_stops_at_an_error() {
        let items: Vec<Result<ScanBatch>> = (0..10).map(batch).collect();
        let got: Vec<u64> = read_ahead(futures::stream::iter(items).boxed())
            .map(|b| b.unwrap().keys[0])
            .collect()
            .await;
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        let failing = vec![
            batch(0),
            Err(StorageError::NoRuntime { what: "test" }),
            batch(2),
        ];
        let got: Vec<bool> = read_ahead(futures::stream::iter(failing).boxed())
            .map(|b| b.is_ok())
            .collect()
            .await;
        assert_eq!(got, vec![true, false]);
    }
}
