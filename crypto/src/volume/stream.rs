//! Adapters between the incremental sealer/opener and `std::io` readers and writers. They
//! open no files themselves: the caller passes the streams.

use super::header::VolumeHeader;
use super::keys::VolumeKey;
use super::open::VolumeOpener;
use super::seal::VolumeSealer;
use super::{SEALED_CHUNK_LEN, VolumeDigest, VolumeDigester, VolumeError};
use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
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
///
/// Everything runs on the calling thread; [`seal_stream_pipelined`] writes the same bytes in
/// less time where a second core is free.
pub fn seal_stream<R: Read, W: Write>(
    vek: &VolumeKey,
    header: &VolumeHeader,
    plaintext_len: u64,
    reader: R,
    writer: W,
) -> Result<(Vec<u8>, VolumeDigest), StreamError> {
    let mut out = Vec::with_capacity(2 * SEALED_CHUNK_LEN);
    let sealer = VolumeSealer::start(vek, header, plaintext_len, &mut out)?;
    seal_started(sealer, out, reader, writer)
}

/// [`seal_stream`] after the sealer was started and its first bytes (the header) put in `out`.
fn seal_started<R: Read, W: Write>(
    mut sealer: VolumeSealer,
    mut out: Vec<u8>,
    mut reader: R,
    mut writer: W,
) -> Result<(Vec<u8>, VolumeDigest), StreamError> {
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
        let n = read_some(&mut reader, &mut buf)?;
        if n == 0 {
            break;
        }
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

/// One `read` into `buf`, retried while it is interrupted; 0 at the end of the input.
fn read_some<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Sealed chunks queued between the encrypting and the writing thread of
/// [`seal_stream_pipelined`]: enough to absorb an uneven write, few enough to keep memory at a
/// handful of chunks. Its documentation states the resulting bound; keep the two in step.
const PIPELINE_DEPTH: usize = 4;

/// [`seal_stream`] on two threads: the calling thread reads and encrypts, a second (scoped)
/// thread computes the digest and writes, so sealing takes about as long as encryption alone
/// instead of encryption plus digest plus writing. The volume written and the values returned
/// are byte-for-byte those of [`seal_stream`] for the same nonce; only the thread that calls
/// `writer` differs, hence `W: Send`.
///
/// Memory stays bounded: at most four sealed chunks wait between the threads, and no more
/// than seven chunk-sized buffers exist at any time (queued, being filled, being written or
/// kept for reuse); plaintext stays in one chunk-sized buffer on the calling thread and is
/// wiped as in [`seal_stream`].
///
/// # Errors
/// As [`seal_stream`]. A failing writer stops the encryption at its next chunk and its error
/// is returned; a failing reader (or sealer) stops the writing thread, and the writer is left
/// with a prefix of the volume, as with [`seal_stream`].
pub fn seal_stream_pipelined<R: Read, W: Write + Send>(
    vek: &VolumeKey,
    header: &VolumeHeader,
    plaintext_len: u64,
    reader: R,
    writer: W,
) -> Result<(Vec<u8>, VolumeDigest), StreamError> {
    // The header buffer joins the buffers kept for reuse once written.
    let mut out = Vec::with_capacity(SEALED_CHUNK_LEN);
    let sealer = VolumeSealer::start(vek, header, plaintext_len, &mut out)?;
    seal_started_pipelined(sealer, out, reader, writer)
}

/// Why the encrypting side of [`seal_stream_pipelined`] stopped early.
enum SealSideError {
    /// The reader or the sealer failed.
    Stream(StreamError),
    /// The writing thread is gone; its own result says why.
    WriterGone,
}

impl From<io::Error> for SealSideError {
    fn from(error: io::Error) -> Self {
        Self::Stream(error.into())
    }
}

impl From<VolumeError> for SealSideError {
    fn from(error: VolumeError) -> Self {
        Self::Stream(error.into())
    }
}

/// [`seal_stream_pipelined`] after the sealer was started and the header put in `first`.
fn seal_started_pipelined<R: Read, W: Write + Send>(
    mut sealer: VolumeSealer,
    first: Vec<u8>,
    reader: R,
    writer: W,
) -> Result<(Vec<u8>, VolumeDigest), StreamError> {
    let header_bytes = sealer.header_bytes().to_vec();
    let (full_tx, full_rx) = sync_channel::<Vec<u8>>(PIPELINE_DEPTH);
    // Written buffers go back for reuse, so the steady state allocates nothing.
    let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(PIPELINE_DEPTH + 2);
    let (sealed, written) = std::thread::scope(|scope| {
        let writing = std::thread::Builder::new()
            .name("volume-write".to_owned())
            .spawn_scoped(scope, move || write_sealed(full_rx, empty_tx, writer))?;
        // `full_tx` is moved in and dropped when sealing ends, however it ends (a panic
        // included): that is what ends the writing thread's loop.
        let sealed = seal_into_channel(&mut sealer, first, reader, full_tx, &empty_rx);
        Ok::<_, io::Error>((sealed, writing.join()))
    })?;
    let written = written.map_err(|_| io::Error::other("the volume writing thread panicked"));
    match sealed {
        Ok(()) => Ok((header_bytes, written??)),
        Err(SealSideError::Stream(error)) => Err(error),
        Err(SealSideError::WriterGone) => Err(match written {
            Ok(Err(error)) | Err(error) => error.into(),
            // The writer only returns success once the sending side is closed, so this would
            // be a bug; it still must not pass for a complete volume.
            Ok(Ok(_)) => io::Error::other("the volume writing thread stopped early").into(),
        }),
    }
}

/// The encrypting side: reads plaintext, seals it and queues the sealed bytes, the `first`
/// buffer (the header) first.
fn seal_into_channel<R: Read>(
    sealer: &mut VolumeSealer,
    first: Vec<u8>,
    mut reader: R,
    full: SyncSender<Vec<u8>>,
    empty: &Receiver<Vec<u8>>,
) -> Result<(), SealSideError> {
    let send = |out: Vec<u8>| full.send(out).map_err(|_| SealSideError::WriterGone);
    // A buffer is allocated only when none is waiting for reuse, which bounds their number
    // by how many can be in flight at once. One sealed chunk is the most a step below emits:
    // a read of at most one chunk of plaintext completes at most one chunk, and so does a
    // finishing step.
    let fresh = || {
        empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(SEALED_CHUNK_LEN))
    };
    send(first)?;
    let mut out = fresh();
    let mut buf = zeroize::Zeroizing::new(vec![0u8; super::CHUNK_LEN]);
    loop {
        let n = read_some(&mut reader, &mut buf)?;
        if n == 0 {
            break;
        }
        sealer.update(&buf[..n], &mut out)?;
        if !out.is_empty() {
            send(core::mem::replace(&mut out, fresh()))?;
        }
    }
    while !sealer.finish_step(&mut out)? {
        send(core::mem::replace(&mut out, fresh()))?;
    }
    send(out)
}

