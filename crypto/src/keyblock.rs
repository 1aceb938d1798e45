//! Key blocks: a volume key for one epoch, sealed from the owner to one grantee.
//!
//! Wire layout: `version (1) | enc (32) | ciphertext (32 + 16)`, 81 bytes. HPKE auth mode,
//! owner → grantee, with
//! - `info = fields(KEY_BLOCK)`
//! - `aad = fields(KEY_BLOCK, [version], relay origin, owner id, grantee id, volume id, u64 epoch)`
//!
//! The same HPKE context exports the grantee's tag key, `Export(fields(GRANTEE_TAG), 32)`:
//! the owner keeps it (in the manifest) to tag every later revision of that epoch for that
//! grantee, and the grantee derives it when it opens the block.

use crate::encoding::{FieldWriter, Reader, fields};
use crate::hpke::{self, ENC_LEN, TAG_LEN};
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::secret::SecretBytes;
use crate::volume::{GranteeTagKey, VolumeKey};
use crate::{CryptoError, labels};
use thiserror::Error;

/// Key block format version.
pub const VERSION: u8 = 1;
/// Bytes of a key block.
pub const KEY_BLOCK_LEN: usize = 1 + ENC_LEN + 32 + TAG_LEN;

/// What a key block is bound to.
#[derive(Debug, Clone, Copy)]
pub struct KeyBlockContext<'a> {
    /// The relay's normalized origin.
    pub relay_origin: &'a str,
    /// The owner's account id.
    pub owner_id: [u8; 16],
    /// The grantee's account id.
    pub grantee_id: [u8; 16],
    /// The volume id.
    pub volume_id: [u8; 16],
    /// The key epoch of the volume key.
    pub epoch: u64,
}

/// Why a key block was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyBlockError {
    /// Wrong length or version.
    #[error("malformed key block")]
    Malformed,
    /// Authentication failed: not from this owner, not for this grantee, volume or epoch,
    /// or altered.
    #[error("key block failed authentication")]
    Authentication,
    /// A primitive failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

fn info() -> Vec<u8> {
    fields(&[labels::KEY_BLOCK.as_bytes()])
}

fn aad(ctx: &KeyBlockContext<'_>) -> Vec<u8> {
    FieldWriter::new()
        .field(labels::KEY_BLOCK.as_bytes())
        .field(&[VERSION])
        .field(ctx.relay_origin.as_bytes())
        .field(&ctx.owner_id)
        .field(&ctx.grantee_id)
        .field(&ctx.volume_id)
        .u64_field(ctx.epoch)
        .finish()
}

fn export_context() -> Vec<u8> {
    fields(&[labels::GRANTEE_TAG.as_bytes()])
}

/// Owner side: seals `vek` to `grantee` and returns the block and the grantee's tag key.
pub fn seal(
    owner: &IdentityKeyPair,
    grantee: &IdentityPublicKey,
    ctx: &KeyBlockContext<'_>,
    vek: &VolumeKey,
) -> Result<(Vec<u8>, GranteeTagKey), KeyBlockError> {
    seal_inner(owner, grantee, ctx, vek, None)
}

/// [`seal`] with a given ephemeral key instead of a random one; only for test vectors.
#[cfg(any(test, feature = "test-vectors"))]
pub fn seal_with_ephemeral(
    owner: &IdentityKeyPair,
    grantee: &IdentityPublicKey,
    ctx: &KeyBlockContext<'_>,
    vek: &VolumeKey,
    ephemeral: &SecretBytes<32>,
) -> Result<(Vec<u8>, GranteeTagKey), KeyBlockError> {
    seal_inner(owner, grantee, ctx, vek, Some(ephemeral))
}

fn seal_inner(
    owner: &IdentityKeyPair,
    grantee: &IdentityPublicKey,
    ctx: &KeyBlockContext<'_>,
    vek: &VolumeKey,
    ephemeral: Option<&SecretBytes<32>>,
) -> Result<(Vec<u8>, GranteeTagKey), KeyBlockError> {
    let mut tag_key = zeroize::Zeroizing::new([0u8; 32]);
    let sealed = hpke::seal(
        owner,
        grantee,
        None,
        &info(),
        &aad(ctx),
        vek.expose(),
        Some((&export_context(), tag_key.as_mut_slice())),
        ephemeral,
    )?;
    let mut out = Vec::with_capacity(KEY_BLOCK_LEN);
    out.push(VERSION);
    out.extend_from_slice(&sealed.enc);
    out.extend_from_slice(&sealed.ciphertext);
    Ok((out, GranteeTagKey::from_bytes(*tag_key)))
}

