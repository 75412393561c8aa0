//! [`Transport`]: the handle that shares tables between one local catalog and the cloud roots
//! of a [`CloudConfig`]. The operations themselves live in their own files (`publish`,
//! `pull`, `admin`); this file holds what they share: resolving addresses to cloud tables,
//! keys, and progress.

use std::collections::HashMap;
use std::sync::Mutex;

use tableshare_storage::format::{CreateOutcome, StoreRoot};
use tableshare_storage::{Catalog, StorageError};
use tableshare_uri::CloudUri;

use crate::config::{CloudConfig, CloudRoot, open_root};
use crate::error::{Result, TransportError};
use crate::keys::OrgKeys;
use crate::layout::{CloudTable, org_key_path};
use crate::progress::{ProgressEvent, ProgressFn};

/// How many files move at once.
const DEFAULT_PARALLELISM: usize = 8;

/// Objects at least this big are uploaded in parts.
const DEFAULT_MULTIPART_THRESHOLD: u64 = 32 << 20;

/// Shares the tables of one local catalog through the cloud roots of a [`CloudConfig`].
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Int64Array, RecordBatch};
/// use arrow_schema::{DataType, Field, Schema};
/// use object_store::memory::InMemory;
/// use tableshare_core::TableSchema;
/// use tableshare_storage::Catalog;
/// use tableshare_transport::{Access, CloudConfig, Transport};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cloud = CloudConfig::with_store(Arc::new(InMemory::new()), "").with_api_key("secret");
/// let alice = Transport::new(Catalog::in_memory(), cloud.clone());
/// let arrow = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
/// let t = alice.catalog().create_table("t", &TableSchema::unpartitioned(arrow.clone())?).await?;
/// t.insert(&RecordBatch::try_new(arrow.clone(), vec![Arc::new(Int64Array::from(vec![1, 2]))])?).await?;
/// let uri = alice.publish("t", "pxt://alice/shared.t", Access::Public).await?;
/// assert_eq!(uri.to_string(), "pxt://alice/shared.t");
///
/// // Bob needs no key to replicate a public table.
/// let bob = Transport::new(Catalog::in_memory(), cloud.without_api_key());
/// bob.replicate("pxt://alice/shared.t", "copy").await?;
/// assert_eq!(bob.catalog().open_table("copy").await?.row_count(), 2);
///
/// t.insert(&RecordBatch::try_new(arrow, vec![Arc::new(Int64Array::from(vec![3]))])?).await?;
/// alice.push("t").await?;
/// let pulled = bob.pull("copy").await?;
/// assert_eq!(pulled.versions, vec![2]);
/// # Ok(())
/// # }
/// ```
pub struct Transport {
    catalog: Catalog,
    config: CloudConfig,
    roots: Mutex<HashMap<String, CloudRoot>>,
    progress: Option<ProgressFn>,
    pub(crate) parallelism: usize,
    pub(crate) multipart_threshold: u64,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("catalog", &self.catalog)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport between `catalog` and the cloud roots of `config`.
    pub fn new(catalog: Catalog, config: CloudConfig) -> Self {
        Self {
            catalog,
            config,
            roots: Mutex::new(HashMap::new()),
            progress: None,
            parallelism: DEFAULT_PARALLELISM,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
        }
    }

    /// Calls `progress` as files move (the CLI draws bars with it).
    pub fn with_progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Moves at most `n` files at once (at least 1).
    pub fn with_parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }

    /// Uploads objects of at least `bytes` bytes in parts (default 32 MiB).
    pub fn with_multipart_threshold(mut self, bytes: u64) -> Self {
        self.multipart_threshold = bytes;
        self
    }

    /// The local catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The cloud configuration.
    pub fn config(&self) -> &CloudConfig {
        &self.config
    }

    pub(crate) fn emit(&self, event: ProgressEvent) {
        if let Some(progress) = &self.progress {
            progress(&event);
        }
    }

    /// The cloud root of `org`.
    pub(crate) fn org_root(&self, org: &str) -> Result<StoreRoot> {
        Ok(self.org_store(org)?.root)
    }

    /// The opened cloud root of `org` (opened once per handle, so `memory://` lives as long
    /// as it).
    pub(crate) fn org_store(&self, org: &str) -> Result<CloudRoot> {
        let mut roots = self
            .roots
            .lock()
            .map_err(|_| TransportError::config("a previous resolution panicked"))?;
        if let Some(root) = roots.get(org) {
            return Ok(root.clone());
        }
        let root = open_root(self.config.root_of(org))?;
        roots.insert(org.to_owned(), root.clone());
        Ok(root)
    }

    pub(crate) fn roots_snapshot(&self) -> Result<HashMap<String, CloudRoot>> {
        self.roots
            .lock()
            .map(|r| r.clone())
            .map_err(|_| TransportError::config("a previous resolution panicked"))
    }

    pub(crate) fn set_roots(&self, roots: HashMap<String, CloudRoot>) -> Result<()> {
        let mut ours = self
            .roots
            .lock()
            .map_err(|_| TransportError::config("a previous resolution panicked"))?;
        *ours = roots;
        Ok(())
    }

    pub(crate) fn cloud_table(&self, uri: &CloudUri) -> Result<CloudTable> {
        Ok(CloudTable::new(&self.org_store(uri.org())?, uri))
    }

    /// The org's keys, or [`TransportError::KeyRequired`] naming `operation`.
    pub(crate) fn require_keys(&self, operation: &'static str, org: &str) -> Result<OrgKeys> {
        self.optional_keys(org)?
            .ok_or_else(|| TransportError::KeyRequired {
                operation,
                config: self.config.config_file_name(),
            })
    }

    pub(crate) fn optional_keys(&self, org: &str) -> Result<Option<OrgKeys>> {
        match self.config.api_key() {
            None => Ok(None),
            Some(key) => OrgKeys::derive(key, org)
                .map(Some)
                .ok_or_else(|| TransportError::config("could not derive keys from the api key")),
        }
    }

    /// The org's published public key, if the org has one.
    pub(crate) async fn org_public_key(&self, org: &str) -> Result<Option<String>> {
        let root = self.org_root(org)?;
        let rel = org_key_path(org);
        Ok(root
            .get_opt(&rel)
            .await?
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned()))
    }

    /// Checks that `keys` are the org's keys, storing the public key if the org has none yet.
    pub(crate) async fn check_owner(&self, uri: &CloudUri, keys: &OrgKeys) -> Result<()> {
        let org = uri.org();
        let root = self.org_root(org)?;
        let ours = keys.public_hex();
        let theirs = match self.org_public_key(org).await? {
            Some(k) => k,
            None => {
                root.require_atomic_create().await?;
                let rel = org_key_path(org);
                match root.put_create(&rel, ours.clone().into()).await {
                    CreateOutcome::Created => return Ok(()),
                    CreateOutcome::AlreadyExists => {
                        self.org_public_key(org).await?.unwrap_or_default()
                    }
                    CreateOutcome::Unknown(source) => {
                        return Err(StorageError::Store {
                            operation: "put",
                            path: rel,
                            source,
                        }
                        .into());
                    }
                }
            }
        };
        if theirs == ours {
            Ok(())
        } else {
            Err(TransportError::AccessDenied {
                address: uri.clone().with_version(None).to_string(),
                reason: format!("the key given is not the key of org `{org}`"),
            })
        }
    }
}

/// Parses an address that must be a cloud address.
pub(crate) fn parse_cloud(uri: &str) -> Result<CloudUri> {
    Ok(CloudUri::parse(uri)?)
}
