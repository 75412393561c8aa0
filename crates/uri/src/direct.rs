//! [`DirectUri`]: `ts://HOST[:PORT]/scope/TABLE[?OPTIONS]` (TLS) and `ts+plain://…` (plaintext),
//! a table of a worker reached by network address rather than through the worker directory.
//!
//! The host is validated here (a DNS name, IPv4 or bracketed IPv6) so that a transport never has
//! to second-guess an address it was handed.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::{HostProblem, UriError, UriPart};
use crate::options::{SubscriptionOptions, option_setters};
use crate::syntax::{parse_scope_table, split_scheme, unsupported_scheme, write_scope_table};

/// The port of a direct address that does not give one, for both `ts://` (TLS) and
/// `ts+plain://` (plaintext).
pub const DEFAULT_PORT: u16 = 8470;

/// The schemes of direct addresses, for messages.
pub(crate) const DIRECT_SCHEMES: &str = "`ts://` or `ts+plain://`";

/// A table of a worker at a network address: `ts://HOST[:PORT]/scope/TABLE[?OPTIONS]` over TLS,
/// `ts+plain://HOST[:PORT]/scope/TABLE[?OPTIONS]` in plaintext.
///
/// * HOST: a DNS name (labels of ASCII letters, digits, `-` and `_`; kept in lowercase), an IPv4
///   address, or an IPv6 address in brackets (`[::1]`). IP addresses are kept in their standard
///   form.
/// * PORT: 1 to 65535; [`DEFAULT_PORT`] when not given. The canonical form always writes it.
/// * TABLE and OPTIONS: as in [`WorkerUri`](crate::WorkerUri).
///
/// # Examples
///
/// ```
/// use tableshare_uri::{DirectUri, DEFAULT_PORT};
///
/// let uri = DirectUri::parse("ts+plain://Worker-1.example.com/scope/dir.table?snapshot=true")?;
/// assert_eq!(uri.host(), "worker-1.example.com");
/// assert_eq!(uri.port(), DEFAULT_PORT);
/// assert!(!uri.tls());
/// assert_eq!(uri.table(), "dir.table");
/// assert!(uri.options().snapshot);
/// assert_eq!(
///     uri.to_string(),
///     "ts+plain://worker-1.example.com:8470/scope/dir.table?snapshot=true"
/// );
///
/// let local = DirectUri::builder("::1").port(9000).table("t").build()?;
/// assert_eq!(local.to_string(), "ts://[::1]:9000/scope/t");
/// # Ok::<(), tableshare_uri::UriError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirectUri {
    /// Canonical: lowercase DNS name, standard IPv4, or `[` standard IPv6 `]`.
    host: String,
    port: u16,
    tls: bool,
    table: String,
    options: SubscriptionOptions,
}

impl DirectUri {
    /// Parses a `ts://` or `ts+plain://` address.
    ///
    /// # Errors
    ///
    /// A [`UriError`] naming what is wrong: another scheme, a missing or invalid host, an invalid
    /// port, a namespace other than `scope`, a missing table, extra path after the table, or a
    /// bad option.
    pub fn parse(input: &str) -> Result<Self, UriError> {
        let (scheme, rest, start) = split_scheme(input, DIRECT_SCHEMES)?;
        let tls = if scheme.eq_ignore_ascii_case("ts") {
            true
        } else if scheme.eq_ignore_ascii_case("ts+plain") {
            false
        } else {
            return Err(unsupported_scheme(input, scheme, DIRECT_SCHEMES));
        };
        Self::parse_after_scheme(input, tls, rest, start)
    }

