//! Sealed envelopes: friend requests, approvals and notices between two identities.
//!
//! Wire layout: `version (1) | mode (1) | sender public key (32) | enc (32) | ciphertext`, where
//! mode is the HPKE mode id (`0x02` auth, `0x03` auth-psk) and the ciphertext seals the framed
//! plaintext `message id (16) | counter (u64) | timestamp ms (u64) | body`.
//!
//! - `info = fields(ENVELOPE, purpose)`
//! - `aad = fields(ENVELOPE, [version], purpose, relay origin, sender id, recipient id)`
//!
//! Auth mode proves the sender holds the private key of the sender key in the envelope. It is
//! not resistant to key-compromise impersonation: whoever holds a recipient's private key can
//! forge envelopes *to* that recipient.

use crate::encoding::{FieldWriter, Reader};
use crate::hpke::{self, ENC_LEN, Psk};
use crate::identity::{IdentityKeyPair, IdentityPublicKey, PUBLIC_KEY_LEN};
use crate::invite::InvitePsk;
use crate::secret::SecretBytes;
use crate::{CryptoError, labels};
use thiserror::Error;
use zeroize::Zeroizing;

/// Envelope format version.
pub const VERSION: u8 = 1;
/// HPKE mode id of auth mode.
pub const MODE_AUTH: u8 = 0x02;
/// HPKE mode id of auth-psk mode.
pub const MODE_AUTH_PSK: u8 = 0x03;
/// Bytes before the ciphertext.
pub const HEADER_LEN: usize = 2 + PUBLIC_KEY_LEN + ENC_LEN;
/// Bytes of the plaintext frame before the body.
pub const FRAME_LEN: usize = 16 + 8 + 8;
/// Largest body an envelope may carry.
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// What an envelope is for. Bound into `info` and `aad`, so an envelope sealed for one purpose
/// never opens as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Purpose {
    /// A friend asking a system for friendship.
    FriendRequest,
    /// A system's approval of a request (carries the link token).
    FriendApproval,
    /// A system's denial of a request.
    FriendDenial,
    /// A notice: access revoked, key changed.
    Notice,
}

impl Purpose {
    /// The label written into `info` and `aad`.
    pub fn label(self) -> &'static str {
        match self {
            Purpose::FriendRequest => "friend-request",
            Purpose::FriendApproval => "friend-approval",
            Purpose::FriendDenial => "friend-denial",
            Purpose::Notice => "notice",
        }
    }
}

/// Who an envelope is from and to, at which relay. Ids are the 16 bytes of account UUIDs.
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeContext<'a> {
    /// The relay's normalized origin.
    pub relay_origin: &'a str,
    /// The sender's account id at that relay.
    pub sender_id: [u8; 16],
    /// The recipient's account id at that relay.
    pub recipient_id: [u8; 16],
}

/// The framed plaintext of an envelope. The body may hold secrets (an approval carries a link
/// token), so it is wiped on drop and `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// Random id, for de-duplication.
    pub message_id: [u8; 16],
    /// Strictly increasing per ordered pair of sender and recipient.
    pub counter: u64,
    /// Sender's clock, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Purpose-specific content.
    pub body: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for Message {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Message")
            .field("message_id", &self.message_id)
            .field("counter", &self.counter)
            .field("timestamp_ms", &self.timestamp_ms)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// An opened envelope.
#[derive(Debug)]
pub struct Opened {
    /// The sender key the envelope was authenticated with.
    pub sender: IdentityPublicKey,
    /// Whether the sender also proved knowledge of the invite secret (auth-psk).
    pub with_invite_secret: bool,
    /// The message.
    pub message: Message,
}

/// Why an envelope was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Too short, unknown version or mode, or a frame that does not parse.
    #[error("malformed envelope")]
    Malformed,
    /// The body exceeds [`MAX_BODY_LEN`].
    #[error("envelope body is larger than {MAX_BODY_LEN} bytes")]
    TooLarge,
    /// The envelope's sender key is not the one expected for this peer.
    #[error("envelope comes from another key than the one pinned for this peer")]
    UnexpectedSender,
    /// Sealed in auth-psk mode but no invite secret is known here, or the other way round.
    #[error("envelope mode does not match: invite secret expected {expected}")]
    ModeMismatch {
        /// Whether this side expected an invite secret.
        expected: bool,
    },
    /// Authentication failed: tampered, wrong recipient, purpose, relay, ids or invite secret.
    #[error("envelope failed authentication")]
    Authentication,
    /// The counter is not above the last accepted one: a duplicate or a replay.
    #[error(
        "envelope counter {counter} is not above the last accepted {last}; dropped as a replay"
    )]
    Replay {
        /// The counter received.
        counter: u64,
        /// The last counter accepted from this peer.
        last: u64,
    },
    /// A primitive failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

