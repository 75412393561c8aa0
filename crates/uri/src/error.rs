//! The one error type of this crate, [`UriError`], and the small enums that say which rule a name
//! or host broke.
//!
//! Every variant names what went wrong and carries what a user needs to fix it: the input (or the
//! offending component) and, where the input is a whole address, the byte position of the problem
//! in it. Nothing here is ever flattened into a string; callers can match on the variant.

use std::fmt;
use std::time::Duration;

use crate::ident::MAX_IDENTIFIER_LEN;
use crate::options::KNOWN_OPTIONS;

/// Why an address, name or option could not be parsed or built.
///
/// Positions (`position` fields) are byte offsets into the `input` of the same variant, or, for
/// the variants that carry a component instead of an input ([`InvalidHost`](Self::InvalidHost),
/// [`EmptyPathSegment`](Self::EmptyPathSegment), …), into that component.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The input was the empty string.
    #[error("empty address")]
    Empty,

    /// The input has no `scheme://` prefix.
    #[error("`{input}` has no scheme: expected an address starting with {expected}")]
    MissingScheme {
        /// The whole input.
        input: String,
        /// The schemes that were acceptable here, for the message.
        expected: &'static str,
    },

    /// The input starts with a scheme this parser does not accept.
    #[error("unsupported scheme `{scheme}://` in `{input}`: expected {expected}")]
    UnsupportedScheme {
        /// The whole input.
        input: String,
        /// The scheme found, as written.
        scheme: String,
        /// The schemes that were acceptable here, for the message.
        expected: &'static str,
    },

    /// A `pxt://` address with nothing between `pxt://` and the path.
    #[error("`{input}` names no organisation: expected pxt://ORG[:DB]/PATH[:VERSION]")]
    MissingOrg {
        /// The whole input.
        input: String,
    },

    /// The organisation of a cloud address is not a valid organisation name.
    #[error("invalid organisation `{org}`: {problem}")]
    InvalidOrg {
        /// The organisation as written.
        org: String,
        /// Which rule it breaks.
        problem: IdentifierProblem,
    },

    /// The database of a cloud address (`pxt://org:DB/…`) is not a valid identifier.
    #[error("invalid database `{db}`: {problem}")]
    InvalidDb {
        /// The database name as written.
        db: String,
        /// Which rule it breaks.
        problem: IdentifierProblem,
    },

    /// A `pxt://` address with an organisation but no table path.
    #[error("`{input}` names no table: expected pxt://ORG[:DB]/PATH[:VERSION]")]
    MissingPath {
        /// The whole input.
        input: String,
    },

    /// A table path given on its own (to [`TablePath::parse`](crate::TablePath::parse) or a
    /// builder) was empty.
    #[error("empty table path")]
    EmptyPath,

    /// A table path has an empty segment: `a..b`, a leading or trailing `.` or `/`.
    #[error("empty segment at byte {position} of table path `{path}`")]
    EmptyPathSegment {
        /// The table path as written.
        path: String,
        /// Byte offset of the empty segment in `path`.
        position: usize,
    },

    /// A table path contains `.` or `..` as a `/`-separated component: paths cannot go up.
    #[error(
        "relative segment `{segment}` at byte {position} of table path `{path}`: \
         table paths are absolute and cannot go up or stay in place"
    )]
    RelativePathSegment {
        /// The table path as written.
        path: String,
        /// The offending component, `.` or `..`.
        segment: String,
        /// Byte offset of the component in `path`.
        position: usize,
    },

    /// One name in a table path is not a valid identifier.
    #[error("invalid name `{segment}` at byte {position} of table path `{path}`: {problem}")]
    InvalidPathSegment {
        /// The table path as written.
        path: String,
        /// The offending name.
        segment: String,
        /// Byte offset of the name in `path`.
        position: usize,
        /// Which rule it breaks.
        problem: IdentifierProblem,
    },

    /// A name checked with [`validate_identifier`](crate::validate_identifier) is not valid.
    #[error("invalid identifier `{name}`: {problem}")]
    InvalidIdentifier {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        problem: IdentifierProblem,
    },

    /// A cloud address ends with `:` and no version after it.
    #[error("missing version after `:` at byte {position} of `{input}`")]
    MissingVersion {
        /// The whole input.
        input: String,
        /// Byte offset where the version should start.
        position: usize,
    },

    /// The version of a cloud address is not a non-negative integer (`abc`, `-1`, `+3`).
    #[error(
        "invalid version `{version}` at byte {position} of `{input}`: expected a non-negative integer"
    )]
    InvalidVersion {
        /// The whole input.
        input: String,
        /// The version text as written.
        version: String,
        /// Byte offset of the version in `input`.
        position: usize,
    },

    /// The version of a cloud address does not fit in a `u64`.
    #[error("version `{version}` at byte {position} of `{input}` is too large (the maximum is {max})", max = u64::MAX)]
    VersionOverflow {
        /// The whole input.
        input: String,
        /// The version digits as written.
        version: String,
        /// Byte offset of the version in `input`.
        position: usize,
    },

    /// An address continues after its last component (`pxt://a/t:3x`, `pxt://a/t?x`).
    #[error("unexpected `{rest}` at byte {position} of `{input}`")]
    TrailingCharacters {
        /// The whole input.
        input: String,
        /// Everything from the first unexpected character on.
        rest: String,
        /// Byte offset of `rest` in `input`.
        position: usize,
    },

    /// A `pq://` address with nothing between `pq://` and the path.
    #[error("`{input}` names no worker: expected pq://WORKER/scope/TABLE")]
    MissingWorker {
        /// The whole input.
        input: String,
    },

    /// An all-digit worker (a serial number) that does not fit in a `u64`.
    #[error("worker serial `{serial}` in `{input}` is too large (the maximum is {max}); percent-encode the first digit to name a worker with this name", max = u64::MAX)]
    SerialOverflow {
        /// The whole input.
        input: String,
        /// The digits as written.
        serial: String,
    },

    /// A worker address whose path is not `/scope/…`.
    #[error(
        "unknown namespace `{namespace}` at byte {position} of `{input}`: only `scope` exists (…/scope/TABLE)"
    )]
    UnknownNamespace {
        /// The whole input.
        input: String,
        /// The namespace found.
        namespace: String,
        /// Byte offset of the namespace in `input`.
        position: usize,
    },

    /// A worker or direct address without a table name after `/scope/`.
    #[error("`{input}` names no table: expected /scope/TABLE after the worker")]
    MissingTable {
        /// The whole input.
        input: String,
    },

    /// A worker or direct address with more path after the table name.
    #[error(
        "unexpected path `{rest}` at byte {position} of `{input}` after the table name (write `/` inside a table name as %2F)"
    )]
    ExtraPathSegment {
        /// The whole input.
        input: String,
        /// The extra path, from its `/`.
        rest: String,
        /// Byte offset of `rest` in `input`.
        position: usize,
    },

    /// A character that must be percent-encoded appears raw in a name.
    #[error("character {ch:?} at byte {position} of `{input}` must be percent-encoded in a {part} (as `{}`)", percent_encoded(.ch))]
    UnencodedCharacter {
        /// The whole input.
        input: String,
        /// Which component holds the character.
        part: UriPart,
        /// The character.
        ch: char,
        /// Byte offset of the character in `input`.
        position: usize,
    },

    /// A `%` not followed by two hexadecimal digits.
    #[error(
        "malformed percent-escape at byte {position} of `{input}` in a {part}: `%` must be followed by two hex digits"
    )]
    InvalidPercentEncoding {
        /// The whole input.
        input: String,
        /// Which component holds the escape.
        part: UriPart,
        /// Byte offset of the `%` in `input`.
        position: usize,
    },

    /// A percent-encoded name does not decode to UTF-8.
    #[error("{part} `{text}` in `{input}` does not decode to valid UTF-8")]
    InvalidUtf8 {
        /// The whole input.
        input: String,
        /// Which component it is.
        part: UriPart,
        /// The component as written (still encoded).
        text: String,
    },

    /// A worker name, table name or column name given to a builder (or in JSON) was empty.
    #[error("empty {part}")]
    EmptyName {
        /// Which kind of name was empty.
        part: UriPart,
    },

    /// A direct address with nothing between the scheme and the path.
    #[error("`{input}` names no host: expected ts://HOST[:PORT]/scope/TABLE")]
    MissingHost {
        /// The whole input.
        input: String,
    },

    /// The host of a direct address is not a DNS name, IPv4 address or bracketed IPv6 address.
    #[error("invalid host `{host}`: {problem}")]
    InvalidHost {
        /// The host as written.
        host: String,
        /// Which rule it breaks.
        problem: HostProblem,
    },

    /// The port of a direct address is not an integer in 1..=65535.
    #[error(
        "invalid port `{port}` at byte {position} of `{input}`: expected an integer from 1 to 65535"
    )]
    InvalidPort {
        /// The whole input (for builders and JSON: the port as a decimal string).
        input: String,
        /// The port text as written.
        port: String,
        /// Byte offset of the port in `input`.
        position: usize,
    },

    /// An address ends with `?` and no options.
    #[error(
        "empty option list after `?` at byte {position} of `{input}`: remove the `?` or add options"
    )]
    EmptyQuery {
        /// The whole input.
        input: String,
        /// Byte offset of the `?`.
        position: usize,
    },

    /// An empty option between `&`s (`a&&b`, a leading or trailing `&`).
    #[error("empty option at byte {position} of `{input}`")]
    EmptyOption {
        /// The whole input.
        input: String,
        /// Byte offset where the empty option is.
        position: usize,
    },

    /// An option name that is not one of the known options.
    #[error("unknown option `{option}` at byte {position} of `{input}`{}; the known options are {}", suggestion_text(.suggestion), KNOWN_OPTIONS.join(", "))]
    UnknownOption {
        /// The whole input.
        input: String,
        /// The option name as written.
        option: String,
        /// Byte offset of the option in `input`.
        position: usize,
        /// The known option the name is a near miss of, if any.
        suggestion: Option<&'static str>,
    },

    /// The same option appears twice.
    #[error("option `{option}` is given twice (again at byte {position} of `{input}`)")]
    DuplicateOption {
        /// The whole input.
        input: String,
        /// The option.
        option: &'static str,
        /// Byte offset of the second occurrence.
        position: usize,
    },

    /// An option that needs a value was given without `=VALUE`.
    #[error("option `{option}` at byte {position} of `{input}` needs a value: {option}=VALUE")]
    MissingOptionValue {
        /// The whole input.
        input: String,
        /// The option.
        option: &'static str,
        /// Byte offset of the option.
        position: usize,
    },

    /// An option value that the option does not accept.
    #[error(
        "invalid value `{value}` for option `{option}` at byte {position} of `{input}`: expected {expected}"
    )]
    InvalidOptionValue {
        /// The whole input.
        input: String,
        /// The option.
        option: &'static str,
        /// The value as written.
        value: String,
        /// What the option accepts, for the message.
        expected: &'static str,
        /// Byte offset of the value.
        position: usize,
    },

    /// An empty column name in `columns=` (`columns=`, `columns=a,,b`, a trailing `,`).
    #[error("empty column name at byte {position} of `{input}`")]
    EmptyColumnName {
        /// The whole input.
        input: String,
        /// Byte offset where the empty name is.
        position: usize,
    },

    /// A column subset that was given but lists no column.
    #[error("the column subset lists no column: leave it unset to take every column")]
    EmptyColumnList,

    /// A column named twice in a column subset.
    #[error("column `{column}` is listed twice")]
    DuplicateColumn {
        /// The column.
        column: String,
    },

    /// `snapshot=true` and `blink` together: a snapshot is static, a blink table ticks.
    #[error(
        "`snapshot=true` and `blink` contradict each other: a snapshot is static, a blink table ticks"
    )]
    SnapshotWithBlink,

    /// A retry window that is not a whole number of milliseconds fitting in a `u64`.
    #[error("retry window {window:?} is not a whole number of milliseconds (at most {max} ms)", max = u64::MAX)]
    InvalidRetryWindow {
        /// The retry window given.
        window: Duration,
    },
}

