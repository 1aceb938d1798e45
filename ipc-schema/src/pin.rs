//! Relay certificate pins (DESIGN §6): `sha256:` followed by 64 lower-case hex digits, the
//! SHA-256 of the certificate's DER SubjectPublicKeyInfo.
//!
//! The same text appears in `plog relay add --fingerprint`, in `plog-relay fingerprint`, in
//! the next-pin announcement of `GET /v1/info` and in the daemon's relay listing.

use std::fmt;
use std::str::FromStr;

use data_encoding::HEXLOWER;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a pin was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The text does not start with `sha256:`.
    #[error("a certificate pin starts with \"sha256:\"")]
    Prefix,
    /// The digest is not 64 lower-case hex digits.
    #[error("a certificate pin is \"sha256:\" followed by 64 lower-case hex digits")]
    Digest,
}

/// A validated certificate pin.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertPin([u8; 32]);

impl CertPin {
    /// The algorithm prefix, colon included.
    pub const PREFIX: &'static str = "sha256:";

    /// Wraps a SHA-256 digest of a DER SubjectPublicKeyInfo.
    #[must_use]
    pub const fn from_digest(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    /// The raw digest.
    #[must_use]
    pub const fn digest(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses `sha256:<64 lower-case hex>`.
    ///
    /// # Errors
    /// [`PinError`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, PinError> {
        let hex = text.strip_prefix(Self::PREFIX).ok_or(PinError::Prefix)?;
        if hex.len() != 64 {
            return Err(PinError::Digest);
        }
        let bytes = HEXLOWER
            .decode(hex.as_bytes())
            .map_err(|_| PinError::Digest)?;
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| PinError::Digest)
    }
}

impl fmt::Display for CertPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::PREFIX)?;
        f.write_str(&HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for CertPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertPin({self})")
    }
}

impl FromStr for CertPin {
    type Err = PinError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for CertPin {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CertPin {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "sha256:00ff10ab00ff10ab00ff10ab00ff10ab00ff10ab00ff10ab00ff10ab00ff10ab";

    #[test]
    fn round_trips() {
        let pin = CertPin::parse(TEXT).expect("parse");
        assert_eq!(pin.digest()[..4], [0x00, 0xff, 0x10, 0xab]);
        assert_eq!(pin.to_string(), TEXT);
        let json = serde_json::to_string(&pin).expect("serialize");
        assert_eq!(json, format!("\"{TEXT}\""));
        assert_eq!(
            serde_json::from_str::<CertPin>(&json).expect("deserialize"),
            pin
        );
    }

    #[test]
    fn rejects_malformed_pins() {
        assert_eq!(CertPin::parse(&TEXT[7..]), Err(PinError::Prefix));
        assert_eq!(
            CertPin::parse(&TEXT.replace("sha256", "SHA256")),
            Err(PinError::Prefix)
        );
        assert_eq!(
            CertPin::parse(&TEXT.to_uppercase().replace("SHA256", "sha256")),
            Err(PinError::Digest)
        );
        assert_eq!(CertPin::parse(&TEXT[..70]), Err(PinError::Digest));
        assert_eq!(CertPin::parse(&format!("{TEXT}00")), Err(PinError::Digest));
        assert_eq!(
            CertPin::parse(&TEXT.replace('f', "g")),
            Err(PinError::Digest)
        );
    }
}
