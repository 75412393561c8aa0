//! Row keys and sets of them.
//!
//! A row keeps its [`RowKey`] for as long as it lives, whatever happens to the rows around it:
//! updates, replicas and storage all name rows by key, never by position. Sets of keys (the rows
//! an update removes, the rows a deletion vector hides, the rows a subscriber holds) are
//! [`RowSet`]s: compressed roaring bitmaps over `u64`, so set algebra on millions of keys stays
//! cheap and a set can be persisted in the portable roaring format that the C, Java and Go
//! implementations read.
//!
//! `RowSet` wraps [`roaring::RoaringTreemap`] rather than exposing it, so the roaring version is
//! not part of this crate's public API.

use std::fmt;
use std::io;
use std::ops::Range;

use roaring::RoaringTreemap;

use crate::error::{CoreError, Result};

/// The stable identity of a row. Keys are assigned once, ascending, and never change while the
/// row lives; a removed key may be reused later.
pub type RowKey = u64;

/// A set of [`RowKey`]s, stored as a roaring bitmap and iterated in ascending order.
///
/// ```
/// use tableshare_core::RowSet;
///
/// let removed: RowSet = [7, 3, 5].into_iter().collect();
/// let held = RowSet::from_range(0..6);
/// assert_eq!(held.difference(&removed).to_vec(), vec![0, 1, 2, 4]);
///
/// let mut bytes = Vec::new();
/// removed.serialize_into(&mut bytes)?;
/// assert_eq!(RowSet::deserialize_from(&bytes[..])?, removed);
/// # Ok::<(), tableshare_core::CoreError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RowSet(RoaringTreemap);

