//! The test vectors published in `docs/PROTOCOL.md` are exactly what this implementation
//! computes, and the published ciphertexts open: the document and the code cannot drift apart.
#![allow(clippy::unwrap_used)]

use plog_crypto::challenge::{self, ChallengeContext};
use plog_crypto::envelope::{self, EnvelopeContext, Purpose};
use plog_crypto::identity::IdentityPublicKey;
use plog_crypto::invite::InviteCode;
use plog_crypto::keyblock::{self, KeyBlockContext};
use plog_crypto::keyfile;
use plog_crypto::master::MasterSecret;
use std::collections::BTreeMap;

const PROTOCOL: &str = include_str!("../../docs/PROTOCOL.md");

/// Every `name = value` line inside the ```vectors blocks of the document.
fn published() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inside = false;
    for line in PROTOCOL.lines() {
        match line.trim() {
            "```vectors" => inside = true,
            "```" => inside = false,
            l if inside => {
                let (name, value) = l
                    .split_once(" = ")
                    .unwrap_or_else(|| panic!("bad vector line {l:?}"));
                assert!(
                    out.insert(name.to_owned(), value.to_owned()).is_none(),
                    "duplicate {name}"
                );
            }
            _ => {}
        }
    }
    out
}

fn hex32(v: &BTreeMap<String, String>, name: &str) -> [u8; 32] {
    hex::decode(&v[name]).unwrap().try_into().unwrap()
}

fn hex16(v: &BTreeMap<String, String>, name: &str) -> [u8; 16] {
    hex::decode(&v[name]).unwrap().try_into().unwrap()
}

fn text(v: &BTreeMap<String, String>, name: &str) -> String {
    v[name].trim_matches('"').to_owned()
}

#[test]
fn document_and_implementation_agree_on_every_vector() {
    let doc = published();
    let computed: BTreeMap<String, String> = plog_crypto::test_vectors::all()
        .unwrap()
        .into_iter()
        .flat_map(|g| g.values)
        .collect();
    assert!(computed.len() > 40, "vectors missing");
    for (name, value) in &computed {
        assert_eq!(
            doc.get(name),
            Some(value),
            "vector {name} differs from docs/PROTOCOL.md"
        );
    }
    for name in doc.keys() {
        assert!(
            computed.contains_key(name),
            "docs/PROTOCOL.md has a vector {name} the code does not produce"
        );
    }
}

#[test]
fn published_ciphertexts_open() {
    let v = published();
    let origin = text(&v, "identity.origin");
    let owner = MasterSecret::from_bytes(hex32(&v, "master.secret"))
        .relay_identity(&origin, 0)
        .unwrap();
    let friend = MasterSecret::from_bytes(hex32(&v, "envelope.sender_master_secret"))
        .relay_identity(&origin, 0)
        .unwrap();
    assert_eq!(
        owner.public_key(),
        IdentityPublicKey::from_bytes(hex32(&v, "identity.gen0.public_key"))
    );

    let master = keyfile::open(
        &hex::decode(&v["keyfile.file"]).unwrap(),
        text(&v, "keyfile.passphrase").as_bytes(),
    )
    .unwrap();
    assert_eq!(master.expose(), &hex32(&v, "keyfile.master"));

    let code = InviteCode::parse(&text(&v, "invite.code")).unwrap();
    assert_eq!(code.locator_hash(), hex32(&v, "invite.locator_hash"));
    code.verify_owner(&owner.public_key()).unwrap();
    let ctx = EnvelopeContext {
        relay_origin: &origin,
        sender_id: hex16(&v, "envelope.sender_id"),
        recipient_id: hex16(&v, "envelope.recipient_id"),
    };
    let opened = envelope::open(
        &hex::decode(&v["envelope.bytes"]).unwrap(),
        Purpose::FriendRequest,
        &ctx,
        &owner,
        None,
        Some(&code.psk().unwrap()),
    )
    .unwrap();
    assert_eq!(opened.sender, friend.public_key());
    assert_eq!(hex::encode(&opened.message.body), v["envelope.body"]);
    assert_eq!(opened.message.counter.to_string(), v["envelope.counter"]);

    let cctx = ChallengeContext {
        relay_origin: &origin,
        user_id: hex16(&v, "challenge.user_id"),
        challenge_id: hex16(&v, "challenge.challenge_id"),
    };
    let proof = challenge::prove(&owner, &hex32(&v, "challenge.enc"), &cctx).unwrap();
    assert_eq!(proof.expose(), &hex32(&v, "challenge.proof"));
    assert_eq!(
        challenge::proof_hash(proof.expose()),
        hex32(&v, "challenge.proof_hash")
    );

    let header =
        plog_crypto::volume::VolumeHeader::peek(&hex::decode(&v["volume.header"]).unwrap())
            .unwrap();
    let kctx = KeyBlockContext {
        relay_origin: &origin,
        owner_id: hex16(&v, "envelope.recipient_id"),
        grantee_id: hex16(&v, "envelope.sender_id"),
        volume_id: header.volume_id,
        epoch: header.key_epoch,
    };
    let (vek, tag_key) = keyblock::open(
        &hex::decode(&v["keyblock.bytes"]).unwrap(),
        &friend,
        &owner.public_key(),
        &kctx,
    )
    .unwrap();
    assert_eq!(vek.expose(), &hex32(&v, "volume.vek"));
    assert_eq!(tag_key.expose(), &hex32(&v, "keyblock.grantee_tag_key"));
}
