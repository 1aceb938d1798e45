//! The login challenge: proof of possession of an identity key without a decryption oracle.
//!
//! The relay runs HPKE SetupBaseS to the account's public key with
//! `info = fields(AUTH, relay origin, user id, challenge id)`, keeps only
//! `BLAKE2b-256(fields(AUTH_PROOF_HASH, proof))` where
//! `proof = Export(fields(AUTH_PROOF), 32)`, and sends `enc`. The client builds `info` itself
//! from the origin it connected to and answers with the same export. Nothing the relay chooses
//! is ever decrypted by the client, so a login cannot be abused to unwrap a key, and a proof
//! for one relay, account or challenge is useless for any other.
//!
//! Unknown accounts get a challenge to a pseudo-key derived from a relay secret, with a fresh
//! encapsulation each time, so they look exactly like known accounts.

use crate::encoding::{FieldWriter, fields};
use crate::hpke::{self, ENC_LEN};
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::primitives::{blake2b_256, ct_eq, hkdf_sha256};
use crate::secret::SecretBytes;
use crate::{CryptoError, labels};

/// Bytes of a proof.
pub const PROOF_LEN: usize = 32;

/// What the relay keeps of an issued challenge, and what it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedChallenge {
    /// The encapsulated key sent to the client.
    pub enc: [u8; ENC_LEN],
    /// The hash of the expected proof, stored by the relay.
    pub proof_hash: [u8; 32],
}

/// What a challenge is bound to.
#[derive(Debug, Clone, Copy)]
pub struct ChallengeContext<'a> {
    /// The relay's normalized public origin (the client uses the origin it connected to).
    pub relay_origin: &'a str,
    /// The account id (16 bytes of the UUID).
    pub user_id: [u8; 16],
    /// The challenge id (16 bytes of the UUID).
    pub challenge_id: [u8; 16],
}

fn info(ctx: &ChallengeContext<'_>) -> Vec<u8> {
    FieldWriter::new()
        .field(labels::AUTH.as_bytes())
        .field(ctx.relay_origin.as_bytes())
        .field(&ctx.user_id)
        .field(&ctx.challenge_id)
        .finish()
}

fn export_context() -> Vec<u8> {
    fields(&[labels::AUTH_PROOF.as_bytes()])
}

/// `BLAKE2b-256(fields(AUTH_PROOF_HASH, proof))`.
pub fn proof_hash(proof: &[u8]) -> [u8; 32] {
    blake2b_256(&fields(&[labels::AUTH_PROOF_HASH.as_bytes(), proof]))
}

/// Relay side: a fresh challenge to `account_key`.
pub fn issue(
    account_key: &IdentityPublicKey,
    ctx: &ChallengeContext<'_>,
) -> Result<IssuedChallenge, CryptoError> {
    issue_inner(account_key, ctx, None)
}

/// [`issue`] with a given ephemeral key instead of a random one; only for test vectors.
#[cfg(any(test, feature = "test-vectors"))]
pub fn issue_with_ephemeral(
    account_key: &IdentityPublicKey,
    ctx: &ChallengeContext<'_>,
    ephemeral: &SecretBytes<32>,
) -> Result<IssuedChallenge, CryptoError> {
    issue_inner(account_key, ctx, Some(ephemeral))
}

fn issue_inner(
    account_key: &IdentityPublicKey,
    ctx: &ChallengeContext<'_>,
    ephemeral: Option<&SecretBytes<32>>,
) -> Result<IssuedChallenge, CryptoError> {
    let mut proof = zeroize::Zeroizing::new([0u8; PROOF_LEN]);
    let enc = hpke::base_export_sender(
        account_key,
        &info(ctx),
        &export_context(),
        proof.as_mut_slice(),
        ephemeral,
    )?;
    Ok(IssuedChallenge {
        enc,
        proof_hash: proof_hash(proof.as_slice()),
    })
}

