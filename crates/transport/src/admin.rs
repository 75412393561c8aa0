//! Listing an org's published tables and dropping one (the owner, with the key).

use serde::Serialize;
use tableshare_uri::CloudUri;

use crate::error::{Result, TransportError};
use crate::layout::{Access, CloudTable, ShareInfo, org_dir};
use crate::transport::{Transport, parse_cloud};

/// One published table of an org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CloudEntry {
    /// Its canonical address.
    pub uri: String,
    /// Who may read it.
    pub access: Access,
    /// Its latest version.
    pub version: u64,
}

impl Transport {
    /// The tables published under `org`, by address.
    ///
    /// # Errors
    ///
    /// [`TransportError::InvalidAddress`] for an invalid org name; store errors.
    pub async fn cloud_ls(&self, org: &str) -> Result<Vec<CloudEntry>> {
        // Validate the org by the address rule before it reaches a store path.
        parse_cloud(&format!("pxt://{org}/x"))?;
        let cloud = self.org_store(org)?;
        let root = cloud.root.clone();
        // Two delimited listings deep (databases, then their tables), never the tables' files:
        // an org with large tables lists in requests per table, not per data file.
        let mut out = Vec::new();
        for db_dir in root.list_dirs(&org_dir(org)).await? {
            // `_` holds the tables of no database; other `_…` folders are the org's own
            // (its public key), never a database (database names cannot start with `_`).
            let db = db_dir.rsplit('/').next().unwrap_or_default();
            if db.starts_with('_') && db != "_" {
                continue;
            }
            for dir in root.list_dirs(&db_dir).await? {
                let mut parts = dir.splitn(3, '/');
                let (Some(_org), Some(db), Some(path)) = (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let address = match db {
                    "_" => format!("pxt://{org}/{path}"),
                    db => format!("pxt://{org}:{db}/{path}"),
                };
                let Ok(uri) = CloudUri::parse(&address) else {
                    continue;
                };
                let ct = CloudTable::new(&cloud, &uri);
                let Some(info): Option<ShareInfo> = ct.share_info().await? else {
                    continue;
                };
                let Some(version) = ct.log.latest().await? else {
                    continue;
                };
                out.push(CloudEntry {
                    uri: ct.address,
                    access: info.access,
                    version,
                });
            }
        }
        out.sort_by(|a, b| a.uri.cmp(&b.uri));
        Ok(out)
    }

    /// Drops the published table at `uri`: every object under its prefix. Replicas made from it
    /// keep working offline; they can no longer pull.
    ///
    /// # Errors
    ///
    /// [`TransportError::KeyRequired`] before anything is touched when no key is configured,
    /// [`TransportError::AccessDenied`] if the key is not the org's,
    /// [`TransportError::NotFound`] if nothing is published there.
    pub async fn cloud_drop(&self, uri: &str) -> Result<()> {
        let uri = parse_cloud(uri)?;
        let keys = self.require_keys("drop", uri.org())?;
        self.check_owner(&uri, &keys).await?;
        let ct = self.cloud_table(&uri)?;
        let listed = ct.root.list(&ct.dir).await?;
        if listed.is_empty() {
            return Err(TransportError::NotFound {
                address: ct.address,
            });
        }
        // The share record first, so the table stops being listed before its data goes.
        ct.root.delete(&ct.share_path()).await?;
        for (name, _) in listed {
            ct.root.delete(&name).await?;
        }
        Ok(())
    }
}
