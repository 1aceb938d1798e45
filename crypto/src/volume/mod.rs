//! The volume format: a padded plaintext, encrypted as a stream of 64 KiB chunks.
//!
//! A volume is `header || chunk_1 || … || chunk_n`:
//!
//! - **Header** ([`VolumeHeader`]): magic `PLOGVOL\0`, format version `1`, volume id (16),
//!   type (1-byte length + ASCII name), revision (u64), key epoch (u64), stream nonce (24).
//! - **Padded plaintext**: `u64 length || plaintext || zeros`, of size
//!   [`padding::padded_len`](crate::padding::padded_len) (PADMÉ, at least 4 KiB).
//! - **Chunks**: the padded plaintext cut into 64 KiB pieces (the last may be shorter), each
//!   sealed with orion's streaming XChaCha20-Poly1305 (libsodium secretstream construction)
//!   under the volume key and the header's nonce, adding 17 bytes. The first chunk's associated
//!   data is `fields(VOLUME, header)`; the last chunk carries the `FINISH` tag and must be
//!   followed by the end of the stream. The chained state of the stream makes reordered,
//!   duplicated, dropped or spliced chunks fail to authenticate.
//!
//! [`VolumeSealer`] and [`VolumeOpener`] work incrementally with one chunk of buffer, so memory
//! does not grow with the volume. An opener releases plaintext before the end is authenticated:
//! callers must discard everything it produced unless [`VolumeOpener::finish`] succeeds.

mod header;
mod keys;
mod open;
mod seal;
mod stream;
mod tags;

pub use header::{FORMAT_VERSION, HEADER_MAGIC, VolumeHeader, VolumeType};
pub use keys::{GranteeTagKey, OwnerKeys, OwnerTagKey, VolumeKey, WRAPPED_KEY_LEN};
pub use open::VolumeOpener;
pub use seal::VolumeSealer;
pub use stream::{
    StreamError, open_stream, open_stream_undigested, open_to_vec, seal_stream,
    seal_stream_pipelined, seal_to_vec,
};
pub use tags::{TAG_LEN, grantee_tag, owner_tag, verify_grantee_tag, verify_owner_tag};

use crate::CryptoError;
use thiserror::Error;

/// Plaintext bytes per chunk (the last chunk may be shorter).
pub const CHUNK_LEN: usize = 64 * 1024;
/// Bytes each chunk adds: one encrypted tag byte and a 16-byte Poly1305 MAC.
pub const CHUNK_OVERHEAD: usize = orion::hazardous::aead::streaming::ABYTES;
/// Bytes of a full sealed chunk.
pub const SEALED_CHUNK_LEN: usize = CHUNK_LEN + CHUNK_OVERHEAD;
/// Largest plaintext a volume may hold (1 TiB); relays set far lower limits.
pub const MAX_PLAINTEXT_LEN: u64 = 1 << 40;

/// BLAKE2b-256 of a complete volume (header and chunks), as recorded in the manifest and
/// covered by revision tags.
pub type VolumeDigest = [u8; 32];

/// Computes a [`VolumeDigest`] over a volume fed in pieces, for parties that store or forward
/// volumes without a key (the relay).
pub struct VolumeDigester(crate::primitives::Hasher);

impl VolumeDigester {
    /// A digester with nothing fed yet.
    pub fn new() -> Self {
        Self(crate::primitives::Hasher::new())
    }

    /// Feeds the next bytes of the volume.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of everything fed.
    pub fn finalize(self) -> VolumeDigest {
        self.0.finalize()
    }
}

impl Default for VolumeDigester {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for VolumeDigester {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("VolumeDigester")
    }
}

/// Why a volume could not be sealed or opened.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VolumeError {
    /// The header is not a volume header (bad magic, bad type name, short).
    #[error("not a PluralLog volume (malformed header)")]
    MalformedHeader,
    /// The volume was written in a newer format.
    #[error("volume format version {0} is not supported by this version of PluralLog")]
    UnsupportedVersion(u8),
    /// The header names another volume.
    #[error("volume header belongs to another volume id")]
    WrongVolumeId,
    /// The header names another type.
    #[error("volume header has type {found:?}, expected {expected:?}")]
    WrongType {
        /// Type that was expected.
        expected: String,
        /// Type found in the header.
        found: String,
    },
    /// The header names another revision.
    #[error("volume header has revision {found}, expected {expected}")]
    WrongRevision {
        /// Revision that was expected.
        expected: u64,
        /// Revision found in the header.
        found: u64,
    },
    /// The header names another key epoch.
    #[error("volume is encrypted under key epoch {found}, expected {expected}")]
    WrongEpoch {
        /// Epoch that was expected.
        expected: u64,
        /// Epoch found in the header.
        found: u64,
    },
    /// A chunk failed to authenticate: wrong key, altered header or chunk, or chunks
    /// reordered, duplicated or taken from another volume.
    #[error(
        "volume chunk {chunk} failed authentication (wrong key, or the data was altered or reordered)"
    )]
    Authentication {
        /// 0-based index of the chunk.
        chunk: u64,
    },
    /// The stream ended before the final chunk.
    #[error("volume is truncated: the stream ended before its final chunk")]
    Truncated,
    /// Bytes follow the final chunk.
    #[error("volume has data after its final chunk")]
    TrailingData,
    /// The length prefix claims more plaintext than the padded stream holds.
    #[error("volume length prefix exceeds its padded size")]
    LengthBeyondPadding,
    /// Padding bytes are not zero or the padded size is not the canonical one.
    #[error("volume padding is not canonical")]
    BadPadding,
    /// The sealer received more or fewer plaintext bytes than declared.
    #[error("declared {declared} plaintext bytes but received {received}")]
    LengthMismatch {
        /// Length declared when sealing started.
        declared: u64,
        /// Bytes actually received.
        received: u64,
    },
    /// The plaintext is larger than the format allows.
    #[error("volume plaintext is larger than {MAX_PLAINTEXT_LEN} bytes")]
    TooLarge,
    /// A wrapped volume key did not open: not this owner's, or for another volume or epoch.
    #[error("wrapped volume key failed authentication")]
    KeyUnwrap,
    /// A revision tag did not verify.
    #[error("revision tag does not verify")]
    BadTag,
    /// The sealer already wrote the final chunk.
    #[error("the volume is already finished")]
    AlreadyFinished,
    /// A primitive failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

#[cfg(test)]
mod tests;