    /// Parses what follows `ts://` or `ts+plain://`; `rest` starts at byte `start` of `input`.
    pub(crate) fn parse_after_scheme(
        input: &str,
        tls: bool,
        rest: &str,
        start: usize,
    ) -> Result<Self, UriError> {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.is_empty() {
            return Err(UriError::MissingHost {
                input: input.to_owned(),
            });
        }
        let invalid_host = |problem| UriError::InvalidHost {
            host: authority.to_owned(),
            problem,
        };
        // Split HOST from `:PORT`; only a bracketed IPv6 host may contain `:`.
        let (host, port) = if authority.starts_with('[') {
            let close = authority
                .find(']')
                .ok_or_else(|| invalid_host(HostProblem::InvalidIpv6))?;
            let (host, after) = authority.split_at(close + 1);
            match after.strip_prefix(':') {
                Some(port) => (host, Some((port, close + 2))),
                None if after.is_empty() => (host, None),
                None => return Err(invalid_host(HostProblem::InvalidIpv6)),
            }
        } else if authority.parse::<Ipv6Addr>().is_ok() {
            return Err(invalid_host(HostProblem::UnbracketedIpv6));
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some((port, host.len() + 1))),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(UriError::MissingHost {
                input: input.to_owned(),
            });
        }
        let host = canonical_host(host, false).map_err(|problem| UriError::InvalidHost {
            host: host.to_owned(),
            problem,
        })?;
        let port = match port {
            Some((text, offset)) => parse_port(text).ok_or_else(|| UriError::InvalidPort {
                input: input.to_owned(),
                port: text.to_owned(),
                position: start + offset,
            })?,
            None => DEFAULT_PORT,
        };
        let (table, options) = parse_scope_table(input, start + end, &rest[end..])?;
        Ok(Self {
            host,
            port,
            tls,
            table,
            options,
        })
    }

    /// Starts building an address for a table of the worker at `host` (a DNS name, an IPv4
    /// address, or an IPv6 address with or without brackets), over TLS on [`DEFAULT_PORT`] unless
    /// told otherwise.
    pub fn builder(host: impl Into<String>) -> DirectUriBuilder {
        DirectUriBuilder {
            host: host.into(),
            port: DEFAULT_PORT,
            tls: true,
            table: String::new(),
            options: SubscriptionOptions::default(),
        }
    }

    /// The host in its canonical form: a lowercase DNS name, an IPv4 address, or an IPv6 address
    /// in brackets (`[::1]`), ready to put before `:port`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port ([`DEFAULT_PORT`] when the address gave none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True for `ts://` (TLS), false for `ts+plain://`.
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The table's name in the worker's scope (decoded).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// How to ingest the table.
    pub fn options(&self) -> &SubscriptionOptions {
        &self.options
    }
}

impl fmt::Display for DirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "ts" } else { "ts+plain" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)?;
        write_scope_table(f, &self.table, &self.options)
    }
}

impl FromStr for DirectUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Builds a [`DirectUri`] from its parts; [`build`](Self::build) validates them.
///
/// Made by [`DirectUri::builder`]. Every option starts at its default.
#[derive(Debug, Clone)]
#[must_use]
pub struct DirectUriBuilder {
    host: String,
    port: u16,
    tls: bool,
    table: String,
    options: SubscriptionOptions,
}

impl DirectUriBuilder {
    /// The port (default [`DEFAULT_PORT`]; must not be 0).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// TLS (`ts://`, the default) or plaintext (`ts+plain://`).
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// The table's name in the worker's scope (required; any non-empty string).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    option_setters!();

    /// Validates the parts and makes the address.
    ///
    /// # Errors
    ///
    /// [`UriError::InvalidHost`], [`UriError::InvalidPort`] for port 0, [`UriError::EmptyName`]
    /// for an empty table (a table is required), or the errors of
    /// [`SubscriptionOptions::validate`].
    pub fn build(self) -> Result<DirectUri, UriError> {
        let host = canonical_host(&self.host, true).map_err(|problem| UriError::InvalidHost {
            host: self.host.clone(),
            problem,
        })?;
        if self.port == 0 {
            return Err(UriError::InvalidPort {
                input: "0".to_owned(),
                port: "0".to_owned(),
                position: 0,
            });
        }
        if self.table.is_empty() {
            return Err(UriError::EmptyName {
                part: UriPart::Table,
            });
        }
        self.options.validate()?;
        Ok(DirectUri {
            host,
            port: self.port,
            tls: self.tls,
            table: self.table,
            options: self.options,
        })
    }
}

/// Parses a port: ASCII digits only, 1..=65535.
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|port| *port != 0)
}

