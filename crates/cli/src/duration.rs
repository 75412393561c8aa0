//! The `DURATION` notation of `--retention` and `--age-guard`: a whole number followed by a unit
//! (`0s`, `250ms`, `90m`, `12h`, `7d`). One unit per value keeps the notation unambiguous and easy
//! to read back in a shell history; clap reports a value that does not parse as a usage error
//! (exit 2) naming it.

use std::time::Duration;

/// Why a `DURATION` argument was refused; the message names the value as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DurationError {
    /// No digits before the unit, or nothing at all.
    #[error(
        "`{value}` is not a duration: expected a whole number and a unit (ms, s, m, h, d), \
         e.g. 90m or 7d"
    )]
    Malformed {
        /// The value as given.
        value: String,
    },
    /// Digits followed by no unit, or a unit this notation does not know.
    #[error("`{value}` has no known unit: use ms, s, m, h or d (e.g. 0s, 90m, 7d)")]
    UnknownUnit {
        /// The value as given.
        value: String,
    },
    /// The number is too large to be a duration.
    #[error("`{value}` is too long a duration")]
    Overflow {
        /// The value as given.
        value: String,
    },
}

/// Parses `0s`, `250ms`, `90m`, `12h`, `7d` (surrounding whitespace allowed).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let value = text.trim();
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = value.split_at(digits);
    if number.is_empty() {
        return Err(DurationError::Malformed {
            value: text.to_owned(),
        });
    }
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(DurationError::UnknownUnit {
                value: text.to_owned(),
            });
        }
    };
    let overflow = || DurationError::Overflow {
        value: text.to_owned(),
    };
    let count: u64 = number.parse().map_err(|_| overflow())?;
    let millis = count.checked_mul(millis_per_unit).ok_or_else(overflow)?;
    Ok(Duration::from_millis(millis))
}

/// Formats a duration in the notation [`parse_duration`] reads, with the largest exact unit.
pub(crate) fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if millis != 0 && millis.is_multiple_of(size) {
            return format!("{}{unit}", millis / size);
        }
    }
    if millis == 0 {
        "0s".to_owned()
    } else {
        format!("{millis}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One case: the text, and the duration in milliseconds or the error.
    fn check(text: &str, expected: Result<u64, DurationError>) {
        let got = parse_duration(text).map(|d| u64::try_from(d.as_millis()).unwrap());
        assert_eq!(got, expected, "{text:?}");
        if let Ok(duration) = parse_duration(text) {
            // The formatted form reads back as the same duration.
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
    }

    // Guards the notation the CLI guide promises (0s, 90m, 7d, plus h and ms) and that bad
    // values are refused with the value named.
    #[test]
    fn durations() {
        let malformed = |v: &str| DurationError::Malformed { value: v.into() };
        let unit = |v: &str| DurationError::UnknownUnit { value: v.into() };
        check("0s", Ok(0));
        check("250ms", Ok(250));
        check("90m", Ok(5_400_000));
        check("12h", Ok(43_200_000));
        check("7d", Ok(604_800_000));
        check(" 5s ", Ok(5_000));
        check("", Err(malformed("")));
        check("s", Err(malformed("s")));
        check("-1s", Err(malformed("-1s")));
        check("1.5h", Err(unit("1.5h")));
        check("10", Err(unit("10")));
        check("3w", Err(unit("3w")));
        check("1h30m", Err(unit("1h30m")));
        check(
            "99999999999999999999d",
            Err(DurationError::Overflow {
                value: "99999999999999999999d".into(),
            }),
        );
        check(
            "999999999999999999d",
            Err(DurationError::Overflow {
                value: "999999999999999999d".into(),
            }),
        );
        assert!(
            malformed("x7").to_string().contains("`x7`"),
            "the message names the value"
        );
    }

    // Guards the human output of gc: the largest exact unit.
    #[test]
    fn formatting() {
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(format_duration(Duration::from_secs(90 * 60)), "90m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
