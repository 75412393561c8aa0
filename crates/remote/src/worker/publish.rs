//! The worker side of one subscription: a consistent snapshot, then every later step, written
//! as Flight messages (see [`crate::wire`]) into a small bounded queue.
//!
//! Backpressure is what keeps memory bounded: the task waits for room in the queue before it
//! takes the next event from the table, and the table's [`Subscription`] coalesces whatever
//! piled up meanwhile (or resyncs the subscriber with one reset update when it fell too far
//! behind). A slow subscriber therefore costs at most its queue, never delays writers or other
//! subscribers, and one that keeps falling behind is disconnected with a reason.

use arrow_array::{RecordBatch, RecordBatchOptions};
use arrow_flight::FlightData;
use arrow_schema::{Schema, SchemaRef};
use tableshare_core::{
    LiveTable, RowSet, Snapshot, Step, SubscribeOptions, Subscription, TableEvent, TableUpdate,
};
use tokio::sync::{mpsc, watch};
use tonic::Status;
use tracing::debug;

use crate::scope::ScopeEntry;
use crate::wire::{Encoder, Header, Kind, Meta, Request, key_chunks};
use crate::worker::ServeConfig;

/// A message for the subscriber, or the reason it is disconnected.
pub(crate) type Outgoing = Result<FlightData, Status>;

/// Starts streaming `request` of `entry` into a queue; returns its receiving end.
///
/// # Errors
///
/// `InvalidArgument` for an unknown column; `FailedPrecondition` if the table has failed.
pub(crate) fn start(
    entry: ScopeEntry,
    request: Request,
    config: ServeConfig,
    stopping: watch::Receiver<bool>,
) -> Result<mpsc::Receiver<Outgoing>, Status> {
    let columns = request.columns.clone();
    if let Some(columns) = &columns {
        entry
            .table
            .schema()
            .project(columns)
            .map_err(|e| Status::invalid_argument(format!("table `{}`: {e}", request.table)))?;
    }
    let options = SubscribeOptions::default().with_capacity(config.subscriber_capacity);
    let resume = request
        .resume
        .as_ref()
        .filter(|r| r.incarnation == entry.incarnation && r.step <= entry.table.step());
    let start = match resume {
        Some(resume) => Start::Resume(
            entry
                .table
                .subscribe_from(resume.step, options.clone())
                .map_err(failed)?,
        ),
        None => {
            let (snapshot, subscription) = entry
                .table
                .subscribe_with(options.clone())
                .map_err(failed)?;
            Start::Snapshot(snapshot, subscription)
        }
    };
    let (tx, rx) = mpsc::channel(config.queue_depth.max(1));
    let publisher = Publisher {
        tx,
        table: entry.table,
        incarnation: entry.incarnation,
        name: request.table,
        columns,
        config,
        encoder: Encoder::default(),
        options,
        stopping,
    };
    tokio::spawn(publisher.run(start));
    Ok(rx)
}

fn failed(error: tableshare_core::CoreError) -> Status {
    Status::failed_precondition(error.to_string())
}

enum Start {
    Snapshot(Snapshot, Subscription),
    Resume(Subscription),
}

/// The task feeding one subscriber.
struct Publisher {
    tx: mpsc::Sender<Outgoing>,
    table: LiveTable,
    incarnation: String,
    name: String,
    columns: Option<Vec<String>>,
    config: ServeConfig,
    encoder: Encoder,
    options: SubscribeOptions,
    /// Becomes `true` when the worker shuts down.
    stopping: watch::Receiver<bool>,
}

/// The subscriber went away; stop quietly.
struct Gone;

impl Publisher {
    async fn run(mut self, start: Start) {
        let outcome = self.follow(start).await;
        if let Err(Gone) = outcome {
            debug!(table = %self.name, "subscriber gone");
        }
    }

