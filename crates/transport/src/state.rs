//! What the local catalog remembers about sharing: for a published table its cloud address, for
//! a replica the org public key it pinned. Stored as `sharing/<table id>.json` beside the
//! catalog (one small object per table, replaced whole), so the storage format is unchanged.

use std::sync::Arc;

use bytes::Bytes;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tableshare_storage::format::StoreRoot;
use tableshare_storage::{Catalog, StorageError};
use uuid::Uuid;

use crate::error::{Result, TransportError};
use crate::layout::Access;

/// The sharing record of one local table or replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LocalShare {
    /// The canonical cloud address (no version).
    pub(crate) address: String,
    /// The table's access level.
    pub(crate) access: Access,
    /// The org's Ed25519 public key (hex), pinned when the replica was made or the table
    /// published.
    pub(crate) public_key: String,
}

fn root(catalog: &Catalog) -> (Arc<dyn ObjectStore>, StoreRoot) {
    let (store, prefix) = catalog.location();
    let root = StoreRoot::new(Arc::clone(&store), prefix);
    (store, root)
}

fn rel(table_id: Uuid) -> String {
    format!("sharing/{table_id}.json")
}

/// The record of `table_id`, if any.
pub(crate) async fn read(catalog: &Catalog, table_id: Uuid) -> Result<Option<LocalShare>> {
    let (_, root) = root(catalog);
    let name = rel(table_id);
    match root.get_opt(&name).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            TransportError::Storage(StorageError::Serialize {
                what: "sharing record",
                source: e,
            })
        }),
    }
}

/// Writes (replaces) the record of `table_id`.
pub(crate) async fn write(catalog: &Catalog, table_id: Uuid, share: &LocalShare) -> Result<()> {
    let (store, root) = root(catalog);
    let name = rel(table_id);
    let bytes = serde_json::to_vec(share).map_err(|source| StorageError::Serialize {
        what: "sharing record",
        source,
    })?;
    store
        .put(
            &root.path(&name),
            PutPayload::from_bytes(Bytes::from(bytes)),
        )
        .await
        .map_err(|source| StorageError::Store {
            operation: "put",
            path: name,
            source,
        })?;
    Ok(())
}
