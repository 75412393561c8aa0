//! Conveniences over the six backend methods, for every backend at once (object_store's
//! `ObjectStore` / extension-trait pattern): implementors never write these.

use arrow_array::ArrayRef;
use async_trait::async_trait;

use crate::backend::{BackendError, TableDataServiceBackend};

/// Conveniences every [`TableDataServiceBackend`] has. They call the backend directly, without
/// the service's checks; use them in tools and tests.
#[async_trait]
pub trait BackendExt: TableDataServiceBackend {
    /// The location keys of `table`, in the backend's order.
    async fn location_keys(
        &self,
        table: &Self::TableKey,
    ) -> Result<Vec<Self::LocationKey>, BackendError> {
        Ok(self
            .table_locations(table)
            .await?
            .into_iter()
            .map(|(location, _)| location)
            .collect())
    }

    /// The rows of `table`: the sum of its locations' sizes.
    async fn table_size(&self, table: &Self::TableKey) -> Result<u64, BackendError> {
        let mut total = 0u64;
        for location in self.location_keys(table).await? {
            total += self.table_location_size(table, &location).await?;
        }
        Ok(total)
    }

    /// Every value of `column` at `location`, in one call.
    async fn location_column(
        &self,
        table: &Self::TableKey,
        location: &Self::LocationKey,
        column: &str,
    ) -> Result<ArrayRef, BackendError> {
        let size = self.table_location_size(table, location).await?;
        let rows = usize::try_from(size)?;
        self.column_values(table, location, column, 0, rows, rows)
            .await
    }
}

impl<B: TableDataServiceBackend + ?Sized> BackendExt for B {}
