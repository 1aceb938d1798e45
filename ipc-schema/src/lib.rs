//! `plog-ipc-schema`: the contracts between PluralLog's processes, and nothing else.
//!
//! Its one job is to define, once, what crosses a process boundary, so that the CLI (`plog`),
//! the daemon (`plogd`) and the relay (`plog-relay`) cannot disagree about it:
//!
//! - [`http`]: request and response types of the relay's HTTPS API, its paths and headers;
//! - [`error`]: the relay's one JSON error shape and its error codes;
//! - [`nats`]: the relay's JetStream bucket, stream and subject names;
//! - [`dbus`]: the daemon's D-Bus interfaces (proxies), typed errors and JSON result shapes;
//! - the validated values they share: base64url bytes ([`encoding`]), bearer secrets
//!   ([`token`]), [`handle`]s, volume types ([`vtype`]) and certificate pins ([`pin`]).
//!
//! No logic lives here beyond parsing and validating those shapes. Times are integer unix
//! seconds (UTC) everywhere; binary data is base64url without padding.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod dbus;
pub mod encoding;
pub mod error;
pub mod handle;
pub mod http;
pub mod nats;
pub mod pin;
pub mod token;
pub mod vtype;

pub use encoding::{B64Bytes, ByteArray, Bytes16, Bytes32, DecodeError, PublicKeyB64};
pub use error::{ErrorBody, ErrorCode};
pub use handle::Handle;
pub use pin::CertPin;
pub use token::{LinkToken, SessionToken};
pub use vtype::VolumeType;

#[cfg(test)]
mod test_util {
    use serde::{Serialize, de::DeserializeOwned};

    /// Serializes, deserializes, checks the value survived and returns the JSON text.
    pub(crate) fn round_trip<T>(value: &T) -> String
    where
        T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let json = serde_json::to_string(value).expect("serialize");
        let back: T = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(&back, value, "{json}");
        json
    }
}
