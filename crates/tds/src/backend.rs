//! The backend trait: what an implementor of a data service writes, and nothing more.
//!
//! This is the Rust form of seed 002's `TableDataServiceBackend`. The seed's success and failure
//! callbacks become `Result` return values; its subscription callbacks become sinks
//! ([`LocationSink`], [`SizeSink`]) that a backend may call from any thread, and the returned
//! unsubscribe function becomes a [`SubscriptionHandle`] that cancels on drop. Conveniences built
//! on the six methods live in [`BackendExt`](crate::BackendExt), so implementors never write them.

use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use tokio::sync::mpsc;

/// The error a backend returns: any error, kept whole (the service wraps it with the backend,
/// table, location and column it concerns).
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// What a table key or a table-location key must be: hashable, comparable, printable (the
/// service names keys in its errors) and shareable between threads. Every type with these
/// traits is a key; there is nothing to implement.
pub trait Key: Hash + Eq + Clone + Display + Debug + Send + Sync + 'static {}

impl<T: Hash + Eq + Clone + Display + Debug + Send + Sync + 'static> Key for T {}

/// The schemas of a table: the data columns a location stores, and optionally the partitioning
/// columns whose values each location carries once (seed 002's `(pa.Schema, Optional[pa.Schema])`).
#[derive(Clone, Debug, PartialEq)]
pub struct TableSchemas {
    /// The columns [`column_values`](TableDataServiceBackend::column_values) serves.
    pub data: SchemaRef,
    /// The partitioning columns, or `None` when the table has none.
    pub partitioning: Option<SchemaRef>,
}

impl TableSchemas {
    /// The schemas `data` and `partitioning`.
    pub fn new(data: SchemaRef, partitioning: Option<SchemaRef>) -> Self {
        Self { data, partitioning }
    }
}

/// A location as a backend announces it: its key and its partition values, one row in the
/// partitioning schema (`None` when the table has no partitioning columns).
pub type LocationEntry<L> = (L, Option<RecordBatch>);

/// Where a backend sends the locations of a table it was asked to watch.
///
/// Cheap to clone, callable from any thread or task, never blocks. Calls after the subscriber
/// went away are ignored.
#[derive(Debug)]
pub struct LocationSink<L> {
    sender: mpsc::UnboundedSender<LocationEvent<L>>,
}

impl<L> Clone for LocationSink<L> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
        }
    }
}

/// What a [`LocationSink`] carries (the service's side of it).
#[derive(Debug)]
pub enum LocationEvent<L> {
    /// A location exists (the existing ones first, then each new one).
    Added(L, Option<RecordBatch>),
    /// A location was withdrawn: its rows leave the table in one step.
    Retracted(L),
    /// A location was marked blink: each size step replaces its rows.
    Blink(L),
    /// The subscription failed; the message says why.
    Failed(String),
}

impl<L> LocationSink<L> {
    /// A sink and the receiver its events arrive on.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<LocationEvent<L>>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self { sender }, receiver)
    }

    /// Announces a location with its partition values (seed 002's `location_cb`).
    pub fn add(&self, location: L, partition_values: Option<RecordBatch>) {
        let _ = self
            .sender
            .send(LocationEvent::Added(location, partition_values));
    }

    /// Withdraws a location announced before; its rows leave the table in one step (beyond the
    /// original, which is append-only).
    pub fn retract(&self, location: L) {
        let _ = self.sender.send(LocationEvent::Retracted(location));
    }

    /// Marks a location blink: from now on each size it reports replaces the location's rows by
    /// the rows that arrived since the previous size.
    pub fn blink(&self, location: L) {
        let _ = self.sender.send(LocationEvent::Blink(location));
    }

    /// Fails the subscription (seed 002's `failure_cb`); the tables built on it fail with
    /// `message`.
    pub fn fail(&self, message: impl Into<String>) {
        let _ = self.sender.send(LocationEvent::Failed(message.into()));
    }

    /// Whether the subscriber is gone (a backend may stop watching then).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

/// Where a backend sends the sizes of one location it was asked to watch.
///
/// Cheap to clone, callable from any thread or task, never blocks. Calls after the subscriber
/// went away are ignored.
#[derive(Clone)]
pub struct SizeSink {
    send: Arc<dyn Fn(SizeEvent) -> bool + Send + Sync>,
}

/// What a [`SizeSink`] carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeEvent {
    /// The location now holds this many rows (never fewer than before).
    Size(u64),
    /// The subscription failed; the message says why.
    Failed(String),
}

impl SizeSink {
    /// A sink and the receiver its events arrive on.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<SizeEvent>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let send = Arc::new(move |event| sender.send(event).is_ok());
        (Self { send }, receiver)
    }

    /// A sink whose events arrive on `sender` labelled with `tag` (the service's own use: one
    /// channel for the sizes of every location of a table).
    pub(crate) fn tagged(sender: mpsc::UnboundedSender<(usize, SizeEvent)>, tag: usize) -> Self {
        let send = Arc::new(move |event| sender.send((tag, event)).is_ok());
        Self { send }
    }

    /// Reports the location's current size in rows (seed 002's `size_cb`).
    pub fn size(&self, rows: u64) {
        (self.send)(SizeEvent::Size(rows));
    }

    /// Fails the subscription (seed 002's `failure_cb`).
    pub fn fail(&self, message: impl Into<String>) {
        (self.send)(SizeEvent::Failed(message.into()));
    }
}

impl Debug for SizeSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SizeSink").finish_non_exhaustive()
    }
}

