//! What a home's configuration says beyond the cloud: where the worker directory is. The
//! embedded default is `HOME/workers` on local disk, which only programs on this machine see;
//! `TABLESHARE_WORKER_DIRECTORY` or `[workers] directory = "URL"` in `config.toml` puts it on an
//! object-store root (`s3://bucket/workers`, `az://…`, `file:///shared/nfs/workers`) so that
//! workers and subscribers on different machines find each other with no extra service.

use std::path::Path;

use serde::Deserialize;
use tableshare_remote::Directory;

use crate::error::{Error, Result};

#[derive(Debug, Default, Deserialize)]
struct HomeConfig {
    #[serde(default)]
    workers: WorkersSection,
}

#[derive(Debug, Default, Deserialize)]
struct WorkersSection {
    directory: Option<String>,
}

/// The worker directory of `home` (see the module docs).
///
/// # Errors
///
/// [`Error::Home`] if `config.toml` does not parse; the transport's configuration error for a
/// directory URL it cannot open; the remote crate's error if the local folder cannot be made.
pub fn worker_directory(home: &Path) -> Result<Directory> {
    let from_env = std::env::var("TABLESHARE_WORKER_DIRECTORY")
        .ok()
        .filter(|v| !v.is_empty());
    let url = match from_env {
        Some(url) => Some(url),
        None => read_config(home)?.workers.directory,
    };
    match url {
        Some(url) => {
            let (store, prefix) = tableshare_transport::open_store_url(&url)?;
            Ok(Directory::on_store(store, &prefix))
        }
        None => Ok(Directory::local(home.join("workers"))?),
    }
}

fn read_config(home: &Path) -> Result<HomeConfig> {
    let path = home.join("config.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| Error::Home {
            home: home.display().to_string(),
            message: format!("{} does not parse: {e}", path.display()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HomeConfig::default()),
        Err(e) => Err(Error::Home {
            home: home.display().to_string(),
            message: format!("cannot read {}: {e}", path.display()),
        }),
    }
}
