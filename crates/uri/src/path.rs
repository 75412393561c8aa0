//! [`TablePath`]: the dotted path of identifiers that names a table in a catalog or cloud.
//!
//! Cloud addresses and the local catalog both name tables this way (`shared.dataset_name`), so the
//! type and its rule live here, below both.

use std::fmt;
use std::str::FromStr;

use crate::error::UriError;
use crate::ident::check_identifier;

/// A table's path: one or more identifiers, written with dots (`dir.sub.table`).
///
/// The last name is the table, the ones before it are directories. Every name follows
/// [`validate_identifier`](crate::validate_identifier). Parsing also accepts `/` between names
/// and normalises it to `.`, so `dir/sub/table` and `dir.sub.table` are the same path.
///
/// Functions that take a path generically (`impl TryInto<TablePath, Error: Into<UriError>>`, as
/// the storage catalog's methods do) accept a `&str`, a `String` or a `TablePath`.
///
/// # Examples
///
/// ```
/// use tableshare_uri::TablePath;
///
/// let path = TablePath::parse("shared/dataset_name")?;
/// assert_eq!(path.to_string(), "shared.dataset_name");
/// assert_eq!(path.segments(), ["shared", "dataset_name"]);
/// assert_eq!(path.name(), "dataset_name");
/// assert_eq!(path.parent(), Some(TablePath::parse("shared")?));
/// # Ok::<(), tableshare_uri::UriError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TablePath {
    /// Never empty; every entry is a valid identifier.
    segments: Vec<String>,
}

impl TablePath {
    /// Parses a path written with `.` or `/` between names.
    ///
    /// # Errors
    ///
    /// [`UriError::EmptyPath`] for `""`; [`UriError::EmptyPathSegment`] for `a..b`, `a.` or `/a`;
    /// [`UriError::RelativePathSegment`] for a `.` or `..` component (`a/../b`);
    /// [`UriError::InvalidPathSegment`] for a name that is not an identifier.
    pub fn parse(path: &str) -> Result<Self, UriError> {
        if path.is_empty() {
            return Err(UriError::EmptyPath);
        }
        let mut segments = Vec::new();
        let mut component_start = 0;
        for component in path.split('/') {
            if component == "." || component == ".." {
                return Err(UriError::RelativePathSegment {
                    path: path.to_owned(),
                    segment: component.to_owned(),
                    position: component_start,
                });
            }
            let mut segment_start = component_start;
            for segment in component.split('.') {
                if segment.is_empty() {
                    return Err(UriError::EmptyPathSegment {
                        path: path.to_owned(),
                        position: segment_start,
                    });
                }
                check_identifier(segment).map_err(|problem| UriError::InvalidPathSegment {
                    path: path.to_owned(),
                    segment: segment.to_owned(),
                    position: segment_start,
                    problem,
                })?;
                segments.push(segment.to_owned());
                segment_start += segment.len() + 1;
            }
            component_start += component.len() + 1;
        }
        Ok(Self { segments })
    }

    /// The names of the path, outermost directory first, the table last. Never empty.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The last name: the table itself.
    pub fn name(&self) -> &str {
        self.segments.last().map_or("", String::as_str)
    }

    /// The directory holding this path, or `None` for a single-name path.
    pub fn parent(&self) -> Option<TablePath> {
        match self.segments.split_last() {
            Some((_, parent)) if !parent.is_empty() => Some(Self {
                segments: parent.to_vec(),
            }),
            _ => None,
        }
    }

    /// This path with `name` appended (`dir` joined with `table` is `dir.table`).
    ///
    /// `name` may itself be a dotted path.
    ///
    /// # Errors
    ///
    /// The errors of [`TablePath::parse`] for `name`.
    pub fn join(&self, name: &str) -> Result<TablePath, UriError> {
        let tail = Self::parse(name)?;
        let mut segments = self.segments.clone();
        segments.extend(tail.segments);
        Ok(Self { segments })
    }
}

impl fmt::Display for TablePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(segment)?;
        }
        Ok(())
    }
}

impl FromStr for TablePath {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for TablePath {
    type Error = UriError;

