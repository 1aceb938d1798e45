//! The required failures of the volume format, each with its own test, plus round trips at
//! every chunk boundary.

use super::seal::seal_raw_padded;
use super::*;
use crate::master::MasterSecret;
use crate::padding::padded_len;
use proptest::prelude::*;

fn header(revision: u64, epoch: u64) -> VolumeHeader {
    VolumeHeader {
        volume_id: [0x11; 16],
        vtype: VolumeType::new("journals").unwrap(),
        revision,
        key_epoch: epoch,
    }
}

fn key(byte: u8) -> VolumeKey {
    VolumeKey::from_bytes([byte; 32])
}

fn sealed(plaintext: &[u8]) -> Vec<u8> {
    seal_to_vec(&key(1), &header(3, 2), plaintext).unwrap().0
}

fn open(volume: &[u8]) -> Result<Vec<u8>, VolumeError> {
    open_to_vec(&key(1), header(3, 2), volume).map(|(p, _)| p.to_vec())
}

fn header_len(volume: &[u8]) -> usize {
    VolumeHeader::encoded_len(volume).unwrap()
}

/// Splits a volume into its header and sealed chunks.
fn chunks(volume: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let h = header_len(volume);
    (
        volume[..h].to_vec(),
        volume[h..]
            .chunks(SEALED_CHUNK_LEN)
            .map(<[u8]>::to_vec)
            .collect(),
    )
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn round_trip_small_and_sizes_are_padded() {
    let vol = sealed(b"hello");
    assert_eq!(open(&vol).unwrap(), b"hello");
    let body = vol.len() - header_len(&vol);
    assert_eq!(
        body,
        4096 + CHUNK_OVERHEAD,
        "a tiny volume fills the 4 KiB bucket"
    );
}

#[test]
fn round_trip_at_chunk_boundaries() {
    let c = CHUNK_LEN;
    for len in [
        0,
        1,
        4088,
        4089,
        c - 8,
        c - 7,
        c,
        c + 1,
        2 * c - 8,
        2 * c,
        3 * c + 5,
    ] {
        let pt = plaintext(len);
        let vol = sealed(&pt);
        assert_eq!(open(&vol).unwrap(), pt, "len {len}");
        let padded = padded_len(len as u64).unwrap();
        let n_chunks = padded.div_ceil(c as u64);
        assert_eq!(
            vol.len() as u64,
            header_len(&vol) as u64 + padded + n_chunks * CHUNK_OVERHEAD as u64,
            "len {len}"
        );
    }
}

#[test]
fn streaming_in_odd_pieces_matches_one_shot() {
    let pt = plaintext(3 * CHUNK_LEN + 1234);
    let vol = sealed(&pt);
    for piece in [
        1usize,
        7,
        4096,
        CHUNK_LEN - 1,
        SEALED_CHUNK_LEN,
        SEALED_CHUNK_LEN + 1,
    ] {
        let mut opener = VolumeOpener::new(&key(1), header(3, 2)).unwrap();
        let mut out = Vec::new();
        for part in vol.chunks(piece) {
            opener.update(part, &mut out).unwrap();
        }
        opener.finish(&mut out).unwrap();
        assert_eq!(out, pt, "piece {piece}");
    }
    // And the sealer fed in odd pieces writes a volume that opens.
    let mut out = Vec::new();
    let mut sealer =
        VolumeSealer::start(&key(1), &header(3, 2), pt.len() as u64, &mut out).unwrap();
    for part in pt.chunks(999) {
        sealer.update(part, &mut out).unwrap();
    }
    sealer.finish(&mut out).unwrap();
    let (opened, _) = open_to_vec(&key(1), header(3, 2), &out).unwrap();
    assert_eq!(opened.as_slice(), pt.as_slice());
}

#[test]
fn finishing_step_by_step_writes_at_most_one_chunk_per_step() {
    // 8 MiB + 9 bytes pads to 8 MiB + 256 KiB: the padding spans several whole chunks.
    let len = (8 << 20) + 1;
    let pt = plaintext(len);
    let mut out = Vec::new();
    let mut sealer = VolumeSealer::start(&key(1), &header(3, 2), len as u64, &mut out).unwrap();
    sealer.update(&pt, &mut out).unwrap();
    let mut volume = std::mem::take(&mut out);
    let mut steps = 0;
    while !sealer.finish_step(&mut out).unwrap() {
        assert!(
            out.len() <= SEALED_CHUNK_LEN,
            "step {steps} wrote {} bytes",
            out.len()
        );
        volume.append(&mut out);
        steps += 1;
    }
    assert!(out.len() <= SEALED_CHUNK_LEN);
    volume.append(&mut out);
    assert!(
        steps >= 2,
        "the padding should take several steps, took {steps}"
    );
    assert_eq!(
        sealer.update(b"x", &mut out),
        Err(VolumeError::AlreadyFinished)
    );
    assert!(sealer.finish_step(&mut out).unwrap());
    assert!(out.is_empty());
    assert_eq!(open(&volume).unwrap(), pt);
    // The one-call finish writes the same layout.
    assert_eq!(volume.len(), sealed(&pt).len());
}

#[test]
fn every_flipped_bit_in_header_chunk_or_tag_is_refused() {
    let vol = sealed(&plaintext(CHUNK_LEN + 10));
    let h = header_len(&vol);
    // Every bit of the header, and bits spread over both chunks including every MAC byte.
    let mut positions: Vec<usize> = (0..h).collect();
    positions.extend((h..vol.len()).step_by(97));
    positions.extend(h + CHUNK_LEN..h + SEALED_CHUNK_LEN); // tag byte + MAC of chunk 0
    positions.extend(vol.len() - CHUNK_OVERHEAD..vol.len()); // last chunk's tag and MAC
    for pos in positions {
        for bit in 0..8 {
            let mut bad = vol.clone();
            bad[pos] ^= 1 << bit;
            assert!(open(&bad).is_err(), "flip at byte {pos} bit {bit} accepted");
        }
    }
}

#[test]
fn truncated_stream_is_refused() {
    let vol = sealed(&plaintext(2 * CHUNK_LEN));
    let h = header_len(&vol);
    // Cut at a chunk boundary (a whole final chunk missing) and inside chunks and header.
    for cut in [
        h + SEALED_CHUNK_LEN,
        h + SEALED_CHUNK_LEN * 2,
        vol.len() - 1,
        h + 5,
        h,
        h - 1,
        3,
    ] {
        let err = open(&vol[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                VolumeError::Truncated | VolumeError::Authentication { .. }
            ),
            "cut {cut}: {err:?}"
        );
    }
    assert_eq!(
        open(&vol[..h + SEALED_CHUNK_LEN]),
        Err(VolumeError::Truncated)
    );
    assert_eq!(open(&vol[..h]), Err(VolumeError::Truncated));
    assert_eq!(open(&vol[..h - 1]), Err(VolumeError::Truncated));
}

#[test]
fn bytes_after_the_final_chunk_are_refused() {
    // A final chunk of full size is opened as soon as it is complete; anything after it is
    // trailing data, whether it arrives in the same call or a later one.
    let full = sealed(&plaintext(CHUNK_LEN - 8));
    assert_eq!(full.len() - header_len(&full), SEALED_CHUNK_LEN);
    let mut extended = full.clone();
    extended.push(0);
    assert_eq!(open(&extended), Err(VolumeError::TrailingData));
    let mut opener = VolumeOpener::new(&key(1), header(3, 2)).unwrap();
    let mut out = Vec::new();
    opener.update(&full, &mut out).unwrap();
    opener.update(&[1, 2, 3], &mut out).unwrap_err();
    // A shorter final chunk has no fixed end: extra bytes make it a longer chunk, whose MAC
    // then fails.
    for extra in [1usize, 16, 17, 5000] {
        let mut vol = sealed(b"x");
        vol.extend(std::iter::repeat_n(0u8, extra));
        assert_eq!(
            open(&vol),
            Err(VolumeError::Authentication { chunk: 0 }),
            "extra {extra}"
        );
    }
    // Appending a whole copy of the final chunk is caught too.
    let vol = sealed(&plaintext(CHUNK_LEN));
    let (_, c) = chunks(&vol);
    let mut doubled = vol.clone();
    doubled.extend_from_slice(&c[1]);
    assert!(open(&doubled).is_err());
}

#[test]
fn reordered_duplicated_and_dropped_chunks_are_refused() {
    let vol = sealed(&plaintext(3 * CHUNK_LEN));
    let (head, c) = chunks(&vol);
    assert_eq!(c.len(), 4);
    let join = |order: &[usize]| {
        let mut v = head.clone();
        for &i in order {
            v.extend_from_slice(&c[i]);
        }
        v
    };
    for order in [
        &[1, 0, 2, 3][..],
        &[0, 2, 1, 3],
        &[0, 1, 1, 2, 3],
        &[0, 0, 1, 2, 3],
        &[0, 2, 3],
        &[0, 1, 2, 3, 3],
    ] {
        let err = open(&join(order)).unwrap_err();
        assert!(
            matches!(
                err,
                VolumeError::Authentication { .. } | VolumeError::TrailingData
            ),
            "order {order:?}: {err:?}"
        );
    }
    assert_eq!(
        open(&join(&[0, 1, 2, 3])).unwrap(),
        plaintext(3 * CHUNK_LEN)
    );
}

#[test]
fn chunks_spliced_from_another_volume_under_the_same_key_are_refused() {
    let a = sealed(&plaintext(2 * CHUNK_LEN));
    let b = sealed(&plaintext(2 * CHUNK_LEN)); // same key and header, fresh nonce
    let (ha, ca) = chunks(&a);
    let (hb, cb) = chunks(&b);
    // b's header with a's chunks, and a's first chunk followed by b's.
    let mut mixed = hb.clone();
    ca.iter().for_each(|c| mixed.extend_from_slice(c));
    assert_eq!(open(&mixed), Err(VolumeError::Authentication { chunk: 0 }));
    let mut spliced = ha.clone();
    spliced.extend_from_slice(&ca[0]);
    spliced.extend_from_slice(&cb[1]);
    spliced.extend_from_slice(&cb[2]);
    assert_eq!(
        open(&spliced),
        Err(VolumeError::Authentication { chunk: 1 })
    );
}

#[test]
fn wrong_volume_key_is_refused() {
    let vol = sealed(b"secret");
    assert_eq!(
        open_to_vec(&key(2), header(3, 2), &vol).map(|_| ()),
        Err(VolumeError::Authentication { chunk: 0 })
    );
}

#[test]
fn wrong_epoch_is_refused() {
    let vol = sealed(b"secret");
    assert_eq!(
        open_to_vec(&key(1), header(3, 3), &vol).map(|_| ()),
        Err(VolumeError::WrongEpoch {
            expected: 3,
            found: 2
        })
    );
    // Rewriting the epoch in the header to match does not help: the header is authenticated.
    let mut forged = vol.clone();
    let h = header_len(&vol);
    let epoch_at = h - 24 - 8;
    forged[epoch_at..epoch_at + 8].copy_from_slice(&3u64.to_be_bytes());
    assert_eq!(
        open_to_vec(&key(1), header(3, 3), &forged).map(|_| ()),
        Err(VolumeError::Authentication { chunk: 0 })
    );
}

#[test]
fn header_of_another_volume_type_or_revision_is_refused() {
    let vol = sealed(b"secret");
    let mut other_id = header(3, 2);
    other_id.volume_id = [0x22; 16];
    assert_eq!(
        open_to_vec(&key(1), other_id, &vol).map(|_| ()),
        Err(VolumeError::WrongVolumeId)
    );
    let mut other_type = header(3, 2);
    other_type.vtype = VolumeType::new("members").unwrap();
    assert!(matches!(
        open_to_vec(&key(1), other_type, &vol).map(|_| ()),
        Err(VolumeError::WrongType { .. })
    ));
    assert_eq!(
        open_to_vec(&key(1), header(4, 2), &vol).map(|_| ()),
        Err(VolumeError::WrongRevision {
            expected: 4,
            found: 3
        })
    );
    // A header rewritten to claim revision 4 fails authentication.
    let mut forged = vol.clone();
    let at = header_len(&vol) - 24 - 16;
    forged[at..at + 8].copy_from_slice(&4u64.to_be_bytes());
    assert_eq!(
        open_to_vec(&key(1), header(4, 2), &forged).map(|_| ()),
        Err(VolumeError::Authentication { chunk: 0 })
    );
}

#[test]
fn length_prefix_beyond_the_padding_is_refused() {
    let mut padded = vec![0u8; 4096];
    padded[..8].copy_from_slice(&5000u64.to_be_bytes());
    let vol = seal_raw_padded(&key(1), &header(3, 2), &padded);
    assert_eq!(open(&vol), Err(VolumeError::LengthBeyondPadding));
    // Across chunks: a prefix claiming more than two chunks hold.
    let mut padded = vec![0u8; 2 * CHUNK_LEN];
    padded[..8].copy_from_slice(&(3 * CHUNK_LEN as u64).to_be_bytes());
    let vol = seal_raw_padded(&key(1), &header(3, 2), &padded);
    assert_eq!(open(&vol), Err(VolumeError::LengthBeyondPadding));
}

#[test]
fn non_zero_or_non_canonical_padding_is_refused() {
    let mut padded = vec![0u8; 4096];
    padded[..8].copy_from_slice(&3u64.to_be_bytes());
    padded[8..11].copy_from_slice(b"abc");
    let ok = seal_raw_padded(&key(1), &header(3, 2), &padded);
    assert_eq!(open(&ok).unwrap(), b"abc");
    padded[4000] = 1;
    assert_eq!(
        open(&seal_raw_padded(&key(1), &header(3, 2), &padded)),
        Err(VolumeError::BadPadding)
    );
    let mut oversized = vec![0u8; 8192];
    oversized[..8].copy_from_slice(&3u64.to_be_bytes());
    assert_eq!(
        open(&seal_raw_padded(&key(1), &header(3, 2), &oversized)),
        Err(VolumeError::BadPadding)
    );
}

#[test]
fn sealer_enforces_the_declared_length() {
    let mut out = Vec::new();
    let mut s = VolumeSealer::start(&key(1), &header(1, 0), 4, &mut out).unwrap();
    assert_eq!(
        s.update(b"12345", &mut out),
        Err(VolumeError::LengthMismatch {
            declared: 4,
            received: 5
        })
    );
    let mut out = Vec::new();
    let mut s = VolumeSealer::start(&key(1), &header(1, 0), 4, &mut out).unwrap();
    s.update(b"12", &mut out).unwrap();
    assert_eq!(
        s.finish(&mut out),
        Err(VolumeError::LengthMismatch {
            declared: 4,
            received: 2
        })
    );
}

#[test]
fn header_peek_and_malformed_headers() {
    let vol = sealed(b"x");
    assert_eq!(VolumeHeader::peek(&vol).unwrap(), header(3, 2));
    let mut bad_magic = vol.clone();
    bad_magic[0] ^= 1;
    assert_eq!(open(&bad_magic), Err(VolumeError::MalformedHeader));
    let mut future = vol.clone();
    future[8] = 2;
    assert_eq!(open(&future), Err(VolumeError::UnsupportedVersion(2)));
    for bad in ["", "Members", "1abc", "a b", &"a".repeat(33)] {
        assert!(VolumeType::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn owner_and_grantee_tags() {
    let master = MasterSecret::from_bytes([3; 32]);
    let owner = OwnerKeys::derive(&master).unwrap();
    let grantee = GranteeTagKey::from_bytes([4; 32]);
    let (vol, digest) = seal_to_vec(&key(1), &header(3, 2), b"data").unwrap();
    let h = &vol[..header_len(&vol)];
    let otag = owner_tag(owner.tag_key(), h, &digest).unwrap();
    let gtag = grantee_tag(&grantee, h, &digest).unwrap();
    assert_eq!(verify_owner_tag(owner.tag_key(), h, &digest, &otag), Ok(()));
    assert_eq!(verify_grantee_tag(&grantee, h, &digest, &gtag), Ok(()));
    // A grantee tag presented as an owner tag fails, and the reverse.
    assert_eq!(
        verify_owner_tag(owner.tag_key(), h, &digest, &gtag),
        Err(VolumeError::BadTag)
    );
    assert_eq!(
        verify_grantee_tag(&grantee, h, &digest, &otag),
        Err(VolumeError::BadTag)
    );
    // Even a grantee key equal to the owner key cannot produce an owner tag: labels differ.
    let same_bytes = GranteeTagKey::from_bytes(*owner.tag_key().0.expose());
    let forged = grantee_tag(&same_bytes, h, &digest).unwrap();
    assert_eq!(
        verify_owner_tag(owner.tag_key(), h, &digest, &forged),
        Err(VolumeError::BadTag)
    );
    // Tags cover the header and the digest.
    let mut other_digest = digest;
    other_digest[0] ^= 1;
    assert_eq!(
        verify_owner_tag(owner.tag_key(), h, &other_digest, &otag),
        Err(VolumeError::BadTag)
    );
    let mut other_header = h.to_vec();
    other_header[10] ^= 1;
    assert_eq!(
        verify_owner_tag(owner.tag_key(), &other_header, &digest, &otag),
        Err(VolumeError::BadTag)
    );
    // The digest is BLAKE2b-256 of the whole volume, however it is fed.
    assert_eq!(digest, crate::primitives::blake2b_256(&vol));
    let mut digester = VolumeDigester::new();
    vol.chunks(1000).for_each(|piece| digester.update(piece));
    assert_eq!(digester.finalize(), digest);
}

#[test]
fn owner_key_wrapping() {
    let owner = OwnerKeys::derive(&MasterSecret::from_bytes([3; 32])).unwrap();
    let vek = VolumeKey::generate().unwrap();
    let wrapped = owner.wrap(&[1; 16], 5, &vek).unwrap();
    assert_eq!(owner.unwrap(&[1; 16], 5, &wrapped).unwrap(), vek);
    assert_eq!(
        owner.unwrap(&[1; 16], 6, &wrapped),
        Err(VolumeError::KeyUnwrap)
    );
    assert_eq!(
        owner.unwrap(&[2; 16], 5, &wrapped),
        Err(VolumeError::KeyUnwrap)
    );
    let other = OwnerKeys::derive(&MasterSecret::from_bytes([4; 32])).unwrap();
    assert_eq!(
        other.unwrap(&[1; 16], 5, &wrapped),
        Err(VolumeError::KeyUnwrap)
    );
    for i in 0..wrapped.len() {
        let mut bad = wrapped;
        bad[i] ^= 0x10;
        assert_eq!(
            owner.unwrap(&[1; 16], 5, &bad),
            Err(VolumeError::KeyUnwrap),
            "byte {i}"
        );
    }
    assert_eq!(
        owner.unwrap(&[1; 16], 5, &wrapped[..72]),
        Err(VolumeError::KeyUnwrap)
    );
}

#[test]
fn io_adapters_round_trip() {
    let pt = plaintext(2 * CHUNK_LEN + 17);
    let mut vol = Vec::new();
    let (h1, d1) = seal_stream(
        &key(1),
        &header(3, 2),
        pt.len() as u64,
        pt.as_slice(),
        &mut vol,
    )
    .unwrap();
    let mut out = Vec::new();
    let (h2, d2) = open_stream(&key(1), header(3, 2), vol.as_slice(), &mut out).unwrap();
    assert_eq!(out, pt);
    assert_eq!((h1, d1), (h2, d2));
    // A reader shorter than declared is a length mismatch, not a short volume.
    let err = seal_stream(&key(1), &header(3, 2), 10, &b"12345"[..], &mut Vec::new()).unwrap_err();
    assert!(matches!(
        err,
        StreamError::Volume(VolumeError::LengthMismatch {
            declared: 10,
            received: 5
        })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn seal_open_round_trip(len in prop_oneof![0usize..9000, (CHUNK_LEN - 16)..(CHUNK_LEN + 16), 0usize..(3 << 20)], piece in 1usize..200_000, seed in any::<u8>()) {
        let pt: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        let mut vol = Vec::new();
        let mut sealer = VolumeSealer::start(&key(seed), &header(1, 0), len as u64, &mut vol).unwrap();
        for part in pt.chunks(piece) {
            sealer.update(part, &mut vol).unwrap();
        }
        sealer.finish(&mut vol).unwrap();
        let mut opener = VolumeOpener::new(&key(seed), header(1, 0)).unwrap();
        let mut out = Vec::new();
        for part in vol.chunks(piece) {
            opener.update(part, &mut out).unwrap();
        }
        opener.finish(&mut out).unwrap();
        prop_assert_eq!(out, pt);
    }

    #[test]
    fn header_parse_round_trip(id in any::<[u8; 16]>(), rev in any::<u64>(), epoch in any::<u64>(), name in "[a-z][a-z0-9_-]{0,31}") {
        let h = VolumeHeader { volume_id: id, vtype: VolumeType::new(&name).unwrap(), revision: rev, key_epoch: epoch };
        let bytes = h.encode(&[9; 24]);
        prop_assert_eq!(VolumeHeader::encoded_len(&bytes), Some(bytes.len()));
        prop_assert_eq!(VolumeHeader::parse(&bytes).unwrap(), (h, [9; 24]));
    }

    #[test]
    fn opener_never_panics_on_garbage(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut opener = VolumeOpener::new(&key(1), header(3, 2)).unwrap();
        let mut out = Vec::new();
        if opener.update(&data, &mut out).is_ok() {
            prop_assert!(opener.finish(&mut out).is_err());
        }
    }
}

#[test]
fn an_opener_that_failed_refuses_everything_after() {
    use orion::hazardous::aead::streaming::{Nonce, SecretKey, StreamTag, StreamXChaCha20Poly1305};
    let nonce = [0x44; 24];
    let head = header(3, 2).encode(&nonce);
    // A chunk sealed without the header binding, as if it were the first one.
    let mut padded = vec![0u8; 4096];
    padded[..8].copy_from_slice(&5u64.to_be_bytes());
    padded[8..13].copy_from_slice(b"evil!");
    let mut evil = vec![0u8; padded.len() + CHUNK_OVERHEAD];
    StreamXChaCha20Poly1305::new(
        &SecretKey::try_from(&key(1).expose()[..]).unwrap(),
        &Nonce::from(nonce),
    )
    .seal_chunk(&padded, None, &mut evil, &StreamTag::Finish)
    .unwrap();
    let mut opener = VolumeOpener::new(&key(1), header(3, 2)).unwrap();
    let mut out = Vec::new();
    let mut first = head.clone();
    first.extend_from_slice(&vec![0u8; SEALED_CHUNK_LEN + 1]);
    assert_eq!(opener.update(&first[..first.len() - 1], &mut out), Ok(()));
    assert_eq!(
        opener.update(&first[first.len() - 1..], &mut out),
        Err(VolumeError::Authentication { chunk: 0 })
    );
    // Whatever comes next, the opener stays failed and releases nothing.
    assert_eq!(
        opener.update(&evil, &mut out),
        Err(VolumeError::Authentication { chunk: 0 })
    );
    assert_eq!(
        opener.finish(&mut out),
        Err(VolumeError::Authentication { chunk: 0 })
    );
    assert!(out.is_empty());
}

#[test]
fn a_first_chunk_without_the_header_binding_is_refused() {
    use orion::hazardous::aead::streaming::{Nonce, SecretKey, StreamTag, StreamXChaCha20Poly1305};
    let nonce = [0x45; 24];
    let mut vol = header(3, 2).encode(&nonce);
    let mut padded = vec![0u8; 4096];
    padded[..8].copy_from_slice(&1u64.to_be_bytes());
    let mut chunk = vec![0u8; padded.len() + CHUNK_OVERHEAD];
    StreamXChaCha20Poly1305::new(
        &SecretKey::try_from(&key(1).expose()[..]).unwrap(),
        &Nonce::from(nonce),
    )
    .seal_chunk(&padded, None, &mut chunk, &StreamTag::Finish)
    .unwrap();
    vol.extend_from_slice(&chunk);
    assert_eq!(open(&vol), Err(VolumeError::Authentication { chunk: 0 }));
}

#[test]
fn a_length_prefix_beyond_the_format_limit_is_refused() {
    let mut padded = vec![0u8; 4096];
    padded[..8].copy_from_slice(&(MAX_PLAINTEXT_LEN + 1).to_be_bytes());
    assert_eq!(
        open(&seal_raw_padded(&key(1), &header(3, 2), &padded)),
        Err(VolumeError::TooLarge)
    );
}

/// Seals the pieces of a padded stream under `key(1)` and `header(3, 2)` with the given stream
/// tags, binding the header to the first piece as the sealer does, so tests can write streams
/// that only a holder of the volume key could, but an honest sealer never does.
fn seal_with_tags(
    nonce: [u8; 24],
    pieces: &[(&[u8], orion::hazardous::aead::streaming::StreamTag)],
) -> Vec<u8> {
    use orion::hazardous::aead::streaming::{Nonce, SecretKey, StreamXChaCha20Poly1305};
    let mut vol = header(3, 2).encode(&nonce);
    let aad = crate::encoding::fields(&[crate::labels::VOLUME.as_bytes(), &vol]);
    let mut stream = StreamXChaCha20Poly1305::new(
        &SecretKey::try_from(&key(1).expose()[..]).unwrap(),
        &Nonce::from(nonce),
    );
    for (i, (piece, tag)) in pieces.iter().enumerate() {
        let mut sealed = vec![0u8; piece.len() + CHUNK_OVERHEAD];
        stream
            .seal_chunk(piece, (i == 0).then_some(aad.as_slice()), &mut sealed, tag)
            .unwrap();
        vol.extend_from_slice(&sealed);
    }
    vol
}

/// The canonical padded stream of `pt`: length prefix, plaintext, zeros.
fn padded_stream(pt: &[u8]) -> Vec<u8> {
    let mut padded = vec![0u8; padded_len(pt.len() as u64).unwrap() as usize];
    padded[..8].copy_from_slice(&(pt.len() as u64).to_be_bytes());
    padded[8..8 + pt.len()].copy_from_slice(pt);
    padded
}

#[test]
fn chunk_tags_other_than_message_and_finish_are_refused() {
    use orion::hazardous::aead::streaming::StreamTag;
    // 65_529 bytes pad to 67_584: one full chunk and a short final one.
    let pt = plaintext(CHUNK_LEN - 7);
    let padded = padded_stream(&pt);
    let (first, last) = padded.split_at(CHUNK_LEN);
    let good = seal_with_tags(
        [0x46; 24],
        &[(first, StreamTag::Message), (last, StreamTag::Finish)],
    );
    assert_eq!(open(&good).unwrap(), pt);
    for tag in [StreamTag::Push, StreamTag::Rekey] {
        let bad = seal_with_tags([0x46; 24], &[(first, tag), (last, StreamTag::Finish)]);
        assert_eq!(
            open(&bad),
            Err(VolumeError::Authentication { chunk: 0 }),
            "{tag:?}"
        );
    }
}

#[test]
fn a_short_chunk_not_tagged_final_is_refused_and_releases_nothing() {
    use orion::hazardous::aead::streaming::StreamTag;
    let padded = padded_stream(b"abc");
    let vol = seal_with_tags([0x47; 24], &[(&padded, StreamTag::Message)]);
    let mut opener = VolumeOpener::new(&key(1), header(3, 2)).unwrap();
    let mut out = Vec::new();
    opener.update(&vol, &mut out).unwrap();
    assert_eq!(
        opener.finish(&mut out),
        Err(VolumeError::Authentication { chunk: 0 })
    );
    assert!(out.is_empty(), "released {out:?}");
}

#[test]
fn padding_beyond_the_canonical_size_is_refused_at_the_first_chunk_past_it() {
    // Three chunks of padding for a 3-byte plaintext: the opener must stop at chunk 0 rather
    // than decrypt the whole (possibly huge) stream and fail only in `finish`.
    let mut padded = vec![0u8; 3 * CHUNK_LEN];
    padded[..8].copy_from_slice(&3u64.to_be_bytes());
    padded[8..11].copy_from_slice(b"abc");
    let vol = seal_raw_padded(&key(1), &header(3, 2), &padded);
    let mut opener = VolumeOpener::new(&key(1), header(3, 2)).unwrap();
    let mut out = Vec::new();
    assert_eq!(opener.update(&vol, &mut out), Err(VolumeError::BadPadding));
}

#[test]
fn padding_shorter_than_the_canonical_size_is_refused() {
    // 4089 bytes pad to 4352; a stream that ends anywhere before that is not canonical, even
    // when it holds the whole plaintext.
    let pt = plaintext(4089);
    let canonical = padded_stream(&pt);
    assert_eq!(canonical.len(), 4352);
    assert_eq!(
        open(&seal_raw_padded(&key(1), &header(3, 2), &canonical)).unwrap(),
        pt
    );
    for len in [4097, 4200, 4351] {
        assert_eq!(
            open(&seal_raw_padded(&key(1), &header(3, 2), &canonical[..len])),
            Err(VolumeError::BadPadding),
            "padded to {len}"
        );
    }
}

#[test]
fn a_failed_opener_refuses_even_an_empty_update() {
    let vol = sealed(b"x");
    let mut opener = VolumeOpener::new(&key(1), header(4, 2)).unwrap();
    let mut out = Vec::new();
    let wrong = VolumeError::WrongRevision {
        expected: 4,
        found: 3,
    };
    assert_eq!(opener.update(&vol, &mut out), Err(wrong.clone()));
    assert_eq!(opener.update(&[], &mut out), Err(wrong.clone()));
    assert_eq!(opener.update(&vol, &mut out), Err(wrong.clone()));
    assert_eq!(opener.finish(&mut out), Err(wrong));
    assert!(out.is_empty());
}