/// Validates a host and returns its canonical form. `bare_ipv6` accepts an IPv6 address without
/// brackets (builders do; addresses must bracket it).
pub(crate) fn canonical_host(host: &str, bare_ipv6: bool) -> Result<String, HostProblem> {
    if host.is_empty() {
        return Err(HostProblem::Empty);
    }
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(addr)) => Ok(format!("[{addr}]")),
            _ => Err(HostProblem::InvalidIpv6),
        };
    }
    if let Ok(addr) = host.parse::<Ipv6Addr>() {
        return if bare_ipv6 {
            Ok(format!("[{addr}]"))
        } else {
            Err(HostProblem::UnbracketedIpv6)
        };
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host
            .parse::<Ipv4Addr>()
            .map(|addr| addr.to_string())
            .map_err(|_| HostProblem::InvalidIpv4);
    }
    let mut label_start = 0;
    for label in host.split('.') {
        if let Some((offset, ch)) = label
            .char_indices()
            .find(|(_, ch)| !(ch.is_ascii_alphanumeric() || *ch == '-' || *ch == '_'))
        {
            return Err(HostProblem::InvalidChar {
                ch,
                position: label_start + offset,
            });
        }
        if label.is_empty() {
            return Err(HostProblem::EmptyLabel {
                position: label_start,
            });
        }
        if label.len() > 63 {
            return Err(HostProblem::LabelTooLong {
                position: label_start,
                len: label.len(),
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostProblem::HyphenAtLabelEdge {
                position: label_start,
            });
        }
        label_start += label.len() + 1;
    }
    if host.len() > 253 {
        return Err(HostProblem::TooLong { len: host.len() });
    }
    Ok(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(host: &str, expected: Result<&str, HostProblem>) {
        assert_eq!(
            canonical_host(host, false),
            expected.map(str::to_owned),
            "host {host:?}"
        );
    }

    #[test]
    fn hosts() {
        let long_label = "a".repeat(64);
        let long_host = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
        ]
        .join(".");
        let cases: Vec<(&str, Result<&str, HostProblem>)> = vec![
            ("localhost", Ok("localhost")),
            ("Worker-1.Example.COM", Ok("worker-1.example.com")),
            ("my_service", Ok("my_service")),
            ("127.0.0.1", Ok("127.0.0.1")),
            ("[::1]", Ok("[::1]")),
            ("[0:0:0:0:0:0:0:1]", Ok("[::1]")),
            ("[2001:DB8::1]", Ok("[2001:db8::1]")),
            ("", Err(HostProblem::Empty)),
            (
                "a b",
                Err(HostProblem::InvalidChar {
                    ch: ' ',
                    position: 1,
                }),
            ),
            (
                "user@host",
                Err(HostProblem::InvalidChar {
                    ch: '@',
                    position: 4,
                }),
            ),
            (
                "a.b%c",
                Err(HostProblem::InvalidChar {
                    ch: '%',
                    position: 3,
                }),
            ),
            (
                "hé",
                Err(HostProblem::InvalidChar {
                    ch: 'é',
                    position: 1,
                }),
            ),
            ("a..b", Err(HostProblem::EmptyLabel { position: 2 })),
            ("a.", Err(HostProblem::EmptyLabel { position: 2 })),
            (".a", Err(HostProblem::EmptyLabel { position: 0 })),
            ("-a", Err(HostProblem::HyphenAtLabelEdge { position: 0 })),
            ("a.b-", Err(HostProblem::HyphenAtLabelEdge { position: 2 })),
            (
                &long_label,
                Err(HostProblem::LabelTooLong {
                    position: 0,
                    len: 64,
                }),
            ),
            (&long_host, Err(HostProblem::TooLong { len: 255 })),
            ("256.0.0.1", Err(HostProblem::InvalidIpv4)),
            ("1.2.3", Err(HostProblem::InvalidIpv4)),
            ("[::1", Err(HostProblem::InvalidIpv6)),
            ("[not-ip]", Err(HostProblem::InvalidIpv6)),
            ("::1", Err(HostProblem::UnbracketedIpv6)),
        ];
        for (host, expected) in cases {
            check(host, expected);
        }
        assert_eq!(canonical_host("::1", true), Ok("[::1]".to_owned()));
    }
}
