//! Adapters between the incremental sealer/opener and `std::io` readers and writers. They
//! open no files themselves: the caller passes the streams.

use super::header::VolumeHeader;
use super::keys::VolumeKey;
use super::open::VolumeOpener;
use super::seal::VolumeSealer;
use super::{SEALED_CHUNK_LEN, VolumeDigest, VolumeDigester, VolumeError};
use std::io::{self, Read, Write};
use thiserror::Error;

/// A failure while streaming a volume: the reader or writer failed, or the volume did.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StreamError {
    /// Reading the input or writing the output failed.
    #[error("volume stream I/O failed: {0}")]
    Io(#[from] io::Error),
    /// The volume could not be sealed or opened.
    #[error(transparent)]
    Volume(#[from] VolumeError),
}

/// Reads exactly `plaintext_len` bytes from `reader` and writes the sealed volume to `writer`,
/// holding at most about two chunks in memory. Returns the encoded header and the digest of
/// what was written.
pub fn seal_stream<R: Read, W: Write>(
    vek: &VolumeKey,
    header: &VolumeHeader,
    plaintext_len: u64,
    mut reader: R,
    mut writer: W,
) -> Result<(Vec<u8>, VolumeDigest), StreamError> {
    let mut out = Vec::with_capacity(2 * SEALED_CHUNK_LEN);
    let mut sealer = VolumeSealer::start(vek, header, plaintext_len, &mut out)?;
    let header_bytes = sealer.header_bytes().to_vec();
    let mut digester = VolumeDigester::new();
    let mut emit = |out: &mut Vec<u8>| -> io::Result<()> {
        digester.update(out);
        writer.write_all(out)?;
        out.clear();
        Ok(())
    };
    let mut buf = zeroize::Zeroizing::new(vec![0u8; super::CHUNK_LEN]);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        sealer.update(&buf[..n], &mut out)?;
        emit(&mut out)?;
    }
    while !sealer.finish_step(&mut out)? {
        emit(&mut out)?;
    }
    emit(&mut out)?;
    writer.flush()?;
    Ok((header_bytes, digester.finalize()))
}

/// Reads a volume from `reader`, checks it is the one `expected` describes, and writes its
/// plaintext to `writer`. On error the writer may hold partial plaintext that must be discarded.
/// Returns the encoded header and the digest of what was read. The digest arrives only at the
/// end: where a revision tag must be checked first, digest the stored ciphertext beforehand.
pub fn open_stream<R: Read, W: Write>(
    vek: &VolumeKey,
    expected: VolumeHeader,
    mut reader: R,
    mut writer: W,
) -> Result<(Vec<u8>, VolumeDigest), StreamError> {
    let mut opener = VolumeOpener::new(vek, expected)?;
    let mut digester = VolumeDigester::new();
    // Two sealed chunks per read lets the opener decrypt straight from this buffer.
    let mut buf = vec![0u8; 2 * SEALED_CHUNK_LEN];
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(2 * SEALED_CHUNK_LEN));
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        digester.update(&buf[..n]);
        opener.update(&buf[..n], &mut out)?;
        writer.write_all(&out)?;
        out.clear();
    }
    let header_bytes = opener.header_bytes().unwrap_or_default().to_vec();
    opener.finish(&mut out)?;
    writer.write_all(&out)?;
    writer.flush()?;
    Ok((header_bytes, digester.finalize()))
}

/// Seals a plaintext held in memory. Returns the volume and its digest.
pub fn seal_to_vec(
    vek: &VolumeKey,
    header: &VolumeHeader,
    plaintext: &[u8],
) -> Result<(Vec<u8>, VolumeDigest), VolumeError> {
    let mut out = Vec::new();
    let mut sealer = VolumeSealer::start(vek, header, plaintext.len() as u64, &mut out)?;
    sealer.update(plaintext, &mut out)?;
    sealer.finish(&mut out)?;
    let digest = crate::primitives::blake2b_256(&out);
    Ok((out, digest))
}

/// Opens a volume held in memory. Returns the plaintext and the digest.
pub fn open_to_vec(
    vek: &VolumeKey,
    expected: VolumeHeader,
    volume: &[u8],
) -> Result<(zeroize::Zeroizing<Vec<u8>>, VolumeDigest), VolumeError> {
    // Reserved up front: growing the vector would leave plaintext copies in freed memory.
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(volume.len()));
    let mut opener = VolumeOpener::new(vek, expected)?;
    opener.update(volume, &mut out)?;
    opener.finish(&mut out)?;
    Ok((out, crate::primitives::blake2b_256(volume)))
}
