//! Lexical pieces shared by the address parsers: splitting off the scheme, percent-encoding and
//! strict percent-decoding of names, and the `/scope/TABLE[?OPTIONS]` tail that worker and direct
//! addresses share.
//!
//! Keeping these in one place is what makes every address kind encode names the same way, which
//! is what lets any name round-trip through any address.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::{UriError, UriPart};
use crate::options::{self, SubscriptionOptions};

/// What formatting leaves unencoded in a name: ASCII alphanumerics and `-._~` (RFC 3986
/// "unreserved"). Everything else, including every delimiter of our grammar, is encoded.
const NAME_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The only namespace of worker and direct addresses.
pub(crate) const SCOPE: &str = "scope";

/// Splits `input` at `://`, returning the scheme as written and the rest with its byte offset.
pub(crate) fn split_scheme<'a>(
    input: &'a str,
    expected: &'static str,
) -> Result<(&'a str, &'a str, usize), UriError> {
    if input.is_empty() {
        return Err(UriError::Empty);
    }
    match input.find("://") {
        Some(at) => Ok((&input[..at], &input[at + 3..], at + 3)),
        None => Err(UriError::MissingScheme {
            input: input.to_owned(),
            expected,
        }),
    }
}

/// The error for a scheme the caller does not accept.
pub(crate) fn unsupported_scheme(input: &str, scheme: &str, expected: &'static str) -> UriError {
    UriError::UnsupportedScheme {
        input: input.to_owned(),
        scheme: scheme.to_owned(),
        expected,
    }
}

/// Displays a name percent-encoded with [`NAME_ENCODE_SET`].
pub(crate) struct Encoded<'a>(pub(crate) &'a str);

impl fmt::Display for Encoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&utf8_percent_encode(self.0, NAME_ENCODE_SET), f)
    }
}

/// Displays a worker name percent-encoded so that it never reads back as a serial: a name made
/// only of ASCII digits gets its first digit encoded (`123` is written `%3123`).
pub(crate) struct EncodedWorkerName<'a>(pub(crate) &'a str);

impl fmt::Display for EncodedWorkerName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.0;
        match name.as_bytes().first() {
            Some(first) if is_all_digits(name) => {
                write!(f, "%{first:02X}")?;
                f.write_str(&name[1..])
            }
            _ => Encoded(name).fmt(f),
        }
    }
}

/// True for a non-empty string of ASCII digits only.
pub(crate) fn is_all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// True for the bytes a name may contain unencoded when parsing: RFC 3986 unreserved characters,
/// sub-delimiters, `:` and `@` (a path character), plus `extra`.
fn allowed_raw(b: u8, extra: &[u8]) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) || extra.contains(&b)
}

/// Strictly percent-decodes `raw`, a component of `input` starting at byte `start`.
///
/// Rejects characters that must be encoded (with their position), `%` not followed by two hex
/// digits, and bytes that do not decode to UTF-8. `extra` lists further bytes allowed raw.
pub(crate) fn decode(
    input: &str,
    start: usize,
    raw: &str,
    part: UriPart,
    extra: &[u8],
) -> Result<String, UriError> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(UriError::InvalidPercentEncoding {
                    input: input.to_owned(),
                    part,
                    position: start + i,
                });
            }
            i += 3;
        } else if allowed_raw(b, extra) {
            i += 1;
        } else {
            // `i` is on a character boundary: only ASCII bytes were skipped to get here.
            let ch = raw
                .get(i..)
                .and_then(|s| s.chars().next())
                .unwrap_or('\u{FFFD}');
            return Err(UriError::UnencodedCharacter {
                input: input.to_owned(),
                part,
                ch,
                position: start + i,
            });
        }
    }
    match percent_decode_str(raw).decode_utf8() {
        Ok(decoded) => Ok(decoded.into_owned()),
        Err(_) => Err(UriError::InvalidUtf8 {
            input: input.to_owned(),
            part,
            text: raw.to_owned(),
        }),
    }
}

