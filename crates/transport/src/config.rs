//! Where the cloud is: [`CloudConfig`] maps each org of a `pxt://ORG/…` address to an
//! object-store root, and holds the org key.
//!
//! Resolution, first match wins:
//!
//! | setting | source |
//! | --- | --- |
//! | per-org root | `[cloud.orgs.ORG] root = "URL"` in `config.toml`, or [`CloudConfig::with_org_root`] |
//! | default root | `TABLESHARE_CLOUD_ROOT`, else `[cloud] root = "URL"` in `config.toml`, else `<home>/cloud` |
//! | key | `TABLESHARE_API_KEY`, else `api_key = "…"` in `config.toml` |
//!
//! URLs: `file:///abs/path` (or a plain path), `memory://` (lives as long as the
//! [`Transport`](crate::Transport) handle), `s3://bucket/prefix` (credentials, region and
//! endpoint from the usual `AWS_*` environment variables), `az://container/prefix` (account, key
//! or emulator from the usual `AZURE_*` variables), `gs://bucket/prefix`, and `http(s)://…` for
//! reading a copy of a root from a web server; see [`open_store_url`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{ClientOptions, ObjectStore};
use serde::Deserialize;
use tableshare_storage::format::StoreRoot;

use crate::error::{Result, TransportError};

/// One cloud root: a URL resolved when first used, or a store given directly.
#[derive(Debug, Clone)]
pub enum RootSpec {
    /// An object-store URL (`file://`, `memory://`, `s3://`, `az://`).
    Url(String),
    /// A store and a prefix under it.
    Store {
        /// The store.
        store: Arc<dyn ObjectStore>,
        /// The prefix (`""` for the store's root).
        prefix: String,
    },
}

/// The cloud roots and the org key (see the module docs).
#[derive(Debug, Clone)]
pub struct CloudConfig {
    default_root: RootSpec,
    org_roots: BTreeMap<String, RootSpec>,
    api_key: Option<String>,
    config_file: Option<PathBuf>,
}

/// The shape of `config.toml`.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    api_key: Option<String>,
    #[serde(default)]
    cloud: CloudSection,
}

#[derive(Debug, Default, Deserialize)]
struct CloudSection {
    root: Option<String>,
    #[serde(default)]
    orgs: BTreeMap<String, OrgSection>,
}

#[derive(Debug, Deserialize)]
struct OrgSection {
    root: String,
}

impl CloudConfig {
    /// Every org on `root`, no key.
    pub fn new(root: RootSpec) -> Self {
        Self {
            default_root: root,
            org_roots: BTreeMap::new(),
            api_key: None,
            config_file: None,
        }
    }

    /// Every org on one store under `prefix`, no key (tests and embedders).
    pub fn with_store(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        Self::new(RootSpec::Store {
            store,
            prefix: prefix.to_owned(),
        })
    }