impl RowSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys of `range`.
    pub fn from_range(range: Range<RowKey>) -> Self {
        let mut set = RoaringTreemap::new();
        set.insert_range(range);
        Self(set)
    }

    /// Builds a set from keys that must be strictly ascending (the shape row keys travel in).
    ///
    /// # Errors
    ///
    /// [`CoreError::KeysNotAscending`] naming the first key out of order.
    pub fn from_sorted_keys(keys: &[RowKey]) -> Result<Self> {
        check_ascending(keys)?;
        Ok(Self::from_ascending_unchecked(keys))
    }

    /// Builds a set from keys the caller has already checked to be strictly ascending.
    pub(crate) fn from_ascending_unchecked(keys: &[RowKey]) -> Self {
        let mut set = RoaringTreemap::new();
        // `append` is the fast path for sorted input; it only fails on unsorted input, in which
        // case the slower general path still builds the right set.
        if set.append(keys.iter().copied()).is_err() {
            set = keys.iter().copied().collect();
        }
        Self(set)
    }

    /// Adds a key; returns whether it was new.
    pub fn insert(&mut self, key: RowKey) -> bool {
        self.0.insert(key)
    }

    /// Adds every key of `range`; returns how many were new.
    pub fn insert_range(&mut self, range: Range<RowKey>) -> u64 {
        self.0.insert_range(range)
    }

    /// Removes a key; returns whether it was present.
    pub fn remove(&mut self, key: RowKey) -> bool {
        self.0.remove(key)
    }

    /// Whether `key` is in the set.
    pub fn contains(&self, key: RowKey) -> bool {
        self.0.contains(key)
    }

    /// Number of keys.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether the set has no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The smallest key.
    pub fn min(&self) -> Option<RowKey> {
        self.0.min()
    }

    /// The largest key.
    pub fn max(&self) -> Option<RowKey> {
        self.0.max()
    }

    /// The keys in ascending order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = RowKey> + '_ {
        self.0.iter()
    }

    /// The keys in ascending order, collected.
    pub fn to_vec(&self) -> Vec<RowKey> {
        match (self.min(), self.max()) {
            // A contiguous run (a snapshot's keys, an append's): counted, not iterated.
            (Some(min), Some(max)) if max - min + 1 == self.len() => (min..=max).collect(),
            _ => self.0.iter().collect(),
        }
    }

    /// The keys as ranges of consecutive keys, ascending: as many ranges as the set has runs,
    /// so a set of a few dense ranges yields a few ranges without writing out its keys. O(n).
    ///
    /// ```
    /// use tableshare_core::RowSet;
    ///
    /// let set: RowSet = [1, 2, 3, 7, 8, 20].into_iter().collect();
    /// assert_eq!(set.ranges(), vec![1..4, 7..9, 20..21]);
    /// ```
    pub fn ranges(&self) -> Vec<Range<RowKey>> {
        match (self.min(), self.max()) {
            // (A key of u64::MAX cannot end a range: it is left out, so a caller counting
            // the ranges' keys sees one fewer than `len`.)
            (Some(min), Some(max)) if max - min + 1 == self.len() => {
                return std::iter::once(min..max.saturating_add(1)).collect();
            }
            (None, _) | (_, None) => return Vec::new(),
            _ => {}
        }
        crate::keys::runs_of(self.0.iter())
    }

    /// Keys in either set.
    pub fn union(&self, other: &RowSet) -> RowSet {
        RowSet(&self.0 | &other.0)
    }

    /// Keys in both sets.
    pub fn intersection(&self, other: &RowSet) -> RowSet {
        RowSet(&self.0 & &other.0)
    }

    /// Keys in `self` but not in `other`.
    pub fn difference(&self, other: &RowSet) -> RowSet {
        RowSet(&self.0 - &other.0)
    }

    /// Adds every key of `other` to `self`.
    pub fn union_with(&mut self, other: &RowSet) {
        self.0 |= &other.0;
    }

    /// Removes every key of `other` from `self`.
    pub fn difference_with(&mut self, other: &RowSet) {
        self.0 -= &other.0;
    }

    /// Keeps only the keys also in `other`.
    pub fn intersect_with(&mut self, other: &RowSet) {
        self.0 &= &other.0;
    }

    /// Whether every key of `self` is in `other`.
    pub fn is_subset(&self, other: &RowSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Whether the sets share no key.
    pub fn is_disjoint(&self, other: &RowSet) -> bool {
        self.0.is_disjoint(&other.0)
    }

    /// Size in bytes of [`serialize_into`](Self::serialize_into)'s output.
    pub fn serialized_size(&self) -> usize {
        self.0.serialized_size()
    }

    /// Writes the set in the portable 64-bit roaring format (a little-endian `u64` count of
    /// 32-bit bitmaps, then per bitmap its high 32 bits and the standard portable 32-bit
    /// serialization), which the C/C++, Java and Go roaring implementations also read.
    ///
    /// # Errors
    ///
    /// [`CoreError::RowSetEncoding`] when the writer fails.
    pub fn serialize_into<W: io::Write>(&self, writer: W) -> Result<()> {
        self.0
            .serialize_into(writer)
            .map_err(|source| CoreError::RowSetEncoding {
                operation: "serialize",
                source,
            })
    }

    /// Reads a set written by [`serialize_into`](Self::serialize_into) (or any portable 64-bit
    /// roaring writer), validating its contents.
    ///
    /// # Errors
    ///
    /// [`CoreError::RowSetEncoding`] when the reader fails or the bytes are not a valid bitmap.
    pub fn deserialize_from<R: io::Read>(reader: R) -> Result<Self> {
        RoaringTreemap::deserialize_from(reader)
            .map(Self)
            .map_err(|source| CoreError::RowSetEncoding {
                operation: "deserialize",
                source,
            })
    }
}

impl fmt::Debug for RowSet {
    /// Lists small sets in full and summarizes large ones, so that debugging output of big
    /// updates stays readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LISTED: u64 = 32;
        match (self.min(), self.max()) {
            (Some(min), Some(max)) if self.len() > LISTED => {
                write!(f, "RowSet({} keys in {min}..={max})", self.len())
            }
            _ => f.debug_set().entries(self.iter()).finish(),
        }
    }
}