fn info(purpose: Purpose) -> Vec<u8> {
    FieldWriter::new()
        .field(labels::ENVELOPE.as_bytes())
        .field(purpose.label().as_bytes())
        .finish()
}

fn aad(purpose: Purpose, ctx: &EnvelopeContext<'_>) -> Vec<u8> {
    FieldWriter::new()
        .field(labels::ENVELOPE.as_bytes())
        .field(&[VERSION])
        .field(purpose.label().as_bytes())
        .field(ctx.relay_origin.as_bytes())
        .field(&ctx.sender_id)
        .field(&ctx.recipient_id)
        .finish()
}

fn frame(message: &Message) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(FRAME_LEN + message.body.len()));
    out.extend_from_slice(&message.message_id);
    out.extend_from_slice(&message.counter.to_be_bytes());
    out.extend_from_slice(&message.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&message.body);
    out
}

fn unframe(plaintext: &[u8]) -> Result<Message, EnvelopeError> {
    let mut r = Reader::new(plaintext);
    let message_id = r.array().map_err(|_| EnvelopeError::Malformed)?;
    let counter = r.u64().map_err(|_| EnvelopeError::Malformed)?;
    let timestamp_ms = r.u64().map_err(|_| EnvelopeError::Malformed)?;
    Ok(Message {
        message_id,
        counter,
        timestamp_ms,
        body: Zeroizing::new(r.remaining().to_vec()),
    })
}

/// Seals `message` from `sender` to `recipient`. With `invite`, auth-psk mode binds the
/// invite secret too.
pub fn seal(
    purpose: Purpose,
    ctx: &EnvelopeContext<'_>,
    sender: &IdentityKeyPair,
    recipient: &IdentityPublicKey,
    invite: Option<&InvitePsk>,
    message: &Message,
) -> Result<Vec<u8>, EnvelopeError> {
    seal_inner(purpose, ctx, sender, recipient, invite, message, None)
}

/// [`seal`] with a given ephemeral key instead of a random one; only for test vectors.
#[cfg(any(test, feature = "test-vectors"))]
pub fn seal_with_ephemeral(
    purpose: Purpose,
    ctx: &EnvelopeContext<'_>,
    sender: &IdentityKeyPair,
    recipient: &IdentityPublicKey,
    invite: Option<&InvitePsk>,
    message: &Message,
    ephemeral: &SecretBytes<32>,
) -> Result<Vec<u8>, EnvelopeError> {
    seal_inner(
        purpose,
        ctx,
        sender,
        recipient,
        invite,
        message,
        Some(ephemeral),
    )
}

fn seal_inner(
    purpose: Purpose,
    ctx: &EnvelopeContext<'_>,
    sender: &IdentityKeyPair,
    recipient: &IdentityPublicKey,
    invite: Option<&InvitePsk>,
    message: &Message,
    ephemeral: Option<&SecretBytes<32>>,
) -> Result<Vec<u8>, EnvelopeError> {
    if message.body.len() > MAX_BODY_LEN {
        return Err(EnvelopeError::TooLarge);
    }
    let psk = invite.map(|p| Psk {
        key: p.key(),
        id: p.id(),
    });
    let mode = if psk.is_some() {
        MODE_AUTH_PSK
    } else {
        MODE_AUTH
    };
    let sealed = hpke::seal(
        sender,
        recipient,
        psk,
        &info(purpose),
        &aad(purpose, ctx),
        &frame(message),
        None,
        ephemeral,
    )?;
    let mut out = Vec::with_capacity(HEADER_LEN + sealed.ciphertext.len());
    out.push(VERSION);
    out.push(mode);
    out.extend_from_slice(sender.public_key().as_bytes());
    out.extend_from_slice(&sealed.enc);
    out.extend_from_slice(&sealed.ciphertext);
    Ok(out)
}

/// The sender key written in an envelope, read without opening it (to look up the peer).
pub fn sender_key(envelope: &[u8]) -> Result<IdentityPublicKey, EnvelopeError> {
    let mut r = Reader::new(envelope);
    r.take(2).map_err(|_| EnvelopeError::Malformed)?;
    Ok(IdentityPublicKey::from_bytes(
        r.array().map_err(|_| EnvelopeError::Malformed)?,
    ))
}

