//! Subscription options: what follows `?` in a worker or direct address.
//!
//! These decide how a subscriber ingests a remote table (a static snapshot or a live
//! subscription, which columns, what happens on disconnect, how long and how often to retry, blink
//! or not). They live here, with their defaults, so that the address, the JSON form and the
//! subscription client all agree on one definition.

use std::fmt;
use std::time::Duration;

use crate::error::{UriError, UriPart};
use crate::syntax::{Encoded, decode};

/// The option names, in the fixed order the canonical form writes them.
pub(crate) const KNOWN_OPTIONS: [&str; 6] = [
    "snapshot",
    "columns",
    "onDisconnect",
    "retryWindowMillis",
    "maxRetries",
    "blink",
];

/// The default retry window in milliseconds: five minutes.
pub(crate) const DEFAULT_RETRY_WINDOW_MS: u64 = 5 * 60 * 1000;

/// The options, in the order of [`KNOWN_OPTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Snapshot,
    Columns,
    OnDisconnect,
    RetryWindowMillis,
    MaxRetries,
    Blink,
}

impl Opt {
    const ALL: [Opt; 6] = [
        Opt::Snapshot,
        Opt::Columns,
        Opt::OnDisconnect,
        Opt::RetryWindowMillis,
        Opt::MaxRetries,
        Opt::Blink,
    ];
}

/// What a subscribed table does when its upstream worker disconnects.
///
/// In JSON: `"clear"` or `"retain"`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OnDisconnect {
    /// Remove all rows on disconnect (`onDisconnect=clear`, the default).
    #[default]
    Clear,
    /// Keep the rows held at the time of the disconnection (`onDisconnect=retain`).
    Retain,
}

impl OnDisconnect {
    /// The option value: `clear` or `retain`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clear => "clear",
            Self::Retain => "retain",
        }
    }
}

impl fmt::Display for OnDisconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to ingest a table from a worker: the options of a `pq://` or `ts://` address.
///
/// | field | option | default |
/// | --- | --- | --- |
/// | `snapshot` | `snapshot=true\|false` | `false`: a live subscription |
/// | `columns` | `columns=A,B,C` | `None`: every column |
/// | `on_disconnect` | `onDisconnect=clear\|retain` | [`OnDisconnect::Clear`] |
/// | `retry_window` | `retryWindowMillis=N` | [`DEFAULT_RETRY_WINDOW`](Self::DEFAULT_RETRY_WINDOW), five minutes |
/// | `max_retries` | `maxRetries=N` | `None`: unlimited within the window |
/// | `blink` | `blink` or `blink=true\|false` | `false` |
///
/// The fields are public for convenience; [`validate`](Self::validate) says whether a value can
/// be part of an address, and the builders and parsers only ever produce valid ones.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tableshare_uri::{OnDisconnect, SubscriptionOptions};
///
/// let defaults = SubscriptionOptions::default();
/// assert!(!defaults.snapshot && !defaults.blink);
/// assert_eq!(defaults.columns, None);
/// assert_eq!(defaults.on_disconnect, OnDisconnect::Clear);
/// assert_eq!(defaults.retry_window, Duration::from_secs(5 * 60));
/// assert_eq!(defaults.max_retries, None);
///
/// let contradictory = SubscriptionOptions { snapshot: true, blink: true, ..defaults };
/// assert!(contradictory.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriptionOptions {
    /// Take a static snapshot instead of subscribing to updates.
    pub snapshot: bool,
    /// Only these columns, in this order; `None` takes every column.
    pub columns: Option<Vec<String>>,
    /// What to do with the rows when the upstream disconnects.
    pub on_disconnect: OnDisconnect,
    /// How long to keep trying to reconnect after a disconnection (whole milliseconds).
    pub retry_window: Duration,
    /// How many reconnection attempts within the retry window; `None` is unlimited.
    pub max_retries: Option<u32>,
    /// Ingest as a blink table: keep only the rows of the latest update.
    pub blink: bool,
}

impl SubscriptionOptions {
    /// The default retry window: five minutes (`retryWindowMillis=300000`).
    pub const DEFAULT_RETRY_WINDOW: Duration = Duration::from_millis(DEFAULT_RETRY_WINDOW_MS);

    /// Checks that these options can be written in an address and read back.
    ///
    /// # Errors
    ///
    /// [`UriError::EmptyColumnList`] for `Some(vec![])`; [`UriError::EmptyName`] for an empty
    /// column name; [`UriError::DuplicateColumn`]; [`UriError::SnapshotWithBlink`] when both are
    /// set; [`UriError::InvalidRetryWindow`] for a window that is not a whole number of
    /// milliseconds fitting in a `u64`.
    pub fn validate(&self) -> Result<(), UriError> {
        if let Some(columns) = &self.columns {
            if columns.is_empty() {
                return Err(UriError::EmptyColumnList);
            }
            for (i, column) in columns.iter().enumerate() {
                if column.is_empty() {
                    return Err(UriError::EmptyName {
                        part: UriPart::Column,
                    });
                }
                if columns[..i].contains(column) {
                    return Err(UriError::DuplicateColumn {
                        column: column.clone(),
                    });
                }
            }
        }
        if self.retry_window_millis().is_none() {
            return Err(UriError::InvalidRetryWindow {
                window: self.retry_window,
            });
        }
        if self.snapshot && self.blink {
            return Err(UriError::SnapshotWithBlink);
        }
        Ok(())
    }