impl FromIterator<RowKey> for RowSet {
    fn from_iter<I: IntoIterator<Item = RowKey>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl Extend<RowKey> for RowSet {
    fn extend<I: IntoIterator<Item = RowKey>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

/// Checks that `keys` is strictly ascending.
pub(crate) fn check_ascending(keys: &[RowKey]) -> Result<()> {
    match keys.windows(2).position(|pair| pair[0] >= pair[1]) {
        None => Ok(()),
        Some(index) => Err(CoreError::KeysNotAscending {
            position: index + 1,
            previous: keys[index],
            key: keys[index + 1],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a set from a list, applies `op`, and compares the ascending result.
    fn check(
        left: &[RowKey],
        right: &[RowKey],
        op: fn(&RowSet, &RowSet) -> RowSet,
        expected: &[RowKey],
    ) {
        let left: RowSet = left.iter().copied().collect();
        let right: RowSet = right.iter().copied().collect();
        assert_eq!(op(&left, &right).to_vec(), expected);
    }

    /// `to_vec` counts a contiguous run instead of iterating it; a run with a hole, a run
    /// across the treemap's 2^32 boundary and the empty set must come out as iterating would.
    #[test]
    fn to_vec_matches_iteration() {
        let boundary = (1u64 << 32) - 3..(1u64 << 32) + 3;
        let mut holed = RowSet::from_range(10..20);
        holed.remove(15);
        for set in [
            RowSet::new(),
            RowSet::from_range(7..8),
            RowSet::from_range(100..100_000),
            RowSet::from_range(boundary),
            holed,
        ] {
            assert_eq!(set.to_vec(), set.iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn set_algebra() {
        check(&[1, 2, 3], &[3, 4], RowSet::union, &[1, 2, 3, 4]);
        check(&[1, 2, 3], &[3, 4], RowSet::intersection, &[3]);
        check(&[1, 2, 3], &[3, 4], RowSet::difference, &[1, 2]);
        check(&[], &[3, 4], RowSet::difference, &[]);
        // Keys above u32::MAX live in a different inner bitmap of the treemap.
        check(
            &[u64::MAX, 1 << 40, 5],
            &[5],
            RowSet::difference,
            &[1 << 40, u64::MAX],
        );
    }

    #[test]
    fn set_predicates() {
        let check = |left: &[RowKey], right: &[RowKey], subset: bool, disjoint: bool| {
            let (left, right): (RowSet, RowSet) = (
                left.iter().copied().collect(),
                right.iter().copied().collect(),
            );
            assert_eq!(
                (left.is_subset(&right), left.is_disjoint(&right)),
                (subset, disjoint)
            );
        };
        check(&[], &[1], true, true);
        check(&[1], &[1, 2], true, false);
        check(&[1, 3], &[1, 2], false, false);
        check(&[3], &[1, 2], false, true);
    }

    #[test]
    fn from_sorted_keys_rejects_disorder() {
        let check = |keys: &[RowKey], expected: Option<(usize, RowKey, RowKey)>| match (
            RowSet::from_sorted_keys(keys),
            expected,
        ) {
            (Ok(set), None) => assert_eq!(set.to_vec(), keys),
            (
                Err(CoreError::KeysNotAscending {
                    position,
                    previous,
                    key,
                }),
                Some(e),
            ) => {
                assert_eq!((position, previous, key), e);
            }
            (other, expected) => panic!("{keys:?}: got {other:?}, expected {expected:?}"),
        };
        check(&[], None);
        check(&[0, 1, 1 << 33], None);
        check(&[0, 2, 1], Some((2, 2, 1)));
        check(&[4, 4], Some((1, 4, 4)));
    }

    #[test]
    fn roaring_round_trip() {
        let check = |keys: RowSet| {
            let mut bytes = Vec::new();
            keys.serialize_into(&mut bytes).unwrap();
            assert_eq!(bytes.len(), keys.serialized_size());
            assert_eq!(RowSet::deserialize_from(&bytes[..]).unwrap(), keys);
        };
        check(RowSet::new());
        check(RowSet::from_range(10..100_000));
        check([0, 1 << 32, u64::MAX].into_iter().collect());
    }

    #[test]
    fn truncated_bytes_are_an_encoding_error() {
        let mut bytes = Vec::new();
        RowSet::from_range(0..10)
            .serialize_into(&mut bytes)
            .unwrap();
        bytes.truncate(bytes.len() - 1);
        let error = RowSet::deserialize_from(&bytes[..]).unwrap_err();
        assert!(matches!(
            error,
            CoreError::RowSetEncoding {
                operation: "deserialize",
                ..
            }
        ));
    }

    #[test]
    fn debug_summarizes_large_sets() {
        assert_eq!(format!("{:?}", RowSet::from_range(1..3)), "{1, 2}");
        assert_eq!(
            format!("{:?}", RowSet::from_range(0..100)),
            "RowSet(100 keys in 0..=99)"
        );
    }
}
