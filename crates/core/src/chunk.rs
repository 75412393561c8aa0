//! Key-ranged chunks: the pieces a [`Snapshot`](crate::Snapshot) is made of, and the rules that
//! keep them sized.
//!
//! A snapshot is a sequence of [`Chunk`]s, each a run of ascending row keys with an Arrow batch
//! of the rows, keys ascending across chunks too. Chunks are immutable and shared (`Arc`)
//! between every snapshot that contains them, so a step rebuilds only the chunks it touches and
//! copies pointers to the rest.
//!
//! The size rules that keep chunks bounded are documented on [`ChunkBounds`], where users of
//! the crate see them.

use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::error::Result;
use crate::kernels::{Merge, merge_batches};
use crate::row_set::RowKey;

/// How large the chunks of a snapshot may grow.
///
/// # Rules
///
/// [`ChunkBounds`] fixes a largest chunk (`max_rows`). After a step rebuilt some chunks, one pass
/// over the chunk list (O(number of chunks), comparing lengths only) restores two rules:
///
/// * **Split.** A chunk over `max_rows` is cut into equal pieces of at most `max_rows`. Cutting is
///   zero-copy (Arrow slices); only the keys are copied.
/// * **Merge.** Two neighbours merge (their rows are copied once into one batch) when together
///   they fit in `max_rows` and either they are *similar* (the smaller holds at least half as
///   many rows as the larger) or together they are *small* (at most
///   [`small_rows`](ChunkBounds::small_rows), `max_rows / 16`).
///
/// The similarity rule is what makes appends cheap: a run of one-row appends builds up a tail of
/// chunks of roughly doubling sizes, like the carries of a binary counter. Most appends copy at
/// most `small_rows` rows (the small tail they join); a larger merge happens only when two
/// neighbours of similar size meet, rarely, and never copies more than `max_rows` rows. The
/// smallness rule bounds the number of chunks: any two neighbours together hold more than
/// `small_rows` rows, so a table of `n` rows has fewer than `2n / small_rows + 1` chunks (and about
/// `n / max_rows` when it was built in one go or grew by appends).
///
/// ```
/// use tableshare_core::ChunkBounds;
///
/// assert_eq!(ChunkBounds::default().max_rows(), 65_536);
/// let tiny = ChunkBounds::new(4);
/// assert_eq!((tiny.max_rows(), tiny.small_rows()), (4, 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkBounds {
    max_rows: usize,
}

impl ChunkBounds {
    /// The default largest chunk: 65,536 rows.
    pub const DEFAULT_MAX_ROWS: usize = 1 << 16;

    /// Chunks of at most `max_rows` rows (at least 2; smaller values are raised to 2).
    pub fn new(max_rows: usize) -> Self {
        Self {
            max_rows: max_rows.max(2),
        }
    }

    /// The largest chunk.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// Neighbours holding this many rows or fewer together always merge: `max_rows / 16`, at
    /// least 1.
    pub fn small_rows(&self) -> usize {
        (self.max_rows / 16).max(1)
    }

    /// Whether neighbours of `left` and `right` rows merge.
    pub(crate) fn should_merge(&self, left: usize, right: usize) -> bool {
        let total = left.saturating_add(right);
        if total > self.max_rows {
            return false;
        }
        let (smaller, larger) = (left.min(right), left.max(right));
        total <= self.small_rows() || smaller.saturating_mul(2) >= larger
    }
}

impl Default for ChunkBounds {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_ROWS)
    }
}

/// How often chunks were split and merged: a diagnostic of the size rules, summed over the steps
/// of a [`LiveTable`](crate::LiveTable) by [`LiveTable::chunk_stats`](crate::LiveTable::chunk_stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChunkStats {
    /// Chunks cut because they grew over `max_rows` (one per chunk cut, whatever the pieces).
    pub splits: u64,
    /// Pairs of neighbours merged into one chunk.
    pub merges: u64,
}

impl ChunkStats {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: ChunkStats) {
        self.splits = self.splits.saturating_add(other.splits);
        self.merges = self.merges.saturating_add(other.merges);
    }
}

/// A run of rows of a snapshot: ascending keys and a batch whose rows correspond to them, never
/// empty. Immutable and shared between snapshots.
#[derive(Clone, Debug)]
pub struct Chunk {
    keys: Keys,
    batch: RecordBatch,
}

pub(crate) use crate::keys::Keys;

impl Chunk {
    /// From keys and rows the caller guarantees to fit (ascending, one key per row, non-empty,
    /// the snapshot's schema).
    pub(crate) fn new_unchecked(keys: Keys, batch: RecordBatch) -> Self {
        Self { keys, batch }
    }

    /// The keys, ascending, as a slice. A chunk whose keys are runs of consecutive keys (a
    /// data-service location, a remote snapshot) writes them out on the first call and keeps
    /// them; [`key_ranges`](Self::key_ranges) and [`key_at`](Self::key_at) never do.
    pub fn keys(&self) -> &[RowKey] {
        self.keys.as_slice()
    }

