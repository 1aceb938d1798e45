//! The master secret of an identity and its recovery phrase.
//!
//! Every other long-lived key (relay identities, the owner's volume-key wrapping key, the owner
//! tag key) is derived from these 32 bytes, so the phrase alone restores an identity.

use crate::CryptoError;
use crate::encoding::FieldWriter;
use crate::identity::IdentityKeyPair;
use crate::labels;
use crate::primitives::hkdf_sha256;
use crate::secret::SecretBytes;
use thiserror::Error;
use zeroize::Zeroizing;

/// Length of the master secret in bytes.
pub const MASTER_SECRET_LEN: usize = 32;

/// Number of words in a recovery phrase (BIP39, 256 bits of entropy plus checksum).
pub const RECOVERY_PHRASE_WORDS: usize = 24;

/// Why a recovery phrase was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhraseError {
    /// The phrase does not have 24 words.
    #[error("a recovery phrase has {RECOVERY_PHRASE_WORDS} words; this one has {0}")]
    WordCount(usize),
    /// A word is not in the BIP39 English word list.
    #[error("word {position} of the recovery phrase is not in the word list")]
    UnknownWord {
        /// 1-based position of the word.
        position: usize,
    },
    /// The words are valid but their checksum does not match: a word was mistyped or swapped.
    #[error("the recovery phrase checksum does not match; check each word and their order")]
    Checksum,
}

/// The 32-byte root secret of an identity. Zeroized on drop; never printed.
#[derive(Debug, PartialEq, Eq)]
pub struct MasterSecret(SecretBytes<MASTER_SECRET_LEN>);

