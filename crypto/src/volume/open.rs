use super::header::VolumeHeader;
use super::keys::VolumeKey;
use super::{CHUNK_OVERHEAD, SEALED_CHUNK_LEN, VolumeError};
use crate::encoding::fields;
use crate::padding::{LENGTH_PREFIX_LEN, padded_len};
use crate::{CryptoError, labels};
use orion::hazardous::aead::streaming::{Nonce, SecretKey, StreamTag, StreamXChaCha20Poly1305};
use zeroize::Zeroizing;

/// Opens a volume incrementally, checking that its header is the one expected.
///
/// Feed ciphertext in pieces of any size with [`update`](Self::update); plaintext is appended to
/// the output as chunks authenticate. Only a successful [`finish`](Self::finish) proves the
/// volume complete and unaltered: on any error, discard all output.
///
/// The AEAD proves only that someone holding the volume key wrote the volume, and every grantee
/// holds it. Check the revision tag over the [`VolumeDigest`](super::VolumeDigest) (computed
/// with [`VolumeDigester`](super::VolumeDigester) over the ciphertext) **before** opening.
pub struct VolumeOpener {
    key: SecretKey,
    expected: VolumeHeader,
    state: State,
    /// Header bytes, or the part of a sealed chunk received so far.
    pending: Vec<u8>,
    header: Vec<u8>,
    scratch: Zeroizing<Vec<u8>>,
    chunk_index: u64,
    /// Padded plaintext bytes authenticated so far.
    padded_seen: u64,
    /// Plaintext length from the length prefix, once the first chunk is open.
    plaintext_len: Option<u64>,
}

enum State {
    /// An earlier call failed; the opener refuses to go on, so a caller that ignores an error
    /// cannot make it accept a stream that skipped a check.
    Failed(VolumeError),
    Header,
    Body {
        stream: StreamXChaCha20Poly1305,
        first_aad: Option<Vec<u8>>,
    },
    Finished,
}

impl core::fmt::Debug for VolumeOpener {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VolumeOpener")
            .field("expected", &self.expected)
            .field("chunk_index", &self.chunk_index)
            .finish_non_exhaustive()
    }
}

impl VolumeOpener {
    /// An opener for the volume described by `expected`, under `vek`.
    pub fn new(vek: &VolumeKey, expected: VolumeHeader) -> Result<Self, VolumeError> {
        Ok(Self {
            key: SecretKey::try_from(&vek.expose()[..])
                .map_err(|_| CryptoError::Primitive("key"))?,
            expected,
            state: State::Header,
            pending: Vec::with_capacity(SEALED_CHUNK_LEN),
            header: Vec::new(),
            scratch: Zeroizing::new(vec![0u8; super::CHUNK_LEN]),
            chunk_index: 0,
            padded_seen: 0,
            plaintext_len: None,
        })
    }

    /// The encoded header, once it has been read (what tags cover).
    pub fn header_bytes(&self) -> Option<&[u8]> {
        (!self.header.is_empty()).then_some(self.header.as_slice())
    }

    /// Consumes ciphertext, appending authenticated plaintext to `out`. After an error every
    /// later call fails with the same error.
    pub fn update(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), VolumeError> {
        if let State::Failed(error) = &self.state {
            return Err(error.clone());
        }
        let result = self.consume(data, out);
        if let Err(error) = &result {
            self.state = State::Failed(error.clone());
        }
        result
    }

    fn consume(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), VolumeError> {
        while !data.is_empty() {
            match self.state {
                State::Failed(ref error) => return Err(error.clone()),
                State::Finished => return Err(VolumeError::TrailingData),
                State::Header => data = self.read_header(data)?,
                State::Body { .. } => {
                    // A complete chunk straight from the input avoids a copy.
                    if self.pending.is_empty() && data.len() > SEALED_CHUNK_LEN {
                        let (chunk, rest) = data.split_at(SEALED_CHUNK_LEN);
                        self.open_chunk(chunk, out)?;
                        data = rest;
                        continue;
                    }
                    // A full-size chunk may be the last one, so it is opened only once more
                    // bytes arrive or the stream ends; keep at most one sealed chunk.
                    let room = SEALED_CHUNK_LEN - self.pending.len();
                    if room == 0 {
                        let chunk = core::mem::take(&mut self.pending);
                        self.open_chunk(&chunk, out)?;
                        self.pending = chunk;
                        self.pending.clear();
                        continue;
                    }
                    let take = room.min(data.len());
                    self.pending.extend_from_slice(&data[..take]);
                    data = &data[take..];
                }
            }
        }
        Ok(())
    }

