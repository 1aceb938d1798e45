//! Link tokens: after approval, each side of a friendship accepts mail from the other only
//! under a random 32-byte token it chose and sent inside a sealed envelope. The relay stores
//! only `BLAKE2b-256(fields(LINK_TOKEN, token))` and checks posts against it, so it can count
//! links without learning which two accounts a link joins.

use crate::encoding::fields;
use crate::labels;
use crate::primitives::blake2b_256;
use crate::{CryptoError, SecretBytes};

/// Bytes of a link token.
pub const LINK_TOKEN_LEN: usize = 32;

/// A fresh random link token.
pub fn generate_link_token() -> Result<SecretBytes<LINK_TOKEN_LEN>, CryptoError> {
    SecretBytes::random()
}

/// `BLAKE2b-256(fields(LINK_TOKEN, token))`, the form the relay stores and checks.
pub fn link_token_hash(token: &[u8; LINK_TOKEN_LEN]) -> [u8; 32] {
    blake2b_256(&fields(&[labels::LINK_TOKEN.as_bytes(), token]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_deterministic_and_separates_tokens() {
        let a = [1u8; 32];
        let b = [2u8; 32];
        assert_eq!(link_token_hash(&a), link_token_hash(&a));
        assert_ne!(link_token_hash(&a), link_token_hash(&b));
        assert_ne!(link_token_hash(&a), a);
    }

    #[test]
    fn generated_tokens_differ() {
        let a = generate_link_token().unwrap();
        let b = generate_link_token().unwrap();
        assert_ne!(a.expose(), b.expose());
    }
}