/// Opens an envelope addressed to `recipient`.
///
/// `expected_sender` is the pinned key of a known peer; `None` accepts any sender key (first
/// contact), which the caller must then verify (invite fingerprint or safety number).
pub fn open(
    envelope: &[u8],
    purpose: Purpose,
    ctx: &EnvelopeContext<'_>,
    recipient: &IdentityKeyPair,
    expected_sender: Option<&IdentityPublicKey>,
    invite: Option<&InvitePsk>,
) -> Result<Opened, EnvelopeError> {
    let mut r = Reader::new(envelope);
    let version = r.u8().map_err(|_| EnvelopeError::Malformed)?;
    let mode = r.u8().map_err(|_| EnvelopeError::Malformed)?;
    let sender = IdentityPublicKey::from_bytes(r.array().map_err(|_| EnvelopeError::Malformed)?);
    let enc: [u8; ENC_LEN] = r.array().map_err(|_| EnvelopeError::Malformed)?;
    let ciphertext = r.remaining();
    if version != VERSION || !(mode == MODE_AUTH || mode == MODE_AUTH_PSK) {
        return Err(EnvelopeError::Malformed);
    }
    if ciphertext.len() < FRAME_LEN + hpke::TAG_LEN {
        return Err(EnvelopeError::Malformed);
    }
    if ciphertext.len() > FRAME_LEN + MAX_BODY_LEN + hpke::TAG_LEN {
        return Err(EnvelopeError::TooLarge);
    }
    if let Some(expected) = expected_sender
        && !crate::primitives::ct_eq(expected.as_bytes(), sender.as_bytes())
    {
        return Err(EnvelopeError::UnexpectedSender);
    }
    let with_psk = mode == MODE_AUTH_PSK;
    if with_psk != invite.is_some() {
        return Err(EnvelopeError::ModeMismatch {
            expected: invite.is_some(),
        });
    }
    let psk = invite.map(|p| Psk {
        key: p.key(),
        id: p.id(),
    });
    let plaintext = hpke::open(
        recipient,
        &sender,
        psk,
        &info(purpose),
        &aad(purpose, ctx),
        &enc,
        ciphertext,
        None,
    )
    .map_err(|()| EnvelopeError::Authentication)?;
    Ok(Opened {
        sender,
        with_invite_secret: with_psk,
        message: unframe(&plaintext)?,
    })
}