    fn try_from(path: &str) -> Result<Self, Self::Error> {
        Self::parse(path)
    }
}

impl TryFrom<&String> for TablePath {
    type Error = UriError;

    fn try_from(path: &String) -> Result<Self, Self::Error> {
        Self::parse(path)
    }
}

impl TryFrom<String> for TablePath {
    type Error = UriError;

    fn try_from(path: String) -> Result<Self, Self::Error> {
        Self::parse(&path)
    }
}

impl From<&TablePath> for TablePath {
    fn from(path: &TablePath) -> Self {
        path.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::IdentifierProblem;

    /// `expected` is the canonical dotted form, or the error.
    fn check(input: &str, expected: Result<&str, UriError>) {
        let got = TablePath::parse(input);
        match (&got, &expected) {
            (Ok(path), Ok(canonical)) => {
                assert_eq!(path.to_string(), *canonical, "display of {input:?}");
                assert_eq!(
                    TablePath::parse(canonical).as_ref(),
                    Ok(path),
                    "reparse of {input:?}"
                );
            }
            _ => assert_eq!(
                got.map(|p| p.to_string()),
                expected.map(str::to_owned),
                "{input:?}"
            ),
        }
    }

    #[test]
    fn parse_and_display() {
        let path = |s: &str| s.to_owned();
        let cases: Vec<(&str, Result<&str, UriError>)> = vec![
            ("t", Ok("t")),
            ("a.b.c", Ok("a.b.c")),
            ("a/b/c", Ok("a.b.c")),
            ("a/b.c", Ok("a.b.c")),
            ("", Err(UriError::EmptyPath)),
            (
                "a..b",
                Err(UriError::EmptyPathSegment {
                    path: path("a..b"),
                    position: 2,
                }),
            ),
            (
                "a.",
                Err(UriError::EmptyPathSegment {
                    path: path("a."),
                    position: 2,
                }),
            ),
            (
                ".a",
                Err(UriError::EmptyPathSegment {
                    path: path(".a"),
                    position: 0,
                }),
            ),
            (
                "/a",
                Err(UriError::EmptyPathSegment {
                    path: path("/a"),
                    position: 0,
                }),
            ),
            (
                "a/",
                Err(UriError::EmptyPathSegment {
                    path: path("a/"),
                    position: 2,
                }),
            ),
            (
                "a//b",
                Err(UriError::EmptyPathSegment {
                    path: path("a//b"),
                    position: 2,
                }),
            ),
            (
                "a/../b",
                Err(UriError::RelativePathSegment {
                    path: path("a/../b"),
                    segment: path(".."),
                    position: 2,
                }),
            ),
            (
                "..",
                Err(UriError::RelativePathSegment {
                    path: path(".."),
                    segment: path(".."),
                    position: 0,
                }),
            ),
            (
                "a/./b",
                Err(UriError::RelativePathSegment {
                    path: path("a/./b"),
                    segment: path("."),
                    position: 2,
                }),
            ),
            (
                "a.1b",
                Err(UriError::InvalidPathSegment {
                    path: path("a.1b"),
                    segment: path("1b"),
                    position: 2,
                    problem: IdentifierProblem::InvalidStart { ch: '1' },
                }),
            ),
            (
                "dir.my table",
                Err(UriError::InvalidPathSegment {
                    path: path("dir.my table"),
                    segment: path("my table"),
                    position: 4,
                    problem: IdentifierProblem::InvalidChar {
                        ch: ' ',
                        position: 2,
                    },
                }),
            ),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn accessors() {
        let p = TablePath::parse("a.b.c").unwrap();
        assert_eq!(p.segments(), ["a", "b", "c"]);
        assert_eq!(p.name(), "c");
        assert_eq!(p.parent().unwrap().to_string(), "a.b");
        assert_eq!(p.parent().unwrap().parent().unwrap().to_string(), "a");
        assert_eq!(p.parent().unwrap().parent().unwrap().parent(), None);
        assert_eq!(p.join("d.e").unwrap().to_string(), "a.b.c.d.e");
        assert!(p.join("").is_err());
    }
}
