//! The task behind a [`RemoteTable`](crate::RemoteTable): follows the upstream step by step,
//! and on a disconnect applies the `onDisconnect` policy, reconnects with backoff within the
//! retry window and attempt limit, and resumes from the step it holds (the worker sends only
//! what came after it, or one atomic replacement).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tableshare_core::{AddedRows, LiveTable, TableUpdate};
use tableshare_uri::OnDisconnect;
use tokio::sync::{broadcast, watch};
use tracing::{debug, info};

use crate::client::apply::{Held, LocalShape, to_mirror};
use crate::client::connect::{Exchange, Failure, Target, exchange};
use crate::client::{Change, ClientConfig, SubscriptionState};
use crate::error::RemoteError;
use crate::wire::{Request, Resume};

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// First wait after a disconnect.
const FIRST_BACKOFF: Duration = Duration::from_millis(25);

/// Everything the task owns.
pub(crate) struct Driver {
    pub(crate) target: Target,
    pub(crate) table: String,
    pub(crate) columns: Option<Vec<String>>,
    pub(crate) options: tableshare_uri::SubscriptionOptions,
    pub(crate) config: ClientConfig,
    pub(crate) shape: LocalShape,
    pub(crate) local: LiveTable,
    pub(crate) held: Option<Held>,
    pub(crate) cleared: bool,
    pub(crate) state: watch::Sender<SubscriptionState>,
    pub(crate) latest: watch::Sender<Option<Change>>,
    pub(crate) changes: broadcast::Sender<Change>,
    /// Whether a connection ever delivered a step (until then the state is `Connecting`).
    pub(crate) connected: bool,
}

impl Driver {
    fn request(&self) -> Request {
        Request {
            table: self.table.clone(),
            columns: self.columns.clone(),
            resume: self.held.as_ref().map(|held| Resume {
                incarnation: held.incarnation.clone(),
                step: held.snapshot.step(),
            }),
        }
    }

    /// Runs until the subscription fails (or the handle is dropped and the task aborted).
    /// `open` is a stream already open (the first snapshot was read from it).
    pub(crate) async fn run(mut self, mut open: Option<Exchange>) {
        let label = self.target.label();
        loop {
            let outcome = match open.take() {
                Some(exchange) => self.follow(exchange, &label).await,
                None => Err(Failure {
                    error: Box::new(RemoteError::WorkerDown {
                        worker: label.clone(),
                        table: self.table.clone(),
                        reason: "not connected yet".into(),
                    }),
                    retry: true,
                }),
            };
            let failure = match outcome {
                Ok(()) => Failure {
                    error: Box::new(RemoteError::WorkerDown {
                        worker: label.clone(),
                        table: self.table.clone(),
                        reason: "the worker ended the stream".into(),
                    }),
                    retry: true,
                },
                Err(failure) => failure,
            };
            if !failure.retry {
                self.fail(*failure.error);
                return;
            }
            info!(worker = %label, table = %self.table, error = %*failure.error, "disconnected");
            self.on_disconnect();
            match self.reconnect(&label, *failure.error).await {
                Ok(exchange) => open = Some(exchange),
                Err(error) => {
                    self.fail(error);
                    return;
                }
            }
        }
    }

    /// Applies steps from `exchange` until it fails or ends.
    async fn follow(&mut self, mut exchange: Exchange, label: &str) -> Result<(), Failure> {
        self.state.send_replace(SubscriptionState::Live);
        while let Some(received) = exchange.next_step(label, &self.table).await? {
            self.apply(received, label)?;
        }
        Ok(())
    }