/// Relay side: a challenge for an account that does not exist, indistinguishable from a real
/// one. The pseudo-key is stable per id; the encapsulation is fresh each time.
pub fn issue_for_unknown(
    relay_secret: &SecretBytes<32>,
    ctx: &ChallengeContext<'_>,
) -> Result<IssuedChallenge, CryptoError> {
    issue(&pseudo_public_key(relay_secret, &ctx.user_id)?, ctx)
}

/// Relay side: a challenge to `account_key` if the account exists, else to the pseudo-key.
/// The pseudo-key is derived in both cases, so the two take the same work and cannot be told
/// apart by timing.
pub fn issue_for(
    account_key: Option<&IdentityPublicKey>,
    relay_secret: &SecretBytes<32>,
    ctx: &ChallengeContext<'_>,
) -> Result<IssuedChallenge, CryptoError> {
    let pseudo = pseudo_public_key(relay_secret, &ctx.user_id)?;
    issue(account_key.unwrap_or(&pseudo), ctx)
}

/// Relay side: the stable pseudo public key for an unknown account id.
pub fn pseudo_public_key(
    relay_secret: &SecretBytes<32>,
    user_id: &[u8; 16],
) -> Result<IdentityPublicKey, CryptoError> {
    let seed = hkdf_sha256(
        relay_secret.expose(),
        &fields(&[labels::AUTH_PSEUDO_KEY.as_bytes(), user_id]),
    )?;
    Ok(IdentityKeyPair::from_secret_bytes(seed).public_key())
}

/// Relay side: a stable, random-looking account id (UUID version 4 layout) for a challenge
/// asked by an unknown public key.
pub fn pseudo_user_id(
    relay_secret: &SecretBytes<32>,
    public_key: &IdentityPublicKey,
) -> Result<[u8; 16], CryptoError> {
    let okm = hkdf_sha256(
        relay_secret.expose(),
        &fields(&[labels::AUTH_PSEUDO_USER.as_bytes(), public_key.as_bytes()]),
    )?;
    let mut id = [0u8; 16];
    id.copy_from_slice(&okm.expose()[..16]);
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    Ok(id)
}

/// Client side: the proof for a challenge, computed with the client's own view of the context.
pub fn prove(
    identity: &IdentityKeyPair,
    enc: &[u8; ENC_LEN],
    ctx: &ChallengeContext<'_>,
) -> Result<SecretBytes<PROOF_LEN>, CryptoError> {
    let mut buf = zeroize::Zeroizing::new([0u8; PROOF_LEN]);
    hpke::base_export_recipient(
        identity,
        enc,
        &info(ctx),
        &export_context(),
        buf.as_mut_slice(),
    )?;
    Ok(SecretBytes::from_array(*buf))
}