/// Which rule an identifier (a table path name, a database, an organisation) breaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdentifierProblem {
    /// The name is empty.
    Empty,
    /// The name starts with something other than an ASCII letter or `_` (a digit, or `-` in an
    /// organisation).
    InvalidStart {
        /// The first character.
        ch: char,
    },
    /// The name contains a character outside the allowed set.
    InvalidChar {
        /// The character.
        ch: char,
        /// Byte offset of the character in the name.
        position: usize,
    },
    /// The name is longer than [`MAX_IDENTIFIER_LEN`](crate::MAX_IDENTIFIER_LEN) bytes.
    TooLong {
        /// The name's length in bytes.
        len: usize,
    },
    /// A database name starts with `_`: the cloud layout keeps those for itself (`_` holds the
    /// tables of no database, `_org` the org's public key), so `pxt://org:_/t` would be the
    /// same table as `pxt://org/t`.
    ReservedDb,
}

impl fmt::Display for IdentifierProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("a name cannot be empty"),
            Self::InvalidStart { ch } => {
                write!(
                    f,
                    "a name must start with an ASCII letter or `_`, not {ch:?}"
                )
            }
            Self::InvalidChar { ch, position } => write!(
                f,
                "character {ch:?} at byte {position} is not allowed (use ASCII letters, digits and `_`)"
            ),
            Self::TooLong { len } => write!(
                f,
                "a name is at most {MAX_IDENTIFIER_LEN} bytes long, this one is {len}"
            ),
            Self::ReservedDb => f.write_str(
                "database names starting with `_` are reserved (`_` is where tables of no \
                 database live)",
            ),
        }
    }
}

