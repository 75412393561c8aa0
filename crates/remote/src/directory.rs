//! The worker directory: where workers register so that `pq://NAME/…` and `pq://SERIAL/…`
//! resolve to an address.
//!
//! A directory is a folder of small JSON entries, `workers/SERIAL.json`, on any object store:
//! the embedded default is a folder under the home (local disk), and a shared one on an
//! object-store root (S3, …) lets workers on different machines find each other with no extra
//! service. A worker rewrites its entry every heartbeat; an entry whose last beat is older than
//! three intervals (plus a second of clock allowance) is *stale*, and a stale worker counts as
//! down. The heartbeat time is written in the entry by the worker itself, so no store's
//! modification-time resolution matters.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tableshare_uri::WorkerRef;

use crate::error::{RemoteError, Result};

/// Clock allowance between machines when judging staleness.
const CLOCK_ALLOWANCE_MS: u64 = 1_000;

/// One worker's registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerEntry {
    /// The worker's name.
    pub name: String,
    /// The worker's serial.
    pub serial: u64,
    /// Where it listens (`host:port`).
    pub address: String,
    /// Whether it serves TLS.
    pub tls: bool,
    /// When it last beat, in milliseconds since the Unix epoch.
    pub heartbeat_ms: u64,
    /// How often it beats, in milliseconds.
    pub interval_ms: u64,
    /// Its process id, for operators.
    pub pid: u32,
}

impl WorkerEntry {
    /// An entry beating now.
    pub fn new(name: &str, serial: u64, address: SocketAddr, tls: bool, every: Duration) -> Self {
        Self {
            name: name.to_owned(),
            serial,
            address: address.to_string(),
            tls,
            heartbeat_ms: now_ms(),
            interval_ms: u64::try_from(every.as_millis()).unwrap_or(u64::MAX),
            pid: std::process::id(),
        }
    }

    /// Records a beat now.
    pub fn touch(&mut self) {
        self.heartbeat_ms = now_ms();
    }

    /// Whether the entry's last beat is recent enough for the worker to count as up.
    pub fn is_up(&self) -> bool {
        let limit = self
            .interval_ms
            .saturating_mul(3)
            .saturating_add(CLOCK_ALLOWANCE_MS);
        now_ms().saturating_sub(self.heartbeat_ms) <= limit
    }

    /// Whether `worker` names this entry.
    pub fn matches(&self, worker: &WorkerRef) -> bool {
        match worker {
            WorkerRef::Name(name) => &self.name == name,
            WorkerRef::Serial(serial) => self.serial == *serial,
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A worker directory on an object store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Directory {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    location: String,
}

impl Directory {
    /// The embedded default: a folder on local disk (the CLI uses `HOME/workers`), created if
    /// needed.
    ///
    /// # Errors
    ///
    /// [`RemoteError::Directory`] if the folder cannot be created.
    pub fn local(dir: impl AsRef<std::path::Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let error = |message: String| RemoteError::Directory {
            location: dir.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| error(e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(dir).map_err(|e| error(e.to_string()))?;
        Ok(Self {
            store: Arc::new(store),
            prefix: Path::default(),
            location: dir.display().to_string(),
        })
    }

    /// A shared directory under `prefix` of `store` (for instance an S3 bucket every machine
    /// can reach).
    pub fn on_store(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self {
            location: format!("{store}/{prefix}"),
            store,
            prefix: Path::from(prefix),
        }
    }

    fn entry_path(&self, serial: u64) -> Path {
        self.prefix
            .clone()
            .join("workers")
            .join(format!("{serial}.json").as_str())
    }

    fn error(&self, message: impl std::fmt::Display) -> RemoteError {
        RemoteError::Directory {
            location: self.location.clone(),
            message: message.to_string(),
        }
    }

    /// Writes (or refreshes) `entry`.
    ///
    /// # Errors
    ///
    /// [`RemoteError::Directory`] if the store refuses the write.
    pub async fn register(&self, entry: &WorkerEntry) -> Result<()> {
        let bytes = serde_json::to_vec(entry).map_err(|e| self.error(e))?;
        self.store
            .put(&self.entry_path(entry.serial), PutPayload::from(bytes))
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Removes the entry of `serial` (absent is fine).
    ///
    /// # Errors
    ///
    /// [`RemoteError::Directory`] if the store refuses the delete.
    pub async fn deregister(&self, serial: u64) -> Result<()> {
        match self.store.delete(&self.entry_path(serial)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(self.error(error)),
        }
    }

    /// Every registered worker, by serial; unreadable entries are skipped (a half-written or
    /// foreign file never hides the others).
    ///
    /// # Errors
    ///
    /// [`RemoteError::Directory`] if the store cannot be listed.
    pub async fn list(&self) -> Result<Vec<WorkerEntry>> {
        let prefix = self.prefix.clone().join("workers");
        let metas: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.error(e))?;
        let mut entries = Vec::with_capacity(metas.len());
        for meta in metas {
            if meta.location.extension() != Some("json") {
                continue;
            }
            let Ok(got) = self.store.get(&meta.location).await else {
                continue;
            };
            let Ok(bytes) = got.bytes().await else {
                continue;
            };
            if let Ok(entry) = serde_json::from_slice::<WorkerEntry>(&bytes) {
                entries.push(entry);
            }
        }
        entries.sort_by_key(|e| e.serial);
        Ok(entries)
    }

    /// The address of `worker`: the freshest entry of that name or serial that is up.
    ///
    /// # Errors
    ///
    /// [`RemoteError::WorkerDown`] (naming `table`) when no entry matches or every match is
    /// stale; [`RemoteError::Directory`] if the store cannot be read.
    pub async fn resolve(&self, worker: &WorkerRef, table: &str) -> Result<WorkerEntry> {
        let entries = self.list().await?;
        let mut matching: Vec<_> = entries.into_iter().filter(|e| e.matches(worker)).collect();
        matching.sort_by_key(|e| std::cmp::Reverse(e.heartbeat_ms));
        let shown = worker_label(worker);
        match matching.iter().find(|e| e.is_up()) {
            Some(entry) => Ok(entry.clone()),
            None => Err(RemoteError::WorkerDown {
                worker: shown,
                table: table.to_owned(),
                reason: if matching.is_empty() {
                    format!(
                        "not registered in the worker directory at `{}`",
                        self.location
                    )
                } else {
                    "its directory entry is stale (no heartbeat)".to_owned()
                },
            }),
        }
    }
}

/// How a worker reference is shown in messages.
pub(crate) fn worker_label(worker: &WorkerRef) -> String {
    match worker {
        WorkerRef::Name(name) => name.clone(),
        WorkerRef::Serial(serial) => serial.to_string(),
    }
}
