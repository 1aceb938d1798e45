//! Invite codes: `locator.secret`, handed from a system to a friend out of band.
//!
//! - `locator`: 16 random bytes. The relay stores only `locator_hash = BLAKE2b-256(fields(
//!   INVITE_LOCATOR, locator))` and looks the invite up by hashing what the friend sends.
//! - `secret`: 48 bytes = 32 random bytes (256 bits the relay never sees) followed by the
//!   16-byte fingerprint of the owner's identity key ([`IdentityPublicKey::fingerprint`]).
//!
//! Both parts are written in lower-case RFC 4648 base32 without padding (26 and 77 characters)
//! and joined by a dot. The friend checks the owner key the relay returns against the
//! fingerprint, then seals its request in HPKE auth-psk mode with
//! `psk = HKDF-SHA256(secret, fields(INVITE_PSK, locator))` and `psk_id = locator_hash`.

use crate::encoding::{FieldWriter, fields};
use crate::identity::{FINGERPRINT_LEN, IdentityPublicKey};
use crate::primitives::{blake2b_256, ct_eq, hkdf_sha256, random_array};
use crate::secret::SecretBytes;
use crate::{CryptoError, labels};
use core::fmt;
use data_encoding::BASE32_NOPAD;
use thiserror::Error;
use zeroize::Zeroizing;

/// Bytes of a locator.
pub const LOCATOR_LEN: usize = 16;
/// Bytes of the random part of the secret: 256 bits, because it keys the HPKE pre-shared key
/// (RFC 9180 asks for at least 32 bytes of entropy there).
pub const SECRET_RANDOM_LEN: usize = 32;
/// Bytes of the secret (random part and fingerprint).
pub const SECRET_LEN: usize = SECRET_RANDOM_LEN + FINGERPRINT_LEN;

/// Why an invite code was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InviteError {
    /// Not `locator.secret` in base32 with the right lengths.
    #[error("not an invite code (expected two base32 parts joined by a dot)")]
    Malformed,
    /// The key the relay presented is not the key of the person who made the invite.
    #[error(
        "the relay returned an owner key that does not match the invite code; the relay may be swapping keys, do not proceed"
    )]
    OwnerMismatch,
    /// A primitive failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// An invite code. Holds a secret: zeroized on drop, not printed by `Debug`.
pub struct InviteCode {
    locator: [u8; LOCATOR_LEN],
    secret: SecretBytes<SECRET_LEN>,
}

impl InviteCode {
    /// A new code for the owner of `owner_key`.
    pub fn generate(owner_key: &IdentityPublicKey) -> Result<Self, InviteError> {
        let locator = random_array()?;
        let random: Zeroizing<[u8; SECRET_RANDOM_LEN]> = Zeroizing::new(random_array()?);
        Ok(Self::assemble(locator, &random, owner_key))
    }

    /// Assembles a code from given parts; only for test vectors.
    #[cfg(any(test, feature = "test-vectors"))]
    pub fn from_parts(
        locator: [u8; LOCATOR_LEN],
        random: &[u8; SECRET_RANDOM_LEN],
        owner_key: &IdentityPublicKey,
    ) -> Self {
        Self::assemble(locator, random, owner_key)
    }

    fn assemble(
        locator: [u8; LOCATOR_LEN],
        random: &[u8; SECRET_RANDOM_LEN],
        owner_key: &IdentityPublicKey,
    ) -> Self {
        let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
        secret[..SECRET_RANDOM_LEN].copy_from_slice(random);
        secret[SECRET_RANDOM_LEN..].copy_from_slice(&owner_key.fingerprint());
        Self {
            locator,
            secret: SecretBytes::from_array(*secret),
        }
    }

    /// Parses `locator.secret`; case and surrounding whitespace are ignored.
    pub fn parse(code: &str) -> Result<Self, InviteError> {
        let upper = Zeroizing::new(code.trim().to_ascii_uppercase());
        let (locator, secret) = upper.split_once('.').ok_or(InviteError::Malformed)?;
        let locator: [u8; LOCATOR_LEN] = BASE32_NOPAD
            .decode(locator.as_bytes())
            .map_err(|_| InviteError::Malformed)?
            .try_into()
            .map_err(|_| InviteError::Malformed)?;
        let secret = Zeroizing::new(
            BASE32_NOPAD
                .decode(secret.as_bytes())
                .map_err(|_| InviteError::Malformed)?,
        );
        let secret = SecretBytes::from_slice(&secret).ok_or(InviteError::Malformed)?;
        Ok(Self { locator, secret })
    }

    /// The code as text, to show to the owner once.
    pub fn to_code(&self) -> Zeroizing<String> {
        let mut secret = Zeroizing::new(vec![0u8; BASE32_NOPAD.encode_len(SECRET_LEN)]);
        BASE32_NOPAD.encode_mut(self.secret.expose(), &mut secret);
        let mut out = Zeroizing::new(String::with_capacity(27 + secret.len()));
        out.push_str(&self.locator_text());
        out.push('.');
        out.extend(secret.iter().map(|b| char::from(b.to_ascii_lowercase())));
        out
    }

    /// The locator, as the friend sends it to the relay.
    pub fn locator(&self) -> &[u8; LOCATOR_LEN] {
        &self.locator
    }

    /// The locator in its text form (lower-case base32).
    pub fn locator_text(&self) -> String {
        BASE32_NOPAD.encode(&self.locator).to_ascii_lowercase()
    }

    /// What the relay stores and indexes.
    pub fn locator_hash(&self) -> [u8; 32] {
        locator_hash(&self.locator)
    }

