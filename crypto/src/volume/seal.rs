use super::header::VolumeHeader;
use super::keys::VolumeKey;
use super::{CHUNK_LEN, CHUNK_OVERHEAD, MAX_PLAINTEXT_LEN, VolumeError};
use crate::encoding::fields;
use crate::padding::padded_len;
use crate::primitives::random_array;
use crate::{CryptoError, labels};
use orion::hazardous::aead::streaming::{Nonce, SecretKey, StreamTag, StreamXChaCha20Poly1305};
use zeroize::Zeroizing;

/// Seals a plaintext of known length into a volume, one chunk at a time.
///
/// ```
/// # use plog_crypto::volume::*;
/// let vek = VolumeKey::generate()?;
/// let header = VolumeHeader { volume_id: [1; 16], vtype: VolumeType::new("journals")?, revision: 1, key_epoch: 0 };
/// let mut out = Vec::new();
/// let mut sealer = VolumeSealer::start(&vek, &header, 5, &mut out)?;
/// sealer.update(b"hel", &mut out)?;
/// sealer.update(b"lo", &mut out)?;
/// sealer.finish(&mut out)?;
/// # Ok::<(), VolumeError>(())
/// ```
pub struct VolumeSealer {
    stream: StreamXChaCha20Poly1305,
    /// Associated data of the first chunk, dropped once it is sealed.
    first_aad: Option<Vec<u8>>,
    header: Vec<u8>,
    /// Padded plaintext waiting to fill a chunk.
    pending: Zeroizing<Vec<u8>>,
    declared: u64,
    received: u64,
    padded_total: u64,
    padded_sealed: u64,
    /// The final chunk has been written.
    finished: bool,
}

