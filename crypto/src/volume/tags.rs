use super::keys::{GranteeTagKey, OwnerTagKey};
use super::{VolumeDigest, VolumeError};
use crate::encoding::fields;
use crate::labels;
use crate::primitives::{ct_eq, mac_blake2b_256};
use crate::secret::SecretBytes;

/// Bytes of a revision tag.
pub const TAG_LEN: usize = 32;

fn tag(
    key: &SecretBytes<32>,
    label: &str,
    header: &[u8],
    digest: &VolumeDigest,
) -> Result<[u8; TAG_LEN], VolumeError> {
    Ok(mac_blake2b_256(
        key,
        &fields(&[label.as_bytes(), header, digest]),
    )?)
}

/// The owner tag of a revision: keyed BLAKE2b-256 under the owner tag key over
/// `fields(OWNER_TAG, header, volume digest)`.
pub fn owner_tag(
    key: &OwnerTagKey,
    header: &[u8],
    digest: &VolumeDigest,
) -> Result<[u8; TAG_LEN], VolumeError> {
    tag(&key.0, labels::OWNER_TAG, header, digest)
}

/// A grantee tag of a revision: keyed BLAKE2b-256 under the grantee's tag key over
/// `fields(GRANTEE_TAG, header, volume digest)`.
pub fn grantee_tag(
    key: &GranteeTagKey,
    header: &[u8],
    digest: &VolumeDigest,
) -> Result<[u8; TAG_LEN], VolumeError> {
    tag(&key.0, labels::GRANTEE_TAG, header, digest)
}

/// Verifies an owner tag in constant time.
pub fn verify_owner_tag(
    key: &OwnerTagKey,
    header: &[u8],
    digest: &VolumeDigest,
    presented: &[u8],
) -> Result<(), VolumeError> {
    let expected = owner_tag(key, header, digest)?;
    ct_eq(&expected, presented)
        .then_some(())
        .ok_or(VolumeError::BadTag)
}

/// Verifies a grantee tag in constant time.
pub fn verify_grantee_tag(
    key: &GranteeTagKey,
    header: &[u8],
    digest: &VolumeDigest,
    presented: &[u8],
) -> Result<(), VolumeError> {
    let expected = grantee_tag(key, header, digest)?;
    ct_eq(&expected, presented)
        .then_some(())
        .ok_or(VolumeError::BadTag)
}
