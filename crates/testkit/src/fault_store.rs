//! [`FaultStore`]: an `ObjectStore` wrapper that counts, records and sabotages requests.
//!
//! Every request is numbered as it arrives. A fault is armed either for the n-th request from now
//! ([`FaultStore::fail_at`]) or for the next request of a kind, optionally on a path containing a
//! given text ([`FaultStore::fail_next`]); each armed fault fires once. The three faults are the
//! three ways a real store surprises a client: it refuses ([`Fault::Error`]), it does the work
//! but the answer never arrives ([`Fault::LostResponse`]), or it is slow ([`Fault::Delay`]).

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// The kind of a store request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// A put (plain, conditional or multipart).
    Put,
    /// A get of contents (whole or ranges).
    Get,
    /// A get of metadata only.
    Head,
    /// A listing (counted once however many pages it yields).
    List,
    /// A delete (counted once per call, however many paths it names).
    Delete,
    /// A copy or rename.
    Copy,
}

/// What an armed fault does to the request it fires on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request fails without being applied.
    Error,
    /// The request is applied, then reported as failed: the outcome is unknown to the caller.
    LostResponse,
    /// The request waits this long, then proceeds normally.
    Delay(Duration),
}

/// One request as the store saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Its number (0 for the first request the store ever saw).
    pub seq: u64,
    /// Its kind.
    pub op: Op,
    /// The path (for a listing, the prefix; empty for the root).
    pub path: String,
    /// The fault that fired on it, if any.
    pub fault: Option<Fault>,
}

/// Request counts by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Gets of contents.
    pub get: u64,
    /// Gets of metadata only.
    pub head: u64,
    /// Puts.
    pub put: u64,
    /// Listings.
    pub list: u64,
    /// Deletes.
    pub delete: u64,
    /// Copies and renames.
    pub copy: u64,
}

impl Counts {
    /// All requests together.
    pub fn total(&self) -> u64 {
        self.get + self.head + self.put + self.list + self.delete + self.copy
    }
}

#[derive(Debug)]
enum Trigger {
    /// Fires on the request with this sequence number.
    At(u64),
    /// Fires on the next request of this kind whose path contains the text.
    Next(Op, Option<String>),
}

#[derive(Debug, Default)]
struct State {
    armed: Vec<(Trigger, Fault)>,
    log: Vec<Request>,
    counts: Counts,
}

/// An `ObjectStore` wrapper that counts and records requests and injects faults on cue.
#[derive(Debug)]
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    next_seq: AtomicU64,
    state: Mutex<State>,
}

impl FaultStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            next_seq: AtomicU64::new(0),
            state: Mutex::new(State::default()),
        })
    }

    /// The wrapped store, for setting things up behind the wrapper's back.
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the log from the others.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The number the next request will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq.load(Ordering::SeqCst)
    }

    /// Arms `fault` for the request `n` requests from now (0 = the very next request).
    pub fn fail_at(&self, n: u64, fault: Fault) {
        let seq = self.next_seq() + n;
        self.state().armed.push((Trigger::At(seq), fault));
    }

    /// Arms `fault` for the next request of kind `op` whose path contains `path_contains`
    /// (any path when `None`).
    pub fn fail_next(&self, op: Op, path_contains: Option<&str>, fault: Fault) {
        self.state()
            .armed
            .push((Trigger::Next(op, path_contains.map(str::to_owned)), fault));
    }

    /// Disarms every fault that has not fired yet.
    pub fn disarm(&self) {
        self.state().armed.clear();
    }

    /// Request counts since creation or the last [`reset`](Self::reset).
    pub fn counts(&self) -> Counts {
        self.state().counts
    }

    /// Every request since creation or the last [`reset`](Self::reset), in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state().log.clone()
    }

    /// Clears counts and the request log (armed faults stay armed).
    pub fn reset(&self) {
        let mut state = self.state();
        state.counts = Counts::default();
        state.log.clear();
    }

    /// Numbers, counts and logs a request; returns the fault to apply to it, if one fires.
    fn begin(&self, op: Op, path: &str) -> Option<Fault> {
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let mut state = self.state();
        let counter = match op {
            Op::Put => &mut state.counts.put,
            Op::Get => &mut state.counts.get,
            Op::Head => &mut state.counts.head,
            Op::List => &mut state.counts.list,
            Op::Delete => &mut state.counts.delete,
            Op::Copy => &mut state.counts.copy,
        };
        *counter += 1;
        let fires = state.armed.iter().position(|(trigger, _)| match trigger {
            Trigger::At(at) => *at == seq,
            Trigger::Next(kind, text) => {
                *kind == op && text.as_deref().is_none_or(|t| path.contains(t))
            }
        });
        let fault = fires.map(|i| state.armed.remove(i).1);
        state.log.push(Request {
            seq,
            op,
            path: path.to_owned(),
            fault,
        });
        fault
    }

    /// Runs a request future under the fault chosen for it.
    async fn run<T>(
        &self,
        op: Op,
        path: &str,
        request: impl Future<Output = object_store::Result<T>>,
    ) -> object_store::Result<T> {
        match self.begin(op, path) {
            None => request.await,
            Some(Fault::Error) => Err(injected(op, path, "failed before it was applied")),
            Some(Fault::LostResponse) => {
                let _applied = request.await;
                Err(injected(op, path, "was applied but its response was lost"))
            }
            Some(Fault::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                request.await
            }
        }
    }

    /// Applies a fault to a stream-shaped request (list, delete).
    fn run_stream<T: Send + 'static>(
        &self,
        op: Op,
        path: &str,
        request: impl FnOnce() -> BoxStream<'static, object_store::Result<T>>,
    ) -> BoxStream<'static, object_store::Result<T>> {
        match self.begin(op, path) {
            None => request(),
            Some(Fault::Error) => {
                stream::once(futures::future::ready(Err(injected(op, path, "failed")))).boxed()
            }
            Some(Fault::LostResponse) => {
                let path = path.to_owned();
                let inner = request();
                stream::once(async move {
                    // Drive the request to the end so its effects happen, then lose the answer.
                    let _applied: Vec<_> = inner.collect().await;
                    Err(injected(op, &path, "was applied but its response was lost"))
                })
                .boxed()
            }
            Some(Fault::Delay(delay)) => {
                let inner = request();
                stream::once(tokio::time::sleep(delay))
                    .flat_map(move |()| stream::empty())
                    .chain(inner)
                    .boxed()
            }
        }
    }
}

