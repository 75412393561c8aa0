//! The task behind a service table: it asks the backend (once for a static table; through the
//! subscriptions for a refreshing one), turns each batch of news into one atomic step of the
//! live tables, and fails them with a named error when the backend fails or breaks its contract.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use futures::{StreamExt, TryStreamExt};
use tableshare_core::{LiveTable, LiveTableOptions};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use crate::backend::{LocationEvent, LocationSink, SizeEvent, SizeSink, TableDataServiceBackend};
use crate::error::{Result, TdsError};
use crate::layout::Layout;
use crate::service::Shared;
use crate::table::Constituent;

/// The running state of one table: what its handle holds.
pub(crate) struct Running {
    pub(crate) live: LiveTable,
    pub(crate) constituents: Arc<Mutex<Vec<Constituent>>>,
    pub(crate) task: Option<tokio::task::AbortHandle>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What a table is built from.
#[derive(Clone, Debug)]
pub(crate) struct Spec<K> {
    pub(crate) key: K,
    pub(crate) refreshing: bool,
    pub(crate) columns: Option<Vec<String>>,
    pub(crate) partitioned: bool,
}

struct Driver<B: TableDataServiceBackend> {
    shared: Arc<Shared<B>>,
    layout: Layout<B>,
    live: LiveTable,
    partitioned: bool,
    constituents: Arc<Mutex<Vec<Constituent>>>,
    sizes: UnboundedSender<(usize, SizeEvent)>,
}

/// Builds the table of `spec` up to its first step; a refreshing table gets its task.
pub(crate) async fn start<B: TableDataServiceBackend>(
    shared: Arc<Shared<B>>,
    spec: &Spec<B::TableKey>,
) -> Result<Running> {
    let caller = &shared.caller;
    let schemas = caller.table_schema(&spec.key).await?;
    let layout = Layout::new(
        spec.key.clone(),
        caller.context(&spec.key),
        schemas,
        spec.columns.as_deref(),
    )?;
    let live = LiveTable::new(layout.schema.clone(), LiveTableOptions::default());
    let (sizes, mut size_rx) = mpsc::unbounded_channel();
    let constituents = Arc::new(Mutex::new(Vec::new()));
    let mut driver = Driver {
        shared: shared.clone(),
        layout,
        live: live.clone(),
        partitioned: spec.partitioned,
        constituents: constituents.clone(),
        sizes,
    };
    if !spec.refreshing {
        let entries = caller
            .table_locations(&spec.key, &driver.layout.schemas)
            .await?;
        // The sizes are asked `concurrency` at once (a Parquet location's size is a footer
        // read), and taken in the order the backend listed the locations.
        let key = &spec.key;
        let locations: Vec<B::LocationKey> = entries.iter().map(|(l, _)| l.clone()).collect();
        let sizes: Vec<u64> = futures::stream::iter(
            locations
                .into_iter()
                .map(|location| async move { caller.table_location_size(key, &location).await }),
        )
        .buffered(shared.options.concurrency)
        .try_collect()
        .await?;
        for ((location, values), size) in entries.into_iter().zip(sizes) {
            let index = driver.add_location(location, values, "table_locations")?;
            driver.layout.resize(index, size, "table_location_size")?;
        }
        driver.commit().await?;
        return Ok(Running {
            live,
            constituents,
            task: None,
        });
    }
    let (sink, mut location_rx) = LocationSink::channel();
    let handle = caller
        .guarded(
            &driver.layout.context,
            "subscribe_to_table_locations",
            shared
                .backend()
                .subscribe_to_table_locations(&spec.key, sink),
        )
        .await?;
    driver.pump(&mut location_rx, &mut size_rx).await?;
    driver.commit().await?;
    let task = tokio::spawn(async move {
        let _handle = handle;
        if let Err(error) = driver.run(location_rx, size_rx).await {
            driver.fail(error);
        }
    });
    Ok(Running {
        live,
        constituents,
        task: Some(task.abort_handle()),
    })
}

impl<B: TableDataServiceBackend> Driver<B> {
    async fn run(
        &mut self,
        mut location_rx: UnboundedReceiver<LocationEvent<B::LocationKey>>,
        mut size_rx: UnboundedReceiver<(usize, SizeEvent)>,
    ) -> Result<()> {
        let mut locations_open = true;
        loop {
            tokio::select! {
                event = location_rx.recv(), if locations_open => match event {
                    Some(event) => self.location_event(event).await?,
                    None => locations_open = false,
                },
                Some((index, event)) = size_rx.recv() => self.size_event(index, event)?,
            }
            self.pump(&mut location_rx, &mut size_rx).await?;
            self.commit().await?;
        }
    }