    /// Checks that `owner_key` (as returned by the relay) is the key the code was made for.
    pub fn verify_owner(&self, owner_key: &IdentityPublicKey) -> Result<(), InviteError> {
        if ct_eq(
            &self.secret.expose()[SECRET_RANDOM_LEN..],
            &owner_key.fingerprint(),
        ) {
            Ok(())
        } else {
            Err(InviteError::OwnerMismatch)
        }
    }

    /// The HPKE pre-shared key and id for the friend request sealed under this code.
    pub fn psk(&self) -> Result<InvitePsk, InviteError> {
        let info = FieldWriter::new()
            .field(labels::INVITE_PSK.as_bytes())
            .field(&self.locator)
            .finish();
        Ok(InvitePsk {
            key: hkdf_sha256(self.secret.expose(), &info)?,
            id: self.locator_hash(),
        })
    }
}

impl fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InviteCode({}.***)", self.locator_text())
    }
}

/// `BLAKE2b-256(fields(INVITE_LOCATOR, locator))`, as stored by the relay.
pub fn locator_hash(locator: &[u8; LOCATOR_LEN]) -> [u8; 32] {
    blake2b_256(&fields(&[labels::INVITE_LOCATOR.as_bytes(), locator]))
}

/// Parses the text form of a locator (what a friend sends to the relay).
pub fn parse_locator(text: &str) -> Result<[u8; LOCATOR_LEN], InviteError> {
    BASE32_NOPAD
        .decode(text.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| InviteError::Malformed)?
        .try_into()
        .map_err(|_| InviteError::Malformed)
}

/// The pre-shared key derived from an invite code, and its public identifier.
pub struct InvitePsk {
    key: SecretBytes<32>,
    id: [u8; 32],
}

impl InvitePsk {
    pub(crate) fn key(&self) -> &[u8] {
        self.key.expose()
    }

    pub(crate) fn id(&self) -> &[u8] {
        &self.id
    }
}

impl fmt::Debug for InvitePsk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitePsk(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityKeyPair;
    use proptest::prelude::*;

    #[test]
    fn code_round_trips_and_hides_the_secret() {
        let owner = IdentityKeyPair::generate().unwrap().public_key();
        let code = InviteCode::generate(&owner).unwrap();
        let text = code.to_code();
        assert_eq!(text.len(), 26 + 1 + 77);
        assert!(
            text.chars()
                .all(|c| c == '.' || c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        let parsed = InviteCode::parse(&format!("  {}\n", text.to_uppercase())).unwrap();
        assert_eq!(parsed.locator(), code.locator());
        assert_eq!(parsed.to_code(), text);
        assert_eq!(
            parse_locator(&code.locator_text()).unwrap(),
            *code.locator()
        );
        let shown = format!("{code:?}");
        assert!(!shown.contains(&text[27..]));
        assert!(!shown.contains(&text[40..60]));
    }

    #[test]
    fn owner_fingerprint_is_checked() {
        let owner = IdentityKeyPair::generate().unwrap().public_key();
        let swapped = IdentityKeyPair::generate().unwrap().public_key();
        let code = InviteCode::generate(&owner).unwrap();
        assert_eq!(code.verify_owner(&owner), Ok(()));
        assert_eq!(code.verify_owner(&swapped), Err(InviteError::OwnerMismatch));
    }

    #[test]
    fn every_byte_of_the_owner_fingerprint_is_compared() {
        let owner = IdentityKeyPair::generate().unwrap().public_key();
        let code = InviteCode::from_parts([1; 16], &[2; 32], &owner);
        assert_eq!(code.verify_owner(&owner), Ok(()));
        for i in SECRET_RANDOM_LEN..SECRET_LEN {
            let mut secret = *code.secret.expose();
            secret[i] ^= 0x01;
            let altered = InviteCode {
                locator: code.locator,
                secret: SecretBytes::from_array(secret),
            };
            assert_eq!(
                altered.verify_owner(&owner),
                Err(InviteError::OwnerMismatch),
                "byte {i}"
            );
        }
    }

    #[test]
    fn psk_depends_on_secret_and_locator() {
        let owner = IdentityKeyPair::generate().unwrap().public_key();
        let a = InviteCode::from_parts([1; 16], &[2; 32], &owner);
        let b = InviteCode::from_parts([1; 16], &[3; 32], &owner);
        let c = InviteCode::from_parts([4; 16], &[2; 32], &owner);
        let (pa, pb, pc) = (a.psk().unwrap(), b.psk().unwrap(), c.psk().unwrap());
        assert_ne!(pa.key(), pb.key());
        assert_ne!(pa.key(), pc.key());
        assert_eq!(pa.id(), &a.locator_hash());
        assert_ne!(a.locator_hash(), c.locator_hash());
    }

    #[test]
    fn malformed_codes_are_refused() {
        for bad in [
            "",
            "abc",
            "abc.def",
            ".",
            "aaaaaaaaaaaaaaaaaaaaaaaaaa.",
            "!!.!!",
        ] {
            assert!(
                matches!(InviteCode::parse(bad), Err(InviteError::Malformed)),
                "{bad}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn parse_of_to_code_is_identity(locator in any::<[u8; 16]>(), random in any::<[u8; 32]>(), key in any::<[u8; 32]>()) {
            let owner = IdentityPublicKey::from_bytes(key);
            let code = InviteCode::from_parts(locator, &random, &owner);
            let parsed = InviteCode::parse(&code.to_code()).unwrap();
            prop_assert_eq!(parsed.locator(), &locator);
            prop_assert!(parsed.verify_owner(&owner).is_ok());
        }

        #[test]
        fn parse_never_panics(text in ".{0,120}") {
            let _ = InviteCode::parse(&text);
        }
    }
}
