//! [`CloudUri`]: `pxt://ORG[:DB]/PATH[:VERSION]`, a table published to a cloud root.
//!
//! Publish, push, replicate and pull all name their cloud side with this address, so its parsing
//! and canonical form live here, once.

use std::fmt;
use std::str::FromStr;

use crate::error::{IdentifierProblem, UriError};
use crate::ident::{check_identifier, check_org};
use crate::path::TablePath;
use crate::syntax::{split_scheme, unsupported_scheme};

/// The scheme of cloud addresses, for messages.
pub(crate) const CLOUD_SCHEMES: &str = "`pxt://`";

/// A cloud table: `pxt://ORG[:DB]/PATH[:VERSION]`.
///
/// * ORG: letters, digits, `_` and `-`, not starting with a digit or `-`, at most
///   [`MAX_IDENTIFIER_LEN`](crate::MAX_IDENTIFIER_LEN) bytes.
/// * DB (optional): an identifier (see [`validate_identifier`](crate::validate_identifier)).
/// * PATH: a [`TablePath`]; `/` between names is accepted and written back as `.`.
/// * VERSION (optional): a non-negative integer; without it the address means the latest version.
///
/// The scheme is matched case-insensitively and written in lowercase.
///
/// # Examples
///
/// ```
/// use tableshare_uri::CloudUri;
///
/// let uri = CloudUri::parse("pxt://acme-corp:prod/a/b/c:12")?;
/// assert_eq!(uri.org(), "acme-corp");
/// assert_eq!(uri.db(), Some("prod"));
/// assert_eq!(uri.path().to_string(), "a.b.c");
/// assert_eq!(uri.version(), Some(12));
/// assert_eq!(uri.to_string(), "pxt://acme-corp:prod/a.b.c:12");
///
/// let latest = uri.with_version(None);
/// assert_eq!(latest.to_string(), "pxt://acme-corp:prod/a.b.c");
///
/// let built = CloudUri::builder("alice").path("shared.sample_data").version(3).build()?;
/// assert_eq!(built.to_string(), "pxt://alice/shared.sample_data:3");
/// # Ok::<(), tableshare_uri::UriError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CloudUri {
    org: String,
    db: Option<String>,
    path: TablePath,
    version: Option<u64>,
}

impl CloudUri {
    /// Parses a `pxt://` address.
    ///
    /// # Errors
    ///
    /// A [`UriError`] naming what is wrong: another scheme, a missing or invalid organisation or
    /// database, a missing or invalid path, a missing, invalid or too large version, or anything
    /// after the version.
    pub fn parse(input: &str) -> Result<Self, UriError> {
        let (scheme, rest, start) = split_scheme(input, CLOUD_SCHEMES)?;
        if !scheme.eq_ignore_ascii_case("pxt") {
            return Err(unsupported_scheme(input, scheme, CLOUD_SCHEMES));
        }
        Self::parse_after_scheme(input, rest, start)
    }

