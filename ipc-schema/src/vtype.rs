//! Volume types: the name of what a volume holds (`members`, `front`, …).
//!
//! The set is open: `plog volume put TYPE` stores any type byte-exactly, before and after
//! record formats exist for it. A type is 1 to 32 characters: a lowercase ASCII letter, then
//! lowercase ASCII letters, digits, `-` or `_`. It travels in the `X-Plog-Volume-Type` header,
//! in JSON listings and as a D-Bus string argument.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a volume type was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeTypeError {
    /// Empty or too long.
    #[error("a volume type has 1 to {max} characters, this one has {len}", max = VolumeType::MAX_LEN)]
    Length {
        /// Length of the refused text in bytes.
        len: usize,
    },
    /// Does not start with a lowercase ASCII letter.
    #[error("a volume type starts with a lowercase letter a-z")]
    Start,
    /// Holds a character outside `a-z`, `0-9`, `-`, `_`.
    #[error("a volume type may contain only a-z, 0-9, '-' and '_'")]
    Character,
}

/// A validated volume type. Serializes as its plain string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct VolumeType(String);

impl VolumeType {
    /// Longest type name, in characters.
    pub const MAX_LEN: usize = 32;
    /// Member profiles.
    pub const MEMBERS: &'static str = "members";
    /// Switch history and co-fronting.
    pub const FRONT: &'static str = "front";
    /// Journals.
    pub const JOURNALS: &'static str = "journals";
    /// Polls.
    pub const POLLS: &'static str = "polls";
    /// Summaries that can be shared without member identities.
    pub const ANALYTICS: &'static str = "analytics";
    /// The owner-only manifest (DESIGN §5); never grantable.
    pub const MANIFEST: &'static str = "manifest";

    /// Validates a volume type.
    ///
    /// # Errors
    /// [`VolumeTypeError`] naming the rule the text breaks.
    pub fn parse(text: &str) -> Result<Self, VolumeTypeError> {
        let len = text.len();
        if !(1..=Self::MAX_LEN).contains(&len) {
            return Err(VolumeTypeError::Length { len });
        }
        let mut bytes = text.bytes();
        if !bytes.next().is_some_and(|b| b.is_ascii_lowercase()) {
            return Err(VolumeTypeError::Start);
        }
        if !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return Err(VolumeTypeError::Character);
        }
        Ok(Self(text.to_owned()))
    }

    /// The type name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the type may be shared with friends: every type but `manifest`.
    #[must_use]
    pub fn is_grantable(&self) -> bool {
        self.0 != Self::MANIFEST
    }
}

impl fmt::Debug for VolumeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VolumeType({})", self.0)
    }
}

impl fmt::Display for VolumeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for VolumeType {
    type Err = VolumeTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for VolumeType {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for VolumeType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_parse_and_round_trip() {
        for name in [
            VolumeType::MEMBERS,
            VolumeType::FRONT,
            VolumeType::JOURNALS,
            VolumeType::POLLS,
            VolumeType::ANALYTICS,
            VolumeType::MANIFEST,
            "x",
            "custom-notes_2",
        ] {
            let vtype = VolumeType::parse(name).expect(name);
            let json = serde_json::to_string(&vtype).expect("serialize");
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<VolumeType>(&json).expect("deserialize"),
                vtype
            );
        }
    }

    #[test]
    fn only_manifest_is_not_grantable() {
        assert!(!VolumeType::parse("manifest").expect("parse").is_grantable());
        assert!(VolumeType::parse("journals").expect("parse").is_grantable());
    }

    #[test]
    fn rejects_invalid_types() {
        assert_eq!(
            VolumeType::parse(""),
            Err(VolumeTypeError::Length { len: 0 })
        );
        assert_eq!(
            VolumeType::parse(&"a".repeat(33)),
            Err(VolumeTypeError::Length { len: 33 })
        );
        assert_eq!(VolumeType::parse("Front"), Err(VolumeTypeError::Start));
        assert_eq!(VolumeType::parse("9lives"), Err(VolumeTypeError::Start));
        assert_eq!(VolumeType::parse("a/b"), Err(VolumeTypeError::Character));
        assert_eq!(VolumeType::parse("a\nb"), Err(VolumeTypeError::Character));
        assert!(serde_json::from_str::<VolumeType>("\"a b\"").is_err());
    }
}