    async fn follow(&mut self, start: Start) -> Result<(), Gone> {
        let mut subscription = match start {
            Start::Snapshot(snapshot, subscription) => {
                self.send_snapshot(&snapshot).await?;
                subscription
            }
            Start::Resume(subscription) => subscription,
        };
        let mut resyncs_in_a_row = 0u32;
        loop {
            let before = subscription.resyncs();
            let mut stopping = self.stopping.clone();
            let next = tokio::select! {
                next = subscription.next() => next,
                _ = stopping.wait_for(|stop| *stop) => None,
            };
            if *self.stopping.borrow() {
                let status = Status::unavailable("the worker is shutting down");
                return self.send(Err(status)).await;
            }
            let Some(event) = next else {
                let status =
                    Status::unavailable(format!("table `{}` is no longer served", self.name));
                return self.send(Err(status)).await;
            };
            match event {
                Ok(TableEvent::Update(update)) => {
                    if subscription.resyncs() > before {
                        resyncs_in_a_row += 1;
                        if resyncs_in_a_row > self.config.max_resyncs_in_a_row {
                            let status = Status::resource_exhausted(format!(
                                "subscriber of table `{}` too slow: fell behind the table's history {resyncs_in_a_row} times in a row; reconnect to resume",
                                self.name
                            ));
                            return self.send(Err(status)).await;
                        }
                    } else {
                        resyncs_in_a_row = 0;
                    }
                    self.send_update(&update).await?;
                }
                Ok(TableEvent::SchemaChange(change)) => {
                    // The columns changed: start over with the new schema's content, as one
                    // atomic replacement.
                    debug!(table = %self.name, step = change.step(), "schema change: resending");
                    let Ok((snapshot, next)) = self.table.subscribe_with(self.options.clone())
                    else {
                        continue;
                    };
                    self.send_snapshot(&snapshot).await?;
                    subscription = next;
                }
                Ok(_) => {}
                Err(error) => {
                    let status = Status::failed_precondition(format!(
                        "table `{}` failed: {error}",
                        self.name
                    ));
                    return self.send(Err(status)).await;
                }
            }
        }
    }

    async fn send(&self, message: Outgoing) -> Result<(), Gone> {
        self.tx.send(message).await.map_err(|_| Gone)
    }

    async fn send_all(&self, messages: Vec<FlightData>) -> Result<(), Gone> {
        for message in messages {
            self.send(Ok(message)).await?;
        }
        Ok(())
    }

    async fn send_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Gone> {
        let snapshot = match &self.columns {
            Some(columns) => match snapshot.project(columns) {
                Ok(projected) => projected,
                Err(error) => return self.send(Err(invalid(&self.name, &error))).await,
            },
            None => snapshot.clone(),
        };
        let step = snapshot.step();
        let schema = snapshot.schema().arrow().clone();
        self.begin_reset(step, &schema).await?;
        // Each chunk's keys go out as row sets made from the chunk's keys as held (runs stay
        // runs: nothing is written out per row).
        for chunk in snapshot.chunks() {
            self.send_rows(step, chunk.batch().clone(), |rows| chunk.key_set_of(rows))
                .await?;
        }
        self.end(step).await
    }

    async fn begin_reset(&mut self, step: Step, schema: &SchemaRef) -> Result<(), Gone> {
        let mut header = Header::new(Kind::Begin, step);
        header.incarnation = Some(self.incarnation.clone());
        header.reset = true;
        let meta = Meta {
            header,
            keys: RowSet::new(),
        };
        let message = self.encoder.schema_with_meta(schema, &meta);
        self.send(Ok(message)).await
    }

    async fn end(&self, step: Step) -> Result<(), Gone> {
        let meta = Meta {
            header: Header::new(Kind::End, step),
            keys: RowSet::new(),
        };
        self.send(Ok(Encoder::meta_only(&meta))).await
    }