impl core::fmt::Debug for VolumeSealer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VolumeSealer")
            .field("declared", &self.declared)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl VolumeSealer {
    /// Starts a volume of `plaintext_len` bytes and appends its header to `out`.
    pub fn start(
        vek: &VolumeKey,
        header: &VolumeHeader,
        plaintext_len: u64,
        out: &mut Vec<u8>,
    ) -> Result<Self, VolumeError> {
        Self::start_inner(vek, header, plaintext_len, random_array()?, out)
    }

    /// [`start`](Self::start) with a given nonce; only for test vectors.
    #[cfg(any(test, feature = "test-vectors"))]
    pub fn start_with_nonce(
        vek: &VolumeKey,
        header: &VolumeHeader,
        plaintext_len: u64,
        nonce: [u8; 24],
        out: &mut Vec<u8>,
    ) -> Result<Self, VolumeError> {
        Self::start_inner(vek, header, plaintext_len, nonce, out)
    }

    fn start_inner(
        vek: &VolumeKey,
        header: &VolumeHeader,
        plaintext_len: u64,
        nonce: [u8; 24],
        out: &mut Vec<u8>,
    ) -> Result<Self, VolumeError> {
        if plaintext_len > MAX_PLAINTEXT_LEN {
            return Err(VolumeError::TooLarge);
        }
        let padded_total = padded_len(plaintext_len).ok_or(VolumeError::TooLarge)?;
        let mut sealer = Self::raw(vek, header, padded_total, nonce, out)?;
        sealer.declared = plaintext_len;
        sealer.push_padded(&plaintext_len.to_be_bytes(), out)?;
        Ok(sealer)
    }

    /// A sealer of `padded_total` raw padded bytes, with no length prefix written.
    fn raw(
        vek: &VolumeKey,
        header: &VolumeHeader,
        padded_total: u64,
        nonce: [u8; 24],
        out: &mut Vec<u8>,
    ) -> Result<Self, VolumeError> {
        let key =
            SecretKey::try_from(&vek.expose()[..]).map_err(|_| CryptoError::Primitive("key"))?;
        let header_bytes = header.encode(&nonce);
        out.extend_from_slice(&header_bytes);
        Ok(Self {
            stream: StreamXChaCha20Poly1305::new(&key, &Nonce::from(nonce)),
            first_aad: Some(fields(&[labels::VOLUME.as_bytes(), &header_bytes])),
            header: header_bytes,
            pending: Zeroizing::new(Vec::with_capacity(CHUNK_LEN)),
            declared: 0,
            received: 0,
            padded_total,
            padded_sealed: 0,
            finished: false,
        })
    }

    /// The encoded header (what tags cover).
    pub fn header_bytes(&self) -> &[u8] {
        &self.header
    }

    /// Total size of the sealed volume, header included.
    pub fn sealed_len(&self) -> u64 {
        let chunks = self.padded_total.div_ceil(CHUNK_LEN as u64);
        self.header.len() as u64 + self.padded_total + chunks * CHUNK_OVERHEAD as u64
    }

    /// Adds plaintext; appends every chunk that is complete (and not the last) to `out`.
    pub fn update(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), VolumeError> {
        if self.finished {
            return Err(VolumeError::AlreadyFinished);
        }
        let received = self.received + plaintext.len() as u64;
        if received > self.declared {
            return Err(VolumeError::LengthMismatch {
                declared: self.declared,
                received,
            });
        }
        self.received = received;
        self.push_padded(plaintext, out)
    }

    /// Pads and seals the rest of the volume into `out` in one call. For large volumes prefer
    /// [`finish_step`](Self::finish_step), which keeps memory to one chunk.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), VolumeError> {
        while !self.finish_step(out)? {}
        Ok(())
    }

    /// Seals at most one more chunk of padding (or the final chunk) into `out`, so the caller
    /// can write `out` away between calls; returns `true` once the final chunk is written.
    /// The padding of a large volume can span many chunks.
    pub fn finish_step(&mut self, out: &mut Vec<u8>) -> Result<bool, VolumeError> {
        if self.finished {
            return Ok(true);
        }
        if self.received != self.declared {
            return Err(VolumeError::LengthMismatch {
                declared: self.declared,
                received: self.received,
            });
        }
        self.pad_step(out)
    }

    fn pad_step(&mut self, out: &mut Vec<u8>) -> Result<bool, VolumeError> {
        const ZEROS: [u8; 4096] = [0u8; 4096];
        let missing = self.padded_total - self.padded_sealed - self.pending.len() as u64;
        if missing > 0 && !self.is_last_chunk() {
            // Fill and seal exactly one non-final chunk.
            while self.pending.len() < CHUNK_LEN {
                let n = (CHUNK_LEN - self.pending.len()).min(ZEROS.len());
                self.push_padded(&ZEROS[..n], out)?;
                if self.pending.is_empty() {
                    break;
                }
            }
            return Ok(false);
        }
        let mut missing = missing;
        while missing > 0 {
            let n = missing.min(ZEROS.len() as u64) as usize;
            self.pending.extend_from_slice(&ZEROS[..n]);
            missing -= n as u64;
        }
        let last = Zeroizing::new(core::mem::take(&mut *self.pending));
        self.seal_chunk(&last, StreamTag::Finish, out)?;
        self.finished = true;
        Ok(true)
    }

    /// Appends padded bytes, sealing each full chunk that is not the final one.
    fn push_padded(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), VolumeError> {
        while !data.is_empty() {
            // A full chunk straight from the input avoids a copy on large writes.
            if self.pending.is_empty() && data.len() >= CHUNK_LEN && !self.is_last_chunk() {
                let (chunk, rest) = data.split_at(CHUNK_LEN);
                self.seal_chunk(chunk, StreamTag::Message, out)?;
                data = rest;
                continue;
            }
            let take = (CHUNK_LEN - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == CHUNK_LEN && !self.is_last_chunk() {
                let chunk = core::mem::take(&mut *self.pending);
                self.seal_chunk(&chunk, StreamTag::Message, out)?;
                let mut reuse = chunk;
                reuse.clear();
                *self.pending = reuse;
            }
        }
        Ok(())
    }

    /// Whether the chunk being filled is the last one of the padded stream.
    fn is_last_chunk(&self) -> bool {
        self.padded_sealed + CHUNK_LEN as u64 >= self.padded_total
    }

    fn seal_chunk(
        &mut self,
        chunk: &[u8],
        tag: StreamTag,
        out: &mut Vec<u8>,
    ) -> Result<(), VolumeError> {
        let start = out.len();
        out.resize(start + chunk.len() + CHUNK_OVERHEAD, 0);
        let aad = self.first_aad.take();
        self.stream
            .seal_chunk(chunk, aad.as_deref(), &mut out[start..], &tag)
            .map_err(|_| CryptoError::Primitive("stream seal"))?;
        self.padded_sealed += chunk.len() as u64;
        Ok(())
    }
}

/// Seals an arbitrary padded byte string with no length-prefix checks, so tests can build
/// volumes that an honest sealer never writes (a length prefix beyond the padding, say).
#[cfg(test)]
pub(super) fn seal_raw_padded(vek: &VolumeKey, header: &VolumeHeader, padded: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut sealer =
        VolumeSealer::raw(vek, header, padded.len() as u64, [7; 24], &mut out).unwrap();
    sealer.push_padded(padded, &mut out).unwrap();
    while !sealer.pad_step(&mut out).unwrap() {}
    out
}