/// Accepts `counter` only if it is above the last counter accepted from the same peer, so
/// duplicates and replays are dropped.
pub fn check_counter(last_accepted: Option<u64>, counter: u64) -> Result<(), EnvelopeError> {
    match last_accepted {
        Some(last) if counter <= last => Err(EnvelopeError::Replay { counter, last }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invite::InviteCode;

    struct Pair {
        alice: IdentityKeyPair,
        bob: IdentityKeyPair,
    }

    fn pair() -> Pair {
        Pair {
            alice: IdentityKeyPair::generate().unwrap(),
            bob: IdentityKeyPair::generate().unwrap(),
        }
    }

    const CTX: EnvelopeContext<'static> = EnvelopeContext {
        relay_origin: "https://relay.example",
        sender_id: [1; 16],
        recipient_id: [2; 16],
    };

    fn msg() -> Message {
        Message {
            message_id: [9; 16],
            counter: 7,
            timestamp_ms: 1_700_000_000_000,
            body: Zeroizing::new(b"hello".to_vec()),
        }
    }

    #[test]
    fn auth_round_trip() {
        let p = pair();
        let env = seal(
            Purpose::FriendRequest,
            &CTX,
            &p.alice,
            &p.bob.public_key(),
            None,
            &msg(),
        )
        .unwrap();
        assert_eq!(env[1], MODE_AUTH);
        assert_eq!(sender_key(&env).unwrap(), p.alice.public_key());
        let opened = open(
            &env,
            Purpose::FriendRequest,
            &CTX,
            &p.bob,
            Some(&p.alice.public_key()),
            None,
        )
        .unwrap();
        assert_eq!(opened.message, msg());
        assert!(!opened.with_invite_secret);
        let first_contact = open(&env, Purpose::FriendRequest, &CTX, &p.bob, None, None).unwrap();
        assert_eq!(first_contact.sender, p.alice.public_key());
    }

    #[test]
    fn auth_psk_round_trip_and_wrong_secret() {
        let p = pair();
        let code = InviteCode::generate(&p.bob.public_key()).unwrap();
        let env = seal(
            Purpose::FriendRequest,
            &CTX,
            &p.alice,
            &p.bob.public_key(),
            Some(&code.psk().unwrap()),
            &msg(),
        )
        .unwrap();
        assert_eq!(env[1], MODE_AUTH_PSK);
        let opened = open(
            &env,
            Purpose::FriendRequest,
            &CTX,
            &p.bob,
            None,
            Some(&code.psk().unwrap()),
        )
        .unwrap();
        assert!(opened.with_invite_secret);
        let other = InviteCode::generate(&p.bob.public_key()).unwrap();
        assert_eq!(
            open(
                &env,
                Purpose::FriendRequest,
                &CTX,
                &p.bob,
                None,
                Some(&other.psk().unwrap())
            )
            .unwrap_err(),
            EnvelopeError::Authentication
        );
        assert_eq!(
            open(&env, Purpose::FriendRequest, &CTX, &p.bob, None, None).unwrap_err(),
            EnvelopeError::ModeMismatch { expected: false }
        );
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let p = pair();
        let env = seal(
            Purpose::Notice,
            &CTX,
            &p.alice,
            &p.bob.public_key(),
            None,
            &msg(),
        )
        .unwrap();
        for i in 0..env.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = env.clone();
                bad[i] ^= bit;
                assert!(
                    open(&bad, Purpose::Notice, &CTX, &p.bob, None, None).is_err(),
                    "byte {i} bit {bit:#x} accepted"
                );
            }
        }
    }

    #[test]
    fn bound_to_purpose_relay_ids_and_recipient() {
        let p = pair();
        let env = seal(
            Purpose::FriendApproval,
            &CTX,
            &p.alice,
            &p.bob.public_key(),
            None,
            &msg(),
        )
        .unwrap();
        let auth = Err(EnvelopeError::Authentication);
        let try_open = |purpose, ctx: &EnvelopeContext<'_>, who: &IdentityKeyPair| {
            open(&env, purpose, ctx, who, None, None).map(|o| o.message)
        };
        assert_eq!(try_open(Purpose::Notice, &CTX, &p.bob), auth);
        let other_relay = EnvelopeContext {
            relay_origin: "https://other.example",
            ..CTX
        };
        assert_eq!(
            try_open(Purpose::FriendApproval, &other_relay, &p.bob),
            auth
        );
        let swapped = EnvelopeContext {
            sender_id: CTX.recipient_id,
            recipient_id: CTX.sender_id,
            ..CTX
        };
        assert_eq!(try_open(Purpose::FriendApproval, &swapped, &p.bob), auth);
        assert_eq!(try_open(Purpose::FriendApproval, &CTX, &p.alice), auth);
    }

    #[test]
    fn pinned_sender_is_enforced() {
        let p = pair();
        let mallory = IdentityKeyPair::generate().unwrap();
        let env = seal(
            Purpose::Notice,
            &CTX,
            &mallory,
            &p.bob.public_key(),
            None,
            &msg(),
        )
        .unwrap();
        assert_eq!(
            open(
                &env,
                Purpose::Notice,
                &CTX,
                &p.bob,
                Some(&p.alice.public_key()),
                None
            )
            .unwrap_err(),
            EnvelopeError::UnexpectedSender
        );
    }

    #[test]
    fn size_limits_and_malformed_input() {
        let p = pair();
        let mut big = msg();
        big.body = Zeroizing::new(vec![0; MAX_BODY_LEN + 1]);
        assert_eq!(
            seal(
                Purpose::Notice,
                &CTX,
                &p.alice,
                &p.bob.public_key(),
                None,
                &big
            )
            .unwrap_err(),
            EnvelopeError::TooLarge
        );
        for len in [0, 1, HEADER_LEN, HEADER_LEN + FRAME_LEN + 15] {
            assert_eq!(
                open(
                    &vec![VERSION; len],
                    Purpose::Notice,
                    &CTX,
                    &p.bob,
                    None,
                    None
                )
                .unwrap_err(),
                EnvelopeError::Malformed,
                "len {len}"
            );
        }
    }

    #[test]
    fn debug_does_not_show_the_body() {
        let shown = format!("{:?}", msg());
        assert!(shown.contains("<5 bytes>"));
        assert!(!shown.contains("104, 101"), "{shown}");
    }

    #[test]
    fn counters_must_increase() {
        assert!(check_counter(None, 0).is_ok());
        assert!(check_counter(Some(4), 5).is_ok());
        assert_eq!(
            check_counter(Some(5), 5),
            Err(EnvelopeError::Replay {
                counter: 5,
                last: 5
            })
        );
        assert_eq!(
            check_counter(Some(5), 1),
            Err(EnvelopeError::Replay {
                counter: 1,
                last: 5
            })
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn seal_open_round_trip(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..MAX_BODY_LEN), counter in proptest::prelude::any::<u64>(), psk in proptest::prelude::any::<bool>()) {
            let p = pair();
            let code = InviteCode::generate(&p.bob.public_key()).unwrap();
            let invite = psk.then(|| code.psk().unwrap());
            let m = Message { message_id: [3; 16], counter, timestamp_ms: 5, body: Zeroizing::new(body) };
            let env = seal(Purpose::Notice, &CTX, &p.alice, &p.bob.public_key(), invite.as_ref(), &m).unwrap();
            let opened = open(&env, Purpose::Notice, &CTX, &p.bob, Some(&p.alice.public_key()), invite.as_ref()).unwrap();
            proptest::prop_assert_eq!(opened.message, m);
        }

        #[test]
        fn open_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let p = pair();
            let _ = open(&data, Purpose::Notice, &CTX, &p.bob, None, None);
        }
    }
}
