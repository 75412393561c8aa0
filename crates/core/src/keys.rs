//! The row keys of a chunk or of an update's added rows, held either as a buffer of keys or as
//! runs of consecutive keys.
//!
//! Most large tables have keys that come in long runs: a data-service location's rows are
//! `base..base + size`, a table filled by appends is numbered as it grew, a remote snapshot's
//! keys arrive as ranges. Holding such keys as runs costs two words per run instead of eight
//! bytes per row (80 MB for 10,000,000 rows, all of it fresh memory that a large step would
//! otherwise fill before it could be applied). Every operation the table model needs (length,
//! first and last key, the key at a position, searching, slicing, iterating, comparing) works on
//! runs directly; only [`Keys::as_slice`] writes the keys out, once per value, for the callers
//! that want a plain slice.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use arrow_buffer::ScalarBuffer;

use crate::row_set::{RowKey, RowSet};

/// Row keys, strictly ascending: a shared buffer, or a window of a shared list of runs. Cloning
/// and slicing never copy keys.
#[derive(Clone)]
pub(crate) enum Keys {
    /// One key per row, in a shared Arrow buffer (a slice of it, after [`Keys::slice`]).
    Buffer(ScalarBuffer<RowKey>),
    /// Positions `offset..offset + len` of a list of runs.
    Runs(RunWindow),
}

/// A window of a run list, with the keys written out on first demand.
#[derive(Clone)]
pub(crate) struct RunWindow {
    runs: Arc<RunList>,
    offset: usize,
    len: usize,
    /// The window's keys as a buffer, made by the first [`Keys::as_slice`] and shared by clones.
    written: Arc<OnceLock<ScalarBuffer<RowKey>>>,
}

/// Runs of consecutive keys: run `i` starts at key `starts[i]` and ends (exclusive) at position
/// `ends[i]` of the whole list; its first position is `ends[i - 1]` (0 for the first run).
pub(crate) struct RunList {
    starts: Vec<RowKey>,
    ends: Vec<usize>,
}

impl RunList {
    fn first_position(&self, run: usize) -> usize {
        match run.checked_sub(1) {
            Some(previous) => self.ends.get(previous).copied().unwrap_or(0),
            None => 0,
        }
    }

    /// The run holding `position` (below the total).
    fn run_at(&self, position: usize) -> usize {
        self.ends.partition_point(|end| *end <= position)
    }

    fn key_at(&self, position: usize) -> Option<RowKey> {
        let run = self.run_at(position);
        let start = self.starts.get(run)?;
        Some(start + (position - self.first_position(run)) as RowKey)
    }
}

impl Keys {
    /// The keys of `runs`, which the caller guarantees to be ascending and not to overlap;
    /// empty runs are skipped and a run that continues the previous one joins it.
    pub(crate) fn from_runs(runs: impl IntoIterator<Item = Range<RowKey>>) -> Self {
        let mut starts: Vec<RowKey> = Vec::new();
        let mut ends: Vec<usize> = Vec::new();
        let mut total = 0usize;
        // The key just past the last run, which a continuing run starts at.
        let mut next: Option<RowKey> = None;
        for run in runs {
            if run.is_empty() {
                continue;
            }
            total += usize::try_from(run.end - run.start).unwrap_or(usize::MAX);
            match ends.last_mut() {
                Some(end) if next == Some(run.start) => *end = total,
                _ => {
                    starts.push(run.start);
                    ends.push(total);
                }
            }
            next = Some(run.end);
        }
        Keys::Runs(RunWindow {
            runs: Arc::new(RunList { starts, ends }),
            offset: 0,
            len: total,
            written: Arc::new(OnceLock::new()),
        })
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        match self {
            Keys::Buffer(buffer) => buffer.len(),
            Keys::Runs(window) => window.len,
        }
    }

    /// Whether there are no keys.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key at `position`.
    pub(crate) fn get(&self, position: usize) -> Option<RowKey> {
        match self {
            Keys::Buffer(buffer) => buffer.get(position).copied(),
            Keys::Runs(window) if position < window.len => {
                window.runs.key_at(window.offset + position)
            }
            Keys::Runs(_) => None,
        }
    }

    /// The smallest key.
    pub(crate) fn first(&self) -> Option<RowKey> {
        self.get(0)
    }

    /// The largest key.
    pub(crate) fn last(&self) -> Option<RowKey> {
        self.len().checked_sub(1).and_then(|last| self.get(last))
    }

