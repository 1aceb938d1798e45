//! Volume round trip: a plaintext sealed with `VolumeSealer` (fed in pieces) must open with
//! `VolumeOpener` (fed in other pieces) to exactly the same plaintext and digest; and the same
//! volume with one bit flipped, truncated or extended must not open.
//!
//! The plaintext is the tail of the input, repeated up to a length the input also chooses
//! (capped at 300 KiB), so that small inputs still reach multi-chunk volumes and every padding
//! size.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use orion::hazardous::hash::blake2::blake2b::Blake2b;
use plog_crypto::volume::{
    SEALED_CHUNK_LEN, VolumeError, VolumeHeader, VolumeKey, VolumeOpener, VolumeSealer, VolumeType,
    open_to_vec,
};

const MAX_PLAINTEXT: usize = 300 * 1024;

#[derive(Debug, Arbitrary)]
enum Damage {
    Flip { index: u32, bit: u8 },
    Truncate { keep: u32 },
    Append { byte: u8 },
}

#[derive(Debug, Arbitrary)]
struct Case {
    vek: [u8; 32],
    volume_id: [u8; 16],
    type_name: String,
    revision: u64,
    key_epoch: u64,
    /// Plaintext length, reduced modulo `MAX_PLAINTEXT + 1`.
    len: u32,
    /// Piece sizes for the sealer and the opener, used in turn; empty means all at once.
    seal_pieces: Vec<u32>,
    open_pieces: Vec<u32>,
    damage: Option<Damage>,
}

fn blake2b_256(data: &[u8]) -> [u8; 32] {
    let mut state = Blake2b::new(32).expect("32 is a valid BLAKE2b output size");
    state.update(data).expect("BLAKE2b accepts the input");
    let mut out = [0u8; 32];
    out.copy_from_slice(state.finalize().expect("finalize once").as_ref());
    out
}

/// Splits `data` into pieces whose sizes cycle through `sizes` (each 1 to two sealed chunks).
fn pieces<'a>(data: &'a [u8], sizes: &[u32]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return vec![data];
    }
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let size = (sizes[i % sizes.len()] as usize % (2 * SEALED_CHUNK_LEN)) + 1;
        let (head, tail) = rest.split_at(size.min(rest.len()));
        out.push(head);
        rest = tail;
        i += 1;
    }
    out
}

/// Plaintext and header bytes of an opened volume.
type Opened = (Vec<u8>, Option<Vec<u8>>);

/// Opens `volume` fed in pieces; the plaintext and header, or the first error.
fn open(
    vek: &VolumeKey,
    expected: &VolumeHeader,
    volume: &[u8],
    sizes: &[u32],
) -> Result<Opened, VolumeError> {
    let mut opener = VolumeOpener::new(vek, expected.clone())?;
    let mut out = Vec::new();
    for piece in pieces(volume, sizes) {
        opener.update(piece, &mut out)?;
    }
    let header = opener.header_bytes().map(<[u8]>::to_vec);
    opener.finish(&mut out)?;
    Ok((out, header))
}

fn run(data: &[u8]) -> arbitrary::Result<()> {
    let mut u = Unstructured::new(data);
    let case = Case::arbitrary(&mut u)?;
    let pattern = u.take_rest();

    let len = case.len as usize % (MAX_PLAINTEXT + 1);
    let plaintext: Vec<u8> = if pattern.is_empty() {
        vec![0; len]
    } else {
        pattern.iter().copied().cycle().take(len).collect()
    };
    let header = VolumeHeader {
        volume_id: case.volume_id,
        vtype: VolumeType::new(&case.type_name)
            .unwrap_or_else(|_| VolumeType::new("journals").expect("valid type name")),
        revision: case.revision,
        key_epoch: case.key_epoch,
    };
    let vek = VolumeKey::from_bytes(case.vek);

    // Seal in pieces.
    let mut sealed = Vec::new();
    let mut sealer = VolumeSealer::start(&vek, &header, plaintext.len() as u64, &mut sealed)
        .expect("sealing starts");
    let header_bytes = sealer.header_bytes().to_vec();
    let expected_len = sealer.sealed_len();
    for piece in pieces(&plaintext, &case.seal_pieces) {
        sealer.update(piece, &mut sealed).expect("sealer update");
    }
    sealer.finish(&mut sealed).expect("sealer finish");
    let digest = blake2b_256(&sealed);

    assert_eq!(sealed.len() as u64, expected_len, "sealed_len() was wrong");
    assert!(sealed.starts_with(&header_bytes));
    assert_eq!(VolumeHeader::peek(&sealed).expect("peek"), header);
    assert_eq!(VolumeHeader::parse(&header_bytes).expect("parse").0, header);

    // Open in other pieces, and all at once.
    let (opened, opened_header) =
        open(&vek, &header, &sealed, &case.open_pieces).expect("a fresh volume opens");
    assert!(opened == plaintext, "opened plaintext differs ({} vs {} bytes)", opened.len(), plaintext.len());
    assert_eq!(opened_header.as_deref(), Some(&header_bytes[..]));
    let (whole, whole_digest) = open_to_vec(&vek, header.clone(), &sealed).expect("open_to_vec");
    assert!(*whole == plaintext, "open_to_vec plaintext differs");
    assert_eq!(whole_digest, digest);

    // Any damage must be refused (possibly after some plaintext was released).
    if let Some(damage) = case.damage {
        let mut bad = sealed.clone();
        match damage {
            Damage::Flip { index, bit } => {
                let i = index as usize % bad.len();
                bad[i] ^= 1 << (bit % 8);
            }
            Damage::Truncate { keep } => bad.truncate(keep as usize % bad.len()),
            Damage::Append { byte } => bad.push(byte),
        }
        assert!(
            open(&vek, &header, &bad, &case.open_pieces).is_err(),
            "a damaged volume opened"
        );
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
