//! Every cryptographic construction of PluralLog, and nothing else: the master secret and its
//! recovery phrase, per-relay identity keys, the passphrase-sealed key file, HPKE envelopes and
//! key blocks, the login challenge proof, invite codes, the padded streaming volume format with
//! its owner and grantee tags, and safety numbers.
//!
//! The crate is pure: it performs no I/O, keeps no global state and reads no clock (callers pass
//! timestamps in). Randomness comes from the operating system through orion and x25519-dalek.
//! Byte layouts and labels are specified in `docs/PROTOCOL.md`; every `info`, `aad` and MAC input
//! is built from length-prefixed fields ([`encoding`]), never from bare concatenation.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod challenge;
pub mod encoding;
pub mod envelope;
mod error;
mod hpke;
pub mod identity;
pub mod invite;
pub mod keyblock;
pub mod keyfile;
pub mod labels;
pub mod link;
pub mod master;
pub mod padding;
mod primitives;
pub mod safety;
mod secret;
#[cfg(any(test, feature = "test-vectors"))]
pub mod test_vectors;
pub mod volume;

pub use error::CryptoError;
pub use secret::SecretBytes;