    /// Keys `offset..offset + len` (in range), sharing this value's storage.
    pub(crate) fn slice(&self, offset: usize, len: usize) -> Keys {
        match self {
            Keys::Buffer(buffer) => Keys::Buffer(buffer.slice(offset, len)),
            Keys::Runs(window) => {
                let len = len.min(window.len.saturating_sub(offset));
                Keys::Runs(RunWindow {
                    runs: window.runs.clone(),
                    offset: window.offset + offset.min(window.len),
                    len,
                    written: Arc::new(OnceLock::new()),
                })
            }
        }
    }

    /// The number of leading keys for which `below` holds (`below` must be true for a prefix
    /// and false after it, as for [`slice::partition_point`]). O(log n).
    pub(crate) fn partition_point(&self, mut below: impl FnMut(RowKey) -> bool) -> usize {
        match self {
            Keys::Buffer(buffer) => buffer.partition_point(|key| below(*key)),
            Keys::Runs(_) => {
                let (mut low, mut high) = (0, self.len());
                while low < high {
                    let middle = low + (high - low) / 2;
                    if self.get(middle).is_some_and(&mut below) {
                        low = middle + 1;
                    } else {
                        high = middle;
                    }
                }
                low
            }
        }
    }

    /// The position of `key`, if present. O(log n).
    pub(crate) fn position(&self, key: RowKey) -> Option<usize> {
        let at = self.partition_point(|k| k < key);
        (self.get(at) == Some(key)).then_some(at)
    }

    /// The keys, ascending, without writing them out.
    pub(crate) fn iter(&self) -> KeyIter<'_> {
        match self {
            Keys::Buffer(buffer) => KeyIter::Buffer(buffer.iter()),
            Keys::Runs(window) => {
                let runs: &RunList = &window.runs;
                let run = runs.run_at(window.offset);
                KeyIter::Runs {
                    runs,
                    run,
                    next: runs.key_at(window.offset).unwrap_or(0),
                    position: window.offset,
                    end: window.offset + window.len,
                }
            }
        }
    }

    /// The keys as ranges of consecutive keys, ascending (one per run; a buffer's keys are
    /// grouped into runs as they are read). The key u64::MAX, which no range can hold, is
    /// left out.
    pub(crate) fn ranges(&self) -> Vec<Range<RowKey>> {
        let mut ranges: Vec<Range<RowKey>> = Vec::new();
        match self {
            Keys::Runs(window) => {
                let runs = &window.runs;
                let end = window.offset + window.len;
                let mut position = window.offset;
                while position < end {
                    let run = runs.run_at(position);
                    let run_end = runs.ends.get(run).copied().unwrap_or(end).min(end);
                    let Some(first) = runs.key_at(position) else {
                        break;
                    };
                    ranges.push(first..first + (run_end - position) as RowKey);
                    position = run_end;
                }
            }
            Keys::Buffer(buffer) => ranges = runs_of(buffer.iter().copied()),
        }
        ranges
    }

    /// The keys as a set (from the runs, for run-held keys: nothing is written out).
    pub(crate) fn to_set(&self) -> RowSet {
        match self {
            Keys::Buffer(keys) => RowSet::from_ascending_unchecked(keys),
            Keys::Runs(_) => {
                let mut set = RowSet::new();
                for range in self.ranges() {
                    set.insert_range(range);
                }
                set
            }
        }
    }

    /// The keys as a plain slice: a buffer's own keys, or a run window's keys written out once
    /// (O(n) the first time, then kept with the value and its clones).
    pub(crate) fn as_slice(&self) -> &[RowKey] {
        match self {
            Keys::Buffer(buffer) => buffer,
            Keys::Runs(window) => window
                .written
                .get_or_init(|| self.iter().collect::<Vec<RowKey>>().into()),
        }
    }

    /// The keys as a vector (copies them).
    pub(crate) fn to_vec(&self) -> Vec<RowKey> {
        match self {
            Keys::Buffer(buffer) => buffer.to_vec(),
            Keys::Runs(_) => self.iter().collect(),
        }
    }
}

/// Ascending keys grouped into ranges of consecutive keys. No range can hold the key u64::MAX
/// (ends are exclusive): it is left out.
pub(crate) fn runs_of(keys: impl Iterator<Item = RowKey>) -> Vec<Range<RowKey>> {
    let mut ranges: Vec<Range<RowKey>> = Vec::new();
    for key in keys.filter(|key| *key < RowKey::MAX) {
        match ranges.last_mut() {
            Some(last) if last.end == key => last.end += 1,
            _ => ranges.push(key..key + 1),
        }
    }
    ranges
}