/// Which rule the host of a direct address breaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostProblem {
    /// The host is empty.
    Empty,
    /// The host contains a character not allowed in a DNS name (a space, `@`, …).
    InvalidChar {
        /// The character.
        ch: char,
        /// Byte offset of the character in the host.
        position: usize,
    },
    /// A DNS name has an empty label (`a..b`, a leading or trailing `.`).
    EmptyLabel {
        /// Byte offset of the empty label in the host.
        position: usize,
    },
    /// A DNS label is longer than 63 bytes.
    LabelTooLong {
        /// Byte offset of the label in the host.
        position: usize,
        /// The label's length in bytes.
        len: usize,
    },
    /// A DNS label starts or ends with `-`.
    HyphenAtLabelEdge {
        /// Byte offset of the label in the host.
        position: usize,
    },
    /// The DNS name is longer than 253 bytes.
    TooLong {
        /// The host's length in bytes.
        len: usize,
    },
    /// The host is made of digits and dots but is not an IPv4 address.
    InvalidIpv4,
    /// The host is bracketed but what is inside is not an IPv6 address (or the `]` is missing).
    InvalidIpv6,
    /// The host is an IPv6 address without the brackets an address needs (`[::1]`).
    UnbracketedIpv6,
}

impl fmt::Display for HostProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("a host cannot be empty"),
            Self::InvalidChar { ch, position } => write!(
                f,
                "character {ch:?} at byte {position} is not allowed in a host name"
            ),
            Self::EmptyLabel { position } => write!(f, "empty label at byte {position}"),
            Self::LabelTooLong { position, len } => write!(
                f,
                "the label at byte {position} is {len} bytes long (at most 63)"
            ),
            Self::HyphenAtLabelEdge { position } => {
                write!(f, "the label at byte {position} starts or ends with `-`")
            }
            Self::TooLong { len } => {
                write!(
                    f,
                    "a host name is at most 253 bytes long, this one is {len}"
                )
            }
            Self::InvalidIpv4 => f.write_str("not a valid IPv4 address"),
            Self::InvalidIpv6 => f.write_str("not a valid bracketed IPv6 address like `[::1]`"),
            Self::UnbracketedIpv6 => {
                f.write_str("an IPv6 address must be written in brackets, like `[::1]`")
            }
        }
    }
}

/// The percent-encoded component of a worker or direct address an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UriPart {
    /// The worker name of a `pq://` address.
    Worker,
    /// The table name after `/scope/`.
    Table,
    /// A column name in `columns=`.
    Column,
}

impl fmt::Display for UriPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Worker => "worker name",
            Self::Table => "table name",
            Self::Column => "column name",
        })
    }
}

/// ` (did you mean `x`?)` or nothing, for [`UriError::UnknownOption`].
fn suggestion_text(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(known) => format!(" (did you mean `{known}`?)"),
        None => String::new(),
    }
}

/// The percent-encoded form of one character, for [`UriError::UnencodedCharacter`].
fn percent_encoded(ch: &char) -> String {
    let mut buf = [0; 4];
    ch.encode_utf8(&mut buf)
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect()
}