    /// The retry window in milliseconds, or `None` when it is not a whole number of milliseconds
    /// fitting in a `u64`.
    pub(crate) fn retry_window_millis(&self) -> Option<u64> {
        if !self.retry_window.subsec_nanos().is_multiple_of(1_000_000) {
            return None;
        }
        u64::try_from(self.retry_window.as_millis()).ok()
    }
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        Self {
            snapshot: false,
            columns: None,
            on_disconnect: OnDisconnect::Clear,
            retry_window: Self::DEFAULT_RETRY_WINDOW,
            max_retries: None,
            blink: false,
        }
    }
}

/// Builder methods for the subscription options, shared by the worker and direct builders (which
/// both have an `options: SubscriptionOptions` field).
macro_rules! option_setters {
    () => {
        /// Replaces every subscription option at once.
        pub fn options(mut self, options: $crate::SubscriptionOptions) -> Self {
            self.options = options;
            self
        }

        /// `snapshot=true`: take a static snapshot instead of subscribing.
        pub fn snapshot(mut self, snapshot: bool) -> Self {
            self.options.snapshot = snapshot;
            self
        }

        /// `columns=…`: only these columns, in this order.
        pub fn columns<I, S>(mut self, columns: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.options.columns = Some(columns.into_iter().map(Into::into).collect());
            self
        }

        /// `onDisconnect=…`: what to do with the rows when the upstream disconnects.
        pub fn on_disconnect(mut self, on_disconnect: $crate::OnDisconnect) -> Self {
            self.options.on_disconnect = on_disconnect;
            self
        }

        /// `retryWindowMillis=…`: how long to try to reconnect (whole milliseconds).
        pub fn retry_window(mut self, retry_window: std::time::Duration) -> Self {
            self.options.retry_window = retry_window;
            self
        }

        /// `maxRetries=…`: how many reconnection attempts; `None` is unlimited.
        pub fn max_retries(mut self, max_retries: impl Into<Option<u32>>) -> Self {
            self.options.max_retries = max_retries.into();
            self
        }

        /// `blink`: ingest as a blink table.
        pub fn blink(mut self, blink: bool) -> Self {
            self.options.blink = blink;
            self
        }
    };
}
pub(crate) use option_setters;

/// Parses the options after `?`; `query` starts at byte `start` of `input`.
pub(crate) fn parse_query(
    input: &str,
    start: usize,
    query: &str,
) -> Result<SubscriptionOptions, UriError> {
    if query.is_empty() {
        return Err(UriError::EmptyQuery {
            input: input.to_owned(),
            position: start.saturating_sub(1),
        });
    }
    let mut options = SubscriptionOptions::default();
    let mut seen = [false; KNOWN_OPTIONS.len()];
    let mut piece_start = start;
    for piece in query.split('&') {
        let position = piece_start;
        piece_start += piece.len() + 1;
        if piece.is_empty() {
            return Err(UriError::EmptyOption {
                input: input.to_owned(),
                position,
            });
        }
        let (name, value) = match piece.split_once('=') {
            Some((name, value)) => (name, Some((value, position + name.len() + 1))),
            None => (piece, None),
        };
        let Some(index) = KNOWN_OPTIONS.iter().position(|known| *known == name) else {
            return Err(UriError::UnknownOption {
                input: input.to_owned(),
                option: name.to_owned(),
                position,
                suggestion: suggest(name),
            });
        };
        let (option, opt) = (KNOWN_OPTIONS[index], Opt::ALL[index]);
        if std::mem::replace(&mut seen[index], true) {
            return Err(UriError::DuplicateOption {
                input: input.to_owned(),
                option,
                position,
            });
        }
        let value_error =
            |value: &str, at: usize, expected: &'static str| UriError::InvalidOptionValue {
                input: input.to_owned(),
                option,
                value: value.to_owned(),
                expected,
                position: at,
            };
        // Only `blink` may stand alone.
        let (value, value_start) = match (value, opt) {
            (Some(value), _) => value,
            (None, Opt::Blink) => ("true", position),
            (None, _) => {
                return Err(UriError::MissingOptionValue {
                    input: input.to_owned(),
                    option,
                    position,
                });
            }
        };
        const BOOL: &str = "`true` or `false`";
        let parse_bool = |value: &str| match value {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(value_error(value, value_start, BOOL)),
        };
        match opt {
            Opt::Snapshot => options.snapshot = parse_bool(value)?,
            Opt::Columns => options.columns = Some(parse_columns(input, value_start, value)?),
            Opt::OnDisconnect => {
                options.on_disconnect = match value {
                    "clear" => OnDisconnect::Clear,
                    "retain" => OnDisconnect::Retain,
                    _ => return Err(value_error(value, value_start, "`clear` or `retain`")),
                }
            }
            Opt::RetryWindowMillis => {
                let millis = parse_digits::<u64>(value).ok_or_else(|| {
                    value_error(
                        value,
                        value_start,
                        "a whole number of milliseconds that fits in 64 bits",
                    )
                })?;
                options.retry_window = Duration::from_millis(millis);
            }
            Opt::MaxRetries => {
                let retries = parse_digits::<u32>(value).ok_or_else(|| {
                    value_error(value, value_start, "a whole number from 0 to 4294967295")
                })?;
                options.max_retries = Some(retries);
            }
            Opt::Blink => options.blink = parse_bool(value)?,
        }
    }
    options.validate()?;
    Ok(options)
}