/// Checks that `ranges` ascend without overlapping and continue after `last` (the largest key
/// before them, updated); returns how many keys they hold. `position` is the number of keys
/// before them, for the error.
pub(crate) fn check_ranges(
    ranges: &[Range<RowKey>],
    last: &mut Option<RowKey>,
    position: usize,
) -> crate::error::Result<usize> {
    let mut count = 0usize;
    for range in ranges {
        if range.start > range.end || last.is_some_and(|prev| range.start <= prev) {
            return Err(crate::error::CoreError::KeysNotAscending {
                position: position + count,
                previous: last.unwrap_or(range.start),
                key: range.start.min(range.end),
            });
        }
        if !range.is_empty() {
            *last = Some(range.end - 1);
            count += usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
        }
    }
    Ok(count)
}

impl From<Vec<RowKey>> for Keys {
    fn from(keys: Vec<RowKey>) -> Self {
        Keys::Buffer(ScalarBuffer::from(keys))
    }
}

impl FromIterator<RowKey> for Keys {
    fn from_iter<I: IntoIterator<Item = RowKey>>(keys: I) -> Self {
        Keys::Buffer(keys.into_iter().collect())
    }
}

impl PartialEq for Keys {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keys::Buffer(buffer) => f.debug_list().entries(buffer.iter()).finish(),
            Keys::Runs(_) => f.debug_list().entries(self.ranges()).finish(),
        }
    }
}

/// The keys of a [`Keys`], ascending.
pub(crate) enum KeyIter<'a> {
    /// A buffer's keys.
    Buffer(std::slice::Iter<'a, RowKey>),
    /// A run window's keys: `next` is the key at `position`, in run `run`.
    Runs {
        runs: &'a RunList,
        run: usize,
        next: RowKey,
        position: usize,
        end: usize,
    },
}

impl Iterator for KeyIter<'_> {
    type Item = RowKey;

    fn next(&mut self) -> Option<RowKey> {
        match self {
            KeyIter::Buffer(keys) => keys.next().copied(),
            KeyIter::Runs {
                runs,
                run,
                next,
                position,
                end,
            } => {
                if *position >= *end {
                    return None;
                }
                let key = *next;
                *position += 1;
                if runs
                    .ends
                    .get(*run)
                    .is_some_and(|run_end| *position >= *run_end)
                {
                    *run += 1;
                    *next = runs.starts.get(*run).copied().unwrap_or(0);
                } else {
                    *next += 1;
                }
                Some(key)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = match self {
            KeyIter::Buffer(keys) => keys.len(),
            KeyIter::Runs { position, end, .. } => end.saturating_sub(*position),
        };
        (left, Some(left))
    }
}

impl ExactSizeIterator for KeyIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    // Guards: a run window answers every question exactly as the same keys in a buffer do,
    // across run boundaries, for every slice.
    #[test]
    fn runs_behave_as_their_keys() {
        let runs = [3..6, 6..8, 10..11, 20..24, 30..30, 40..43];
        let keys = Keys::from_runs(runs.iter().cloned());
        let plain: Vec<RowKey> = runs.iter().cloned().flatten().collect();
        let buffer = Keys::from(plain.clone());
        // 3..6 and 6..8 joined: four runs left.
        assert_eq!(keys.ranges(), vec![3..8, 10..11, 20..24, 40..43]);
        assert_eq!(buffer.ranges(), keys.ranges());
        for offset in 0..=plain.len() {
            for len in 0..=plain.len() - offset {
                let a = keys.slice(offset, len);
                let b = buffer.slice(offset, len);
                let expected = plain.get(offset..offset + len).unwrap_or_default();
                assert_eq!(a.len(), len);
                assert_eq!(a.iter().collect::<Vec<_>>(), expected, "{offset}+{len}");
                assert_eq!(a.iter().len(), len);
                assert_eq!(a.as_slice(), expected);
                assert_eq!(a.to_vec(), expected);
                assert_eq!(a, b);
                assert_eq!(a.first(), expected.first().copied());
                assert_eq!(a.last(), expected.last().copied());
                for (i, key) in expected.iter().enumerate() {
                    assert_eq!(a.get(i), Some(*key));
                    assert_eq!(a.position(*key), Some(i));
                }
                assert_eq!(a.get(len), None);
                for probe in 0..45 {
                    assert_eq!(
                        a.partition_point(|k| k < probe),
                        expected.partition_point(|k| *k < probe),
                        "{offset}+{len} probe {probe}"
                    );
                    assert_eq!(a.position(probe), expected.iter().position(|k| *k == probe));
                }
                let flat: Vec<RowKey> = a.ranges().into_iter().flatten().collect();
                assert_eq!(flat, expected);
            }
        }
        assert!(Keys::from_runs(Vec::new()).is_empty());
    }
}
