//! Durations in the configuration file: an integer number of seconds (`900`) or a string of
//! numbers with units (`"15m"`, `"1h30m"`, `"45s"`, `"2d"`, `"0"`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Parses `"1h30m"`-style text. Units: `s`, `m`, `h`, `d`; a bare number is seconds.
///
/// # Errors
/// A message naming what is wrong with the text.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".to_owned());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            ' ' if digits.is_empty() => continue,
            _ => {
                return Err(format!(
                    "invalid duration {text:?}: use numbers with units s, m, h or d, e.g. \"15m\" or \"1h30m\""
                ));
            }
        };
        let value: u64 = digits
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: a unit must follow a number"))?;
        digits.clear();
        total = value
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(|| format!("duration {text:?} is too long"))?;
    }
    if !digits.is_empty() {
        return Err(format!(
            "invalid duration {text:?}: the last number has no unit (s, m, h or d)"
        ));
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way [`parse`] reads it back (`"1h30m"`, `"0s"`).
#[must_use]
pub fn format(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Serde adapter: a duration written as seconds or as text.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"15m\" or a number of seconds")
        }

        fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(secs))
        }

        fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Duration, E> {
            u64::try_from(secs)
                .map(Duration::from_secs)
                .map_err(|_| E::custom("a duration cannot be negative"))
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            parse(text).map_err(E::custom)
        }
    }

    deserializer.deserialize_any(DurationVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_seconds() {
        for (text, secs) in [
            ("0", 0),
            ("900", 900),
            ("45s", 45),
            ("15m", 900),
            ("1h30m", 5400),
            ("1h 30m", 5400),
            ("2d", 172_800),
        ] {
            assert_eq!(parse(text), Ok(Duration::from_secs(secs)), "{text}");
        }
    }

    #[test]
    fn refuses_nonsense() {
        for text in ["", "m", "15x", "1.5h", "-3m", "m5"] {
            assert!(parse(text).is_err(), "{text}");
        }
        assert!(parse("99999999999999999999d").is_err());
        assert!(parse("3 ").is_ok());
        assert!(parse("3m5").expect_err("no unit").contains("no unit"));
    }

    #[test]
    fn format_round_trips() {
        for secs in [0, 1, 59, 60, 3600, 5400, 90_061] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse(&format(d)), Ok(d), "{secs}");
        }
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
    }
}