/// Relay side: whether `proof` answers the challenge whose hash was stored. Constant time.
pub fn verify(stored: &IssuedChallenge, proof: &[u8]) -> bool {
    proof.len() == PROOF_LEN && ct_eq(&proof_hash(proof), &stored.proof_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: ChallengeContext<'static> = ChallengeContext {
        relay_origin: "https://relay.example",
        user_id: [1; 16],
        challenge_id: [2; 16],
    };

    #[test]
    fn the_right_key_answers() {
        let client = IdentityKeyPair::generate().unwrap();
        let issued = issue(&client.public_key(), &CTX).unwrap();
        let proof = prove(&client, &issued.enc, &CTX).unwrap();
        assert!(verify(&issued, proof.expose()));
    }

    #[test]
    fn a_proof_for_another_origin_user_or_challenge_fails() {
        let client = IdentityKeyPair::generate().unwrap();
        let issued = issue(&client.public_key(), &CTX).unwrap();
        for ctx in [
            ChallengeContext {
                relay_origin: "https://evil.example",
                ..CTX
            },
            ChallengeContext {
                user_id: [3; 16],
                ..CTX
            },
            ChallengeContext {
                challenge_id: [4; 16],
                ..CTX
            },
        ] {
            let proof = prove(&client, &issued.enc, &ctx).unwrap();
            assert!(!verify(&issued, proof.expose()));
        }
    }

    #[test]
    fn another_key_fails_and_bad_proofs_fail() {
        let client = IdentityKeyPair::generate().unwrap();
        let other = IdentityKeyPair::generate().unwrap();
        let issued = issue(&client.public_key(), &CTX).unwrap();
        let proof = prove(&other, &issued.enc, &CTX).unwrap();
        assert!(!verify(&issued, proof.expose()));
        let good = prove(&client, &issued.enc, &CTX).unwrap();
        let mut flipped = *good.expose();
        flipped[0] ^= 1;
        assert!(!verify(&issued, &flipped));
        assert!(!verify(&issued, &good.expose()[..31]));
        assert!(!verify(&issued, &[]));
    }

    #[test]
    fn each_challenge_is_a_fresh_encapsulation() {
        let client = IdentityKeyPair::generate().unwrap();
        let a = issue(&client.public_key(), &CTX).unwrap();
        let b = issue(&client.public_key(), &CTX).unwrap();
        assert_ne!(a.enc, b.enc);
        assert_ne!(a.proof_hash, b.proof_hash);
        let proof_a = prove(&client, &a.enc, &CTX).unwrap();
        assert!(
            !verify(&b, proof_a.expose()),
            "a proof is bound to its own encapsulation"
        );
    }

    #[test]
    fn unknown_ids_get_fresh_challenges_to_a_stable_pseudo_key() {
        let relay_secret = SecretBytes::from_array([5; 32]);
        let a = issue_for_unknown(&relay_secret, &CTX).unwrap();
        let b = issue_for_unknown(&relay_secret, &CTX).unwrap();
        assert_ne!(a.enc, b.enc);
        assert_eq!(
            pseudo_public_key(&relay_secret, &CTX.user_id).unwrap(),
            pseudo_public_key(&relay_secret, &CTX.user_id).unwrap()
        );
        assert_ne!(
            pseudo_public_key(&relay_secret, &CTX.user_id).unwrap(),
            pseudo_public_key(&relay_secret, &[9; 16]).unwrap()
        );
        let other_relay = SecretBytes::from_array([6; 32]);
        assert_ne!(
            pseudo_public_key(&relay_secret, &CTX.user_id).unwrap(),
            pseudo_public_key(&other_relay, &CTX.user_id).unwrap()
        );
        // Nobody without the relay secret can answer it.
        let guess = IdentityKeyPair::generate().unwrap();
        assert!(!verify(&a, prove(&guess, &a.enc, &CTX).unwrap().expose()));
    }

    #[test]
    fn issue_for_picks_the_account_key_when_there_is_one() {
        let relay_secret = SecretBytes::from_array([5; 32]);
        let client = IdentityKeyPair::generate().unwrap();
        let known = issue_for(Some(&client.public_key()), &relay_secret, &CTX).unwrap();
        assert!(verify(
            &known,
            prove(&client, &known.enc, &CTX).unwrap().expose()
        ));
        let unknown = issue_for(None, &relay_secret, &CTX).unwrap();
        assert!(!verify(
            &unknown,
            prove(&client, &unknown.enc, &CTX).unwrap().expose()
        ));
    }

    #[test]
    fn pseudo_user_ids_are_stable_and_uuid_v4_shaped() {
        let secret = SecretBytes::from_array([5; 32]);
        let key = IdentityKeyPair::generate().unwrap().public_key();
        let id = pseudo_user_id(&secret, &key).unwrap();
        assert_eq!(id, pseudo_user_id(&secret, &key).unwrap());
        assert_eq!(id[6] >> 4, 4);
        assert_eq!(id[8] >> 6, 0b10);
        let other = IdentityKeyPair::generate().unwrap().public_key();
        assert_ne!(id, pseudo_user_id(&secret, &other).unwrap());
    }
}