    /// Handles everything already waiting, including the sizes that new locations' size
    /// subscriptions report before returning, so a new location arrives with its rows.
    async fn pump(
        &mut self,
        location_rx: &mut UnboundedReceiver<LocationEvent<B::LocationKey>>,
        size_rx: &mut UnboundedReceiver<(usize, SizeEvent)>,
    ) -> Result<()> {
        loop {
            let mut any = false;
            while let Ok(event) = location_rx.try_recv() {
                any = true;
                self.location_event(event).await?;
            }
            while let Ok((index, event)) = size_rx.try_recv() {
                any = true;
                self.size_event(index, event)?;
            }
            if !any {
                return Ok(());
            }
        }
    }

    async fn location_event(&mut self, event: LocationEvent<B::LocationKey>) -> Result<()> {
        let operation = "subscribe_to_table_locations";
        match event {
            LocationEvent::Added(location, values) => {
                let context = self.layout.context.at(&location);
                let values = crate::calls::check_partition_values(
                    &context,
                    operation,
                    self.layout.schemas.partitioning.as_ref(),
                    values,
                )?;
                let index = self.add_location(location.clone(), values, operation)?;
                let sink = SizeSink::tagged(self.sizes.clone(), index);
                let handle = self
                    .shared
                    .caller
                    .guarded(
                        &context,
                        "subscribe_to_table_location_size",
                        self.shared.backend().subscribe_to_table_location_size(
                            &self.layout.table,
                            &location,
                            sink,
                        ),
                    )
                    .await?;
                if let Some(entry) = self.layout.locations.get_mut(index) {
                    entry.subscription = Some(handle);
                }
            }
            LocationEvent::Retracted(location) => {
                let index = self.layout.retract(&location)?;
                self.shared.cache.forget(&self.layout.table, &location);
                let mut constituents = lock(&self.constituents);
                constituents.retain(|constituent| constituent.index != index);
            }
            LocationEvent::Blink(location) => self.layout.blink(&location)?,
            LocationEvent::Failed(message) => {
                return Err(TdsError::Backend {
                    context: Box::new(self.layout.context.clone()),
                    operation,
                    error: message.into(),
                });
            }
        }
        Ok(())
    }

    fn size_event(&mut self, index: usize, event: SizeEvent) -> Result<()> {
        let operation = "subscribe_to_table_location_size";
        match event {
            SizeEvent::Size(size) => self.layout.resize(index, size, operation),
            SizeEvent::Failed(message) => {
                let context = match self.layout.locations.get(index) {
                    Some(location) => self.layout.context.at(&location.key),
                    None => self.layout.context.clone(),
                };
                Err(TdsError::Backend {
                    context: Box::new(context),
                    operation,
                    error: message.into(),
                })
            }
        }
    }

    fn add_location(
        &mut self,
        location: B::LocationKey,
        values: Option<RecordBatch>,
        operation: &'static str,
    ) -> Result<usize> {
        let index = self
            .layout
            .add(location.clone(), values.clone(), operation)?;
        if self.partitioned {
            let live = LiveTable::new(self.layout.schema.clone(), LiveTableOptions::default());
            if let Some(entry) = self.layout.locations.get_mut(index) {
                entry.constituent = Some(live.clone());
            }
            lock(&self.constituents).push(Constituent::new(
                index,
                location.to_string(),
                values,
                live,
            ));
        }
        Ok(index)
    }

    /// Applies the pending changes as one step: each touched constituent first, then the whole.
    async fn commit(&mut self) -> Result<()> {
        let Some(step) = self.layout.step(&self.shared).await? else {
            return Ok(());
        };
        let refused = |source| TdsError::Table {
            context: Box::new(self.layout.context.clone()),
            error: source,
        };
        for (index, part) in step.parts {
            if let Some(live) = self
                .layout
                .locations
                .get(index)
                .and_then(|location| location.constituent.as_ref())
            {
                live.apply(part).map_err(refused)?;
            }
        }
        self.live.apply(step.whole).map_err(refused)?;
        Ok(())
    }

    fn fail(&self, error: TdsError) {
        tracing::warn!(%error, "data service table failed");
        let error = Arc::new(error);
        for location in &self.layout.locations {
            if let Some(live) = &location.constituent {
                live.fail(SharedError(error.clone()));
            }
        }
        self.live.fail(SharedError(error));
    }
}

/// One error failing several tables at once.
#[derive(Debug)]
pub(crate) struct SharedError(pub(crate) Arc<TdsError>);

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
