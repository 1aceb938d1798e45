//! Key blocks: `keyblock::open` must never panic on any input. When the input is long enough,
//! its first 32 bytes are also sealed as a volume key, which must open to the same key and tag
//! key, and not at all with one bit flipped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plog_crypto::SecretBytes;
use plog_crypto::identity::IdentityKeyPair;
use plog_crypto::keyblock::{self, KEY_BLOCK_LEN, KeyBlockContext};
use plog_crypto::volume::VolumeKey;

const CTX: KeyBlockContext<'static> = KeyBlockContext {
    relay_origin: "https://relay.example",
    owner_id: [1; 16],
    grantee_id: [2; 16],
    volume_id: [3; 16],
    epoch: 4,
};

fuzz_target!(|data: &[u8]| {
    let grantee = IdentityKeyPair::from_secret_bytes(SecretBytes::from_array([7; 32]));
    let owner = IdentityKeyPair::from_secret_bytes(SecretBytes::from_array([9; 32]));
    let owner_pk = owner.public_key();

    // Untrusted bytes straight from the relay.
    let _ = keyblock::open(data, &grantee, &owner_pk, &CTX);

    // Round trip: the first 32 bytes as a volume key, the next two to pick a bit to flip.
    let Some((vek, rest)) = data.split_first_chunk::<32>() else {
        return;
    };
    let vek = VolumeKey::from_bytes(*vek);
    let (block, owner_tag_key) =
        keyblock::seal(&owner, &grantee.public_key(), &CTX, &vek).expect("key block seals");
    assert_eq!(block.len(), KEY_BLOCK_LEN);
    let (opened, grantee_tag_key) =
        keyblock::open(&block, &grantee, &owner_pk, &CTX).expect("a fresh key block opens");
    assert_eq!(opened, vek);
    assert_eq!(grantee_tag_key, owner_tag_key);

    if let [index, bit, ..] = rest {
        let mut bad = block;
        bad[usize::from(*index) % KEY_BLOCK_LEN] ^= 1 << (bit % 8);
        assert!(keyblock::open(&bad, &grantee, &owner_pk, &CTX).is_err(), "a damaged key block opened");
    }
});
