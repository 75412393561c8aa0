//! The catalog's namespace: directories, listing, moves, drops, views and snapshots. Each
//! change commits one catalog version through [`Catalog::change`](super::Catalog).

use std::collections::{BTreeMap, BTreeSet};

use tableshare_uri::{TablePath, UriError};

use crate::error::{Result, StorageError};
use crate::format::catalog::{EntryKind, EntryRecord, ViewDefinition};

use super::{Catalog, parse_dir, parse_path};

/// One line of [`Catalog::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// Dotted path.
    pub path: String,
    /// What it names.
    pub kind: EntryKind,
}

impl Catalog {
    /// Creates a directory; its parent must exist.
    ///
    /// # Errors
    ///
    /// [`StorageError::AlreadyExists`], [`StorageError::NotFound`] for a missing parent,
    /// [`StorageError::InvalidPath`].
    pub async fn create_dir(
        &self,
        path: impl TryInto<TablePath, Error: Into<UriError>>,
    ) -> Result<()> {
        let p = parse_path(path)?;
        self.change(format!("create_dir {p}"), |e| {
            Self::insert_new(e, &p, EntryRecord::Directory)
        })
        .await?;
        Ok(())
    }

    /// Drops a directory. A directory with entries is refused unless `force`, which drops
    /// everything under it (table data is reclaimed by [`Catalog::gc`]).
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::WrongKind`], [`StorageError::NotEmpty`].
    pub async fn drop_dir(
        &self,
        path: impl TryInto<TablePath, Error: Into<UriError>>,
        force: bool,
    ) -> Result<()> {
        let p = parse_path(path)?;
        let key = p.to_string();
        let prefix = format!("{key}.");
        self.change(format!("drop_dir {key}"), |e| {
            require_directory(e, &key)?;
            let children: Vec<String> = e
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned()
                .collect();
            if !children.is_empty() && !force {
                return Err(StorageError::NotEmpty { path: key.clone() });
            }
            let mut dropped: BTreeSet<String> = children.into_iter().collect();
            dropped.insert(key.clone());
            remove_with_dependents(e, &key, dropped, force)
        })
        .await?;
        Ok(())
    }

    /// Lists the entries in a directory (`""` for the root), with everything below it if
    /// `recursive`. Sorted by path.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`] / [`StorageError::WrongKind`] if `dir` is not a directory.
    pub async fn list(&self, dir: &str, recursive: bool) -> Result<Vec<Entry>> {
        let d = parse_dir(dir)?;
        let entries = self.entries().await?;
        let prefix = match &d {
            None => String::new(),
            Some(d) => {
                let key = d.to_string();
                require_directory(&entries, &key)?;
                format!("{key}.")
            }
        };
        Ok(entries
            .iter()
            .filter(|(k, _)| {
                k.starts_with(&prefix) && (recursive || !k[prefix.len()..].contains('.'))
            })
            .map(|(k, r)| Entry {
                path: k.clone(),
                kind: r.kind(),
            })
            .collect())
    }

    /// What `path` names, if anything.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidPath`] or store errors.
    pub async fn get(
        &self,
        path: impl TryInto<TablePath, Error: Into<UriError>>,
    ) -> Result<Option<Entry>> {
        let p = parse_path(path)?.to_string();
        Ok(self.entries().await?.get(&p).map(|r| Entry {
            path: p.clone(),
            kind: r.kind(),
        }))
    }

    /// Moves (renames) a table, view, snapshot, replica or directory (with everything in it).
    /// Views defined on a moved entry are updated to name its new path.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::AlreadyExists`],
    /// [`StorageError::MoveIntoItself`] when moving a directory into itself,
    /// [`StorageError::InvalidPath`].
    pub async fn move_entry(
        &self,
        from: impl TryInto<TablePath, Error: Into<UriError>>,
        to: impl TryInto<TablePath, Error: Into<UriError>>,
    ) -> Result<()> {
        let f = parse_path(from)?;
        let t = parse_path(to)?;
        let (fk, tk) = (f.to_string(), t.to_string());
        if tk == fk || tk.starts_with(&format!("{fk}.")) {
            return Err(StorageError::MoveIntoItself { from: fk, to: tk });
        }
        self.change(format!("move {fk} {tk}"), |e| {
            let record = e
                .remove(&fk)
                .ok_or_else(|| StorageError::NotFound { path: fk.clone() })?;
            Self::insert_new(e, &t, record)?;
            let prefix = format!("{fk}.");
            let children: Vec<String> = e
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned()
                .collect();
            for c in children {
                if let Some(r) = e.remove(&c) {
                    e.insert(format!("{tk}.{}", &c[prefix.len()..]), r);
                }
            }
            // Views follow what they are defined on.
            for record in e.values_mut() {
                if let EntryRecord::View { definition } = record {
                    if definition.base == fk {
                        definition.base.clone_from(&tk);
                    } else if let Some(rest) = definition.base.strip_prefix(&prefix) {
                        definition.base = format!("{tk}.{rest}");
                    }
                }
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Drops a table, view, snapshot or replica (not a directory: see [`Catalog::drop_dir`]).
    /// Views defined on it (directly or through other views) would be left pointing at nothing,
    /// so they block the drop unless `force`, which drops them too. Snapshots and replicas pin
    /// their own data and are unaffected. The data is reclaimed by [`Catalog::gc`] once nothing
    /// references it.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::WrongKind`] for a directory,
    /// [`StorageError::HasDependents`] when views depend on it and `force` is false.
    pub async fn drop_table(
        &self,
        path: impl TryInto<TablePath, Error: Into<UriError>>,
        force: bool,
    ) -> Result<()> {
        let key = parse_path(path)?.to_string();
        let dropped_id = match self.entries().await?.get(&key) {
            Some(EntryRecord::Table { table_id }) => Some(*table_id),
            _ => None,
        };
        self.change(format!("drop {key}"), |e| {
            match e.get(&key) {
                None => return Err(StorageError::NotFound { path: key.clone() }),
                Some(EntryRecord::Directory) => {
                    return Err(StorageError::WrongKind {
                        path: key.clone(),
                        expected: "table",
                        found: "directory",
                    });
                }
                Some(_) => {}
            }
            let dropped = BTreeSet::from([key.clone()]);
            remove_with_dependents(e, &key, dropped, force)
        })
        .await?;
        // A live table of the dropped table in this process fails now (other processes' watchers
        // fail when garbage collection removes the directory).
        if let Some(id) = dropped_id {
            self.shared
                .ctx
                .live
                .fail(id, StorageError::NotFound { path: key });
        }
        Ok(())
    }

    /// Stores a view definition at `path`.
    ///
    /// # Errors
    ///
    /// [`StorageError::AlreadyExists`], [`StorageError::NotFound`] for a missing directory.
    pub async fn create_view(
        &self,
        path: impl TryInto<TablePath, Error: Into<UriError>>,
        definition: ViewDefinition,
    ) -> Result<()> {
        let p = parse_path(path)?;
        self.change(format!("create_view {p}"), |e| {
            Self::insert_new(
                e,
                &p,
                EntryRecord::View {
                    definition: definition.clone(),
                },
            )
        })
        .await?;
        Ok(())
    }

    /// The definition of the view at `path`.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::WrongKind`].
    pub async fn view(
        &self,
        path: impl TryInto<TablePath, Error: Into<UriError>>,
    ) -> Result<ViewDefinition> {
        let key = parse_path(path)?.to_string();
        match self.entries().await?.remove(&key) {
            Some(EntryRecord::View { definition }) => Ok(definition),
            Some(other) => Err(StorageError::WrongKind {
                path: key,
                expected: "view",
                found: other.kind().name(),
            }),
            None => Err(StorageError::NotFound { path: key }),
        }
    }

    /// Creates a snapshot at `path`: a read-only name for version `version` (latest if `None`)
    /// of the table at `table_path`. Garbage collection keeps the version while the snapshot
    /// exists.
    ///
    /// # Errors
    ///
    /// [`StorageError::AlreadyExists`], [`StorageError::NotFound`], [`StorageError::WrongKind`],
    /// [`StorageError::VersionExpired`] / [`StorageError::VersionNotFound`].
    pub async fn create_snapshot(
        &self,
        path: impl TryInto<TablePath, Error: Into<UriError>>,
        table_path: &str,
        version: Option<u64>,
    ) -> Result<u64> {
        let p = parse_path(path)?;
        let source = self.open_table(table_path).await?;
        let version = match version {
            Some(v) => {
                source.load_version(v).await?;
                v
            }
            None => source.refresh().await?,
        };
        let table_id = source.id();
        let source_path = source.path().to_owned();
        self.change(format!("create_snapshot {p}"), |e| {
            Self::insert_new(
                e,
                &p,
                EntryRecord::Snapshot {
                    table_id,
                    source: source_path.clone(),
                    version,
                },
            )
        })
        .await?;
        // A garbage collection that read the pins before this commit may have expired the
        // version meanwhile: then the snapshot would name nothing, so it is taken back.
        if let Err(error) = source.load_version(version).await {
            let key = p.to_string();
            self.change(format!("drop {key} (its version expired)"), |e| {
                if matches!(e.get(&key), Some(EntryRecord::Snapshot { table_id: t, version: v, .. }) if *t == table_id && *v == version)
                {
                    e.remove(&key);
                }
                Ok(())
            })
            .await?;
            return Err(error);
        }
        Ok(version)
    }
}

/// `Ok` if `key` names a directory; otherwise `NotFound` or `WrongKind` naming it.
pub(crate) fn require_directory(entries: &BTreeMap<String, EntryRecord>, key: &str) -> Result<()> {
    match entries.get(key) {
        Some(EntryRecord::Directory) => Ok(()),
        Some(other) => Err(StorageError::WrongKind {
            path: key.to_owned(),
            expected: "directory",
            found: other.kind().name(),
        }),
        None => Err(StorageError::NotFound {
            path: key.to_owned(),
        }),
    }
}

/// Views whose base is in `roots`, directly or through other views (the transitive closure),
/// excluding `roots` themselves.
fn dependent_views(
    entries: &BTreeMap<String, EntryRecord>,
    roots: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    loop {
        let before = found.len();
        for (path, record) in entries {
            if let EntryRecord::View { definition } = record
                && !roots.contains(path)
                && (roots.contains(&definition.base) || found.contains(&definition.base))
            {
                found.insert(path.clone());
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// Removes `dropped` (which names `path` and, for a directory, its contents) and the views that
/// depend on any of them: refused with [`StorageError::HasDependents`] unless `force`.
fn remove_with_dependents(
    entries: &mut BTreeMap<String, EntryRecord>,
    path: &str,
    dropped: BTreeSet<String>,
    force: bool,
) -> Result<()> {
    let dependents = dependent_views(entries, &dropped);
    if !dependents.is_empty() && !force {
        return Err(StorageError::HasDependents {
            path: path.to_owned(),
            dependents: dependents.into_iter().collect(),
        });
    }
    for p in dropped.iter().chain(&dependents) {
        entries.remove(p);
    }
    Ok(())
}
