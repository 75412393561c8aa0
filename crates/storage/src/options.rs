//! Options of a catalog and of the table handles it opens.

use std::time::Duration;

use crate::format::datafile::FileLimits;

/// Options of a [`Catalog`](crate::Catalog) and the table handles it opens.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CatalogOptions {
    /// How often live handles check the store for commits made by other processes.
    pub watch_interval: Duration,
    /// At most this many rows per data file: a bigger insert is cut into several files,
    /// encoded in parallel (default 1,048,576; files are cut into Parquet row groups of 65,536
    /// rows).
    pub max_rows_per_file: usize,
    /// About this many bytes of in-memory Arrow data per data file (default 128 MiB).
    pub max_bytes_per_file: usize,
    /// A data file whose live rows take fewer bytes than this is *small* (default 8 MiB).
    pub small_file_bytes: u64,
    /// When an insert leaves more small files than this, a background compaction merges the
    /// smallest ones, as a version of its own, until an eighth of this many remain (default 64;
    /// `usize::MAX` turns automatic compaction off). See docs/format.md, "Compaction".
    pub max_small_files: usize,
    /// Whether an insert that leaves more than [`CatalogOptions::max_small_files`] small files
    /// starts a compaction in the background (its own version, committed after the insert's;
    /// default true). Without a tokio runtime nothing starts; `Table::compact` always works.
    pub background_compaction: bool,
    /// How long a version read as the latest is trusted as the base of a commit (default 5
    /// minutes); a commit on an older base re-reads the latest version first. Garbage
    /// collection's age guard must exceed it (see the `commit` module docs).
    pub max_commit_duration: Duration,
}

impl Default for CatalogOptions {
    fn default() -> Self {
        Self {
            watch_interval: Duration::from_millis(200),
            max_rows_per_file: 1 << 20,
            max_bytes_per_file: 128 << 20,
            small_file_bytes: 8 << 20,
            max_small_files: 64,
            background_compaction: true,
            max_commit_duration: Duration::from_secs(300),
        }
    }
}

impl CatalogOptions {
    /// Sets [`CatalogOptions::watch_interval`].
    #[must_use]
    pub fn with_watch_interval(mut self, interval: Duration) -> Self {
        self.watch_interval = interval;
        self
    }

    /// Sets [`CatalogOptions::max_rows_per_file`] and [`CatalogOptions::max_bytes_per_file`]
    /// (each at least 1).
    #[must_use]
    pub fn with_file_limits(mut self, max_rows: usize, max_bytes: usize) -> Self {
        self.max_rows_per_file = max_rows.max(1);
        self.max_bytes_per_file = max_bytes.max(1);
        self
    }

    /// Sets [`CatalogOptions::small_file_bytes`] and [`CatalogOptions::max_small_files`]
    /// (at least 2).
    #[must_use]
    pub fn with_compaction(mut self, small_file_bytes: u64, max_small_files: usize) -> Self {
        self.small_file_bytes = small_file_bytes;
        self.max_small_files = max_small_files.max(2);
        self
    }

    /// Sets [`CatalogOptions::background_compaction`].
    #[must_use]
    pub fn with_background_compaction(mut self, on: bool) -> Self {
        self.background_compaction = on;
        self
    }

    /// Sets [`CatalogOptions::max_commit_duration`].
    #[must_use]
    pub fn with_max_commit_duration(mut self, duration: Duration) -> Self {
        self.max_commit_duration = duration;
        self
    }

    pub(crate) fn file_limits(&self) -> FileLimits {
        FileLimits {
            max_rows: self.max_rows_per_file.max(1),
            max_bytes: self.max_bytes_per_file.max(1),
        }
    }
}
