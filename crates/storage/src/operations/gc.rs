//! Garbage collection: expiring old versions and sweeping unreferenced files.
//!
//! Mark and sweep, per table:
//!
//! 1. **Keep** the latest version, every version committed within the retention window, every
//!    version whose successor was committed within the age guard, and every version a catalog
//!    snapshot pins. The walk goes down from the latest and stops at the first version outside
//!    those windows (commit times never decrease along the chain).
//! 2. **Expire** versions *below the oldest one the walk kept* by deleting their manifests.
//!    Reading one afterwards fails with [`StorageError::VersionExpired`]. Versions above it,
//!    including any committed while the collection runs, are never touched: they were never
//!    looked at. Deleting a manifest frees its version number, which a writer still building on
//!    the version before it could create again (forking the chain); the successor rule makes
//!    that impossible for any writer that commits within the age guard of reading its base,
//!    which writers enforce (`CatalogOptions::max_commit_duration`, see `crate::commit`).
//! 3. **Sweep** data files and deletion vectors that no kept manifest references, but only those
//!    older than the age guard: a writer may have put files for a commit it has not made yet,
//!    so the guard must exceed the longest time between writing a file and committing. Ages
//!    are measured from when the collection started, and a file's modification time is taken
//!    as up to a second later than the store reports (S3 rounds it down to whole seconds).
//!
//! [`Catalog::gc`] runs this on every table the catalog references (so pins of snapshots of
//! dropped tables are honoured), removes the directories of dropped or orphaned tables once
//! everything in them is older than the age guard, and expires old catalog versions.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use tracing::info;
use uuid::Uuid;

use crate::catalog::Catalog;
use crate::error::{Result, StorageError};
use crate::format::catalog::{CatalogManifest, EntryRecord};
use crate::format::log::VersionLog;
use crate::format::manifest::now_ms;
use crate::format::table_dir::TableDir;

/// What garbage collection keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcOptions {
    /// Versions committed within this window before now are kept (default 7 days).
    pub retention: Duration,
    /// Unreferenced files younger than this are kept (default 1 hour).
    pub age_guard: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(7 * 24 * 3600),
            age_guard: Duration::from_secs(3600),
        }
    }
}

impl GcOptions {
    /// Options with the given retention window and age guard.
    pub fn new(retention: Duration, age_guard: Duration) -> Self {
        Self {
            retention,
            age_guard,
        }
    }
}

/// What a garbage collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// Versions whose manifests were deleted.
    pub versions_expired: Vec<u64>,
    /// Versions kept (for a whole catalog, those of every table collected, table by table).
    pub versions_kept: Vec<u64>,
    /// Data files and deletion vectors deleted.
    pub files_deleted: usize,
    /// Bytes freed by deleting files.
    pub bytes_freed: u64,
    /// Unreferenced files kept because they are younger than the age guard.
    pub files_guarded: usize,
    /// Table directories of dropped tables removed (catalog GC only).
    pub tables_removed: usize,
    /// Versions committed by other writers while this collection ran (newer than the latest
    /// version it read). They are always kept; the count shows that GC and commits overlapped.
    pub versions_committed_meanwhile: usize,
}

