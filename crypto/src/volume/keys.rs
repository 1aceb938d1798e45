use super::VolumeError;
use crate::encoding::{FieldWriter, Reader};
use crate::master::MasterSecret;
use crate::primitives::random_array;
use crate::secret::SecretBytes;
use crate::{CryptoError, labels};
use core::fmt;
use orion::hazardous::aead::xchacha20poly1305 as xchacha;

/// Bytes of a wrapped volume key: version (1), nonce (24), sealed key (32 + 16).
pub const WRAPPED_KEY_LEN: usize = 1 + 24 + 32 + 16;
const WRAP_VERSION: u8 = 1;

/// A volume encryption key (VEK): random, one per volume and key epoch.
#[derive(PartialEq, Eq)]
pub struct VolumeKey(SecretBytes<32>);

impl VolumeKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(SecretBytes::random()?))
    }

    /// Wraps existing key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBytes::from_array(bytes))
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        SecretBytes::from_slice(bytes).map(Self)
    }

    /// The raw key. Use only to feed a primitive or to store it sealed.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose()
    }
}

impl fmt::Debug for VolumeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VolumeKey(***)")
    }
}

/// The owner's MAC key for revision tags, derived from the master secret.
#[derive(Debug, PartialEq, Eq)]
pub struct OwnerTagKey(pub(crate) SecretBytes<32>);

/// A grantee's MAC key for revision tags, exported from that grantee's key block.
#[derive(Debug, PartialEq, Eq)]
pub struct GranteeTagKey(pub(crate) SecretBytes<32>);

impl GranteeTagKey {
    /// Wraps key bytes (as stored by the owner in its manifest).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBytes::from_array(bytes))
    }

    /// The raw key, to store it in the owner's manifest.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose()
    }
}

/// The owner-only keys derived from the master secret: the key that wraps the owner's copy of
/// every volume key, and the owner tag key.
#[derive(Debug)]
pub struct OwnerKeys {
    wrap: SecretBytes<32>,
    tag: OwnerTagKey,
}

impl OwnerKeys {
    /// Derives both keys: HKDF-SHA256 of the master secret with `info = fields(OWNER_VEK_WRAP)`
    /// and `info = fields(OWNER_TAG_KEY)`.
    pub fn derive(master: &MasterSecret) -> Result<Self, CryptoError> {
        Ok(Self {
            wrap: master.derive_key(labels::OWNER_VEK_WRAP)?,
            tag: OwnerTagKey(master.derive_key(labels::OWNER_TAG_KEY)?),
        })
    }

    /// The owner tag key.
    pub fn tag_key(&self) -> &OwnerTagKey {
        &self.tag
    }

    fn aad(volume_id: &[u8; 16], epoch: u64) -> Vec<u8> {
        FieldWriter::new()
            .field(labels::OWNER_VEK_WRAP.as_bytes())
            .field(&[WRAP_VERSION])
            .field(volume_id)
            .u64_field(epoch)
            .finish()
    }

    /// Wraps `vek` for storage beside the volume: `version | nonce | XChaCha20-Poly1305(vek)`
    /// with `aad = fields(OWNER_VEK_WRAP, [version], volume id, u64 epoch)`.
    pub fn wrap(
        &self,
        volume_id: &[u8; 16],
        epoch: u64,
        vek: &VolumeKey,
    ) -> Result<[u8; WRAPPED_KEY_LEN], CryptoError> {
        let nonce: [u8; 24] = random_array()?;
        self.wrap_inner(volume_id, epoch, vek, nonce)
    }

    /// [`wrap`](Self::wrap) with a given nonce; only for test vectors.
    #[cfg(any(test, feature = "test-vectors"))]
    pub fn wrap_with_nonce(
        &self,
        volume_id: &[u8; 16],
        epoch: u64,
        vek: &VolumeKey,
        nonce: [u8; 24],
    ) -> Result<[u8; WRAPPED_KEY_LEN], CryptoError> {
        self.wrap_inner(volume_id, epoch, vek, nonce)
    }

    fn wrap_inner(
        &self,
        volume_id: &[u8; 16],
        epoch: u64,
        vek: &VolumeKey,
        nonce: [u8; 24],
    ) -> Result<[u8; WRAPPED_KEY_LEN], CryptoError> {
        let mut out = [0u8; WRAPPED_KEY_LEN];
        out[0] = WRAP_VERSION;
        out[1..25].copy_from_slice(&nonce);
        let key = xchacha::SecretKey::try_from(&self.wrap.expose()[..])
            .map_err(|_| CryptoError::Primitive("key"))?;
        xchacha::XChaCha20Poly1305::seal(
            &key,
            &xchacha::Nonce::from(nonce),
            vek.expose(),
            Some(&Self::aad(volume_id, epoch)),
            &mut out[25..],
        )
        .map_err(|_| CryptoError::Primitive("xchacha20-poly1305 seal"))?;
        Ok(out)
    }

    /// Unwraps the owner's copy of a volume key.
    pub fn unwrap(
        &self,
        volume_id: &[u8; 16],
        epoch: u64,
        wrapped: &[u8],
    ) -> Result<VolumeKey, VolumeError> {
        let mut r = Reader::new(wrapped);
        let version = r.u8().map_err(|_| VolumeError::KeyUnwrap)?;
        let nonce: [u8; 24] = r.array().map_err(|_| VolumeError::KeyUnwrap)?;
        let sealed = r.take(48).map_err(|_| VolumeError::KeyUnwrap)?;
        r.finish().map_err(|_| VolumeError::KeyUnwrap)?;
        if version != WRAP_VERSION {
            return Err(VolumeError::KeyUnwrap);
        }
        let key = xchacha::SecretKey::try_from(&self.wrap.expose()[..])
            .map_err(|_| CryptoError::Primitive("key"))?;
        let mut vek = zeroize::Zeroizing::new([0u8; 32]);
        xchacha::XChaCha20Poly1305::open(
            &key,
            &xchacha::Nonce::from(nonce),
            sealed,
            Some(&Self::aad(volume_id, epoch)),
            vek.as_mut_slice(),
        )
        .map_err(|_| VolumeError::KeyUnwrap)?;
        Ok(VolumeKey::from_bytes(*vek))
    }
}
