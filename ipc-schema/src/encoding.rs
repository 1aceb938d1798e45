//! Byte fields on the wire: base64url without padding (RFC 4648 §5), validated on decode.
//!
//! Every binary value that crosses a process boundary as text (JSON fields, header values,
//! URL path segments) is written with the URL-safe alphabet and no `=` padding, so it can sit
//! in a path segment or a header without escaping. Decoding is strict: padding, the standard
//! alphabet (`+`, `/`), whitespace, non-canonical trailing bits and wrong lengths are errors.

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE64URL_NOPAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a base64url value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The text is not canonical base64url without padding.
    #[error("not base64url without padding (RFC 4648 §5, alphabet A-Z a-z 0-9 - _, no '=')")]
    InvalidBase64,
    /// The text decoded, but to the wrong number of bytes.
    #[error("expected {expected} bytes, got {actual}")]
    WrongLength {
        /// Bytes the field must hold.
        expected: usize,
        /// Bytes the text decoded to.
        actual: usize,
    },
}

/// Encodes bytes as base64url without padding.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    BASE64URL_NOPAD.encode(bytes)
}

/// Decodes strict base64url without padding.
///
/// # Errors
/// [`DecodeError::InvalidBase64`] for anything but canonical unpadded base64url.
pub fn decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    BASE64URL_NOPAD
        .decode(text.as_bytes())
        .map_err(|_| DecodeError::InvalidBase64)
}

/// Decodes strict base64url into exactly `N` bytes.
///
/// # Errors
/// [`DecodeError::InvalidBase64`] or [`DecodeError::WrongLength`].
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], DecodeError> {
    let bytes = decode(text)?;
    let actual = bytes.len();
    <[u8; N]>::try_from(bytes).map_err(|_| DecodeError::WrongLength {
        expected: N,
        actual,
    })
}

/// A fixed-size byte string, written as base64url without padding.
///
/// Use the aliases [`Bytes32`] (hashes, MAC tags, HPKE `enc`, proofs) and [`Bytes16`]
/// (invite locators). Not for secrets: `Debug` shows the value. Secrets use
/// [`crate::token`] types instead.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByteArray<const N: usize>([u8; N]);

/// 32 bytes as base64url (43 characters).
pub type Bytes32 = ByteArray<32>;

/// 16 bytes as base64url (22 characters).
pub type Bytes16 = ByteArray<16>;

impl<const N: usize> ByteArray<N> {
    /// Number of bytes held.
    pub const LEN: usize = N;

    /// Wraps raw bytes.
    #[must_use]
    pub const fn new(bytes: [u8; N]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; N] {
        &self.0
    }

    /// Consumes the wrapper, returning the raw bytes.
    #[must_use]
    pub const fn into_bytes(self) -> [u8; N] {
        self.0
    }

    /// The base64url text form.
    #[must_use]
    pub fn to_b64(&self) -> String {
        encode(&self.0)
    }

    /// Parses the base64url text form.
    ///
    /// # Errors
    /// [`DecodeError`] for bad base64url or a length other than `N`.
    pub fn from_b64(text: &str) -> Result<Self, DecodeError> {
        decode_array(text).map(Self)
    }
}

impl<const N: usize> From<[u8; N]> for ByteArray<N> {
    fn from(bytes: [u8; N]) -> Self {
        Self(bytes)
    }
}

impl<const N: usize> AsRef<[u8]> for ByteArray<N> {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl<const N: usize> fmt::Debug for ByteArray<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes{N}({})", self.to_b64())
    }
}

impl<const N: usize> fmt::Display for ByteArray<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_b64())
    }
}

impl<const N: usize> FromStr for ByteArray<N> {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_b64(s)
    }
}

impl<const N: usize> Serialize for ByteArray<N> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_b64())
    }
}

impl<'de, const N: usize> Deserialize<'de> for ByteArray<N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_b64(&text).map_err(serde::de::Error::custom)
    }
}

/// A byte string of any length, written as base64url without padding.
///
/// Used for opaque ciphertexts such as HPKE envelopes and key blocks. Size limits are the
/// receiver's policy (request body limits), not part of the type.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct B64Bytes(Vec<u8>);

impl B64Bytes {
    /// Wraps raw bytes.
    #[must_use]
    pub const fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Consumes the wrapper, returning the raw bytes.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Number of raw bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The base64url text form.
    #[must_use]
    pub fn to_b64(&self) -> String {
        encode(&self.0)
    }

    /// Parses the base64url text form.
    ///
    /// # Errors
    /// [`DecodeError::InvalidBase64`] for anything but canonical unpadded base64url.
    pub fn from_b64(text: &str) -> Result<Self, DecodeError> {
        decode(text).map(Self)
    }
}

impl From<Vec<u8>> for B64Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for B64Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for B64Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "B64Bytes({} bytes)", self.0.len())
    }
}

impl FromStr for B64Bytes {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_b64(s)
    }
}

impl Serialize for B64Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_b64())
    }
}