fn cutoff(now: u64, d: Duration) -> u64 {
    now.saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How coarse a store's modification times may be. S3 (and servers emulating it) report
/// `LastModified` in whole seconds, rounded down, so a file written at 12.9 s reads back as
/// written at 12 s: up to a second older than it is.
const TIMESTAMP_GRANULARITY: Duration = Duration::from_secs(1);

/// The newest modification time (ms) a file may show and still be swept under `age_guard`: the
/// guard measured from `now`, widened by [`TIMESTAMP_GRANULARITY`] so that a store's rounding
/// never makes a file look older than the guard when it is not. A guard of zero is the caller
/// saying no writer is running; it is taken as it is.
fn file_cutoff(now: u64, age_guard: Duration) -> u64 {
    if age_guard.is_zero() {
        now
    } else {
        cutoff(now, age_guard + TIMESTAMP_GRANULARITY)
    }
}

/// Collects one table directory, keeping the versions the catalog's snapshots pin. The pins are
/// read after the walk, right before anything is deleted, so that a snapshot created while the
/// walk ran is honoured (`Catalog::create_snapshot` re-checks its version after committing, for
/// the remaining window between this read and the deletions).
pub(crate) async fn collect_table(
    catalog: &Catalog,
    store: &TableDir,
    id: Uuid,
    options: &GcOptions,
) -> Result<GcReport> {
    let now = now_ms();
    let mut report = GcReport::default();
    let Some(latest) = store.log.latest().await? else {
        return Ok(report);
    };
    let keep_after = cutoff(now, options.retention);
    let guard_after = cutoff(now, options.age_guard);
    let all = store.log.list_versions().await?;
    // Walk down from the latest while versions are inside the retention window, or their
    // successor is younger than the age guard (see the module docs: deleting a version frees its
    // number, so it must be too old for any writer to still be building on its parent).
    let mut kept: BTreeSet<u64> = BTreeSet::new();
    let mut referenced: HashSet<String> = HashSet::new();
    let mut v = latest;
    let mut successor_ms = u64::MAX;
    loop {
        let loaded = match store.load(v).await {
            Ok(l) => l,
            Err(StorageError::VersionExpired { .. }) => break,
            Err(e) => return Err(e),
        };
        let inside =
            v == latest || loaded.manifest.timestamp_ms > keep_after || successor_ms > guard_after;
        if !inside {
            break;
        }
        successor_ms = loaded.manifest.timestamp_ms;
        kept.insert(v);
        note_files(&loaded.manifest, &mut referenced);
        match v.checked_sub(1) {
            Some(p) => v = p,
            None => break,
        }
    }
    // Only versions below the oldest one the walk kept can expire. Anything above it, including
    // versions committed after `latest` was read, is left alone: deleting a version this
    // collection never looked at would delete an acknowledged commit.
    let oldest_kept = kept.first().copied().unwrap_or(latest);
    let pinned = &pins(&catalog.entries().await?, id);
    report.versions_committed_meanwhile = all.iter().filter(|v| **v > latest).count();
    for p in pinned {
        if *p >= oldest_kept || !all.contains(p) {
            continue;
        }
        let loaded = store.load(*p).await?;
        note_files(&loaded.manifest, &mut referenced);
        kept.insert(*p);
    }
    for version in all
        .iter()
        .filter(|v| **v < oldest_kept && !kept.contains(v))
    {
        store.log.delete_version(*version).await?;
        report.versions_expired.push(*version);
    }
    report.versions_kept = all
        .iter()
        .copied()
        .chain(kept.iter().copied())
        .filter(|v| !report.versions_expired.contains(v))
        .collect::<BTreeSet<u64>>()
        .into_iter()
        .collect();
    let sweep_before = file_cutoff(now, options.age_guard);
    for sub in ["data", "dv"] {
        for (name, meta) in store.root.list(&store.rel(sub)).await? {
            let rel = name
                .strip_prefix(&format!("{}/", store.dir))
                .unwrap_or(&name);
            if referenced.contains(rel) {
                continue;
            }
            let modified = u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0);
            if modified > sweep_before {
                report.files_guarded += 1;
                continue;
            }
            store.root.delete(&name).await?;
            report.files_deleted += 1;
            report.bytes_freed += meta.size;
        }
    }
    info!(table = %store.name, expired = report.versions_expired.len(), files = report.files_deleted, "garbage collected");
    Ok(report)
}

fn note_files(m: &crate::format::manifest::TableManifest, referenced: &mut HashSet<String>) {
    for f in &m.files {
        referenced.insert(f.path.clone());
        if let Some(dv) = &f.deletion_vector {
            referenced.insert(dv.path.clone());
        }
    }
}

fn pins(entries: &std::collections::BTreeMap<String, EntryRecord>, id: Uuid) -> BTreeSet<u64> {
    entries
        .values()
        .filter_map(|r| match r {
            EntryRecord::Snapshot {
                table_id, version, ..
            } if *table_id == id => Some(*version),
            _ => None,
        })
        .collect()
}

