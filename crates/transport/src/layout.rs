//! The cloud layout: where an org's keys and each published table live under a cloud root,
//! and the strict rules an object name must follow before anything is fetched or written.
//!
//! ```text
//! <org>/_org/signing_key.pub            the org's Ed25519 public key (hex)
//! <org>/<db or _>/<dir.sub.table>/      one published table: a table directory in the storage
//!     _share.json                       format (docs/format.md) plus:
//!     _versions/<inverted v>.json       the sealed manifest (AES-GCM sealed when private)
//!     _signatures/<inverted v>-<blake3 of the stored manifest>.sig
//!     data/<blake3>-<nonce>.parquet, dv/<blake3>-<nonce>.roaring
//! ```
//!
//! Every part of a table's prefix comes from a parsed [`CloudUri`] (identifiers only: no `/`,
//! `.`-segments, `%` or absolute paths can reach the store), and every file a manifest names
//! must match [`is_object_name`] exactly, so a manifest cannot point outside its table.

use std::sync::Arc;

use bytes::Bytes;
use object_store::{GetOptions, GetRange, ObjectStore};
use serde::{Deserialize, Serialize};
use tableshare_storage::format::{StoreRoot, VersionLog};
use tableshare_uri::CloudUri;

use crate::config::CloudRoot;

/// Who may read a published table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Anyone who can read the bucket can replicate it.
    Public,
    /// Objects are sealed with a key derived from the org's key.
    Private,
}

impl Access {
    /// `public` or `private`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }
}

impl std::str::FromStr for Access {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "public" => Ok(Self::Public),
            "private" => Ok(Self::Private),
            other => Err(format!("access must be public or private, not `{other}`")),
        }
    }
}

/// `_share.json`: what a published table is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ShareInfo {
    /// Layout version.
    pub(crate) format: u32,
    /// Who may read it.
    pub(crate) access: Access,
    /// The local table that published it (lets an interrupted publish resume).
    pub(crate) publisher_table: String,
}

/// The file holding an org's public key, relative to the cloud root.
pub(crate) fn org_key_path(org: &str) -> String {
    format!("{org}/_org/signing_key.pub")
}

/// The prefix of an org's tables.
pub(crate) fn org_dir(org: &str) -> String {
    org.to_owned()
}

/// The table directory of an address (version ignored), relative to the cloud root.
pub(crate) fn table_dir(uri: &CloudUri) -> String {
    format!("{}/{}/{}", uri.org(), uri.db().unwrap_or("_"), uri.path())
}

/// One published table on a cloud root.
#[derive(Debug, Clone)]
pub(crate) struct CloudTable {
    /// The store, for ranged reads that bound what a lying manifest can make us fetch.
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) root: StoreRoot,
    pub(crate) dir: String,
    pub(crate) log: VersionLog,
    /// The canonical address without version.
    pub(crate) address: String,
}

impl CloudTable {
    pub(crate) fn new(cloud: &CloudRoot, uri: &CloudUri) -> Self {
        let dir = table_dir(uri);
        let root = cloud.root.clone();
        let log = VersionLog::new(root.clone(), dir.clone());
        Self {
            store: Arc::clone(&cloud.store),
            root,
            dir,
            log,
            address: uri.clone().with_version(None).to_string(),
        }
    }

    /// A path relative to the root for `rel` (relative to the table directory).
    pub(crate) fn rel(&self, rel: &str) -> String {
        format!("{}/{rel}", self.dir)
    }

    pub(crate) fn share_path(&self) -> String {
        self.rel("_share.json")
    }

    pub(crate) fn signature_path(&self, version: u64, stored_hash: &str) -> String {
        self.rel(&format!(
            "_signatures/{:020}-{stored_hash}.sig",
            u64::MAX - version
        ))
    }

    /// Reads at most `limit` bytes of `rel` (relative to the root): `Ok(None)` if it does not
    /// exist. A longer object comes back cut at `limit`, so a size that lies costs at most
    /// `limit` bytes of transfer.
    pub(crate) async fn get_at_most(&self, rel: &str, limit: u64) -> crate::Result<Option<Bytes>> {
        let opts = GetOptions {
            range: Some(GetRange::Bounded(0..limit.max(1))),
            ..GetOptions::default()
        };
        let store_err = |source| tableshare_storage::StorageError::Store {
            operation: "get",
            path: rel.to_owned(),
            source,
        };
        match self.store.get_opts(&self.root.path(rel), opts).await {
            Ok(r) => match r.bytes().await {
                Ok(b) => Ok(Some(b)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(store_err(e).into()),
            },
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(e).into()),
        }
    }

    /// What `_share.json` says; `None` when the table is not published.
    pub(crate) async fn share_info(&self) -> crate::Result<Option<ShareInfo>> {
        let rel = self.share_path();
        match self.root.get_opt(&rel).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                crate::TransportError::Hostile {
                    address: self.address.clone(),
                    version: 0,
                    reason: format!("{rel} does not decode: {e}"),
                }
            }),
        }
    }
}

/// The message a version's signature covers: the address, the version, and the BLAKE3 of the
/// exact stored manifest object (so a signature cannot be moved to another table or version).
pub(crate) fn signed_message(address: &str, version: u64, stored_hash: &str) -> Bytes {
    Bytes::from(format!(
        "tableshare-version-signature-v1\n{address}\n{version}\n{stored_hash}"
    ))
}

/// Whether `rel` is a name a manifest may use for a table object:
/// `data/<64 hex>[-<16 hex>].parquet` or `dv/<64 hex>[-<16 hex>].roaring`, nothing else.
pub(crate) fn is_object_name(rel: &str) -> bool {
    let Some((dir, file)) = rel.split_once('/') else {
        return false;
    };
    let ext = match dir {
        "data" => ".parquet",
        "dv" => ".roaring",
        _ => return false,
    };
    let Some(stem) = file.strip_suffix(ext) else {
        return false;
    };
    let (hash, nonce) = match stem.split_once('-') {
        Some((h, n)) => (h, Some(n)),
        None => (stem, None),
    };
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    hex(hash, 64) && nonce.is_none_or(|n| hex(n, 16))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Guards the name rule that keeps a hostile manifest inside its table.
    #[test]
    fn object_names() {
        let h = "a".repeat(64);
        let n = "0123456789abcdef";
        let cases: Vec<(String, bool)> = vec![
            (format!("data/{h}-{n}.parquet"), true),
            (format!("data/{h}.parquet"), true),
            (format!("dv/{h}-{n}.roaring"), true),
            (format!("dv/{h}-{n}.parquet"), false),
            (format!("data/{h}-../../x.parquet"), false),
            (format!("../data/{h}.parquet"), false),
            (format!("/data/{h}.parquet"), false),
            (format!("data/{}.parquet", "A".repeat(64)), false),
            (format!("data/{h}-{n}%2F.parquet"), false),
            (format!("data/sub/{h}.parquet"), false),
            (format!("data/{h}-{n}-x.parquet"), false),
            ("_versions/x.json".into(), false),
            (String::new(), false),
        ];
        for (name, ok) in cases {
            assert_eq!(is_object_name(&name), ok, "{name}");
        }
    }
}