/// A running subscription; dropping it cancels the subscription (seed 002's unsubscribe
/// function, called for you).
#[must_use = "dropping the handle cancels the subscription"]
pub struct SubscriptionHandle {
    cancel: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl SubscriptionHandle {
    /// A handle that runs `cancel` once when dropped.
    pub fn new(cancel: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self {
            cancel: Some(Box::new(cancel)),
        }
    }

    /// A handle that aborts a polling task when dropped.
    pub fn from_task(task: tokio::task::JoinHandle<()>) -> Self {
        Self::new(move || task.abort())
    }

    /// A handle with nothing to cancel (a backend whose sink needs no unregistering).
    pub fn noop() -> Self {
        Self { cancel: None }
    }
}

impl Drop for SubscriptionHandle {
    fn drop(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            cancel();
        }
    }
}

impl Debug for SubscriptionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionHandle")
            .field("active", &self.cancel.is_some())
            .finish()
    }
}

/// A data service: the six methods of seed 002's `TableDataServiceBackend`, async.
///
/// The service checks everything a backend says (see the crate docs) and time-limits every call,
/// so a backend bug fails a table with an error naming it, never a hang or a wrong row. Run
/// [`conformance::run_all`](crate::conformance::run_all) in your backend's tests.
///
/// # Example
///
/// A backend serving one table of one unpartitioned location, `n` rows of `0..n`:
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array, RecordBatch};
/// use arrow_schema::{DataType, Field, Schema};
/// use async_trait::async_trait;
/// use tableshare_tds::{
///     BackendError, LocationEntry, LocationSink, SizeSink, SubscriptionHandle,
///     TableDataServiceBackend, TableSchemas,
/// };
///
/// #[derive(Debug)]
/// struct Counting(u64);
///
/// #[async_trait]
/// impl TableDataServiceBackend for Counting {
///     type TableKey = String;
///     type LocationKey = String;
///
///     async fn table_schema(&self, _: &String) -> Result<TableSchemas, BackendError> {
///         let data = Schema::new(vec![Field::new("n", DataType::Int64, false)]);
///         Ok(TableSchemas::new(Arc::new(data), None))
///     }
///     async fn table_locations(&self, _: &String) -> Result<Vec<LocationEntry<String>>, BackendError> {
///         Ok(vec![("only".to_string(), None)])
///     }
///     async fn table_location_size(&self, _: &String, _: &String) -> Result<u64, BackendError> {
///         Ok(self.0)
///     }
///     async fn column_values(
///         &self, _: &String, _: &String, _: &str, offset: u64, min_rows: usize, _max: usize,
///     ) -> Result<ArrayRef, BackendError> {
///         let start = offset as i64;
///         Ok(Arc::new(Int64Array::from_iter_values(start..start + min_rows as i64)))
///     }
///     async fn subscribe_to_table_locations(
///         &self, table: &String, sink: LocationSink<String>,
///     ) -> Result<SubscriptionHandle, BackendError> {
///         for (location, values) in self.table_locations(table).await? {
///             sink.add(location, values);
///         }
///         Ok(SubscriptionHandle::noop())
///     }
///     async fn subscribe_to_table_location_size(
///         &self, _: &String, _: &String, sink: SizeSink,
///     ) -> Result<SubscriptionHandle, BackendError> {
///         sink.size(self.0);
///         Ok(SubscriptionHandle::noop())
///     }
/// }
/// ```
#[async_trait]
pub trait TableDataServiceBackend: Debug + Send + Sync + 'static {
    /// The backend's table key (seed 002's `TableKey`).
    type TableKey: Key;
    /// The backend's table-location key (seed 002's `TableLocationKey`).
    type LocationKey: Key;

    /// The name the service uses for this backend in its errors. Defaults to the type's name.
    fn name(&self) -> String {
        std::any::type_name::<Self>().to_string()
    }

    /// The data schema and the optional partitioning schema of `table`.
    async fn table_schema(&self, table: &Self::TableKey) -> Result<TableSchemas, BackendError>;

    /// The locations of `table` now, each with its partition values (one row in the
    /// partitioning schema, `None` when there are no partitioning columns).
    async fn table_locations(
        &self,
        table: &Self::TableKey,
    ) -> Result<Vec<LocationEntry<Self::LocationKey>>, BackendError>;

    /// How many rows `location` of `table` holds now.
    async fn table_location_size(
        &self,
        table: &Self::TableKey,
        location: &Self::LocationKey,
    ) -> Result<u64, BackendError>;

    /// The values of `column` for rows `offset..` of `location`: one Arrow array of the column's
    /// type with between `min_rows` and `max_rows` rows (both inclusive).
    async fn column_values(
        &self,
        table: &Self::TableKey,
        location: &Self::LocationKey,
        column: &str,
        offset: u64,
        min_rows: usize,
        max_rows: usize,
    ) -> Result<ArrayRef, BackendError>;

    /// Sends every existing location of `table` to `sink` before returning, then each new one
    /// (and retractions, blink marks, a failure) until the handle is dropped.
    async fn subscribe_to_table_locations(
        &self,
        table: &Self::TableKey,
        sink: LocationSink<Self::LocationKey>,
    ) -> Result<SubscriptionHandle, BackendError>;

    /// Sends the current size of `location` to `sink` before returning, then each new size until
    /// the handle is dropped.
    async fn subscribe_to_table_location_size(
        &self,
        table: &Self::TableKey,
        location: &Self::LocationKey,
        sink: SizeSink,
    ) -> Result<SubscriptionHandle, BackendError>;
}
