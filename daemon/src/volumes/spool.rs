//! Input of unknown length (a pipe) held on disk, encrypted, until its length is known.
//!
//! The volume format needs the plaintext length before the first chunk is sealed, and a pipe
//! announces none; buffering hundreds of MiB in memory is not an option, and plaintext must not
//! touch the disk. The spool therefore seals the input in segments of [`SEGMENT_LEN`] bytes,
//! each a volume of its own under a random key that exists only in memory, into an unnamed
//! temporary file (`O_TMPFILE`: never visible in the directory, gone when closed or on a
//! crash). Reading it back opens the segments in order. Memory stays at about two segments.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use plog_crypto::volume::{
    VolumeError, VolumeHeader, VolumeKey, VolumeType, open_to_vec, seal_to_vec,
};
use zeroize::Zeroizing;

/// Plaintext bytes per spool segment.
pub(crate) const SEGMENT_LEN: usize = 1024 * 1024;

/// Why spooling failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpoolError {
    #[error("spool file: {0}")]
    Io(#[from] io::Error),
    #[error("spool encryption: {0}")]
    Volume(#[from] VolumeError),
}

/// Segments written so far.
pub(crate) struct Spool {
    file: File,
    key: VolumeKey,
    id: [u8; 16],
    segments: Vec<usize>,
    total: u64,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("segments", &self.segments.len())
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

fn header(id: [u8; 16], index: usize) -> Result<VolumeHeader, VolumeError> {
    Ok(VolumeHeader {
        volume_id: id,
        vtype: VolumeType::new("spool")?,
        revision: index as u64 + 1,
        key_epoch: 0,
    })
}

impl Spool {
    /// An empty spool in an unnamed file in `dir`.
    pub(crate) fn new(dir: &Path) -> Result<Self, SpoolError> {
        Ok(Self {
            file: tempfile::tempfile_in(dir)?,
            key: VolumeKey::generate().map_err(VolumeError::from)?,
            id: *uuid::Uuid::new_v4().as_bytes(),
            segments: Vec::new(),
            total: 0,
        })
    }

    /// Appends one segment of plaintext.
    pub(crate) fn push(&mut self, plaintext: &[u8]) -> Result<(), SpoolError> {
        let (sealed, _digest) =
            seal_to_vec(&self.key, &header(self.id, self.segments.len())?, plaintext)?;
        self.file.write_all(&sealed)?;
        self.segments.push(sealed.len());
        self.total += plaintext.len() as u64;
        Ok(())
    }

    /// Plaintext bytes spooled.
    pub(crate) fn len(&self) -> u64 {
        self.total
    }

    /// A reader of the spooled plaintext, from the start.
    pub(crate) fn into_reader(mut self) -> Result<SpoolReader, SpoolError> {
        self.file.seek(SeekFrom::Start(0))?;
        Ok(SpoolReader {
            spool: self,
            next: 0,
            current: Zeroizing::new(Vec::new()),
            position: 0,
        })
    }
}

/// Reads the spooled plaintext back, one authenticated segment at a time.
pub(crate) struct SpoolReader {
    spool: Spool,
    next: usize,
    current: Zeroizing<Vec<u8>>,
    position: usize,
}

impl std::fmt::Debug for SpoolReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolReader")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Read for SpoolReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.current.len() {
            let Some(&sealed_len) = self.spool.segments.get(self.next) else {
                return Ok(0);
            };
            let mut sealed = vec![0u8; sealed_len];
            self.spool.file.read_exact(&mut sealed)?;
            let (plaintext, _digest) = open_to_vec(
                &self.spool.key,
                header(self.spool.id, self.next).map_err(io::Error::other)?,
                &sealed,
            )
            .map_err(io::Error::other)?;
            self.current = plaintext;
            self.position = 0;
            self.next += 1;
        }
        let n = buf.len().min(self.current.len() - self.position);
        buf[..n].copy_from_slice(&self.current[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_across_segments_and_leaves_no_name_or_plaintext() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::new(dir.path()).expect("spool");
        let data: Vec<u8> = (0..(2 * SEGMENT_LEN + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        for segment in data.chunks(SEGMENT_LEN) {
            spool.push(segment).expect("push");
        }
        assert_eq!(spool.len(), data.len() as u64);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            0,
            "the spool file has no name"
        );
        // What is on disk is ciphertext: the plaintext's first segment does not appear in it.
        let mut on_disk = Vec::new();
        let mut file = spool.file.try_clone().expect("clone");
        file.seek(SeekFrom::Start(0)).expect("seek");
        file.read_to_end(&mut on_disk).expect("read");
        assert!(!on_disk.windows(64).any(|w| w == &data[1000..1064]));

        let mut back = Vec::new();
        spool
            .into_reader()
            .expect("reader")
            .read_to_end(&mut back)
            .expect("read back");
        assert_eq!(back, data);
    }
}
