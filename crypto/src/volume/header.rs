use super::VolumeError;
use crate::encoding::Reader;
use core::fmt;

/// The magic bytes that open every volume.
pub const HEADER_MAGIC: &[u8; 8] = b"PLOGVOL\0";
/// The volume format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const MAX_TYPE_LEN: usize = 32;
/// Bytes of the header before the type name's length byte.
const FIXED_PREFIX: usize = 8 + 1 + 16;

/// A volume type name: 1 to 32 characters, lower-case ASCII letters, digits, `-` and `_`,
/// starting with a letter (`members`, `front`, `journals`, `polls`, `analytics`, `manifest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VolumeType(String);

impl VolumeType {
    /// Validates a type name.
    pub fn new(name: &str) -> Result<Self, VolumeError> {
        let valid = (1..=MAX_TYPE_LEN).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(VolumeError::MalformedHeader)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VolumeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The public, authenticated description of one revision of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeHeader {
    /// The volume id (16 bytes of a UUID).
    pub volume_id: [u8; 16],
    /// The volume type.
    pub vtype: VolumeType,
    /// The revision this ciphertext is (1 for the first upload).
    pub revision: u64,
    /// The key epoch of the volume key.
    pub key_epoch: u64,
}

impl VolumeHeader {
    pub(crate) fn encode(&self, nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
        let name = self.vtype.as_str().as_bytes();
        let mut out = Vec::with_capacity(FIXED_PREFIX + 1 + name.len() + 16 + NONCE_LEN);
        out.extend_from_slice(HEADER_MAGIC);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.volume_id);
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(&self.revision.to_be_bytes());
        out.extend_from_slice(&self.key_epoch.to_be_bytes());
        out.extend_from_slice(nonce);
        out
    }

    /// Length of the encoded header, if `prefix` holds enough bytes to know it.
    pub(crate) fn encoded_len(prefix: &[u8]) -> Option<usize> {
        prefix
            .get(FIXED_PREFIX)
            .map(|&n| FIXED_PREFIX + 1 + usize::from(n) + 8 + 8 + NONCE_LEN)
    }

    /// Parses a complete encoded header (exactly its bytes) into the header and the nonce.
    pub fn parse(bytes: &[u8]) -> Result<(Self, [u8; NONCE_LEN]), VolumeError> {
        let malformed = |_| VolumeError::MalformedHeader;
        let mut r = Reader::new(bytes);
        if r.take(HEADER_MAGIC.len()).map_err(malformed)? != HEADER_MAGIC {
            return Err(VolumeError::MalformedHeader);
        }
        let version = r.u8().map_err(malformed)?;
        if version != FORMAT_VERSION {
            return Err(VolumeError::UnsupportedVersion(version));
        }
        let volume_id = r.array().map_err(malformed)?;
        let name = r.short_field(MAX_TYPE_LEN).map_err(malformed)?;
        let vtype =
            VolumeType::new(core::str::from_utf8(name).map_err(|_| VolumeError::MalformedHeader)?)?;
        let revision = r.u64().map_err(malformed)?;
        let key_epoch = r.u64().map_err(malformed)?;
        let nonce = r.array().map_err(malformed)?;
        r.finish().map_err(malformed)?;
        Ok((
            Self {
                volume_id,
                vtype,
                revision,
                key_epoch,
            },
            nonce,
        ))
    }

    /// Reads the header at the start of a volume without a key (for example to route it).
    pub fn peek(volume_prefix: &[u8]) -> Result<Self, VolumeError> {
        let len = Self::encoded_len(volume_prefix).ok_or(VolumeError::MalformedHeader)?;
        let bytes = volume_prefix
            .get(..len)
            .ok_or(VolumeError::MalformedHeader)?;
        Ok(Self::parse(bytes)?.0)
    }

    /// Checks that `found` is the header this reader asked for, naming the first difference.
    pub(crate) fn expect(&self, found: &VolumeHeader) -> Result<(), VolumeError> {
        if found.volume_id != self.volume_id {
            return Err(VolumeError::WrongVolumeId);
        }
        if found.vtype != self.vtype {
            return Err(VolumeError::WrongType {
                expected: self.vtype.to_string(),
                found: found.vtype.to_string(),
            });
        }
        if found.revision != self.revision {
            return Err(VolumeError::WrongRevision {
                expected: self.revision,
                found: found.revision,
            });
        }
        if found.key_epoch != self.key_epoch {
            return Err(VolumeError::WrongEpoch {
                expected: self.key_epoch,
                found: found.key_epoch,
            });
        }
        Ok(())
    }
}
