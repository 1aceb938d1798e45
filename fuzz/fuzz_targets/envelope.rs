//! Envelopes: `envelope::open` and `envelope::sender_key` must never panic on any input, and a
//! message sealed to a recipient must open to exactly the same message (and not at all once a
//! bit of it is flipped).
//!
//! The input is used twice: whole, as an envelope received from the network; then as the
//! description of a message to seal (mode, purpose, counters, body and an optional bit to flip).
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use plog_crypto::SecretBytes;
use plog_crypto::envelope::{self, EnvelopeContext, MAX_BODY_LEN, Message, Purpose};
use plog_crypto::identity::IdentityKeyPair;
use plog_crypto::invite::InviteCode;

const CTX: EnvelopeContext<'static> = EnvelopeContext {
    relay_origin: "https://relay.example",
    sender_id: [1; 16],
    recipient_id: [2; 16],
};

fn recipient() -> IdentityKeyPair {
    IdentityKeyPair::from_secret_bytes(SecretBytes::from_array([7; 32]))
}

fn sender() -> IdentityKeyPair {
    IdentityKeyPair::from_secret_bytes(SecretBytes::from_array([9; 32]))
}

const PURPOSES: [Purpose; 4] = [
    Purpose::FriendRequest,
    Purpose::FriendApproval,
    Purpose::FriendDenial,
    Purpose::Notice,
];

/// The fixed part of a message to seal; the body is the rest of the input.
#[derive(Debug, Arbitrary)]
struct Sealing {
    purpose: u8,
    message_id: [u8; 16],
    counter: u64,
    timestamp_ms: u64,
    /// `Some((locator, random))` seals in auth-psk mode under an invite made of these parts.
    invite: Option<([u8; 16], [u8; 32])>,
    /// `Some((byte index, bit))`: flip that bit of the sealed envelope, which must then fail.
    flip: Option<(u32, u8)>,
}

fn untrusted(data: &[u8], recipient: &IdentityKeyPair) {
    let _ = envelope::sender_key(data);
    let opened = envelope::open(data, Purpose::FriendRequest, &CTX, recipient, None, None);
    if let Ok(opened) = opened {
        // Forging an envelope from fuzz input is not expected, but if it ever opens, the
        // sender it reports must be the key written in it.
        assert_eq!(envelope::sender_key(data).ok(), Some(opened.sender));
    }
    // The other branches of `open`: a pinned sender and an invite secret.
    let pinned = sender().public_key();
    let _ = envelope::open(data, Purpose::Notice, &CTX, recipient, Some(&pinned), None);
    let invite = InviteCode::from_parts([3; 16], &[4; 32], &recipient.public_key());
    if let Ok(psk) = invite.psk() {
        let _ = envelope::open(data, Purpose::FriendRequest, &CTX, recipient, None, Some(&psk));
    }
}

fn round_trip(data: &[u8], recipient: &IdentityKeyPair) -> arbitrary::Result<()> {
    let mut u = Unstructured::new(data);
    let sealing = Sealing::arbitrary(&mut u)?;
    let body = u.take_rest();
    let body = body[..body.len().min(MAX_BODY_LEN)].to_vec().into();

    let purpose = PURPOSES[usize::from(sealing.purpose) % PURPOSES.len()];
    let message = Message {
        message_id: sealing.message_id,
        counter: sealing.counter,
        timestamp_ms: sealing.timestamp_ms,
        body,
    };
    let sender = sender();
    let psk = sealing.invite.map(|(locator, random)| {
        InviteCode::from_parts(locator, &random, &recipient.public_key())
            .psk()
            .expect("invite psk")
    });

    let sealed = envelope::seal(purpose, &CTX, &sender, &recipient.public_key(), psk.as_ref(), &message)
        .expect("a body within MAX_BODY_LEN seals");
    assert_eq!(envelope::sender_key(&sealed).expect("sender key"), sender.public_key());

    let opened = envelope::open(
        &sealed,
        purpose,
        &CTX,
        recipient,
        Some(&sender.public_key()),
        psk.as_ref(),
    )
    .expect("a freshly sealed envelope opens");
    assert_eq!(opened.message, message);
    assert_eq!(opened.sender, sender.public_key());
    assert_eq!(opened.with_invite_secret, psk.is_some());

    if let Some((index, bit)) = sealing.flip {
        let mut bad = sealed.clone();
        let i = index as usize % bad.len();
        bad[i] ^= 1 << (bit % 8);
        assert!(
            envelope::open(&bad, purpose, &CTX, recipient, None, psk.as_ref()).is_err(),
            "envelope with byte {i} bit {} flipped still opens",
            bit % 8
        );
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let recipient = recipient();
    untrusted(data, &recipient);
    let _ = round_trip(data, &recipient);
});