/// The writing side: digests and writes what arrives, in order, until the encrypting side
/// closes the channel; then flushes and returns the digest. Returning early (an error) drops
/// the receiver, which stops the encrypting side at its next send.
fn write_sealed<W: Write>(
    full: Receiver<Vec<u8>>,
    empty: SyncSender<Vec<u8>>,
    mut writer: W,
) -> io::Result<VolumeDigest> {
    let mut digester = VolumeDigester::new();
    for mut sealed in full {
        digester.update(&sealed);
        writer.write_all(&sealed)?;
        sealed.clear();
        // Full or closed: the buffer is simply freed.
        let _ = empty.try_send(sealed);
    }
    writer.flush()?;
    Ok(digester.finalize())
}

/// Reads a volume from `reader`, checks it is the one `expected` describes, and writes its
/// plaintext to `writer`. On error the writer may hold partial plaintext that must be discarded.
/// Returns the encoded header and the digest of what was read. The digest arrives only at the
/// end: where a revision tag must be checked first, digest the stored ciphertext beforehand
/// and open it with [`open_stream_undigested`].
pub fn open_stream<R: Read, W: Write>(
    vek: &VolumeKey,
    expected: VolumeHeader,
    reader: R,
    writer: W,
) -> Result<(Vec<u8>, VolumeDigest), StreamError> {
    let mut digester = VolumeDigester::new();
    let header = open_with(vek, expected, reader, writer, |bytes| {
        digester.update(bytes);
    })?;
    Ok((header, digester.finalize()))
}

/// [`open_stream`] without the digest, for bytes whose digest and tag the caller checked
/// beforehand: saves a BLAKE2b pass over the volume. Decryption still authenticates every
/// chunk and the header against `expected`. Returns the encoded header.
pub fn open_stream_undigested<R: Read, W: Write>(
    vek: &VolumeKey,
    expected: VolumeHeader,
    reader: R,
    writer: W,
) -> Result<Vec<u8>, StreamError> {
    open_with(vek, expected, reader, writer, |_| {})
}