/// The error an injected fault reports: a generic store error, as a real outage would give.
fn injected(op: Op, path: &str, what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "FaultStore",
        source: format!("injected fault: {op:?} of `{path}` {what}").into(),
    }
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.run(
            Op::Put,
            location.as_ref(),
            self.inner.put_opts(location, payload, opts),
        )
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.run(
            Op::Put,
            location.as_ref(),
            self.inner.put_multipart_opts(location, opts),
        )
        .await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let op = if options.head { Op::Head } else { Op::Get };
        self.run(
            op,
            location.as_ref(),
            self.inner.get_opts(location, options),
        )
        .await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.run(
            Op::Get,
            location.as_ref(),
            self.inner.get_ranges(location, ranges),
        )
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let inner = Arc::clone(&self.inner);
        self.run_stream(Op::Delete, "", move || inner.delete_stream(locations))
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let prefix = prefix.cloned();
        let name = prefix.as_ref().map(|p| p.to_string()).unwrap_or_default();
        self.run_stream(Op::List, &name, move || inner.list(prefix.as_ref()))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let prefix = prefix.cloned();
        let offset = offset.clone();
        let name = prefix.as_ref().map(|p| p.to_string()).unwrap_or_default();
        self.run_stream(Op::List, &name, move || {
            inner.list_with_offset(prefix.as_ref(), &offset)
        })
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let name = prefix.map(|p| p.to_string()).unwrap_or_default();
        self.run(Op::List, &name, self.inner.list_with_delimiter(prefix))
            .await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.run(
            Op::Copy,
            to.as_ref(),
            self.inner.copy_opts(from, to, options),
        )
        .await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.run(
            Op::Copy,
            to.as_ref(),
            self.inner.rename_opts(from, to, options),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutMode};

    fn store() -> Arc<FaultStore> {
        FaultStore::new(Arc::new(InMemory::new()))
    }

    async fn exists(store: &FaultStore, path: &str) -> bool {
        store.inner().head(&Path::from(path)).await.is_ok()
    }

    /// Each fault, on a put: (fault, the put reports success, the object exists afterwards).
    #[tokio::test]
    async fn faults_on_put() {
        let cases = [
            (None, true, true),
            (Some(Fault::Error), false, false),
            (Some(Fault::LostResponse), false, true),
            (Some(Fault::Delay(Duration::from_millis(5))), true, true),
        ];
        for (fault, ok, written) in cases {
            let store = store();
            if let Some(fault) = fault {
                store.fail_at(0, fault);
            }
            let result = store
                .put_opts(
                    &Path::from("x"),
                    PutPayload::from_static(b"1"),
                    PutMode::Create.into(),
                )
                .await;
            assert_eq!(result.is_ok(), ok, "{fault:?}: {result:?}");
            assert_eq!(exists(&store, "x").await, written, "{fault:?}");
            assert_eq!(store.requests()[0].fault, fault);
        }
    }

    #[tokio::test]
    async fn fail_next_matches_kind_and_path_and_fires_once() {
        let store = store();
        store.fail_next(Op::Put, Some("_versions"), Fault::Error);
        store
            .put(&Path::from("data/a"), PutPayload::from_static(b"a"))
            .await
            .unwrap();
        assert!(
            store
                .put(&Path::from("t/_versions/1"), PutPayload::from_static(b"m"))
                .await
                .is_err()
        );
        store
            .put(&Path::from("t/_versions/1"), PutPayload::from_static(b"m"))
            .await
            .unwrap();
        let counts = store.counts();
        assert_eq!((counts.put, counts.total()), (3, 3));
    }

    #[tokio::test]
    async fn streams_fail_and_lose_responses() {
        let store = store();
        store
            .put(&Path::from("d/a"), PutPayload::from_static(b"a"))
            .await
            .unwrap();
        store.fail_next(Op::List, None, Fault::Error);
        assert!(store.list(None).try_collect::<Vec<_>>().await.is_err());
        assert_eq!(
            store
                .list(None)
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
                .len(),
            1
        );

        store.fail_next(Op::Delete, None, Fault::LostResponse);
        assert!(store.delete(&Path::from("d/a")).await.is_err());
        assert!(!exists(&store, "d/a").await, "the delete was applied");
        assert_eq!(store.counts().list, 2);
        assert_eq!(store.counts().delete, 1);
    }
}