    /// Sends the rows of `batch` with their keys (`keys_of(rows)`, positions of `batch`), split
    /// so that no message passes the byte limit.
    async fn send_rows(
        &mut self,
        step: Step,
        batch: RecordBatch,
        keys_of: impl Fn(std::ops::Range<usize>) -> RowSet,
    ) -> Result<(), Gone> {
        for (from, len) in slices(
            &batch,
            self.config.batch_rows,
            self.config.max_message_bytes,
        ) {
            let part = batch.slice(from, len);
            let key_set = keys_of(from..from + len);
            let meta = Meta {
                header: Header::new(Kind::Added, step),
                keys: key_set,
            };
            match self.encoder.batch(&part, &meta) {
                Ok(messages) => self.send_all(messages).await?,
                Err(error) => return self.send(Err(Status::internal(error.to_string()))).await,
            }
        }
        Ok(())
    }

    async fn send_update(&mut self, update: &TableUpdate) -> Result<(), Gone> {
        let update = match &self.columns {
            Some(columns) => match update.project(columns) {
                Ok(projected) => projected,
                Err(error) => return self.send(Err(invalid(&self.name, &error))).await,
            },
            None => update.clone(),
        };
        let step = update.step();
        if update.is_reset() {
            self.begin_reset(step, &update.schema()).await?;
        } else {
            let mut header = Header::new(Kind::Begin, step);
            header.incarnation = Some(self.incarnation.clone());
            header.modified_columns = update
                .modified_columns()
                .into_iter()
                .map(str::to_owned)
                .collect();
            let meta = Meta {
                header,
                keys: RowSet::new(),
            };
            self.send(Ok(Encoder::meta_only(&meta))).await?;
            for keys in key_chunks(update.removed(), self.config.batch_rows) {
                let meta = Meta {
                    header: Header::new(Kind::Removed, step),
                    keys,
                };
                self.send(Ok(Encoder::meta_only(&meta))).await?;
            }
        }
        let added = update.added();
        self.send_rows(step, added.batch().clone(), |rows| added.key_set_of(rows))
            .await?;
        let schema = update.schema();
        for change in update.modified() {
            let Ok(index) = schema.index_of(change.column()) else {
                continue;
            };
            let field = schema.field(index).clone();
            let one = std::sync::Arc::new(Schema::new(vec![field]));
            let options = RecordBatchOptions::new().with_row_count(Some(change.len()));
            let batch = match RecordBatch::try_new_with_options(
                one,
                vec![change.values().clone()],
                &options,
            ) {
                Ok(batch) => batch,
                Err(error) => return self.send(Err(Status::internal(error.to_string()))).await,
            };
            for (from, len) in slices(
                &batch,
                self.config.batch_rows,
                self.config.max_message_bytes,
            ) {
                let part_keys = change.keys().get(from..from + len).unwrap_or_default();
                let Ok(keys) = RowSet::from_sorted_keys(part_keys) else {
                    return self.send(Err(Status::internal("keys out of order"))).await;
                };
                let mut header = Header::new(Kind::Modified, step);
                header.column = Some(change.column().to_owned());
                let meta = Meta { header, keys };
                match self.encoder.batch(&batch.slice(from, len), &meta) {
                    Ok(messages) => self.send_all(messages).await?,
                    Err(error) => {
                        return self.send(Err(Status::internal(error.to_string()))).await;
                    }
                }
            }
        }
        self.end(step).await
    }
}

fn invalid(table: &str, error: &tableshare_core::CoreError) -> Status {
    Status::invalid_argument(format!("table `{table}`: {error}"))
}

/// `(offset, len)` ranges of at most `max_rows` rows whose encoded size stays under half of
/// `max_bytes` (estimated from the batch's memory size per row).
pub(crate) fn slices(
    batch: &RecordBatch,
    max_rows: usize,
    max_bytes: usize,
) -> Vec<(usize, usize)> {
    let rows = batch.num_rows();
    if rows == 0 {
        return Vec::new();
    }
    let bytes_per_row = (batch.get_array_memory_size() / rows).max(1);
    let by_bytes = (max_bytes / 2 / bytes_per_row).max(1);
    let step = max_rows.max(1).min(by_bytes);
    (0..rows)
        .step_by(step)
        .map(|offset| (offset, step.min(rows - offset)))
        .collect()
}
