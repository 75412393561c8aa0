//! Shared by the data-service tests: seed 002's sample data, a backend wrapper that counts calls
//! and misbehaves on demand, and helpers to wait for a live table's next step.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array,
    Int64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt16Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use tableshare_core::LiveTable;
use tableshare_tds::{
    BackendError, LocationEntry, LocationSink, MemoryBackend, MemoryTable, SizeSink,
    SubscriptionHandle, TableDataServiceBackend, TableSchemas,
};

/// Seed 002's location data: two rows of every column type the seed uses (the partitioning
/// columns are not part of it). `Char` is Deephaven's char as uint16; the datetimes are
/// 2024-10-01 12:30 and 12:45 New York time.
pub(crate) fn location_data() -> RecordBatch {
    let utc = Some("UTC".into());
    let schema = Arc::new(Schema::new(vec![
        Field::new("Boolean", DataType::Boolean, true),
        Field::new("Byte", DataType::Int8, true),
        Field::new("Char", DataType::UInt16, true),
        Field::new("Short", DataType::Int16, true),
        Field::new("Int", DataType::Int32, true),
        Field::new("Long", DataType::Int64, true),
        Field::new("NPLong", DataType::Int64, true),
        Field::new("Float", DataType::Float32, true),
        Field::new("Double", DataType::Float64, true),
        Field::new("String", DataType::Utf8, true),
        Field::new(
            "Datetime",
            DataType::Timestamp(TimeUnit::Nanosecond, utc.clone()),
            true,
        ),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(vec![true, false])),
        Arc::new(Int8Array::from(vec![1, -1])),
        Arc::new(UInt16Array::from(vec![u16::from(b'-'), u16::from(b'1')])),
        Arc::new(Int16Array::from(vec![1, -1])),
        Arc::new(Int32Array::from(vec![1, -1])),
        Arc::new(Int64Array::from(vec![1, -1])),
        Arc::new(Int64Array::from(vec![1, -1])),
        Arc::new(Float32Array::from(vec![1.01, -1.01])),
        Arc::new(Float64Array::from(vec![1.01, -1.01])),
        Arc::new(StringArray::from(vec!["foo", "bar"])),
        Arc::new(
            TimestampNanosecondArray::from(vec![
                1_727_800_200_000_000_000,
                1_727_801_100_000_000_000,
            ])
            .with_timezone_opt(utc),
        ),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

/// The partitioning schema of the seed: Ticker, Exchange.
pub(crate) fn partitioning_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("Ticker", DataType::Utf8, true),
        Field::new("Exchange", DataType::Utf8, true),
    ]))
}

/// The seed's `generate_partitioning_values`.
pub(crate) fn partition_values(ticker: &str, exchange: &str) -> RecordBatch {
    RecordBatch::try_new(
        partitioning_schema(),
        vec![
            Arc::new(StringArray::from(vec![ticker])),
            Arc::new(StringArray::from(vec![exchange])),
        ],
    )
    .unwrap()
}

/// A backend holding the seed's table "sample" (no locations yet) and its handle.
pub(crate) fn seed_backend() -> (MemoryBackend, MemoryTable) {
    let backend = MemoryBackend::new();
    let table = backend
        .add_table(
            "sample",
            MemoryTable::new(location_data().schema(), Some(partitioning_schema())),
        )
        .unwrap();
    (backend, table)
}

/// The seed's `add_ticker_data`: a new location with the two sample rows, or two more rows
/// appended to an existing one.
pub(crate) fn add_ticker_data(table: &MemoryTable, ticker: &str, exchange: &str) {
    let key = format!("{ticker}:{exchange}");
    if table.append(&key, location_data()).is_err() {
        table
            .add_location(
                key,
                Some(partition_values(ticker, exchange)),
                location_data(),
            )
            .unwrap();
    }
}

/// The rows a table over seed data must hold: for each (ticker, exchange, copies) in order, the
/// partition values then the sample rows, `copies` times.
pub(crate) fn expected_rows(locations: &[(&str, &str, usize)]) -> RecordBatch {
    let data = location_data();
    let mut fields = partitioning_schema().fields().to_vec();
    fields.extend(data.schema().fields().iter().cloned());
    let schema = Arc::new(Schema::new(fields));
    let mut batches = Vec::new();
    for (ticker, exchange, copies) in locations {
        for _ in 0..*copies {
            let rows = data.num_rows();
            let mut columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(vec![*ticker; rows])),
                Arc::new(StringArray::from(vec![*exchange; rows])),
            ];
            columns.extend(data.columns().iter().cloned());
            batches.push(RecordBatch::try_new(schema.clone(), columns).unwrap());
        }
    }
    arrow_select::concat::concat_batches(&schema, &batches).unwrap()
}

/// The table's rows now, as one batch.
pub(crate) fn rows(table: &LiveTable) -> RecordBatch {
    table.snapshot().unwrap().concat().unwrap()
}