    /// Parses what follows `pxt://`; `rest` starts at byte `start` of `input`.
    pub(crate) fn parse_after_scheme(
        input: &str,
        rest: &str,
        start: usize,
    ) -> Result<Self, UriError> {
        let (authority, path_and_version) = match rest.find('/') {
            Some(at) => (&rest[..at], Some((&rest[at + 1..], start + at + 1))),
            None => (rest, None),
        };
        let (org, db) = match authority.split_once(':') {
            Some((org, db)) => (org, Some(db)),
            None => (authority, None),
        };
        if org.is_empty() {
            return Err(UriError::MissingOrg {
                input: input.to_owned(),
            });
        }
        check_org(org).map_err(|problem| UriError::InvalidOrg {
            org: org.to_owned(),
            problem,
        })?;
        if let Some(db) = db {
            check_db(db).map_err(|problem| UriError::InvalidDb {
                db: db.to_owned(),
                problem,
            })?;
        }
        let missing_path = || UriError::MissingPath {
            input: input.to_owned(),
        };
        let Some((text, text_start)) = path_and_version else {
            return Err(missing_path());
        };
        let path_end = text.find([':', '?', '#']).unwrap_or(text.len());
        let path_text = &text[..path_end];
        if path_text.is_empty() {
            return Err(missing_path());
        }
        let path = TablePath::parse(path_text)?;
        let after_path = &text[path_end..];
        let after_path_start = text_start + path_end;
        let (version, trailing) = match after_path.strip_prefix(':') {
            Some(version_text) => {
                let version_start = after_path_start + 1;
                let digits = version_text.bytes().take_while(u8::is_ascii_digit).count();
                if version_text.is_empty() {
                    return Err(UriError::MissingVersion {
                        input: input.to_owned(),
                        position: version_start,
                    });
                }
                if digits == 0 {
                    return Err(UriError::InvalidVersion {
                        input: input.to_owned(),
                        version: version_text.to_owned(),
                        position: version_start,
                    });
                }
                let version = version_text[..digits].parse::<u64>().map_err(|_| {
                    UriError::VersionOverflow {
                        input: input.to_owned(),
                        version: version_text[..digits].to_owned(),
                        position: version_start,
                    }
                })?;
                (
                    Some(version),
                    (&version_text[digits..], version_start + digits),
                )
            }
            None => (None, (after_path, after_path_start)),
        };
        let (rest, position) = trailing;
        if !rest.is_empty() {
            return Err(UriError::TrailingCharacters {
                input: input.to_owned(),
                rest: rest.to_owned(),
                position,
            });
        }
        Ok(Self {
            org: org.to_owned(),
            db: db.map(str::to_owned),
            path,
            version,
        })
    }

    /// Starts building a cloud address for organisation `org`.
    pub fn builder(org: impl Into<String>) -> CloudUriBuilder {
        CloudUriBuilder {
            org: org.into(),
            db: None,
            path: None,
            version: None,
        }
    }

    /// The organisation.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// The database, if the address names one.
    pub fn db(&self) -> Option<&str> {
        self.db.as_deref()
    }

    /// The table's path.
    pub fn path(&self) -> &TablePath {
        &self.path
    }

    /// The version, or `None` for the latest.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// The same table at `version` (`None`: the latest).
    #[must_use]
    pub fn with_version(self, version: Option<u64>) -> Self {
        Self { version, ..self }
    }
}

impl fmt::Display for CloudUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pxt://{}", self.org)?;
        if let Some(db) = &self.db {
            write!(f, ":{db}")?;
        }
        write!(f, "/{}", self.path)?;
        if let Some(version) = self.version {
            write!(f, ":{version}")?;
        }
        Ok(())
    }
}

impl FromStr for CloudUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Builds a [`CloudUri`] from its parts; [`build`](Self::build) validates them.
///
/// Made by [`CloudUri::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CloudUriBuilder {
    org: String,
    db: Option<String>,
    path: Option<String>,
    version: Option<u64>,
}

impl CloudUriBuilder {
    /// The database (`pxt://org:DB/…`).
    pub fn db(mut self, db: impl Into<String>) -> Self {
        self.db = Some(db.into());
        self
    }

    /// The table path, with `.` or `/` between names (required).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The version; `None` (the default) means the latest.
    pub fn version(mut self, version: impl Into<Option<u64>>) -> Self {
        self.version = version.into();
        self
    }

    /// Validates the parts and makes the address.
    ///
    /// # Errors
    ///
    /// [`UriError::InvalidOrg`], [`UriError::InvalidDb`], [`UriError::EmptyPath`] when no path
    /// was given, or the errors of [`TablePath::parse`].
    pub fn build(self) -> Result<CloudUri, UriError> {
        check_org(&self.org).map_err(|problem| UriError::InvalidOrg {
            org: self.org.clone(),
            problem,
        })?;
        if let Some(db) = &self.db {
            check_db(db).map_err(|problem| UriError::InvalidDb {
                db: db.clone(),
                problem,
            })?;
        }
        let path = TablePath::parse(self.path.as_deref().unwrap_or_default())?;
        Ok(CloudUri {
            org: self.org,
            db: self.db,
            path,
            version: self.version,
        })
    }
}

/// The database rule: an identifier that does not start with `_` (see
/// [`IdentifierProblem::ReservedDb`]).
fn check_db(db: &str) -> Result<(), IdentifierProblem> {
    check_identifier(db)?;
    if db.starts_with('_') {
        return Err(IdentifierProblem::ReservedDb);
    }
    Ok(())
}
