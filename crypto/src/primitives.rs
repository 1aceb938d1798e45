//! Thin, typed wrappers around the orion primitives this crate uses, so that the constructions
//! read as protocol steps and every orion error becomes a [`CryptoError`].

use crate::CryptoError;
use crate::secret::SecretBytes;
use orion::hazardous::hash::blake2::blake2b::Blake2b;
use orion::hazardous::kdf::hkdf::{Hkdf, SHA256};
use orion::hazardous::mac::blake2b as mac;

pub(crate) fn random_fill(out: &mut [u8]) -> Result<(), CryptoError> {
    orion::util::secure_rand_bytes(out).map_err(|_| CryptoError::Random)
}

pub(crate) fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    random_fill(&mut out)?;
    Ok(out)
}

/// HKDF-SHA256 with an empty salt; `info` is already a length-prefixed field sequence.
pub(crate) fn hkdf_sha256(ikm: &[u8], info: &[u8]) -> Result<SecretBytes<32>, CryptoError> {
    let mut out = [0u8; 32];
    Hkdf::<SHA256>::derive_key(&[], ikm, Some(info), &mut out)
        .map_err(|_| CryptoError::Primitive("hkdf-sha256"))?;
    Ok(SecretBytes::from_array(out))
}

/// Unkeyed BLAKE2b with a 32-byte output, fed incrementally.
pub(crate) struct Hasher(Blake2b);

impl Hasher {
    pub(crate) fn new() -> Self {
        Self(Blake2b::new(32).expect("32 is a valid BLAKE2b output size"))
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.0
            .update(data)
            .expect("BLAKE2b accepts any input up to 2^128 bytes");
    }

    pub(crate) fn finalize(mut self) -> [u8; 32] {
        let digest = self
            .0
            .finalize()
            .expect("a fresh BLAKE2b state finalizes once");
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        out
    }
}

/// BLAKE2b-256 of a single buffer.
pub(crate) fn blake2b_256(data: &[u8]) -> [u8; 32] {
    let mut h = Hasher::new();
    h.update(data);
    h.finalize()
}

/// BLAKE2b-256 keyed MAC over `data`.
pub(crate) fn mac_blake2b_256(key: &SecretBytes<32>, data: &[u8]) -> Result<[u8; 32], CryptoError> {
    let key = mac::SecretKey::try_from(&key.expose()[..])
        .map_err(|_| CryptoError::Primitive("blake2b key"))?;
    let mut state = mac::Blake2b::new(&key, 32).map_err(|_| CryptoError::Primitive("blake2b"))?;
    state
        .update(data)
        .map_err(|_| CryptoError::Primitive("blake2b"))?;
    let tag = state
        .finalize()
        .map_err(|_| CryptoError::Primitive("blake2b"))?;
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.unprotected_as_ref());
    Ok(out)
}

/// Constant-time equality of two byte strings of the same public length.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_rfc5869_case_3() {
        // RFC 5869 test case 3: SHA-256, empty salt and info.
        let ikm = [0x0bu8; 22];
        let mut out = [0u8; 42];
        Hkdf::<SHA256>::derive_key(&[], &ikm, None, &mut out).unwrap();
        assert_eq!(
            hex::encode(out),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
    }

    #[test]
    fn blake2b_256_of_empty_input() {
        assert_eq!(
            hex::encode(blake2b_256(b"")),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        );
    }

    #[test]
    fn mac_depends_on_key_and_data() {
        let k1 = SecretBytes::from_array([1u8; 32]);
        let k2 = SecretBytes::from_array([2u8; 32]);
        let a = mac_blake2b_256(&k1, b"x").unwrap();
        assert_ne!(a, mac_blake2b_256(&k2, b"x").unwrap());
        assert_ne!(a, mac_blake2b_256(&k1, b"y").unwrap());
        assert!(ct_eq(&a, &mac_blake2b_256(&k1, b"x").unwrap()));
        assert!(!ct_eq(&a, &a[..31]));
    }
}