/// The loop of [`open_stream`], handing every ciphertext byte read to `inspect`.
fn open_with<R: Read, W: Write>(
    vek: &VolumeKey,
    expected: VolumeHeader,
    mut reader: R,
    mut writer: W,
    mut inspect: impl FnMut(&[u8]),
) -> Result<Vec<u8>, StreamError> {
    let mut opener = VolumeOpener::new(vek, expected)?;
    // Two sealed chunks per read lets the opener decrypt straight from this buffer.
    let mut buf = vec![0u8; 2 * SEALED_CHUNK_LEN];
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(2 * SEALED_CHUNK_LEN));
    loop {
        let n = read_some(&mut reader, &mut buf)?;
        if n == 0 {
            break;
        }
        inspect(&buf[..n]);
        opener.update(&buf[..n], &mut out)?;
        writer.write_all(&out)?;
        out.clear();
    }
    let header_bytes = opener.header_bytes().unwrap_or_default().to_vec();
    opener.finish(&mut out)?;
    writer.write_all(&out)?;
    writer.flush()?;
    Ok(header_bytes)
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

#[cfg(test)]
mod tests {
    use super::super::{CHUNK_LEN, VolumeType};
    use super::*;

    const NONCE: [u8; 24] = [9; 24];

    fn key() -> VolumeKey {
        VolumeKey::from_bytes([4; 32])
    }

    fn header() -> VolumeHeader {
        VolumeHeader {
            volume_id: [0x22; 16],
            vtype: VolumeType::new("journals").unwrap(),
            revision: 7,
            key_epoch: 1,
        }
    }

