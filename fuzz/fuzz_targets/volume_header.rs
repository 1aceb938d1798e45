//! Volume headers and the incremental opener: `VolumeHeader::parse`, `VolumeHeader::peek` and a
//! `VolumeOpener` fed the input in pieces must return an error or a result, never panic.
//!
//! Input layout: the first byte picks the piece size the opener is fed with; the rest is the
//! volume. The opener expects the header the volume itself announces (when it parses), so that
//! the fuzzer gets past the header check into the chunk and padding code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plog_crypto::volume::{VolumeHeader, VolumeKey, VolumeOpener, VolumeSealer, VolumeType};

fn fallback_header() -> VolumeHeader {
    VolumeHeader {
        volume_id: [1; 16],
        vtype: VolumeType::new("journals").expect("valid type name"),
        revision: 1,
        key_epoch: 0,
    }
}

fn headers(data: &[u8]) {
    let parsed = VolumeHeader::parse(data);
    let peeked = VolumeHeader::peek(data);
    if let Ok((header, nonce)) = parsed {
        // A parsed header is exactly its bytes, so peek reads the same header from them...
        assert_eq!(peeked.as_ref().ok(), Some(&header));
        // ...and a sealer writing that header and nonce writes exactly those bytes.
        let vek = VolumeKey::from_bytes([5; 32]);
        let mut out = Vec::new();
        let sealer = VolumeSealer::start_with_nonce(&vek, &header, 0, nonce, &mut out)
            .expect("an empty volume starts");
        assert_eq!(sealer.header_bytes(), data);
        assert!(out.starts_with(data));
    }
    if let Ok(header) = peeked {
        // peek read a prefix: magic (8), version (1), id (16), type (1 + name), revision (8),
        // epoch (8), nonce (24). That prefix alone parses to the same header.
        let len = 8 + 1 + 16 + 1 + header.vtype.as_str().len() + 8 + 8 + 24;
        let (again, _) = VolumeHeader::parse(&data[..len]).expect("the peeked prefix parses");
        assert_eq!(again, header);
    }
}

fn opener(piece: usize, volume: &[u8]) {
    let expected = VolumeHeader::peek(volume).unwrap_or_else(|_| fallback_header());
    let vek = VolumeKey::from_bytes([5; 32]);
    let mut opener = VolumeOpener::new(&vek, expected).expect("opener");
    let mut out = Vec::new();
    for part in volume.chunks(piece) {
        if opener.update(part, &mut out).is_err() {
            return;
        }
    }
    // Err (the usual outcome: nothing authenticates under this key) or a plaintext and digest.
    let _ = opener.finish(&mut out);
}

fuzz_target!(|data: &[u8]| {
    headers(data);

    let Some((&first, volume)) = data.split_first() else {
        return;
    };
    // 0 feeds everything at once; otherwise pieces of 1 to 255 bytes.
    let piece = if first == 0 { volume.len().max(1) } else { usize::from(first) };
    opener(piece, volume);
});