    /// Ends the stream: opens the final chunk and checks the length prefix and padding.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), VolumeError> {
        if let State::Failed(error) = self.state {
            return Err(error);
        }
        if let State::Body { .. } = self.state {
            if self.pending.is_empty() {
                return Err(VolumeError::Truncated);
            }
            let chunk = core::mem::take(&mut self.pending);
            self.open_chunk(&chunk, out)?;
        }
        match self.state {
            State::Finished => Ok(()),
            _ => Err(VolumeError::Truncated),
        }
    }

    fn read_header<'a>(&mut self, data: &'a [u8]) -> Result<&'a [u8], VolumeError> {
        let needed = match VolumeHeader::encoded_len(&self.pending) {
            Some(len) => len,
            // Not enough bytes to know the length yet: take one more byte at a time until the
            // type-length byte is in (the fixed prefix is 25 bytes).
            None => self.pending.len() + 1,
        };
        let take = (needed - self.pending.len()).min(data.len());
        self.pending.extend_from_slice(&data[..take]);
        if self.pending.len() == needed && VolumeHeader::encoded_len(&self.pending) == Some(needed)
        {
            let (found, nonce) = VolumeHeader::parse(&self.pending)?;
            self.expected.expect(&found)?;
            self.header = core::mem::take(&mut self.pending);
            self.state = State::Body {
                stream: StreamXChaCha20Poly1305::new(&self.key, &Nonce::from(nonce)),
                first_aad: Some(fields(&[labels::VOLUME.as_bytes(), &self.header])),
            };
        }
        Ok(&data[take..])
    }

    fn open_chunk(&mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), VolumeError> {
        let State::Body { stream, first_aad } = &mut self.state else {
            return Err(VolumeError::TrailingData);
        };
        let chunk_index = self.chunk_index;
        let auth = VolumeError::Authentication { chunk: chunk_index };
        if sealed.len() <= CHUNK_OVERHEAD {
            return Err(auth);
        }
        let len = sealed.len() - CHUNK_OVERHEAD;
        let tag = stream
            .open_chunk(sealed, first_aad.as_deref(), &mut self.scratch[..len])
            .map_err(|_| auth.clone())?;
        // Only an authenticated first chunk releases the header binding.
        *first_aad = None;
        self.chunk_index += 1;
        let is_final = match tag {
            StreamTag::Message => false,
            StreamTag::Finish => true,
            // This format never writes PUSH or REKEY.
            _ => return Err(auth),
        };
        if !is_final && len != super::CHUNK_LEN {
            return Err(VolumeError::Authentication { chunk: chunk_index });
        }
        let plain = &self.scratch[..len];
        let start = self.padded_seen;
        self.padded_seen += len as u64;

        let (plaintext_len, mut offset) = match self.plaintext_len {
            Some(known) => (known, 0usize),
            None => {
                let prefix: [u8; 8] = plain
                    .get(..8)
                    .and_then(|p| p.try_into().ok())
                    .ok_or(VolumeError::BadPadding)?;
                let known = u64::from_be_bytes(prefix);
                if known > super::MAX_PLAINTEXT_LEN {
                    return Err(VolumeError::TooLarge);
                }
                self.plaintext_len = Some(known);
                (known, LENGTH_PREFIX_LEN as usize)
            }
        };
        // Where the plaintext ends, in padded-stream coordinates.
        let end = plaintext_len.saturating_add(LENGTH_PREFIX_LEN);
        let canonical = padded_len(plaintext_len).ok_or(VolumeError::LengthBeyondPadding)?;
        if self.padded_seen > canonical {
            return Err(if end > self.padded_seen {
                VolumeError::LengthBeyondPadding
            } else {
                VolumeError::BadPadding
            });
        }
        let chunk_plain_end = end.saturating_sub(start).min(len as u64) as usize;
        if chunk_plain_end > offset {
            out.extend_from_slice(&plain[offset..chunk_plain_end]);
            offset = chunk_plain_end;
        }
        if plain[offset.max(chunk_plain_end)..].iter().any(|&b| b != 0) {
            return Err(VolumeError::BadPadding);
        }
        if is_final {
            if end > self.padded_seen {
                return Err(VolumeError::LengthBeyondPadding);
            }
            if self.padded_seen != canonical {
                return Err(VolumeError::BadPadding);
            }
            self.state = State::Finished;
        }
        Ok(())
    }
}