/// Waits (bounded) until `table` reaches a step after `after`; returns the step.
pub(crate) async fn next_step(table: &LiveTable, after: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let step = table.step();
        if step > after {
            return step;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "table stuck at step {step}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits (bounded) until `table` has failed; returns the message.
pub(crate) async fn failure(table: &LiveTable) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(error) = table.failure() {
            return error.to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "table did not fail");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One `column_values` call: (location, column, offset, min_rows, max_rows).
pub(crate) type Call = (String, String, u64, usize, usize);

/// How a [`Faulty`] backend misbehaves.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Fault {
    /// It does not.
    None,
    /// `table_locations` and the location subscription give two rows of partition values.
    TwoPartitionRows,
    /// `column_values` gives one row fewer than asked.
    ShortColumn,
    /// `column_values` gives the values cast to another type.
    WrongType,
    /// `table_location_size` and size subscriptions report one row fewer each time.
    ShrinkingSize,
    /// `column_values` fails with this message.
    Error(String),
    /// `column_values` never answers.
    Hang,
    /// `column_values` panics.
    Panic,
}

/// A [`MemoryBackend`] that counts `column_values` calls (with their offsets and row bounds)
/// and misbehaves as told.
#[derive(Debug, Clone)]
pub(crate) struct Faulty {
    pub(crate) inner: MemoryBackend,
    pub(crate) fault: Arc<Mutex<Fault>>,
    pub(crate) calls: Arc<Mutex<Vec<Call>>>,
    pub(crate) in_flight: Arc<AtomicUsize>,
    pub(crate) max_in_flight: Arc<AtomicUsize>,
    pub(crate) delay: Duration,
}

impl Faulty {
    pub(crate) fn new(inner: MemoryBackend) -> Self {
        Self {
            inner,
            fault: Arc::new(Mutex::new(Fault::None)),
            calls: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight: Arc::default(),
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn fault(&self) -> Fault {
        self.fault.lock().unwrap().clone()
    }

    /// The `column_values` calls so far: (location, column, offset, min_rows, max_rows).
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl TableDataServiceBackend for Faulty {
    type TableKey = String;
    type LocationKey = String;

    fn name(&self) -> String {
        "faulty".into()
    }

    async fn table_schema(&self, table: &String) -> Result<TableSchemas, BackendError> {
        self.inner.table_schema(table).await
    }

    async fn table_locations(
        &self,
        table: &String,
    ) -> Result<Vec<LocationEntry<String>>, BackendError> {
        let mut entries = self.inner.table_locations(table).await?;
        if self.fault() == Fault::TwoPartitionRows {
            for (_, values) in &mut entries {
                if let Some(batch) = values {
                    *values = Some(arrow_select::concat::concat_batches(
                        &batch.schema(),
                        [&*batch, &*batch],
                    )?);
                }
            }
        }
        Ok(entries)
    }

    async fn table_location_size(
        &self,
        table: &String,
        location: &String,
    ) -> Result<u64, BackendError> {
        self.inner.table_location_size(table, location).await
    }

    async fn column_values(
        &self,
        table: &String,
        location: &String,
        column: &str,
        offset: u64,
        min_rows: usize,
        max_rows: usize,
    ) -> Result<ArrayRef, BackendError> {
        self.calls.lock().unwrap().push((
            location.clone(),
            column.to_string(),
            offset,
            min_rows,
            max_rows,
        ));
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let values = self
            .inner
            .column_values(table, location, column, offset, min_rows, max_rows)
            .await?;
        match self.fault() {
            Fault::ShortColumn => Ok(values.slice(0, values.len().saturating_sub(1))),
            Fault::WrongType => Ok(arrow_cast::cast(&values, &DataType::Utf8)?),
            Fault::Error(message) => Err(message.into()),
            Fault::Hang => std::future::pending().await,
            Fault::Panic => panic!("column_values exploded"),
            _ => Ok(values),
        }
    }

    async fn subscribe_to_table_locations(
        &self,
        table: &String,
        sink: LocationSink<String>,
    ) -> Result<SubscriptionHandle, BackendError> {
        if self.fault() == Fault::TwoPartitionRows {
            for (location, values) in self.table_locations(table).await? {
                sink.add(location, values);
            }
            return Ok(SubscriptionHandle::noop());
        }
        self.inner.subscribe_to_table_locations(table, sink).await
    }

    async fn subscribe_to_table_location_size(
        &self,
        table: &String,
        location: &String,
        sink: SizeSink,
    ) -> Result<SubscriptionHandle, BackendError> {
        if self.fault() == Fault::ShrinkingSize {
            let size = self.inner.table_location_size(table, location).await?;
            sink.size(size);
            sink.size(size.saturating_sub(1));
            return Ok(SubscriptionHandle::noop());
        }
        self.inner
            .subscribe_to_table_location_size(table, location, sink)
            .await
    }
}
