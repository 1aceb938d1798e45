//! Bearer secrets that travel over HTTPS: session tokens and link tokens.
//!
//! Both are 32 random bytes written as base64url without padding. They print as `***` in
//! `Debug`, are wiped from memory on drop, are not `Clone`, and expose their bytes only through
//! [`SessionToken::expose_bytes`] / [`LinkToken::expose_bytes`]. The relay stores neither: only
//! their hashes.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::encoding::{DecodeError, decode, encode};

/// The `Authorization` scheme that carries a session token: `Authorization: Bearer <token>`.
pub const BEARER_SCHEME: &str = "Bearer";

macro_rules! secret_token {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps freshly generated token bytes.
            #[must_use]
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The secret bytes. Named loudly so every use is easy to find.
            #[must_use]
            pub const fn expose_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The base64url text form, wiped from memory when dropped.
            #[must_use]
            pub fn to_b64(&self) -> Zeroizing<String> {
                Zeroizing::new(encode(&self.0))
            }

            /// Parses the base64url text form.
            ///
            /// # Errors
            /// [`DecodeError`] for bad base64url or a length other than 32 bytes.
            pub fn from_b64(text: &str) -> Result<Self, DecodeError> {
                let bytes = Zeroizing::new(decode(text)?);
                let mut token = Self([0; 32]);
                if bytes.len() != token.0.len() {
                    return Err(DecodeError::WrongLength {
                        expected: 32,
                        actual: bytes.len(),
                    });
                }
                token.0.copy_from_slice(&bytes);
                Ok(token)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_b64())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = Zeroizing::new(String::deserialize(deserializer)?);
                Self::from_b64(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

secret_token! {
    /// A session token issued by `POST /v1/auth/response`, sent back as
    /// `Authorization: Bearer <base64url>`.
    SessionToken
}

secret_token! {
    /// A link token: whoever holds it may post mail to the user who registered its hash
    /// (`POST /v1/links`). Sent in a mailbox post's route.
    LinkToken
}

impl SessionToken {
    /// Parses an `Authorization` header value of the form `Bearer <base64url>`.
    ///
    /// The scheme is matched case-insensitively (RFC 9110 §11.1); exactly one space separates
    /// it from the token.
    ///
    /// # Errors
    /// [`DecodeError::InvalidBase64`] when the scheme is missing or the token is malformed,
    /// [`DecodeError::WrongLength`] when it is not 32 bytes.
    pub fn from_authorization(value: &str) -> Result<Self, DecodeError> {
        let (scheme, token) = value.split_once(' ').ok_or(DecodeError::InvalidBase64)?;
        if !scheme.eq_ignore_ascii_case(BEARER_SCHEME) {
            return Err(DecodeError::InvalidBase64);
        }
        Self::from_b64(token)
    }

    /// The `Authorization` header value: `Bearer <base64url>`.
    #[must_use]
    pub fn to_authorization(&self) -> Zeroizing<String> {
        let token = self.to_b64();
        let mut value =
            Zeroizing::new(String::with_capacity(BEARER_SCHEME.len() + 1 + token.len()));
        value.push_str(BEARER_SCHEME);
        value.push(' ');
        value.push_str(&token);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let token = SessionToken::from_bytes([9; 32]);
        assert_eq!(format!("{token:?}"), "SessionToken(***)");
        let link = LinkToken::from_bytes([9; 32]);
        assert_eq!(format!("{link:?}"), "LinkToken(***)");
    }

    #[test]
    fn round_trips_through_json_and_header() {
        let token = SessionToken::from_bytes([0x5a; 32]);
        let json = serde_json::to_string(&token).expect("serialize");
        let back: SessionToken = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, token);

        let header = token.to_authorization();
        assert!(header.starts_with("Bearer "));
        let parsed = SessionToken::from_authorization(&header).expect("parse header");
        assert_eq!(parsed, token);
        let lower = header.replacen("Bearer", "bearer", 1);
        assert!(SessionToken::from_authorization(&lower).is_ok());
    }

    #[test]
    fn rejects_bad_authorization() {
        let b64 = encode(&[1; 32]);
        assert!(SessionToken::from_authorization(&b64).is_err());
        assert!(SessionToken::from_authorization(&format!("Basic {b64}")).is_err());
        assert!(SessionToken::from_authorization(&format!("Bearer  {b64}")).is_err());
        assert!(SessionToken::from_authorization(&format!("Bearer {}", encode(&[1; 16]))).is_err());
        assert!(serde_json::from_str::<LinkToken>("\"short\"").is_err());
    }
}
