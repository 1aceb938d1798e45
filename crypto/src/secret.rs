use core::fmt;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A fixed-size secret: zeroized on drop, compared in constant time, printed as `***`.
///
/// It is deliberately neither `Clone` nor serialisable; the bytes are reachable only through
/// [`SecretBytes::expose`], so every place that handles raw key material is easy to find.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes<const N: usize>([u8; N]);

impl<const N: usize> SecretBytes<N> {
    /// Takes ownership of `bytes`. The caller should zeroize its own copy if it has one.
    pub fn from_array(bytes: [u8; N]) -> Self {
        Self(bytes)
    }

    /// Copies a slice of exactly `N` bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut out = [0u8; N];
        if bytes.len() != N {
            return None;
        }
        out.copy_from_slice(bytes);
        Some(Self(out))
    }

    /// Fresh random bytes from the operating system.
    pub fn random() -> Result<Self, crate::CryptoError> {
        let mut out = Self([0u8; N]);
        crate::primitives::random_fill(&mut out.0)?;
        Ok(out)
    }

    /// The raw secret bytes. Use only to feed a primitive.
    pub fn expose(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> PartialEq for SecretBytes<N> {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl<const N: usize> Eq for SecretBytes<N> {}

impl<const N: usize> fmt::Debug for SecretBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes<{N}>(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let s = SecretBytes::from_array([0xAB; 4]);
        let shown = format!("{s:?}");
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab,"));
        assert!(shown.contains("***"));
    }

    #[test]
    fn equality_compares_content() {
        assert_eq!(
            SecretBytes::from_array([1u8; 8]),
            SecretBytes::from_array([1u8; 8])
        );
        assert_ne!(
            SecretBytes::from_array([1u8; 8]),
            SecretBytes::from_array([2u8; 8])
        );
        assert!(SecretBytes::<8>::from_slice(&[0; 7]).is_none());
    }
}