impl MasterSecret {
    /// A fresh master secret from the operating system's random source.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(SecretBytes::random()?))
    }

    /// Wraps existing secret bytes (for example from a key file).
    pub fn from_bytes(bytes: [u8; MASTER_SECRET_LEN]) -> Self {
        Self(SecretBytes::from_array(bytes))
    }

    /// The raw secret. Use only to seal it into a key file.
    pub fn expose(&self) -> &[u8; MASTER_SECRET_LEN] {
        self.0.expose()
    }

    /// The 24-word recovery phrase (BIP39 English), words separated by single spaces.
    pub fn recovery_phrase(&self) -> Zeroizing<String> {
        let mnemonic = bip39::Mnemonic::from_entropy(self.0.expose())
            .expect("32 bytes is a valid BIP39 entropy length");
        let mut phrase = Zeroizing::new(String::with_capacity(RECOVERY_PHRASE_WORDS * 9));
        for (i, word) in mnemonic.words().enumerate() {
            if i > 0 {
                phrase.push(' ');
            }
            phrase.push_str(word);
        }
        phrase
    }

    /// Restores the master secret from its recovery phrase. Case and surrounding or repeated
    /// whitespace are ignored.
    pub fn from_recovery_phrase(phrase: &str) -> Result<Self, PhraseError> {
        // Built in place: per-word temporaries would leave words of the secret in freed memory.
        let mut normalized = Zeroizing::new(String::with_capacity(phrase.len()));
        for word in phrase.split_whitespace() {
            if !normalized.is_empty() {
                normalized.push(' ');
            }
            normalized.extend(word.chars().flat_map(char::to_lowercase));
        }
        let count = normalized.split(' ').filter(|w| !w.is_empty()).count();
        if count != RECOVERY_PHRASE_WORDS {
            return Err(PhraseError::WordCount(count));
        }
        let english = bip39::Language::English;
        if let Some(position) = normalized
            .split(' ')
            .position(|w| english.find_word(w).is_none())
        {
            return Err(PhraseError::UnknownWord {
                position: position + 1,
            });
        }
        let mnemonic = bip39::Mnemonic::parse_in_normalized(english, &normalized)
            .map_err(|_| PhraseError::Checksum)?;
        let (entropy, len) = mnemonic.to_entropy_array();
        let entropy = Zeroizing::new(entropy);
        let bytes: [u8; MASTER_SECRET_LEN] = entropy[..len]
            .try_into()
            .map_err(|_| PhraseError::WordCount(count))?;
        Ok(Self::from_bytes(bytes))
    }

    /// The X25519 identity for one relay: HKDF-SHA256 of the master secret with
    /// `info = fields(RELAY_IDENTITY, identity_origin, u32 generation)`.
    ///
    /// `identity_origin` is the relay's origin at registration (see
    /// [`crate::identity::normalize_origin`]); `generation` rotates the key for that relay.
    pub fn relay_identity(
        &self,
        identity_origin: &str,
        generation: u32,
    ) -> Result<IdentityKeyPair, CryptoError> {
        let info = FieldWriter::new()
            .field(labels::RELAY_IDENTITY.as_bytes())
            .field(identity_origin.as_bytes())
            .u32_field(generation)
            .finish();
        let seed = hkdf_sha256(self.0.expose(), &info)?;
        Ok(IdentityKeyPair::from_secret_bytes(seed))
    }

    /// A 32-byte key for one owner-only purpose, `info = fields(label)`.
    pub(crate) fn derive_key(&self, label: &str) -> Result<SecretBytes<32>, CryptoError> {
        hkdf_sha256(
            self.0.expose(),
            &FieldWriter::new().field(label.as_bytes()).finish(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed() -> MasterSecret {
        MasterSecret::from_bytes(core::array::from_fn(|i| i as u8))
    }

    #[test]
    fn phrase_known_answer() {
        // BIP39 reference vector: entropy 0x7f repeated 32 times.
        let m = MasterSecret::from_bytes([0x7f; 32]);
        assert_eq!(
            m.recovery_phrase().as_str(),
            "legal winner thank year wave sausage worth useful legal winner thank year wave \
             sausage worth useful legal winner thank year wave sausage worth title"
        );
    }

    #[test]
    fn phrase_round_trips_and_tolerates_case_and_spacing() {
        let m = MasterSecret::generate().unwrap();
        let phrase = m.recovery_phrase();
        assert_eq!(phrase.split(' ').count(), 24);
        let messy = format!("  {}  ", phrase.to_uppercase().replace(' ', "   "));
        assert_eq!(MasterSecret::from_recovery_phrase(&messy).unwrap(), m);
    }

    #[test]
    fn phrase_errors_are_specific() {
        let phrase = fixed().recovery_phrase();
        let words: Vec<&str> = phrase.split(' ').collect();
        assert_eq!(
            MasterSecret::from_recovery_phrase(&words[..23].join(" ")),
            Err(PhraseError::WordCount(23))
        );
        let mut bad = words.clone();
        bad[4] = "notaword";
        assert_eq!(
            MasterSecret::from_recovery_phrase(&bad.join(" ")),
            Err(PhraseError::UnknownWord { position: 5 })
        );
        let mut swapped = words.clone();
        swapped.swap(0, 1);
        if swapped != words {
            assert_eq!(
                MasterSecret::from_recovery_phrase(&swapped.join(" ")),
                Err(PhraseError::Checksum)
            );
        }
    }

    #[test]
    fn relay_identity_depends_on_origin_and_generation() {
        let m = fixed();
        let a = m.relay_identity("https://relay.example", 0).unwrap();
        let again = m.relay_identity("https://relay.example", 0).unwrap();
        let other_origin = m.relay_identity("https://other.example", 0).unwrap();
        let other_gen = m.relay_identity("https://relay.example", 1).unwrap();
        assert_eq!(a.public_key(), again.public_key());
        assert_ne!(a.public_key(), other_origin.public_key());
        assert_ne!(a.public_key(), other_gen.public_key());
        assert_ne!(other_origin.public_key(), other_gen.public_key());
        let other_master = MasterSecret::from_bytes([9; 32])
            .relay_identity("https://relay.example", 0)
            .unwrap();
        assert_ne!(a.public_key(), other_master.public_key());
    }

    #[test]
    fn relay_identity_is_hkdf_of_length_prefixed_info() {
        // Recompute the derivation independently of `relay_identity`.
        let m = fixed();
        let mut info = Vec::new();
        for part in [
            labels::RELAY_IDENTITY.as_bytes(),
            b"https://relay.example".as_slice(),
            &7u32.to_be_bytes(),
        ] {
            info.extend_from_slice(&(part.len() as u32).to_be_bytes());
            info.extend_from_slice(part);
        }
        let mut seed = [0u8; 32];
        orion::hazardous::kdf::hkdf::Hkdf::<orion::hazardous::kdf::hkdf::SHA256>::derive_key(
            &[],
            m.expose(),
            Some(&info),
            &mut seed,
        )
        .unwrap();
        let expected = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(seed));
        let got = m.relay_identity("https://relay.example", 7).unwrap();
        assert_eq!(got.public_key().as_bytes(), expected.as_bytes());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn phrase_round_trip(secret in proptest::prelude::any::<[u8; 32]>()) {
            let m = MasterSecret::from_bytes(secret);
            proptest::prop_assert_eq!(MasterSecret::from_recovery_phrase(&m.recovery_phrase()).unwrap(), m);
        }
    }
}