/// Grantee side: opens a key block from `owner`.
pub fn open(
    block: &[u8],
    grantee: &IdentityKeyPair,
    owner: &IdentityPublicKey,
    ctx: &KeyBlockContext<'_>,
) -> Result<(VolumeKey, GranteeTagKey), KeyBlockError> {
    if block.len() != KEY_BLOCK_LEN {
        return Err(KeyBlockError::Malformed);
    }
    let mut r = Reader::new(block);
    if r.u8().map_err(|_| KeyBlockError::Malformed)? != VERSION {
        return Err(KeyBlockError::Malformed);
    }
    let enc: [u8; ENC_LEN] = r.array().map_err(|_| KeyBlockError::Malformed)?;
    let mut tag_key = zeroize::Zeroizing::new([0u8; 32]);
    let vek = hpke::open(
        grantee,
        owner,
        None,
        &info(),
        &aad(ctx),
        &enc,
        r.remaining(),
        Some((&export_context(), tag_key.as_mut_slice())),
    )
    .map_err(|()| KeyBlockError::Authentication)?;
    let vek = VolumeKey::from_slice(&vek).ok_or(KeyBlockError::Malformed)?;
    Ok((vek, GranteeTagKey::from_bytes(*tag_key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: KeyBlockContext<'static> = KeyBlockContext {
        relay_origin: "https://relay.example",
        owner_id: [1; 16],
        grantee_id: [2; 16],
        volume_id: [3; 16],
        epoch: 4,
    };

    #[test]
    fn grantee_recovers_key_and_tag_key() {
        let owner = IdentityKeyPair::generate().unwrap();
        let friend = IdentityKeyPair::generate().unwrap();
        let vek = VolumeKey::generate().unwrap();
        let (block, owner_side) = seal(&owner, &friend.public_key(), &CTX, &vek).unwrap();
        assert_eq!(block.len(), KEY_BLOCK_LEN);
        let (got, friend_side) = open(&block, &friend, &owner.public_key(), &CTX).unwrap();
        assert_eq!(got, vek);
        assert_eq!(owner_side, friend_side);
    }

    #[test]
    fn bound_to_owner_grantee_volume_and_epoch() {
        let owner = IdentityKeyPair::generate().unwrap();
        let friend = IdentityKeyPair::generate().unwrap();
        let stranger = IdentityKeyPair::generate().unwrap();
        let vek = VolumeKey::generate().unwrap();
        let (block, _) = seal(&owner, &friend.public_key(), &CTX, &vek).unwrap();
        let auth = KeyBlockError::Authentication;
        assert_eq!(
            open(&block, &stranger, &owner.public_key(), &CTX).unwrap_err(),
            auth
        );
        assert_eq!(
            open(&block, &friend, &stranger.public_key(), &CTX).unwrap_err(),
            auth
        );
        for ctx in [
            KeyBlockContext { epoch: 5, ..CTX },
            KeyBlockContext {
                volume_id: [9; 16],
                ..CTX
            },
            KeyBlockContext {
                grantee_id: [9; 16],
                ..CTX
            },
            KeyBlockContext {
                owner_id: [9; 16],
                ..CTX
            },
            KeyBlockContext {
                relay_origin: "https://other.example",
                ..CTX
            },
        ] {
            assert_eq!(
                open(&block, &friend, &owner.public_key(), &ctx).unwrap_err(),
                auth
            );
        }
        for i in 0..block.len() {
            let mut bad = block.clone();
            bad[i] ^= 0x04;
            assert!(
                open(&bad, &friend, &owner.public_key(), &CTX).is_err(),
                "byte {i}"
            );
        }
        assert_eq!(
            open(&block[..80], &friend, &owner.public_key(), &CTX).unwrap_err(),
            KeyBlockError::Malformed
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        #[test]
        fn seal_open_round_trip(key in proptest::prelude::any::<[u8; 32]>(), epoch in proptest::prelude::any::<u64>(), volume_id in proptest::prelude::any::<[u8; 16]>()) {
            let owner = IdentityKeyPair::generate().unwrap();
            let friend = IdentityKeyPair::generate().unwrap();
            let ctx = KeyBlockContext { epoch, volume_id, ..CTX };
            let vek = VolumeKey::from_bytes(key);
            let (block, a) = seal(&owner, &friend.public_key(), &ctx, &vek).unwrap();
            let (got, b) = open(&block, &friend, &owner.public_key(), &ctx).unwrap();
            proptest::prop_assert_eq!(got, vek);
            proptest::prop_assert_eq!(a, b);
        }
    }
}