/// Parses a non-empty string of ASCII digits (no sign), `None` on anything else or overflow.
fn parse_digits<T: std::str::FromStr>(value: &str) -> Option<T> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Parses `A,B,C`: split on literal `,`, then each name percent-decoded.
fn parse_columns(input: &str, start: usize, value: &str) -> Result<Vec<String>, UriError> {
    let mut columns: Vec<String> = Vec::new();
    let mut column_start = start;
    for raw in value.split(',') {
        let position = column_start;
        column_start += raw.len() + 1;
        if raw.is_empty() {
            return Err(UriError::EmptyColumnName {
                input: input.to_owned(),
                position,
            });
        }
        // `/` and `?` are plain characters in a query.
        let column = decode(input, position, raw, UriPart::Column, b"/?")?;
        if columns.contains(&column) {
            return Err(UriError::DuplicateColumn { column });
        }
        columns.push(column);
    }
    Ok(columns)
}

/// Writes `?…` with the options that differ from their defaults, in the fixed order, or nothing.
pub(crate) fn write_query(
    f: &mut fmt::Formatter<'_>,
    options: &SubscriptionOptions,
) -> fmt::Result {
    let mut separator = '?';
    let mut next = |f: &mut fmt::Formatter<'_>| {
        let result = write!(f, "{separator}");
        separator = '&';
        result
    };
    if options.snapshot {
        next(f)?;
        f.write_str("snapshot=true")?;
    }
    if let Some(columns) = &options.columns {
        next(f)?;
        f.write_str("columns=")?;
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}", Encoded(column))?;
        }
    }
    if options.on_disconnect != OnDisconnect::Clear {
        next(f)?;
        write!(f, "onDisconnect={}", options.on_disconnect)?;
    }
    if options.retry_window != SubscriptionOptions::DEFAULT_RETRY_WINDOW {
        next(f)?;
        write!(f, "retryWindowMillis={}", options.retry_window.as_millis())?;
    }
    if let Some(max_retries) = options.max_retries {
        next(f)?;
        write!(f, "maxRetries={max_retries}")?;
    }
    if options.blink {
        next(f)?;
        f.write_str("blink")?;
    }
    Ok(())
}

/// The known option an unknown name is a near miss of: the same ignoring case and `_`/`-`, a few
/// typos away, or sharing a long prefix (`retryWindowMs`, `maxRetry`).
fn suggest(name: &str) -> Option<&'static str> {
    fn normalise(s: &str) -> Vec<char> {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    }
    let name = normalise(name);
    if name.is_empty() || name.len() > 64 {
        return None;
    }
    let mut best: Option<(usize, &'static str)> = None;
    for known in KNOWN_OPTIONS {
        let candidate = normalise(known);
        let distance = edit_distance(&name, &candidate);
        let prefix = name
            .iter()
            .zip(&candidate)
            .take_while(|(a, b)| a == b)
            .count();
        let shorter = name.len().min(candidate.len());
        let near = distance <= 2 || (prefix >= 4 && prefix * 5 >= shorter * 3);
        if near && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, known));
        }
    }
    best.map(|(_, known)| known)
}

/// Levenshtein distance.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expected: Option<&str>) {
        assert_eq!(suggest(name), expected, "suggestion for {name:?}");
    }

    #[test]
    fn suggestions() {
        let cases = [
            ("onDisconect", Some("onDisconnect")),
            ("ondisconnect", Some("onDisconnect")),
            ("on_disconnect", Some("onDisconnect")),
            ("snapshots", Some("snapshot")),
            ("snap", Some("snapshot")),
            ("column", Some("columns")),
            ("retry_window_ms", Some("retryWindowMillis")),
            ("retryWindowMs", Some("retryWindowMillis")),
            ("max_retries", Some("maxRetries")),
            ("maxRetry", Some("maxRetries")),
            ("blnk", Some("blink")),
            ("Blink", Some("blink")),
            ("colour", None),
            ("x", None),
            ("", None),
            ("zzzzzzzzzzzz", None),
        ];
        for (name, expected) in cases {
            check(name, expected);
        }
    }

    #[test]
    fn edit_distances() {
        let d = |a: &str, b: &str| {
            edit_distance(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
            )
        };
        assert_eq!(d("", ""), 0);
        assert_eq!(d("abc", ""), 3);
        assert_eq!(d("kitten", "sitting"), 3);
        assert_eq!(d("ondisconect", "ondisconnect"), 1);
    }
}
