//! Deterministic inputs and the outputs they produce, for every construction of the crate.
//!
//! `docs/PROTOCOL.md` publishes these as test vectors (printed by
//! `cargo run -p plog-crypto --features test-vectors --example vectors`), and a test checks that the document and the
//! code agree, so neither can drift. Not part of the stable API.

use crate::CryptoError;
use crate::challenge::{self, ChallengeContext};
use crate::envelope::{self, EnvelopeContext, Message, Purpose};
use crate::invite::InviteCode;
use crate::keyblock::{self, KeyBlockContext};
use crate::keyfile::{self, KdfParams};
use crate::master::MasterSecret;
use crate::safety;
use crate::secret::SecretBytes;
use crate::volume::{self, OwnerKeys, VolumeHeader, VolumeKey, VolumeSealer, VolumeType};

/// One group of named values; names are unique across groups.
#[derive(Debug)]
pub struct Group {
    /// Short title.
    pub title: &'static str,
    /// `(name, value)`; values are lower-case hex unless quoted text.
    pub values: Vec<(String, String)>,
}

fn h(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn q(text: &str) -> String {
    format!("\"{text}\"")
}

fn seq(start: u8) -> [u8; 32] {
    core::array::from_fn(|i| start.wrapping_add(i as u8))
}

struct Group0 {
    title: &'static str,
    values: Vec<(String, String)>,
}

impl Group0 {
    fn new(title: &'static str) -> Self {
        Self {
            title,
            values: Vec::new(),
        }
    }
    fn add(&mut self, name: &str, value: String) {
        self.values.push((name.to_owned(), value));
    }
    fn done(self) -> Group {
        Group {
            title: self.title,
            values: self.values,
        }
    }
}

const ORIGIN: &str = "https://relay.example";
const OWNER_ID: [u8; 16] = [0xa1; 16];
const FRIEND_ID: [u8; 16] = [0xb2; 16];

/// Every vector group. Slow only in the key-file group (one Argon2id run at production cost).
pub fn all() -> Result<Vec<Group>, CryptoError> {
    let master = MasterSecret::from_bytes(seq(0));
    let owner = master.relay_identity(ORIGIN, 0)?;
    let friend = MasterSecret::from_bytes(seq(0x80)).relay_identity(ORIGIN, 0)?;
    let mut out = Vec::new();

    let mut g = Group0::new("Master secret, recovery phrase and relay identities");
    g.add("master.secret", h(master.expose()));
    g.add("master.recovery_phrase", q(&master.recovery_phrase()));
    g.add("identity.origin", q(ORIGIN));
    g.add("identity.gen0.secret_seed", h(&identity_seed(&seq(0))?));
    g.add("identity.gen0.public_key", h(owner.public_key().as_bytes()));
    g.add(
        "identity.gen1.public_key",
        h(master.relay_identity(ORIGIN, 1)?.public_key().as_bytes()),
    );
    g.add(
        "identity.other_origin.public_key",
        h(master
            .relay_identity("https://other.example", 0)?
            .public_key()
            .as_bytes()),
    );
    g.add(
        "identity.gen0.fingerprint",
        h(&owner.public_key().fingerprint()),
    );
    out.push(g.done());

    let mut g = Group0::new("Key file (Argon2id at the production cost)");
    let params = KdfParams::DEFAULT;
    let file = keyfile::seal_with(
        &MasterSecret::from_bytes([0x42; 32]),
        b"passphrase",
        params,
        &[1; 16],
        &[2; 24],
    )
    .map_err(|_| CryptoError::Primitive("key file vector"))?;
    g.add("keyfile.master", h(&[0x42; 32]));
    g.add("keyfile.passphrase", q("passphrase"));
    g.add("keyfile.salt", h(&[1; 16]));
    g.add("keyfile.nonce", h(&[2; 24]));
    g.add("keyfile.file", h(&file));
    out.push(g.done());

    let mut g = Group0::new("Envelope (friend request, auth-psk mode)");
    let code = InviteCode::from_parts([0x0c; 16], &[0x0d; 32], &owner.public_key());
    let psk = code
        .psk()
        .map_err(|_| CryptoError::Primitive("invite psk"))?;
    let ctx = EnvelopeContext {
        relay_origin: ORIGIN,
        sender_id: FRIEND_ID,
        recipient_id: OWNER_ID,
    };
    let msg = Message {
        message_id: [0x33; 16],
        counter: 1,
        timestamp_ms: 1_767_225_600_000,
        body: zeroize::Zeroizing::new(b"hello".to_vec()),
    };
    let eph = SecretBytes::from_array(seq(0x40));
    let env = envelope::seal_with_ephemeral(
        Purpose::FriendRequest,
        &ctx,
        &friend,
        &owner.public_key(),
        Some(&psk),
        &msg,
        &eph,
    )
    .map_err(|_| CryptoError::Primitive("envelope vector"))?;
    g.add("envelope.sender_master_secret", h(&seq(0x80)));
    g.add(
        "envelope.sender_secret_seed",
        h(&identity_seed(&seq(0x80))?),
    );
    g.add(
        "envelope.sender_public_key",
        h(friend.public_key().as_bytes()),
    );
    g.add(
        "envelope.recipient_public_key",
        h(owner.public_key().as_bytes()),
    );
    g.add("envelope.ephemeral_secret", h(eph.expose()));
    g.add("envelope.sender_id", h(&FRIEND_ID));
    g.add("envelope.recipient_id", h(&OWNER_ID));
    g.add("envelope.purpose", q(Purpose::FriendRequest.label()));
    g.add("envelope.message_id", h(&msg.message_id));
    g.add("envelope.counter", msg.counter.to_string());
    g.add("envelope.timestamp_ms", msg.timestamp_ms.to_string());
    g.add("envelope.body", h(&msg.body));
    g.add("envelope.bytes", h(&env));
    out.push(g.done());

    let mut g = Group0::new("Invite code");
    g.add("invite.locator", h(code.locator()));
    g.add("invite.secret_random", h(&[0x0d; 32]));
    g.add("invite.code", q(&code.to_code()));
    g.add("invite.locator_hash", h(&code.locator_hash()));
    out.push(g.done());

    let mut g = Group0::new("Link token");
    let token = [0x0e; 32];
    g.add("link.token", h(&token));
    g.add("link.token_hash", h(&crate::link::link_token_hash(&token)));
    out.push(g.done());

    let mut g = Group0::new("Login challenge");
    let cctx = ChallengeContext {
        relay_origin: ORIGIN,
        user_id: OWNER_ID,
        challenge_id: [0xc1; 16],
    };
    let ceph = SecretBytes::from_array(seq(0x60));
    let issued = challenge::issue_with_ephemeral(&owner.public_key(), &cctx, &ceph)?;
    let proof = challenge::prove(&owner, &issued.enc, &cctx)?;
    g.add("challenge.user_id", h(&OWNER_ID));
    g.add("challenge.challenge_id", h(&cctx.challenge_id));
    g.add("challenge.ephemeral_secret", h(ceph.expose()));
    g.add("challenge.enc", h(&issued.enc));
    g.add("challenge.proof", h(proof.expose()));
    g.add("challenge.proof_hash", h(&issued.proof_hash));
    out.push(g.done());

    let mut g = Group0::new("Volume, owner key wrapping, tags and key block");
    let vek = VolumeKey::from_bytes([0x01; 32]);
    let header = VolumeHeader {
        volume_id: [0x11; 16],
        vtype: VolumeType::new("journals").map_err(|_| CryptoError::Primitive("type"))?,
        revision: 3,
        key_epoch: 2,
    };
    let mut vol = Vec::new();
    let mut sealer = VolumeSealer::start_with_nonce(&vek, &header, 5, [0x07; 24], &mut vol)
        .map_err(|_| CryptoError::Primitive("volume vector"))?;
    let header_bytes = sealer.header_bytes().to_vec();
    sealer
        .update(b"hello", &mut vol)
        .map_err(|_| CryptoError::Primitive("volume vector"))?;
    sealer
        .finish(&mut vol)
        .map_err(|_| CryptoError::Primitive("volume vector"))?;
    let digest = crate::primitives::blake2b_256(&vol);
    let owner_keys = OwnerKeys::derive(&master)?;
    let wrapped =
        owner_keys.wrap_with_nonce(&header.volume_id, header.key_epoch, &vek, [0x09; 24])?;
    let otag = volume::owner_tag(owner_keys.tag_key(), &header_bytes, &digest)
        .map_err(|_| CryptoError::Primitive("tag"))?;
    let kctx = KeyBlockContext {
        relay_origin: ORIGIN,
        owner_id: OWNER_ID,
        grantee_id: FRIEND_ID,
        volume_id: header.volume_id,
        epoch: header.key_epoch,
    };
    let keph = SecretBytes::from_array(seq(0x70));
    let (block, gkey) =
        keyblock::seal_with_ephemeral(&owner, &friend.public_key(), &kctx, &vek, &keph)
            .map_err(|_| CryptoError::Primitive("key block vector"))?;
    let gtag = volume::grantee_tag(&gkey, &header_bytes, &digest)
        .map_err(|_| CryptoError::Primitive("tag"))?;
    g.add("volume.vek", h(vek.expose()));
    g.add("volume.nonce", h(&[0x07; 24]));
    g.add("volume.plaintext", h(b"hello"));
    g.add("volume.header", h(&header_bytes));
    g.add(
        "volume.first_chunk_sealed_prefix",
        h(&vol[header_bytes.len()..header_bytes.len() + 32]),
    );
    g.add("volume.length", vol.len().to_string());
    g.add("volume.digest", h(&digest));
    g.add("volume.owner_wrap_nonce", h(&[0x09; 24]));
    g.add("volume.owner_wrapped_vek", h(&wrapped));
    g.add("volume.owner_tag", h(&otag));
    g.add("keyblock.ephemeral_secret", h(keph.expose()));
    g.add("keyblock.bytes", h(&block));
    g.add("keyblock.grantee_tag_key", h(gkey.expose()));
    g.add("volume.grantee_tag", h(&gtag));
    out.push(g.done());

    let mut g = Group0::new("Safety number");
    g.add(
        "safety.number",
        safety::safety_number(
            (&owner.public_key(), &OWNER_ID),
            (&friend.public_key(), &FRIEND_ID),
        )?,
    );
    out.push(g.done());
    Ok(out)
}

/// The X25519 secret of a relay identity (HKDF output before clamping), published so other
/// implementations can check the derivation step by step.
fn identity_seed(master: &[u8; 32]) -> Result<[u8; 32], CryptoError> {
    let seed = crate::primitives::hkdf_sha256(
        master,
        &crate::encoding::FieldWriter::new()
            .field(crate::labels::RELAY_IDENTITY.as_bytes())
            .field(ORIGIN.as_bytes())
            .u32_field(0)
            .finish(),
    )?;
    Ok(*seed.expose())
}
