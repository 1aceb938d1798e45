//! Handles: the optional public names of accounts at one relay (`GET /v1/handles/{handle}`).
//!
//! A handle is 3 to 32 characters: an ASCII letter, then ASCII letters, digits, `-` or `_`.
//! Handles are case-insensitive: parsing folds ASCII upper case to lower case, so `Alice` and
//! `alice` are the same handle and the canonical (stored, returned) form is lower case. The
//! same rules apply to path segments, JSON fields and D-Bus arguments.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a handle was refused (relay error code `invalid_handle`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// Too short or too long.
    #[error("a handle has {min} to {max} characters, this one has {len}", min = Handle::MIN_LEN, max = Handle::MAX_LEN)]
    Length {
        /// Length of the refused text in bytes.
        len: usize,
    },
    /// Does not start with an ASCII letter.
    #[error("a handle starts with a letter a-z")]
    Start,
    /// Holds a character outside `a-z`, `0-9`, `-`, `_`.
    #[error("a handle may contain only a-z, 0-9, '-' and '_'")]
    Character,
}

/// A validated handle. Serializes as its plain string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Handle(String);

impl Handle {
    /// Shortest handle, in characters.
    pub const MIN_LEN: usize = 3;
    /// Longest handle, in characters.
    pub const MAX_LEN: usize = 32;

    /// Validates a handle and folds it to lower case.
    ///
    /// # Errors
    /// [`HandleError`] naming the rule the text breaks.
    pub fn parse(text: &str) -> Result<Self, HandleError> {
        let text = text.to_ascii_lowercase();
        let len = text.len();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(HandleError::Length { len });
        }
        let mut bytes = text.bytes();
        if !bytes.next().is_some_and(|b| b.is_ascii_lowercase()) {
            return Err(HandleError::Start);
        }
        if !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return Err(HandleError::Character);
        }
        Ok(Self(text))
    }

    /// The handle text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({})", self.0)
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Handle {
    type Err = HandleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Handle {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Handle {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_handles() {
        for ok in ["abc", "alice", "a-b_c9", "z23456789012345678901234567890ab"] {
            let handle = Handle::parse(ok).expect(ok);
            assert_eq!(handle.as_str(), ok);
            let json = serde_json::to_string(&handle).expect("serialize");
            assert_eq!(json, format!("\"{ok}\""));
            assert_eq!(
                serde_json::from_str::<Handle>(&json).expect("deserialize"),
                handle
            );
        }
    }

    #[test]
    fn handles_are_case_insensitive() {
        assert_eq!(Handle::parse("Alice"), Handle::parse("alice"));
        assert_eq!(
            Handle::parse("ALICE-2").map(|h| h.as_str().to_owned()),
            Ok("alice-2".to_owned())
        );
        let parsed: Handle = serde_json::from_str("\"AlIce\"").expect("mixed case parses");
        assert_eq!(parsed.as_str(), "alice");
    }

    #[test]
    fn rejects_invalid_handles() {
        assert_eq!(Handle::parse("ab"), Err(HandleError::Length { len: 2 }));
        assert_eq!(
            Handle::parse(&"a".repeat(33)),
            Err(HandleError::Length { len: 33 })
        );
        assert_eq!(Handle::parse("1abc"), Err(HandleError::Start));
        assert_eq!(Handle::parse("-abc"), Err(HandleError::Start));
        assert_eq!(Handle::parse("al ice"), Err(HandleError::Character));
        assert_eq!(Handle::parse("al.ice"), Err(HandleError::Character));
        assert_eq!(Handle::parse("alicé"), Err(HandleError::Character));
        assert!(serde_json::from_str::<Handle>("\"../etc\"").is_err());
    }
}