/// Parses the `/scope/TABLE[?OPTIONS]` tail of a worker or direct address.
///
/// `tail` is what follows the authority (it is empty or starts with `/` or `?`) and starts at byte
/// `start` of `input`.
pub(crate) fn parse_scope_table(
    input: &str,
    start: usize,
    tail: &str,
) -> Result<(String, SubscriptionOptions), UriError> {
    let (path, query) = match tail.find('?') {
        Some(at) => (&tail[..at], Some((&tail[at + 1..], start + at + 1))),
        None => (tail, None),
    };
    let missing_table = || UriError::MissingTable {
        input: input.to_owned(),
    };
    // `path` is empty or starts with '/'.
    let Some(after_slash) = path.strip_prefix('/') else {
        return Err(missing_table());
    };
    let namespace_start = start + 1;
    let (namespace, table_part) = match after_slash.find('/') {
        Some(at) => (&after_slash[..at], Some(&after_slash[at + 1..])),
        None => (after_slash, None),
    };
    if namespace != SCOPE {
        if namespace.is_empty() && table_part.is_none() {
            return Err(missing_table());
        }
        return Err(UriError::UnknownNamespace {
            input: input.to_owned(),
            namespace: namespace.to_owned(),
            position: namespace_start,
        });
    }
    let Some(table_part) = table_part else {
        return Err(missing_table());
    };
    let table_start = namespace_start + namespace.len() + 1;
    let raw_table = match table_part.find('/') {
        Some(at) => {
            return Err(UriError::ExtraPathSegment {
                input: input.to_owned(),
                rest: table_part[at..].to_owned(),
                position: table_start + at,
            });
        }
        None => table_part,
    };
    if raw_table.is_empty() {
        return Err(missing_table());
    }
    let table = decode(input, table_start, raw_table, UriPart::Table, &[])?;
    let options = match query {
        Some((query, query_start)) => options::parse_query(input, query_start, query)?,
        None => SubscriptionOptions::default(),
    };
    Ok((table, options))
}

/// Writes the `/scope/TABLE[?OPTIONS]` tail of a worker or direct address.
pub(crate) fn write_scope_table(
    f: &mut fmt::Formatter<'_>,
    table: &str,
    options: &SubscriptionOptions,
) -> fmt::Result {
    write!(f, "/{SCOPE}/{}", Encoded(table))?;
    options::write_query(f, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expected` is the decoded name or the error.
    fn check(raw: &str, expected: Result<&str, UriError>) {
        let got = decode(raw, 0, raw, UriPart::Table, &[]);
        assert_eq!(got, expected.map(str::to_owned), "decoding {raw:?}");
    }

    #[test]
    fn strict_decoding() {
        let input = |s: &str| s.to_owned();
        let cases: Vec<(&str, Result<&str, UriError>)> = vec![
            ("plain", Ok("plain")),
            ("Sla%5Csh%20PQ", Ok("Sla\\sh PQ")),
            ("a%2fb", Ok("a/b")),
            ("%E2%82%AC", Ok("€")),
            ("dir.table", Ok("dir.table")),
            ("a+b=c&d", Ok("a+b=c&d")),
            (
                "a b",
                Err(UriError::UnencodedCharacter {
                    input: input("a b"),
                    part: UriPart::Table,
                    ch: ' ',
                    position: 1,
                }),
            ),
            (
                "ab€",
                Err(UriError::UnencodedCharacter {
                    input: input("ab€"),
                    part: UriPart::Table,
                    ch: '€',
                    position: 2,
                }),
            ),
            (
                "a#",
                Err(UriError::UnencodedCharacter {
                    input: input("a#"),
                    part: UriPart::Table,
                    ch: '#',
                    position: 1,
                }),
            ),
            (
                "a%2",
                Err(UriError::InvalidPercentEncoding {
                    input: input("a%2"),
                    part: UriPart::Table,
                    position: 1,
                }),
            ),
            (
                "%zz",
                Err(UriError::InvalidPercentEncoding {
                    input: input("%zz"),
                    part: UriPart::Table,
                    position: 0,
                }),
            ),
            (
                "%FF",
                Err(UriError::InvalidUtf8 {
                    input: input("%FF"),
                    part: UriPart::Table,
                    text: input("%FF"),
                }),
            ),
        ];
        for (raw, expected) in cases {
            check(raw, expected);
        }
    }

    #[test]
    fn encoding() {
        let cases = [
            ("Sla\\sh PQ", "Sla%5Csh%20PQ", "Sla%5Csh%20PQ"),
            ("dir.table", "dir.table", "dir.table"),
            ("a-b_c~d", "a-b_c~d", "a-b_c~d"),
            (
                "a,b&c=d/e?f#g%h",
                "a%2Cb%26c%3Dd%2Fe%3Ff%23g%25h",
                "a%2Cb%26c%3Dd%2Fe%3Ff%23g%25h",
            ),
            ("123", "123", "%3123"),
            ("0", "0", "%30"),
            ("12a", "12a", "12a"),
            ("€", "%E2%82%AC", "%E2%82%AC"),
        ];
        for (name, encoded, worker) in cases {
            assert_eq!(Encoded(name).to_string(), encoded, "encoding {name:?}");
            assert_eq!(
                EncodedWorkerName(name).to_string(),
                worker,
                "worker encoding {name:?}"
            );
        }
    }
}