impl<'de> Deserialize<'de> for B64Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_b64(&text).map_err(serde::de::Error::custom)
    }
}

/// An X25519 public key (32 bytes) as base64url: how accounts, handle lookups and invite
/// lookups carry a user's per-relay identity key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PublicKeyB64(Bytes32);

impl PublicKeyB64 {
    /// Wraps the raw key bytes.
    #[must_use]
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(ByteArray::new(bytes))
    }

    /// The raw key bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The base64url text form.
    #[must_use]
    pub fn to_b64(&self) -> String {
        self.0.to_b64()
    }

    /// Parses the base64url text form.
    ///
    /// # Errors
    /// [`DecodeError`] for bad base64url or a length other than 32.
    pub fn from_b64(text: &str) -> Result<Self, DecodeError> {
        Bytes32::from_b64(text).map(Self)
    }
}

impl From<[u8; 32]> for PublicKeyB64 {
    fn from(bytes: [u8; 32]) -> Self {
        Self::new(bytes)
    }
}

impl fmt::Debug for PublicKeyB64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_b64())
    }
}

impl fmt::Display for PublicKeyB64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_b64())
    }
}

impl FromStr for PublicKeyB64 {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_b64(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bytes32_wire_form() {
        let value = Bytes32::new([0xfb; 32]);
        let json = serde_json::to_string(&value).expect("serialize");
        assert_eq!(json, "\"-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s\"");
        let back: Bytes32 = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, value);
    }

    #[test]
    fn rejects_wrong_length() {
        let short = encode(&[1u8; 31]);
        assert_eq!(
            Bytes32::from_b64(&short),
            Err(DecodeError::WrongLength {
                expected: 32,
                actual: 31
            })
        );
        let long = encode(&[1u8; 33]);
        assert!(serde_json::from_str::<Bytes32>(&format!("\"{long}\"")).is_err());
        assert!(serde_json::from_str::<Bytes16>(&format!("\"{long}\"")).is_err());
        assert!(serde_json::from_str::<PublicKeyB64>(&format!("\"{short}\"")).is_err());
    }

    #[test]
    fn rejects_padding_standard_alphabet_and_noise() {
        let padded = format!("{}=", encode(&[7u8; 32]));
        assert_eq!(Bytes32::from_b64(&padded), Err(DecodeError::InvalidBase64));
        let standard = data_encoding::BASE64_NOPAD.encode(&[0xfb; 32]);
        assert_eq!(
            Bytes32::from_b64(&standard),
            Err(DecodeError::InvalidBase64)
        );
        assert_eq!(B64Bytes::from_b64("ab cd"), Err(DecodeError::InvalidBase64));
        assert_eq!(B64Bytes::from_b64("a"), Err(DecodeError::InvalidBase64));
        // Non-canonical trailing bits: "AB" has bits set beyond the single encoded byte.
        assert_eq!(B64Bytes::from_b64("AB"), Err(DecodeError::InvalidBase64));
        assert!(serde_json::from_str::<B64Bytes>("42").is_err());
    }

    #[test]
    fn empty_b64bytes_is_empty_string() {
        let json = serde_json::to_string(&B64Bytes::default()).expect("serialize");
        assert_eq!(json, "\"\"");
        let back: B64Bytes = serde_json::from_str(&json).expect("deserialize");
        assert!(back.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn bytes32_round_trips(bytes in proptest::array::uniform32(any::<u8>())) {
            let value = Bytes32::new(bytes);
            let text = value.to_b64();
            prop_assert_eq!(text.len(), 43);
            prop_assert_eq!(Bytes32::from_b64(&text), Ok(value));
            let json = serde_json::to_string(&value).expect("serialize");
            prop_assert_eq!(serde_json::from_str::<Bytes32>(&json).expect("deserialize"), value);
            let key = PublicKeyB64::new(bytes);
            let json = serde_json::to_string(&key).expect("serialize");
            prop_assert_eq!(serde_json::from_str::<PublicKeyB64>(&json).expect("deserialize"), key);
        }

        #[test]
        fn b64bytes_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let value = B64Bytes::new(bytes.clone());
            let json = serde_json::to_string(&value).expect("serialize");
            let back: B64Bytes = serde_json::from_str(&json).expect("deserialize");
            prop_assert_eq!(back.as_bytes(), bytes.as_slice());
        }

        #[test]
        fn accepted_text_is_canonical(text in "[A-Za-z0-9_=+/-]{0,64}") {
            // Whatever decodes must re-encode to exactly the same text: one value, one spelling.
            if let Ok(value) = B64Bytes::from_b64(&text) {
                prop_assert_eq!(value.to_b64(), text);
            }
        }

        #[test]
        fn other_lengths_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assume!(bytes.len() != 32);
            let text = encode(&bytes);
            prop_assert_eq!(
                Bytes32::from_b64(&text),
                Err(DecodeError::WrongLength { expected: 32, actual: bytes.len() })
            );
        }
    }
}