impl Catalog {
    /// Garbage-collects the table (or replica) at `path`: see the module docs for the rules.
    /// Versions pinned by catalog snapshots are kept.
    ///
    /// # Errors
    ///
    /// [`StorageError::NotFound`], [`StorageError::WrongKind`] for anything but a table or a
    /// replica, [`StorageError::InvalidPath`] for a `path:N` address; store errors.
    pub async fn gc_table(&self, path: &str, options: &GcOptions) -> Result<GcReport> {
        let key = crate::catalog::parse_path(path)?.to_string();
        let entries = self.entries().await?;
        let id = match entries.get(&key) {
            Some(EntryRecord::Table { table_id } | EntryRecord::Replica { table_id, .. }) => {
                *table_id
            }
            Some(other) => {
                return Err(StorageError::WrongKind {
                    path: key,
                    expected: "table",
                    found: other.kind().name(),
                });
            }
            None => return Err(StorageError::NotFound { path: key }),
        };
        let store = self.table_store(id, key);
        collect_table(self, &store, id, options).await
    }

    /// Garbage-collects every table the catalog references, removes directories of dropped
    /// tables once all their objects are older than the age guard, and expires catalog versions
    /// outside the retention window (the latest is always kept).
    ///
    /// # Errors
    ///
    /// Store errors; a corrupt manifest stops the collection with [`StorageError::Corrupt`].
    pub async fn gc(&self, options: &GcOptions) -> Result<GcReport> {
        let entries = self.entries().await?;
        let referenced: BTreeSet<Uuid> =
            entries.values().filter_map(EntryRecord::table_id).collect();
        let mut total = GcReport::default();
        for id in &referenced {
            let store = self.table_store(*id, format!("tables/{id}"));
            let r = collect_table(self, &store, *id, options).await?;
            total.versions_expired.extend(r.versions_expired);
            total.versions_kept.extend(r.versions_kept);
            total.files_deleted += r.files_deleted;
            total.bytes_freed += r.bytes_freed;
            total.files_guarded += r.files_guarded;
            total.versions_committed_meanwhile += r.versions_committed_meanwhile;
        }
        // Directories of dropped (or never registered) tables.
        let now = now_ms();
        let sweep_before = file_cutoff(now, options.age_guard);
        let root = &self.shared.root;
        let mut by_dir: std::collections::BTreeMap<
            String,
            Vec<(String, object_store::ObjectMeta)>,
        > = Default::default();
        for (name, meta) in root.list("tables").await? {
            let Some(id) = name
                .strip_prefix("tables/")
                .and_then(|r| r.split('/').next())
            else {
                continue;
            };
            let Ok(uuid) = Uuid::parse_str(id) else {
                continue;
            };
            if !referenced.contains(&uuid) {
                by_dir.entry(id.to_owned()).or_default().push((name, meta));
            }
        }
        for (_, objects) in by_dir {
            if objects.iter().all(|(_, m)| {
                u64::try_from(m.last_modified.timestamp_millis()).unwrap_or(0) <= sweep_before
            }) {
                for (name, meta) in objects {
                    root.delete(&name).await?;
                    total.files_deleted += 1;
                    total.bytes_freed += meta.size;
                }
                total.tables_removed += 1;
            } else {
                total.files_guarded += objects.len();
            }
        }
        // Old catalog versions.
        let log = VersionLog::new(root.clone(), "catalog");
        if let Some(latest) = log.latest().await? {
            let keep_after = cutoff(now, options.retention);
            let guard_after = cutoff(now, options.age_guard);
            // The same rule as for tables: walk down from the latest while versions are inside
            // the retention window or their successor is younger than the age guard, and
            // expire only versions below the oldest one kept.
            let timestamp = |v: u64| {
                let log = &log;
                async move {
                    Ok::<_, StorageError>(match log.read(v).await? {
                        Some(s) => Some(
                            serde_json::from_slice::<CatalogManifest>(&s.body)
                                .map_err(|e| StorageError::undecodable(log.version_path(v), e))?
                                .timestamp_ms,
                        ),
                        None => None,
                    })
                }
            };
            let mut oldest_kept = latest;
            let mut oldest_ms = timestamp(latest).await?.unwrap_or(u64::MAX);
            while let Some(prev) = oldest_kept.checked_sub(1) {
                let Some(prev_ms) = timestamp(prev).await? else {
                    break;
                };
                if prev_ms <= keep_after && oldest_ms <= guard_after {
                    break;
                }
                oldest_kept = prev;
                oldest_ms = prev_ms;
            }
            for v in log.list_versions().await? {
                if v < oldest_kept {
                    log.delete_version(v).await?;
                }
            }
        }
        Ok(total)
    }
}
