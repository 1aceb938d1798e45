//! The one HPKE suite of the protocol and the few ways this crate uses it.
//!
//! Suite: DHKEM(X25519, HKDF-SHA256) (0x0020), HKDF-SHA256 (0x0001), ChaCha20-Poly1305 (0x0003),
//! RFC 9180, as implemented by orion. Modes: auth (0x02) for mail and key blocks, auth-psk (0x03)
//! when an invite secret is shared, base (0x00) only for the login challenge's exporter.

use crate::CryptoError;
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::secret::SecretBytes;
use orion::hazardous::hpke::{
    DHKEM_X25519_SHA256_CHACHA20 as Suite, ModeAuth, ModeAuthPsk, ModeBase,
};
use orion::hazardous::kem::x25519_hkdf_sha256 as dhkem;

/// Length of an encapsulated key.
pub(crate) const ENC_LEN: usize = 32;
/// Length of the AEAD tag.
pub(crate) const TAG_LEN: usize = 16;

/// A pre-shared key and its identifier, for auth-psk mode.
pub(crate) struct Psk<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) id: &'a [u8],
}

pub(crate) struct Sealed {
    pub(crate) enc: [u8; ENC_LEN],
    pub(crate) ciphertext: Vec<u8>,
}

fn enc_bytes(enc: &dhkem::PublicKey) -> [u8; ENC_LEN] {
    let mut out = [0u8; ENC_LEN];
    out.copy_from_slice(enc.as_ref());
    out
}

fn enc_key(enc: &[u8; ENC_LEN]) -> Result<dhkem::PublicKey, CryptoError> {
    dhkem::PublicKey::try_from(enc).map_err(|_| CryptoError::Primitive("hpke enc"))
}

/// Seals one message from `sender` to `recipient` in auth or auth-psk mode and fills `export`
/// (if given) from the context's exporter with `export_context`. `ephemeral` fixes the
/// encapsulation for test vectors; production passes `None`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn seal(
    sender: &IdentityKeyPair,
    recipient: &IdentityPublicKey,
    psk: Option<Psk<'_>>,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    export: Option<(&[u8], &mut [u8])>,
    ephemeral: Option<&SecretBytes<32>>,
) -> Result<Sealed, CryptoError> {
    let pk_r = recipient.to_hpke()?;
    let eph = ephemeral.map(|e| dhkem::PrivateKey::from(*e.expose()));
    let sk_s = sender.to_hpke_private();
    let mut ciphertext = vec![0u8; plaintext.len() + TAG_LEN];
    let fail = |_| CryptoError::Primitive("hpke seal");
    let enc = match psk {
        None => {
            let (mut ctx, enc) = match eph {
                None => ModeAuth::<Suite>::new_sender(&pk_r, info, &sk_s),
                Some(e) => ModeAuth::<Suite>::new_sender_deterministic(&pk_r, info, &sk_s, e),
            }
            .map_err(fail)?;
            ctx.seal(plaintext, aad, &mut ciphertext).map_err(fail)?;
            if let Some((context, out)) = export {
                ctx.export_secret(context, out).map_err(fail)?;
            }
            enc
        }
        Some(psk) => {
            let (mut ctx, enc) = match eph {
                None => ModeAuthPsk::<Suite>::new_sender(&pk_r, info, psk.key, psk.id, &sk_s),
                Some(e) => ModeAuthPsk::<Suite>::new_sender_deterministic(
                    &pk_r, info, psk.key, psk.id, &sk_s, e,
                ),
            }
            .map_err(fail)?;
            ctx.seal(plaintext, aad, &mut ciphertext).map_err(fail)?;
            if let Some((context, out)) = export {
                ctx.export_secret(context, out).map_err(fail)?;
            }
            enc
        }
    };
    Ok(Sealed {
        enc: enc_bytes(&enc),
        ciphertext,
    })
}

/// Opens one message sealed by [`seal`]. Any failure (wrong key, wrong sender, wrong PSK,
/// altered `info`, `aad` or ciphertext) is the same `Err(())`: the caller names it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn open(
    recipient: &IdentityKeyPair,
    sender: &IdentityPublicKey,
    psk: Option<Psk<'_>>,
    info: &[u8],
    aad: &[u8],
    enc: &[u8; ENC_LEN],
    ciphertext: &[u8],
    export: Option<(&[u8], &mut [u8])>,
) -> Result<zeroize::Zeroizing<Vec<u8>>, ()> {
    if ciphertext.len() < TAG_LEN {
        return Err(());
    }
    let enc = enc_key(enc).map_err(|_| ())?;
    let pk_s = sender.to_hpke().map_err(|_| ())?;
    let sk_r = recipient.to_hpke_private();
    let mut plaintext = zeroize::Zeroizing::new(vec![0u8; ciphertext.len() - TAG_LEN]);
    match psk {
        None => {
            let mut ctx =
                ModeAuth::<Suite>::new_recipient(&enc, &sk_r, info, &pk_s).map_err(|_| ())?;
            ctx.open(ciphertext, aad, &mut plaintext).map_err(|_| ())?;
            if let Some((context, out)) = export {
                ctx.export_secret(context, out).map_err(|_| ())?;
            }
        }
        Some(psk) => {
            let mut ctx =
                ModeAuthPsk::<Suite>::new_recipient(&enc, &sk_r, info, psk.key, psk.id, &pk_s)
                    .map_err(|_| ())?;
            ctx.open(ciphertext, aad, &mut plaintext).map_err(|_| ())?;
            if let Some((context, out)) = export {
                ctx.export_secret(context, out).map_err(|_| ())?;
            }
        }
    }
    Ok(plaintext)
}

/// Base-mode sender setup to `recipient`, returning `enc` and an export of the context.
pub(crate) fn base_export_sender(
    recipient: &IdentityPublicKey,
    info: &[u8],
    export_context: &[u8],
    out: &mut [u8],
    ephemeral: Option<&SecretBytes<32>>,
) -> Result<[u8; ENC_LEN], CryptoError> {
    let fail = |_| CryptoError::Primitive("hpke base export");
    let pk_r = recipient.to_hpke()?;
    let (ctx, enc) = match ephemeral {
        None => ModeBase::<Suite>::new_sender(&pk_r, info),
        Some(e) => ModeBase::<Suite>::new_sender_deterministic(
            &pk_r,
            info,
            dhkem::PrivateKey::from(*e.expose()),
        ),
    }
    .map_err(fail)?;
    ctx.export_secret(export_context, out).map_err(fail)?;
    Ok(enc_bytes(&enc))
}

/// Base-mode recipient setup from `enc`, returning an export of the context.
pub(crate) fn base_export_recipient(
    recipient: &IdentityKeyPair,
    enc: &[u8; ENC_LEN],
    info: &[u8],
    export_context: &[u8],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let fail = |_| CryptoError::Primitive("hpke base export");
    let ctx = ModeBase::<Suite>::new_recipient(&enc_key(enc)?, &recipient.to_hpke_private(), info)
        .map_err(fail)?;
    ctx.export_secret(export_context, out).map_err(fail)
}