    /// The keys as ranges of consecutive keys, ascending (the key u64::MAX, which no range can
    /// hold, is left out).
    pub fn key_ranges(&self) -> Vec<std::ops::Range<RowKey>> {
        self.keys.ranges()
    }

    /// The keys of rows `rows` of the chunk (positions, in range) as a set, without writing
    /// out keys held as runs.
    pub fn key_set_of(&self, rows: std::ops::Range<usize>) -> crate::RowSet {
        self.keys.slice(rows.start, rows.len()).to_set()
    }

    /// The key of row `offset` of the chunk.
    pub fn key_at(&self, offset: usize) -> Option<RowKey> {
        self.keys.get(offset)
    }

    /// The keys, shared.
    pub(crate) fn shared_keys(&self) -> &Keys {
        &self.keys
    }

    /// The rows, in key order, with the snapshot's Arrow schema.
    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.keys.len()
    }

    /// The smallest key (chunks are never empty).
    pub fn first_key(&self) -> RowKey {
        self.keys.first().unwrap_or_default()
    }

    /// The largest key.
    pub fn last_key(&self) -> RowKey {
        self.keys.last().unwrap_or_default()
    }

    /// Rows `offset..offset + len` (in range): keys and batch are zero-copy slices.
    pub(crate) fn slice(&self, offset: usize, len: usize) -> Chunk {
        Chunk {
            keys: self.keys.slice(offset, len),
            batch: self.batch.slice(offset, len),
        }
    }
}

/// Builds a chunk list from chunks in key order, applying the [size rules](ChunkBounds) as it goes:
/// oversized chunks are split when pushed, and a pushed chunk merges with its left neighbour
/// (repeatedly) while the rules say so.
pub(crate) struct ChunkListBuilder {
    bounds: ChunkBounds,
    chunks: Vec<Arc<Chunk>>,
    stats: ChunkStats,
}

impl ChunkListBuilder {
    pub(crate) fn new(bounds: ChunkBounds, capacity: usize) -> Self {
        Self {
            bounds,
            chunks: Vec::with_capacity(capacity),
            stats: ChunkStats::default(),
        }
    }

    /// Appends `chunk` (empty chunks are dropped). An untouched chunk of a valid list is pushed
    /// as is: its length check against the neighbour is all it costs.
    pub(crate) fn push(&mut self, chunk: Arc<Chunk>) -> Result<()> {
        let rows = chunk.num_rows();
        if rows == 0 {
            return Ok(());
        }
        if rows > self.bounds.max_rows {
            self.stats.splits += 1;
            let pieces = rows.div_ceil(self.bounds.max_rows);
            let size = rows.div_ceil(pieces);
            let mut offset = 0;
            while offset < rows {
                let len = size.min(rows - offset);
                self.push_merging(Arc::new(chunk.slice(offset, len)))?;
                offset += len;
            }
            return Ok(());
        }
        self.push_merging(chunk)
    }

    fn push_merging(&mut self, chunk: Arc<Chunk>) -> Result<()> {
        let mut chunk = chunk;
        while let Some(left) = self.chunks.pop() {
            if !self.bounds.should_merge(left.num_rows(), chunk.num_rows()) {
                self.chunks.push(left);
                break;
            }
            chunk = Arc::new(merge(&left, &chunk)?);
            self.stats.merges += 1;
        }
        self.chunks.push(chunk);
        Ok(())
    }

    /// The chunks and how many splits and merges building them took.
    pub(crate) fn finish(self) -> (Vec<Arc<Chunk>>, ChunkStats) {
        (self.chunks, self.stats)
    }
}

/// One chunk with the rows of `left` followed by those of `right` (whose keys follow).
fn merge(left: &Chunk, right: &Chunk) -> Result<Chunk> {
    let keys = if matches!((&left.keys, &right.keys), (Keys::Runs(_), Keys::Runs(_))) {
        // Two run chunks stay runs (and join where they touch).
        Keys::from_runs(left.keys.ranges().into_iter().chain(right.keys.ranges()))
    } else {
        left.keys.iter().chain(right.keys.iter()).collect()
    };
    let batch = merge_batches(&left.batch, &right.batch, &Merge::Concat)?;
    Ok(Chunk { keys, batch })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_rules() {
        let bounds = ChunkBounds::new(64);
        let check = |left, right, expected| {
            assert_eq!(
                bounds.should_merge(left, right),
                expected,
                "{left} + {right}"
            );
        };
        // Small together (at most 64 / 16 = 4 rows).
        check(3, 1, true);
        // Similar sizes.
        check(8, 4, true);
        check(4, 8, true);
        // Dissimilar and not small: a one-row append does not copy a big neighbour.
        check(9, 1, false);
        // Never over the largest chunk.
        check(40, 30, false);
        check(32, 32, true);
    }
}
