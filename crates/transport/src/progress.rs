//! Progress reporting: the transport calls a callback as it plans and moves files, and the CLI
//! turns the calls into progress bars. The library itself never prints.

use std::sync::Arc;

/// One step of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// A version's missing files were found: this many files and bytes will move.
    Planned {
        /// The version being transferred.
        version: u64,
        /// Files to move.
        files: u64,
        /// Bytes to move.
        bytes: u64,
    },
    /// One file moved.
    Transferred {
        /// Its size.
        bytes: u64,
    },
    /// A version was committed on the receiving side.
    Committed {
        /// The version.
        version: u64,
    },
}

/// The callback type: called from the transferring task, in order for each version.
pub type ProgressFn = Arc<dyn Fn(&ProgressEvent) + Send + Sync>;

/// What a transfer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferReport {
    /// The versions committed on the receiving side by this call, ascending.
    pub versions: Vec<u64>,
    /// Files (data files, deletion vectors) sent.
    pub files_sent: u64,
    /// Bytes of those files, as stored on the receiving side.
    pub bytes_sent: u64,
    /// Files the receiving side already had (checked, not sent).
    pub files_skipped: u64,
    /// The receiving side's version after the call.
    pub version: u64,
}
