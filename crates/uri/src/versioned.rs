//! [`VersionedPath`]: a catalog address `dir.table` or `dir.table:N` (version N, read-only).
//!
//! The local catalog, the command line and the cloud addresses all write a version after the
//! path with `:`; this type parses that notation once, here, so the layers above pass a typed
//! value (path plus optional version) instead of splitting strings themselves.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use crate::error::UriError;
use crate::path::TablePath;

/// A table path with an optional version: `dir.table` (the latest) or `dir.table:N`.
///
/// `Display` writes the canonical form (dots, and `:N` when there is a version), and parsing it
/// gives the same value back. The path follows [`TablePath`]'s rules (so `dir/table:3` is
/// accepted and normalised to `dir.table:3`); the version is a non-negative integer.
///
/// Functions that take an address generically (`impl TryInto<VersionedPath>`, as the storage
/// catalog's `open_table` does) accept a `&str`, a `String`, a [`TablePath`] or a
/// `VersionedPath`, through the conversions implemented here.
///
/// # Examples
///
/// ```
/// use tableshare_uri::{TablePath, UriError, VersionedPath};
///
/// let pinned: VersionedPath = "shared/sample_data:3".parse()?;
/// assert_eq!(pinned.path, TablePath::parse("shared.sample_data")?);
/// assert_eq!(pinned.version, Some(3));
/// assert_eq!(pinned.to_string(), "shared.sample_data:3");
///
/// let latest = VersionedPath::latest(TablePath::parse("t")?);
/// assert_eq!(latest.to_string(), "t");
/// assert!(matches!(VersionedPath::parse("t:x"), Err(UriError::InvalidVersion { .. })));
/// # Ok::<(), UriError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionedPath {
    /// The table's path.
    pub path: TablePath,
    /// The version, or `None` for the latest.
    pub version: Option<u64>,
}

impl VersionedPath {
    /// `path` at `version` (`None`: the latest).
    pub fn new(path: TablePath, version: Option<u64>) -> Self {
        Self { path, version }
    }

    /// `path` at its latest version.
    pub fn latest(path: TablePath) -> Self {
        Self::new(path, None)
    }

    /// Parses `PATH` or `PATH:VERSION`.
    ///
    /// # Errors
    ///
    /// The errors of [`TablePath::parse`] for the path; [`UriError::MissingVersion`] for a
    /// trailing `:`; [`UriError::InvalidVersion`] for a version that is not a non-negative
    /// integer; [`UriError::VersionOverflow`] for one beyond `u64::MAX`.
    pub fn parse(text: &str) -> Result<Self, UriError> {
        let Some((path, version)) = text.rsplit_once(':') else {
            return Ok(Self::latest(TablePath::parse(text)?));
        };
        let position = path.len() + 1;
        let path = TablePath::parse(path)?;
        if version.is_empty() {
            return Err(UriError::MissingVersion {
                input: text.to_owned(),
                position,
            });
        }
        if !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(UriError::InvalidVersion {
                input: text.to_owned(),
                version: version.to_owned(),
                position,
            });
        }
        let version = version.parse().map_err(|_| UriError::VersionOverflow {
            input: text.to_owned(),
            version: version.to_owned(),
            position,
        })?;
        Ok(Self::new(path, Some(version)))
    }
}

impl fmt::Display for VersionedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(version) = self.version {
            write!(f, ":{version}")?;
        }
        Ok(())
    }
}

impl FromStr for VersionedPath {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for VersionedPath {
    type Error = UriError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        Self::parse(text)
    }
}

impl TryFrom<&String> for VersionedPath {
    type Error = UriError;

    fn try_from(text: &String) -> Result<Self, Self::Error> {
        Self::parse(text)
    }
}

impl TryFrom<String> for VersionedPath {
    type Error = UriError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<TablePath> for VersionedPath {
    fn from(path: TablePath) -> Self {
        Self::latest(path)
    }
}

impl From<&VersionedPath> for VersionedPath {
    fn from(address: &VersionedPath) -> Self {
        address.clone()
    }
}

/// Lets generic functions bound on `TryInto<VersionedPath, Error: Into<UriError>>` accept
/// values whose conversion cannot fail (a [`VersionedPath`] or [`TablePath`]).
impl From<Infallible> for UriError {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expected` is the canonical form, or the error.
    fn check(input: &str, expected: Result<&str, UriError>) {
        let got = VersionedPath::parse(input);
        if let Ok(parsed) = &got {
            assert_eq!(
                VersionedPath::parse(&parsed.to_string()).as_ref(),
                Ok(parsed)
            );
        }
        assert_eq!(
            got.map(|v| v.to_string()),
            expected.map(str::to_owned),
            "{input:?}"
        );
    }

    // Guards the `path:N` notation: canonical forms, and each error with its position.
    #[test]
    fn parse_and_display() {
        let s = |t: &str| t.to_owned();
        check("t", Ok("t"));
        check("a.b:0", Ok("a.b:0"));
        check("a/b:12", Ok("a.b:12"));
        check("a.b:007", Ok("a.b:7"));
        check(
            "a.b:",
            Err(UriError::MissingVersion {
                input: s("a.b:"),
                position: 4,
            }),
        );
        for bad in ["x", "-1", "+3", "1 ", "٣"] {
            let input = format!("t:{bad}");
            let expected = UriError::InvalidVersion {
                input: input.clone(),
                version: s(bad),
                position: 2,
            };
            check(&input, Err(expected));
        }
        check(
            "t:99999999999999999999",
            Err(UriError::VersionOverflow {
                input: s("t:99999999999999999999"),
                version: s("99999999999999999999"),
                position: 2,
            }),
        );
        check(":3", Err(UriError::EmptyPath));
        assert!(VersionedPath::parse("a..b:1").is_err());
    }

    // Guards the conversions generic callers rely on.
    #[test]
    fn conversions() {
        fn take(a: impl TryInto<VersionedPath, Error: Into<UriError>>) -> String {
            a.try_into().map_err(Into::into).unwrap().to_string()
        }
        let path = TablePath::parse("d.t").unwrap();
        assert_eq!(take("d.t:1"), "d.t:1");
        assert_eq!(take(String::from("d.t")), "d.t");
        let owned = String::from("d.t:2");
        assert_eq!(take(&owned), "d.t:2");
        assert_eq!(take(path.clone()), "d.t");
        assert_eq!(take(VersionedPath::new(path, Some(5))), "d.t:5");
    }
}
