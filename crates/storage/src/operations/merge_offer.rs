//! Handing a finished compaction merge to the next append, so appends never wait for it.
//!
//! A compaction merges files (the slow part) and then must commit on the latest version. A
//! writer appending back to back is always at the head and wins every race, so the compaction
//! would keep re-reading and retrying; making the appends wait for it instead puts a whole extra
//! commit in their latency tail. So once a compaction of this process has merged, it *offers*
//! the merge: the next append of this process whose base still holds every replaced file
//! unchanged commits the merge as part of its own version (the replaced files leave the
//! manifest, the merged ones join it, beside the append's own file). One commit, no waiting.
//! The compaction itself keeps trying to commit too; exactly one of them lands the merge, as
//! the conditional create decides, and the loser sees it on its rebase: the append finds the
//! replaced files gone and appends plainly, the compaction finds its merged files present and
//! is done.
//!
//! A background compaction, once it has offered its merge, first waits briefly for an append to
//! take it ([`BACKGROUND_OFFER_WAIT`]), and commits by itself only if none does: under a stream of
//! appends its own commit would otherwise collide with the next append's, and the loser (often
//! the append) would have to rebase. An explicit compaction commits at once.
//!
//! An offer lives only while its compaction runs, and an append takes it only while it is
//! younger than half of [`CatalogOptions::max_commit_duration`]: the merged files are then
//! well inside GC's age guard when the commit lands, as for any file a writer puts.
//!
//! [`CatalogOptions::max_commit_duration`]: crate::CatalogOptions::max_commit_duration

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use uuid::Uuid;

use crate::format::manifest::{DataFileEntry, TableManifest};

/// How long a background compaction leaves its offered merge to the appends before committing
/// it by itself.
pub(crate) const BACKGROUND_OFFER_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// A merge a compaction has written and not yet seen committed.
#[derive(Debug, Clone)]
pub(crate) struct MergeOffer {
    serial: u64,
    /// Set by the append that committed the merge, to the version it committed.
    landed: Arc<Landed>,
    /// The files the merge replaces, as the compaction read them.
    pub(crate) replaced: Vec<DataFileEntry>,
    /// The merged files (never empty: a merge that left no rows is not offered).
    pub(crate) written: Vec<DataFileEntry>,
    merged_at: Instant,
}

impl MergeOffer {
    /// Whether `m` still holds every replaced file as it was (same object, same deletion
    /// vector), so the merge applies to it.
    pub(crate) fn applies_to(&self, m: &TableManifest) -> bool {
        all_unchanged(&self.replaced, m)
    }

    /// Whether an append may still commit the merged files: see the module docs.
    pub(crate) fn fresh(&self, max_commit_duration: std::time::Duration) -> bool {
        self.merged_at.elapsed() < max_commit_duration / 2
    }

    /// Tells the compaction that offered this merge that version `version` committed it.
    pub(crate) fn landed_in(&self, version: u64) {
        let _ = self.landed.version.set(version);
        self.landed.notify.notify_one();
    }

    /// Applies the merge to `m`'s file list: the replaced files leave it, the merged ones join.
    pub(crate) fn apply(&self, m: &mut TableManifest) {
        let gone: HashSet<&str> = self.replaced.iter().map(|f| f.path.as_str()).collect();
        m.files.retain(|f| !gone.contains(f.path.as_str()));
        m.files.extend(self.written.iter().cloned());
    }
}

/// Where the append that commits a merge reports the version to the compaction that offered it.
#[derive(Debug, Default)]
pub(crate) struct Landed {
    version: std::sync::OnceLock<u64>,
    notify: tokio::sync::Notify,
}

impl Landed {
    /// Waits at most `max` for an append to commit the merge; the version it committed.
    pub(crate) async fn wait(&self, max: std::time::Duration) -> Option<u64> {
        if let Some(v) = self.version.get() {
            return Some(*v);
        }
        let _ = tokio::time::timeout(max, self.notify.notified()).await;
        self.version.get().copied()
    }
}

/// The offers of one catalog's handles, by table.
#[derive(Debug, Default)]
pub(crate) struct MergeOffers {
    by_table: Mutex<HashMap<Uuid, MergeOffer>>,
    serial: AtomicU64,
}

impl MergeOffers {
    /// Offers a merge of table `id` until the returned guard drops (replacing an earlier
    /// offer of the same table). `None` for a merge that wrote nothing.
    pub(crate) fn offer(
        self: &Arc<Self>,
        id: Uuid,
        replaced: Vec<DataFileEntry>,
        written: Vec<DataFileEntry>,
    ) -> Option<OfferGuard> {
        if written.is_empty() {
            return None;
        }
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let landed = Arc::new(Landed::default());
        self.lock().insert(
            id,
            MergeOffer {
                serial,
                landed: Arc::clone(&landed),
                replaced,
                written,
                merged_at: Instant::now(),
            },
        );
        Some(OfferGuard {
            offers: Arc::clone(self),
            id,
            serial,
            landed,
        })
    }

    /// The current offer for table `id`, if any.
    pub(crate) fn get(&self, id: Uuid) -> Option<MergeOffer> {
        self.lock().get(&id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, MergeOffer>> {
        self.by_table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Withdraws its offer when dropped (unless a newer offer replaced it).
#[derive(Debug)]
pub(crate) struct OfferGuard {
    offers: Arc<MergeOffers>,
    id: Uuid,
    serial: u64,
    landed: Arc<Landed>,
}

impl OfferGuard {
    /// Where an append reports committing this offer.
    pub(crate) fn landed(&self) -> Arc<Landed> {
        Arc::clone(&self.landed)
    }
}

impl Drop for OfferGuard {
    fn drop(&mut self) {
        let mut offers = self.offers.lock();
        if offers
            .get(&self.id)
            .is_some_and(|o| o.serial == self.serial)
        {
            offers.remove(&self.id);
        }
    }
}

/// Whether every file of `replaced` is in `m` as it was (same object, same deletion vector).
pub(crate) fn all_unchanged(replaced: &[DataFileEntry], m: &TableManifest) -> bool {
    replaced.iter().all(|r| {
        m.files
            .iter()
            .any(|f| f.path == r.path && f.deletion_vector == r.deletion_vector)
    })
}

/// Whether every file of `written` is in `m` (a merge someone committed).
pub(crate) fn all_present(written: &[DataFileEntry], m: &TableManifest) -> bool {
    !written.is_empty()
        && written
            .iter()
            .all(|w| m.files.iter().any(|f| f.path == w.path))
}