    fn plaintext(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 13 + 5) as u8).collect()
    }

    /// A sealer with a fixed nonce, so that two runs can be compared byte for byte.
    fn started(len: u64) -> (VolumeSealer, Vec<u8>) {
        let mut out = Vec::new();
        let sealer =
            VolumeSealer::start_with_nonce(&key(), &header(), len, NONCE, &mut out).unwrap();
        (sealer, out)
    }

    /// Hands out at most `piece` bytes per read and reports `Interrupted` before every other
    /// read, as a pipe or a signal might.
    struct Uneven<'a> {
        data: &'a [u8],
        piece: usize,
        interrupt: bool,
    }

    impl Read for Uneven<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(self.piece).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn pipelined_output_and_digest_equal_the_single_threaded_ones() {
        for len in [
            0,
            1,
            CHUNK_LEN - 8,
            CHUNK_LEN,
            CHUNK_LEN + 1,
            5 * CHUNK_LEN + 12_345,
        ] {
            let pt = plaintext(len);
            let (sealer, out) = started(len as u64);
            let mut expected = Vec::new();
            let (h1, d1) = seal_started(sealer, out, pt.as_slice(), &mut expected).unwrap();
            let (sealer, out) = started(len as u64);
            let mut written = Vec::new();
            let (h2, d2) =
                seal_started_pipelined(sealer, out, pt.as_slice(), &mut written).unwrap();
            assert!(written == expected, "volume bytes differ for {len} bytes");
            assert_eq!(
                (&h1, d1),
                (&h2, d2),
                "header or digest differ for {len} bytes"
            );
            assert_eq!(d2, crate::primitives::blake2b_256(&written));

            // Uneven reads change nothing either.
            let (sealer, out) = started(len as u64);
            let uneven = Uneven {
                data: &pt,
                piece: 10_007,
                interrupt: false,
            };
            let mut written = Vec::new();
            let (_, d3) = seal_started_pipelined(sealer, out, uneven, &mut written).unwrap();
            assert!(written == expected, "uneven reads, {len} bytes");
            assert_eq!(d3, d1);

            let mut opened = Vec::new();
            let (h4, d4) = open_stream(&key(), header(), written.as_slice(), &mut opened).unwrap();
            assert_eq!(opened, pt);
            assert_eq!((h4, d4), (h1.clone(), d1));

            // Without the digest: the same plaintext and header.
            let mut opened = Vec::new();
            let h5 =
                open_stream_undigested(&key(), header(), written.as_slice(), &mut opened).unwrap();
            assert_eq!(opened, pt);
            assert_eq!(h5, h1);
        }
    }

    #[test]
    fn opening_without_the_digest_still_refuses_tampering() {
        let pt = plaintext(2 * CHUNK_LEN + 5);
        let (volume, _) = seal_to_vec(&key(), &header(), &pt).unwrap();
        // A flipped ciphertext byte in the middle, and a truncated volume.
        let mut flipped = volume.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x01;
        let truncated = &volume[..volume.len() - 10];
        for bad in [flipped.as_slice(), truncated] {
            let mut opened = Vec::new();
            assert!(matches!(
                open_stream_undigested(&key(), header(), bad, &mut opened),
                Err(StreamError::Volume(_))
            ));
        }
    }

    #[test]
    fn the_public_pipelined_sealer_writes_a_volume_that_opens() {
        let pt = plaintext(3 * CHUNK_LEN + 99);
        let mut volume = Vec::new();
        let (h1, d1) = seal_stream_pipelined(
            &key(),
            &header(),
            pt.len() as u64,
            pt.as_slice(),
            &mut volume,
        )
        .unwrap();
        let mut opened = Vec::new();
        let (h2, d2) = open_stream(&key(), header(), volume.as_slice(), &mut opened).unwrap();
        assert_eq!(opened, pt);
        assert_eq!((h1, d1), (h2, d2));
    }

    #[test]
    fn a_short_or_long_reader_is_a_length_mismatch() {
        let err =
            seal_stream_pipelined(&key(), &header(), 10, &b"12345"[..], Vec::new()).unwrap_err();
        assert!(matches!(
            err,
            StreamError::Volume(VolumeError::LengthMismatch {
                declared: 10,
                received: 5
            })
        ));
        let err =
            seal_stream_pipelined(&key(), &header(), 3, &b"12345"[..], Vec::new()).unwrap_err();
        assert!(matches!(
            err,
            StreamError::Volume(VolumeError::LengthMismatch { declared: 3, .. })
        ));
    }

    /// Delivers `ok` bytes of zeros, then fails.
    struct FailingReader {
        ok: u64,
    }

    impl Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::Error::other("the disk went away"));
            }
            let n = buf
                .len()
                .min(usize::try_from(self.ok).unwrap_or(usize::MAX));
            buf[..n].fill(0);
            self.ok -= n as u64;
            Ok(n)
        }
    }

    #[test]
    fn a_reader_error_surfaces() {
        for ok in [0, 1, 3 * CHUNK_LEN as u64 + 5] {
            let err = seal_stream_pipelined(
                &key(),
                &header(),
                16 * CHUNK_LEN as u64,
                FailingReader { ok },
                Vec::new(),
            )
            .unwrap_err();
            match err {
                StreamError::Io(e) => assert_eq!(e.to_string(), "the disk went away"),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Accepts `room` bytes, then fails every write (or only the flush).
    struct FailingWriter {
        room: usize,
        fail_flush: bool,
    }

    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            if self.fail_flush {
                return Err(io::Error::other("flush failed"));
            }
            Ok(())
        }
    }

    /// An endless source of plaintext that counts what was taken from it.
    struct Counting<'a> {
        taken: &'a mut u64,
    }

    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            buf.fill(1);
            *self.taken += buf.len() as u64;
            Ok(buf.len())
        }
    }

    #[test]
    fn a_writer_error_surfaces_and_stops_the_encryption() {
        // A large declared volume: the sealing side must stop soon after the writer failed,
        // not read and encrypt the rest (nor wait forever for a writer that is gone).
        let declared = 1 << 30;
        for room in [0, 10, 2 * SEALED_CHUNK_LEN + 3] {
            let mut taken = 0;
            let err = seal_stream_pipelined(
                &key(),
                &header(),
                declared,
                Counting { taken: &mut taken },
                FailingWriter {
                    room,
                    fail_flush: false,
                },
            )
            .unwrap_err();
            match err {
                StreamError::Io(e) => assert_eq!(e.kind(), io::ErrorKind::StorageFull),
                other => panic!("unexpected {other:?}"),
            }
            let bound = ((PIPELINE_DEPTH + 8) * CHUNK_LEN) as u64 + room as u64;
            assert!(taken <= bound, "read {taken} bytes after the writer failed");
        }
        let err = seal_stream_pipelined(
            &key(),
            &header(),
            100,
            &[0u8; 100][..],
            FailingWriter {
                room: usize::MAX,
                fail_flush: true,
            },
        )
        .unwrap_err();
        assert!(matches!(err, StreamError::Io(e) if e.to_string() == "flush failed"));
    }

    struct PanickingWriter;

    impl Write for PanickingWriter {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            panic!("writer bug");
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_panicking_writer_is_an_error_not_a_hang() {
        let mut taken = 0;
        let err = seal_stream_pipelined(
            &key(),
            &header(),
            1 << 30,
            Counting { taken: &mut taken },
            PanickingWriter,
        )
        .unwrap_err();
        assert!(matches!(err, StreamError::Io(e) if e.to_string().contains("panicked")));
    }
}
