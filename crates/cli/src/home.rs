//! Where the CLI keeps its state: the home folder (`--home DIR`, else `$TABLESHARE_HOME`, else
//! `~/.tableshare`) holding the local catalog under `catalog/`. Opening it creates the folder on
//! first use, so a new user's first command just works.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tableshare::storage::Catalog;

/// The resolved home folder.
#[derive(Debug, Clone)]
pub(crate) struct Home {
    dir: PathBuf,
}

impl Home {
    /// Resolves the home folder from the `--home` flag (which clap also fills from
    /// `$TABLESHARE_HOME`), falling back to `~/.tableshare`.
    pub(crate) fn resolve(flag: Option<PathBuf>) -> Result<Self> {
        let dir = match flag {
            Some(dir) => dir,
            None => match std::env::var_os("HOME") {
                Some(home) if !home.is_empty() => Path::new(&home).join(".tableshare"),
                _ => bail!("no home folder: pass --home DIR or set TABLESHARE_HOME"),
            },
        };
        Ok(Self { dir })
    }

    /// The folder itself.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens (creating on first use) the local catalog, durable on disk.
    pub(crate) fn catalog(&self) -> Result<Catalog> {
        let dir = self.dir.join("catalog");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create the catalog folder `{}`", dir.display()))?;
        Catalog::open_local(&dir)
            .with_context(|| format!("could not open the catalog in `{}`", dir.display()))
    }
}
