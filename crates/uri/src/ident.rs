//! The identifier rule shared by table paths, databases and organisations.
//!
//! It lives in one place because the local catalog names its directories and tables by the same
//! rule: a path valid locally must be valid in a `pxt://` address and back.

use crate::error::{IdentifierProblem, UriError};

/// The longest identifier allowed, in bytes.
pub const MAX_IDENTIFIER_LEN: usize = 128;

/// Checks that `name` is an identifier: ASCII letters, digits and `_`, not starting with a digit,
/// 1 to [`MAX_IDENTIFIER_LEN`] bytes long.
///
/// Every name in a [`TablePath`](crate::TablePath) and the database of a cloud address follow
/// this rule.
///
/// # Errors
///
/// [`UriError::InvalidIdentifier`] saying which rule the name breaks.
///
/// # Examples
///
/// ```
/// use tableshare_uri::{validate_identifier, IdentifierProblem, UriError};
///
/// assert!(validate_identifier("sales_data").is_ok());
/// assert_eq!(
///     validate_identifier("1st"),
///     Err(UriError::InvalidIdentifier {
///         name: "1st".into(),
///         problem: IdentifierProblem::InvalidStart { ch: '1' },
///     })
/// );
/// ```
pub fn validate_identifier(name: &str) -> Result<(), UriError> {
    check_identifier(name).map_err(|problem| UriError::InvalidIdentifier {
        name: name.to_owned(),
        problem,
    })
}

/// The identifier rule, returning only the problem so each caller can add its own context.
pub(crate) fn check_identifier(name: &str) -> Result<(), IdentifierProblem> {
    check_name(name, false)
}

/// The organisation rule: an identifier that may also contain `-` (but not start with it).
pub(crate) fn check_org(name: &str) -> Result<(), IdentifierProblem> {
    check_name(name, true)
}

fn check_name(name: &str, allow_hyphen: bool) -> Result<(), IdentifierProblem> {
    let mut chars = name.char_indices();
    let Some((_, first)) = chars.next() else {
        return Err(IdentifierProblem::Empty);
    };
    if !(first.is_ascii_alphabetic() || first == '_') {
        // A character that is never allowed is reported as such; a digit or `-` only at the start.
        let allowed_later = first.is_ascii_digit() || (allow_hyphen && first == '-');
        return Err(if allowed_later {
            IdentifierProblem::InvalidStart { ch: first }
        } else {
            IdentifierProblem::InvalidChar {
                ch: first,
                position: 0,
            }
        });
    }
    for (position, ch) in chars {
        let allowed = ch.is_ascii_alphanumeric() || ch == '_' || (allow_hyphen && ch == '-');
        if !allowed {
            return Err(IdentifierProblem::InvalidChar { ch, position });
        }
    }
    if name.len() > MAX_IDENTIFIER_LEN {
        return Err(IdentifierProblem::TooLong { len: name.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, org: bool, expected: Result<(), IdentifierProblem>) {
        let got = if org {
            check_org(name)
        } else {
            check_identifier(name)
        };
        assert_eq!(got, expected, "checking {name:?} (org: {org})");
    }

    #[test]
    fn identifier_rule() {
        let long = "a".repeat(MAX_IDENTIFIER_LEN);
        let too_long = "a".repeat(MAX_IDENTIFIER_LEN + 1);
        let cases: &[(&str, bool, Result<(), IdentifierProblem>)] = &[
            ("a", false, Ok(())),
            ("_", false, Ok(())),
            ("sales_data", false, Ok(())),
            ("Col1", false, Ok(())),
            (&long, false, Ok(())),
            ("", false, Err(IdentifierProblem::Empty)),
            (
                "1a",
                false,
                Err(IdentifierProblem::InvalidStart { ch: '1' }),
            ),
            (
                "a-b",
                false,
                Err(IdentifierProblem::InvalidChar {
                    ch: '-',
                    position: 1,
                }),
            ),
            (
                "a b",
                false,
                Err(IdentifierProblem::InvalidChar {
                    ch: ' ',
                    position: 1,
                }),
            ),
            (
                "aé",
                false,
                Err(IdentifierProblem::InvalidChar {
                    ch: 'é',
                    position: 1,
                }),
            ),
            (
                "-a",
                false,
                Err(IdentifierProblem::InvalidChar {
                    ch: '-',
                    position: 0,
                }),
            ),
            (
                &too_long,
                false,
                Err(IdentifierProblem::TooLong {
                    len: MAX_IDENTIFIER_LEN + 1,
                }),
            ),
            ("acme-corp", true, Ok(())),
            ("a-", true, Ok(())),
            ("-a", true, Err(IdentifierProblem::InvalidStart { ch: '-' })),
            ("9a", true, Err(IdentifierProblem::InvalidStart { ch: '9' })),
            (
                "a.b",
                true,
                Err(IdentifierProblem::InvalidChar {
                    ch: '.',
                    position: 1,
                }),
            ),
        ];
        for (name, org, expected) in cases {
            check(name, *org, expected.clone());
        }
    }
}