    /// Reads `config.toml` in `home` (if present) and the environment (see the module docs).
    ///
    /// # Errors
    ///
    /// [`TransportError::Config`] if the file exists but does not parse.
    pub fn load(home: &Path) -> Result<Self> {
        let path = home.join("config.toml");
        let file: ConfigFile = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                TransportError::config(format!("{} does not parse: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile::default(),
            Err(e) => {
                return Err(TransportError::config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let default_url = env("TABLESHARE_CLOUD_ROOT")
            .or(file.cloud.root)
            .unwrap_or_else(|| home.join("cloud").display().to_string());
        let mut config = Self::new(RootSpec::Url(default_url));
        for (org, section) in file.cloud.orgs {
            config.org_roots.insert(org, RootSpec::Url(section.root));
        }
        config.api_key = env("TABLESHARE_API_KEY").or(file.api_key);
        config.config_file = Some(path);
        Ok(config)
    }

    /// Puts `org` on its own root.
    pub fn with_org_root(mut self, org: &str, root: RootSpec) -> Self {
        self.org_roots.insert(org.to_owned(), root);
        self
    }

    /// Sets the org key.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Removes the org key.
    pub fn without_api_key(mut self) -> Self {
        self.api_key = None;
        self
    }

    /// The org key, if one is configured.
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// Where the config file is (for messages).
    pub(crate) fn config_file_name(&self) -> String {
        self.config_file.as_ref().map_or_else(
            || "config.toml in the tableshare home".to_owned(),
            |p| p.display().to_string(),
        )
    }

    /// The root spec of `org`.
    pub(crate) fn root_of(&self, org: &str) -> &RootSpec {
        self.org_roots.get(org).unwrap_or(&self.default_root)
    }
}

/// An opened cloud root: the store (for ranged reads) and the root under its prefix.
#[derive(Debug, Clone)]
pub(crate) struct CloudRoot {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) root: StoreRoot,
}

impl CloudRoot {
    fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        let root = StoreRoot::new(Arc::clone(&store), prefix);
        Self { store, root }
    }
}

/// Opens the store root a spec names.
pub(crate) fn open_root(spec: &RootSpec) -> Result<CloudRoot> {
    match spec {
        RootSpec::Store { store, prefix } => Ok(CloudRoot::new(Arc::clone(store), prefix)),
        RootSpec::Url(url) => open_url(url),
    }
}

fn open_url(text: &str) -> Result<CloudRoot> {
    let (store, prefix) = open_store_url(text)?;
    Ok(CloudRoot::new(store, &prefix))
}

/// Opens the object store an URL names and the prefix under it: `file:///abs/path` (or a plain
/// path; created if missing, written with fsync), `memory://` (a fresh store), `s3://bucket/prefix`
/// (credentials, region and endpoint from the usual `AWS_*` variables), `az://container/prefix`
/// (also `azure://`, `abfs://`, `abfss://`; account, key or emulator from the usual `AZURE_*`
/// variables), `gs://bucket/prefix` (credentials from the usual `GOOGLE_*` variables), and
/// `http(s)://host/prefix` for reading: a web server holding a copy of a cloud root (listings by
/// WebDAV `PROPFIND`; writing needs the atomic conditional create HTTP lacks, so publishing there
/// is refused). The cloud roots use it, and so does anything else configured by URL (the shared
/// worker directory, `tds show`).
///
/// # Errors
///
/// [`TransportError::Config`] naming the URL: not a URL, an unsupported scheme, a missing
/// bucket or container, a folder that cannot be created.
pub fn open_store_url(text: &str) -> Result<(Arc<dyn ObjectStore>, String)> {
    let bad = |message: String| TransportError::config(format!("store URL `{text}`: {message}"));
    if !text.contains("://") {
        return Ok((local_store(Path::new(text))?, String::new()));
    }
    let url = url::Url::parse(text).map_err(|e| bad(format!("not a URL: {e}")))?;
    let prefix = url.path().trim_matches('/').to_owned();
    match url.scheme() {
        "memory" => Ok((Arc::new(InMemory::new()), prefix)),
        "file" => {
            let path = url
                .to_file_path()
                .map_err(|()| bad("not an absolute file path".into()))?;
            Ok((local_store(&path)?, String::new()))
        }
        "s3" | "s3a" => {
            let bucket = url
                .host_str()
                .ok_or_else(|| bad("names no bucket".into()))?;
            let s3 = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            Ok((Arc::new(s3), prefix))
        }
        "az" | "azure" | "abfs" | "abfss" | "adl" => {
            let azure = MicrosoftAzureBuilder::from_env()
                .with_url(text)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            // abfs(s)://container@account.dfs.core.windows.net/prefix names the container in
            // the authority; az://container/prefix in the host: either way the path is the
            // prefix.
            Ok((Arc::new(azure), prefix))
        }
        "gs" => {
            let gcs = GoogleCloudStorageBuilder::from_env()
                .with_url(text)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            Ok((Arc::new(gcs), prefix))
        }
        "http" | "https" => {
            // A plain web server (WebDAV for listings): for reading public tables. Writes need
            // an atomic conditional create, which HTTP stores do not offer, so publishing to one
            // is refused when the first version is created.
            let origin = url.origin().ascii_serialization();
            let http = HttpBuilder::new()
                .with_url(origin)
                .with_client_options(ClientOptions::new().with_allow_http(true))
                .build()
                .map_err(|e| bad(e.to_string()))?;
            Ok((Arc::new(http), prefix))
        }
        other => Err(bad(format!(
            "scheme `{other}` is not supported (file://, memory://, s3://, az://, gs://, \
             http(s):// for reading)"
        ))),
    }
}

fn local_store(path: &Path) -> Result<Arc<dyn ObjectStore>> {
    std::fs::create_dir_all(path).map_err(|e| {
        TransportError::config(format!("cannot create the folder {}: {e}", path.display()))
    })?;
    let fs = LocalFileSystem::new_with_prefix(path)
        .map_err(|e| TransportError::config(format!("folder {}: {e}", path.display())))?
        .with_fsync(true);
    Ok(Arc::new(fs))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // Guards: config.toml per-org roots and key are read; the embedded default is under home.
    #[test]
    fn config_file_roots_and_key() {
        let home = tempfile::tempdir().unwrap();
        let c = CloudConfig::load(home.path()).unwrap();
        if std::env::var_os("TABLESHARE_CLOUD_ROOT").is_none() {
            match c.root_of("x") {
                RootSpec::Url(u) => assert!(u.ends_with("cloud"), "{u}"),
                RootSpec::Store { .. } => panic!("expected a URL"),
            }
        }
        std::fs::write(
            home.path().join("config.toml"),
            "api_key = \"k1\"\n[cloud]\nroot = \"memory://\"\n[cloud.orgs.acme]\nroot = \"file:///tmp/acme\"\n",
        )
        .unwrap();
        let c = CloudConfig::load(home.path()).unwrap();
        match c.root_of("acme") {
            RootSpec::Url(u) => assert_eq!(u, "file:///tmp/acme"),
            RootSpec::Store { .. } => panic!("expected a URL"),
        }
        if std::env::var_os("TABLESHARE_API_KEY").is_none() {
            assert_eq!(c.api_key(), Some("k1"));
        }
        std::fs::write(home.path().join("config.toml"), "api_key = [").unwrap();
        assert!(matches!(
            CloudConfig::load(home.path()),
            Err(TransportError::Config { .. })
        ));
        for bad in ["gopher://x", "file://relative"] {
            assert!(open_url(bad).is_err(), "{bad}");
        }
    }
}