    /// Applies one received step to the mirror and the local table.
    pub(crate) fn apply(
        &mut self,
        received: crate::client::connect::Received,
        label: &str,
    ) -> Result<(), Failure> {
        let protocol = |message: String| Failure {
            error: Box::new(RemoteError::Protocol {
                worker: label.to_owned(),
                table: self.table.clone(),
                message,
            }),
            retry: true,
        };
        let applied = match to_mirror(self.held.as_ref(), received) {
            Ok(applied) => applied,
            Err(error) => {
                // What we hold no longer matches the stream: reload on the next connection.
                self.held = None;
                return Err(protocol(error.to_string()));
            }
        };
        if let Err(source) = self.shape.check(applied.held.snapshot.schema().arrow()) {
            return Err(Failure {
                error: Box::new(RemoteError::Definition {
                    worker: label.to_owned(),
                    table: self.table.clone(),
                    source: Box::new(source),
                }),
                retry: false,
            });
        }
        let local_step = self
            .shape
            .apply(&self.local, &applied, self.cleared)
            .map_err(|e| protocol(format!("applying step locally: {e}")))?;
        self.cleared = false;
        self.connected = true;
        let upstream_step = applied.held.snapshot.step();
        let incarnation = applied.held.incarnation.clone();
        self.held = Some(applied.held);
        self.publish(Some((incarnation, upstream_step)), local_step);
        Ok(())
    }

    fn publish(&self, upstream: Option<(String, u64)>, local_step: u64) {
        let Ok(snapshot) = self.local.snapshot() else {
            return;
        };
        let change = Change {
            upstream_step: upstream.as_ref().map(|(_, step)| *step),
            incarnation: upstream.map(|(incarnation, _)| incarnation),
            local_step,
            snapshot,
        };
        // Broadcast first, then publish as latest: whoever wakes from `wait_for_step(n)` finds
        // every change up to n already in its `changes()` receiver (the other order let a waiter
        // see step n as latest before n's change was broadcast).
        let _ = self.changes.send(change.clone());
        self.latest.send_replace(Some(change));
    }

    fn on_disconnect(&mut self) {
        if self.options.on_disconnect == OnDisconnect::Clear && !self.cleared {
            let schema = self.local.schema().arrow().clone();
            let empty = TableUpdate::reset(0, AddedRows::empty(schema));
            if let Ok(step) = self.local.apply(empty) {
                self.cleared = true;
                self.publish(None, step);
            }
        }
    }

    async fn reconnect(
        &mut self,
        label: &str,
        first: RemoteError,
    ) -> Result<Exchange, RemoteError> {
        let started = Instant::now();
        let window = self.options.retry_window;
        let mut last = first;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let out_of_attempts = self.options.max_retries.is_some_and(|max| attempt > max);
            if out_of_attempts || started.elapsed() > window {
                return Err(RemoteError::RetriesExhausted {
                    worker: label.to_owned(),
                    table: self.table.clone(),
                    attempts: attempt - 1,
                    elapsed: started.elapsed(),
                    window,
                    max_retries: self.options.max_retries,
                    last_error: last.to_string(),
                });
            }
            self.state.send_replace(if self.connected {
                SubscriptionState::Reconnecting { attempt }
            } else {
                SubscriptionState::Connecting
            });
            let backoff = FIRST_BACKOFF
                .saturating_mul(1 << (attempt - 1).min(10))
                .min(MAX_BACKOFF)
                .min(window.saturating_sub(started.elapsed()));
            tokio::time::sleep(backoff).await;
            let request = self.request();
            let result = exchange(&self.target, &request, &self.config).await;
            match result {
                Ok(mut exchange) => {
                    // The connection counts once its first step is applied.
                    match exchange.next_step(label, &self.table).await {
                        Ok(Some(received)) => match self.apply(received, label) {
                            Ok(()) => {
                                debug!(attempt, "reconnected");
                                return Ok(exchange);
                            }
                            Err(failure) if !failure.retry => return Err(*failure.error),
                            Err(failure) => last = *failure.error,
                        },
                        Ok(None) => {}
                        Err(failure) if !failure.retry => return Err(*failure.error),
                        Err(failure) => last = *failure.error,
                    }
                }
                Err(failure) if !failure.retry => return Err(*failure.error),
                Err(failure) => last = *failure.error,
            }
        }
    }

    fn fail(&self, error: RemoteError) {
        let error = Arc::new(error);
        self.local.fail(SharedError(error.clone()));
        self.state.send_replace(SubscriptionState::Failed { error });
    }
}

/// A shared error as the failure cause of the local table.
#[derive(Debug)]
struct SharedError(Arc<RemoteError>);

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
