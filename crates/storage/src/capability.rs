//! Refusing object stores that cannot commit safely.
//!
//! The commit protocol ([`crate::format::log`]) is only correct on a store whose conditional create
//! (`PutMode::Create`) is atomic: of two creates of one path, exactly one succeeds and the other
//! is told `AlreadyExists`. Some stores do not offer it at all (they answer `NotImplemented`,
//! as `object_store`'s S3 client does when conditional put is disabled), and some S3-compatible
//! servers accept the `If-None-Match: *` header and silently ignore it, overwriting the object.
//! On such a store two writers would both "win" a version and one commit would vanish.
//!
//! So before the first write through a catalog handle, [`Probe::require`] asks the store once:
//! it conditionally creates a fresh probe object under `_probes/`, creates it again (which must
//! come back `AlreadyExists`), and deletes it. A store that answers `NotImplemented` or
//! overwrites is refused with [`StorageError::UnsupportedStore`], naming the store and what it
//! lacks; a store that merely fails (timeout, outage) gives a [`StorageError::Store`] and the
//! probe runs again on the next write. Reads never probe, so a store without conditional create
//! can still be read from.
//!
//! The probe checks the capability, not its atomicity under concurrent requests: that is what the
//! multi-process race tests (`crates/storage/tests/races.rs`) prove for each store we support.

use bytes::Bytes;
use tokio::sync::OnceCell;
use tracing::{debug, warn};
use uuid::Uuid;

use crate::error::{Result, StorageError};
use crate::format::store::{CreateOutcome, StoreRoot};

/// Where probe objects live, relative to the catalog root (outside `catalog/` and `tables/`).
const PROBE_DIR: &str = "_probes";

/// What the store lacks, as named in [`StorageError::UnsupportedStore`].
const LACKS_CREATE: &str = "conditional create (PutMode::Create answers NotImplemented)";
const LACKS_ATOMIC: &str = concat!(
    "atomic conditional create (a second PutMode::Create of one path overwrote the object ",
    "instead of failing with AlreadyExists)"
);

/// The once-per-catalog-handle capability check. Cheap to share: clones of a catalog's
/// [`StoreRoot`] share one probe.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    passed: OnceCell<()>,
}

impl Probe {
    /// Checks, once per catalog handle, that `root`'s store has atomic conditional create.
    ///
    /// # Errors
    ///
    /// [`StorageError::UnsupportedStore`] if it does not; [`StorageError::Store`] if the store
    /// failed while being asked. Only success is remembered: after a failure the next write
    /// asks again.
    pub(crate) async fn require(&self, root: &StoreRoot) -> Result<()> {
        self.passed
            .get_or_try_init(|| probe(root))
            .await
            .map(|_| ())
    }
}

/// Runs the probe: create, create again (must be refused), delete.
async fn probe(root: &StoreRoot) -> Result<()> {
    let rel = format!("{PROBE_DIR}/{}", Uuid::new_v4());
    let outcome = check(root, &rel).await;
    // Best effort: a probe object left behind costs a few bytes and nothing else.
    if let Err(error) = root.delete(&rel).await {
        warn!(path = %rel, %error, "could not delete the capability probe object");
    }
    if outcome.is_ok() {
        debug!(store = %root.store(), "store has atomic conditional create");
    }
    outcome
}

async fn check(root: &StoreRoot, rel: &str) -> Result<()> {
    let unsupported = |lacks: &'static str, source| StorageError::UnsupportedStore {
        store: root.store().to_string(),
        lacks,
        source,
    };
    // The first create of a fresh name. `AlreadyExists` is fine too: the store's client may have
    // retried a create whose response was lost, and being refused is the capability we want.
    match root.put_create(rel, Bytes::from_static(b"first")).await {
        CreateOutcome::Created | CreateOutcome::AlreadyExists => {}
        CreateOutcome::Unknown(source @ object_store::Error::NotImplemented { .. }) => {
            return Err(unsupported(LACKS_CREATE, Some(source)));
        }
        CreateOutcome::Unknown(source) => {
            return Err(StorageError::store("conditional create probe", &rel)(
                source,
            ));
        }
    }
    match root.put_create(rel, Bytes::from_static(b"second")).await {
        CreateOutcome::AlreadyExists => Ok(()),
        CreateOutcome::Created => Err(unsupported(LACKS_ATOMIC, None)),
        CreateOutcome::Unknown(source @ object_store::Error::NotImplemented { .. }) => {
            Err(unsupported(LACKS_CREATE, Some(source)))
        }
        CreateOutcome::Unknown(source) => Err(StorageError::store(
            "conditional create probe",
            &rel,
        )(source)),
    }
}
