//! Moving the files of several versions in one parallel pass.
//!
//! A table written by many commits has its files spread over many versions: one file each for a
//! table filled by ten inserts. Sending version by version would move one file at a time and
//! leave the transfer's parallelism unused. So consecutive versions are grouped into *windows*:
//! the files a window's versions add are moved together (in parallel, each verified), and then
//! its versions are committed one by one, in order, as before. A window closes once its new
//! files reach [`WINDOW_BYTES`], so files never wait long between arriving and being committed:
//! until its version commits, a file is unreferenced, and only GC's age guard
//! (`max_commit_duration`, five minutes by default) keeps it.
//!
//! A crash anywhere leaves every committed version whole (each version is still committed only
//! after every file it names has arrived); files that arrived for uncommitted versions are found
//! and verified by the next run instead of being sent again.

use std::collections::HashMap;
use std::ops::Range;

use crate::error::{Result, TransportError};
use crate::versions::{Known, ObjectRef};

/// The most bytes of new files one window moves before its versions are committed (a single
/// version holding more is a window of its own).
pub(crate) const WINDOW_BYTES: u64 = 256 << 20;

/// Consecutive versions whose new files move together.
#[derive(Debug)]
pub(crate) struct Window {
    /// Indices of the versions (into the list given to [`windows`]).
    pub(crate) versions: Range<usize>,
    /// The files these versions add (each once), in the order they first appear.
    pub(crate) objects: Vec<ObjectRef>,
}

/// Groups `versions` (each a version number and every object its manifest names, in order) into
/// windows of at most `max_bytes` of new files. A version's new files are those the version
/// before it does not name; the first version's are those `before` (the objects of the version
/// before the first, when the receiving side holds it) does not name.
///
/// # Errors
///
/// [`TransportError::Hostile`] when two versions of one window record one object with
/// different sizes (a name is its content's hash, so the hash agrees by construction).
pub(crate) fn windows(
    address: &str,
    versions: &[(u64, &[ObjectRef])],
    before: &Known,
    max_bytes: u64,
) -> Result<Vec<Window>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut objects: Vec<ObjectRef> = Vec::new();
    let mut sizes: HashMap<&str, u64> = HashMap::new();
    let mut bytes = 0u64;
    let mut previous: Option<&[ObjectRef]> = None;
    for (index, (version, named)) in versions.iter().enumerate() {
        for o in named.iter() {
            let known_before = match previous {
                Some(p) => p.binary_search_by(|q| q.rel.cmp(&o.rel)).is_ok(),
                None => before.contains_key(&o.rel),
            };
            if known_before {
                continue;
            }
            match sizes.get(o.rel.as_str()) {
                Some(size) if *size != o.size => {
                    return Err(TransportError::Hostile {
                        address: address.to_owned(),
                        version: *version,
                        reason: format!(
                            "it records size {} for {}, which an earlier version records as {size}",
                            o.size, o.rel
                        ),
                    });
                }
                Some(_) => {}
                None => {
                    sizes.insert(&o.rel, o.size);
                    bytes = bytes.saturating_add(o.size);
                    objects.push(o.clone());
                }
            }
        }
        previous = Some(named);
        if bytes >= max_bytes || index + 1 == versions.len() {
            out.push(Window {
                versions: start..index + 1,
                objects: std::mem::take(&mut objects),
            });
            sizes.clear();
            bytes = 0;
            start = index + 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn object(name: &str, size: u64) -> ObjectRef {
        ObjectRef {
            rel: name.to_owned(),
            size,
            blake3: String::new(),
        }
    }

    // Guards the grouping: each version's new files once, windows closing at the byte limit,
    // files the side before already names skipped, and a size that changes between versions of
    // one window refused.
    #[test]
    fn versions_group_into_windows_of_new_files() {
        let v1 = vec![object("a", 10)];
        let v2 = vec![object("a", 10), object("b", 10)];
        let v3 = vec![object("a", 10), object("b", 10), object("c", 10)];
        let v4 = vec![object("d", 50)];
        let list: Vec<(u64, &[ObjectRef])> = vec![(1, &v1), (2, &v2), (3, &v3), (4, &v4)];
        let w = windows("t", &list, &Known::new(), 25).unwrap();
        let shape: Vec<(Range<usize>, Vec<&str>)> = w
            .iter()
            .map(|w| {
                let names = w.objects.iter().map(|o| o.rel.as_str()).collect();
                (w.versions.clone(), names)
            })
            .collect();
        assert_eq!(
            shape,
            vec![(0..3, vec!["a", "b", "c"]), (3..4, vec!["d"])],
            "a, b, c reach 30 bytes at v3; d is a window of its own"
        );

        let before: Known = [("a".to_owned(), (10, String::new()))].into();
        let w = windows("t", &list[..2], &before, u64::MAX).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].objects.len(), 1, "a is known before: only b moves");

        // "a" leaves in v2 and comes back in v3 with another size: hostile.
        let v2b = vec![object("b", 10)];
        let v3b = vec![object("a", 11)];
        let list: Vec<(u64, &[ObjectRef])> = vec![(1, &v1), (2, &v2b), (3, &v3b)];
        let err = windows("t", &list, &Known::new(), u64::MAX).unwrap_err();
        assert!(
            matches!(err, TransportError::Hostile { version: 3, .. }),
            "{err}"
        );
    }
}
