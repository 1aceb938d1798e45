//! Local volume operations behind the Volumes interface: `put` seals plaintext read from a
//! descriptor into a new revision, `get` verifies and decrypts the current revision into a
//! descriptor. Both stream with bounded memory; plaintext never touches the disk.
//!
//! Revision and epoch rules (docs/PROTOCOL.md §9, §11.5): a new volume gets a random id,
//! revision 1 and key epoch 1 with a fresh volume key; each later revision is the previous
//! local revision + 1 (or the same number, while no relay has that revision yet) under the
//! same epoch and the same volume key (grantees hold one key per
//! epoch; a new epoch is started only by revocation, in the sharing code). Every revision
//! carries a freshly wrapped owner copy of the key and an owner tag over header and digest.

mod spool;

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, Write};
use std::sync::Arc;

use plog_crypto::volume::{
    StreamError, VolumeError, VolumeHeader, VolumeKey, VolumeType as HeaderType,
    open_stream_undigested, owner_tag, seal_stream_pipelined,
};
use plog_ipc_schema::VolumeType;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::custody::UnlockedKeys;
use crate::store::{NewRevision, StagedFile, Store, StoreError, VolumeRecord};
use spool::{SEGMENT_LEN, Spool};

/// The key epoch of a new volume.
pub const FIRST_EPOCH: u64 = 1;

/// Why a volume operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeOpError {
    /// The store failed (including tampering found on read).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No live volume of that type.
    #[error("no volume of type {0}")]
    NotFound(VolumeType),
    /// The input descriptor could not be read, or changed while being read.
    #[error("cannot read the input: {0}")]
    Input(String),
    /// The output descriptor could not be written.
    #[error("cannot write to the output descriptor: {0}")]
    Output(io::Error),
    /// Sealing failed.
    #[error("cannot encrypt the volume: {0}")]
    Seal(String),
    /// A worker task died.
    #[error("internal failure: {0}")]
    Internal(String),
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, VolumeOpError> + Send + 'static,
) -> Result<T, VolumeOpError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| VolumeOpError::Internal(e.to_string()))?
}

/// Stores the plaintext read from `input` as the next revision of volume `vtype`.
///
/// # Errors
/// [`VolumeOpError`]; a concurrent write to the same type is a
/// [`StoreError::Conflict`].
pub async fn put(
    store: &Store,
    keys: Arc<UnlockedKeys>,
    vtype: &VolumeType,
    input: File,
) -> Result<VolumeRecord, VolumeOpError> {
    put_revision(
        store,
        keys,
        vtype,
        Input::Descriptor(input),
        KeyChoice::Keep,
    )
    .await
}

/// Re-encrypts the current revision of `vtype` as the next revision under a new key epoch
/// with a fresh volume key (revocation, DESIGN §5). The plaintext goes from the verified old
/// revision to the new one through a pipe, never to disk.
///
/// # Errors
/// As [`get`] and [`put`].
pub async fn rotate(
    store: &Store,
    keys: Arc<UnlockedKeys>,
    vtype: &VolumeType,
) -> Result<VolumeRecord, VolumeOpError> {
    let current = match store.volume_by_type(vtype).await? {
        Some(record) if !record.deleted => record,
        _ => return Err(VolumeOpError::NotFound(vtype.clone())),
    };
    let (reader, writer) =
        io::pipe().map_err(|e| VolumeOpError::Internal(format!("cannot make a pipe: {e}")))?;
    let reader = File::from(std::os::fd::OwnedFd::from(reader));
    let writer = File::from(std::os::fd::OwnedFd::from(writer));
    // The old plaintext is taken in whole (in memory or the encrypted spool) before anything
    // is written: a revision is made only from a read that verified to the end.
    let spool_dir = store.volumes_dir().to_path_buf();
    let spooling = tokio::task::spawn_blocking(move || PlainSource::open(reader, &spool_dir));
    let read = get(store, Arc::clone(&keys), vtype, writer).await;
    let prepared = spooling
        .await
        .map_err(|e| VolumeOpError::Internal(e.to_string()))?;
    read?;
    let (source, len) = prepared?;
    if len != current.plaintext_size {
        return Err(VolumeOpError::Internal(format!(
            "re-reading {vtype} gave {len} bytes, the store records {}",
            current.plaintext_size
        )));
    }
    put_revision(
        store,
        keys,
        vtype,
        Input::Prepared(source, len),
        KeyChoice::NewEpoch,
    )
    .await
}

/// Where a new revision's plaintext comes from.
enum Input {
    /// A caller's descriptor.
    Descriptor(File),
    /// Plaintext already taken in, with its length.
    Prepared(PlainSource, u64),
}

/// Whether a new revision keeps the volume's key or starts a new epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyChoice {
    Keep,
    NewEpoch,
}

async fn put_revision(
    store: &Store,
    keys: Arc<UnlockedKeys>,
    vtype: &VolumeType,
    input: Input,
    choice: KeyChoice,
) -> Result<VolumeRecord, VolumeOpError> {
    let current = store.volume_by_type(vtype).await?;
    let tampered = |record: &VolumeRecord| {
        VolumeOpError::Store(StoreError::Tampered {
            vtype: record.vtype.to_string(),
            reason: "its wrapped volume key does not open".to_owned(),
        })
    };
    let (id, revision, key_epoch, base, vek) = match &current {
        None => (
            Uuid::new_v4(),
            1,
            FIRST_EPOCH,
            None,
            VolumeKey::generate().map_err(|e| VolumeOpError::Seal(e.to_string()))?,
        ),
        Some(current) => {
            let vek = keys
                .owner()
                .unwrap(current.id.as_bytes(), current.key_epoch, &current.owner_key)
                .map_err(|_| tampered(current))?;
            // A revision no relay has yet is replaced under its own number, so that the next
            // push is still the relay's revision + 1 (its compare-and-swap rule).
            let pushed = store.highest_remote_revision(current.id).await?;
            let revision = if current.revision > pushed && !current.deleted {
                current.revision
            } else {
                current.revision + 1
            };
            match choice {
                KeyChoice::Keep => (
                    current.id,
                    revision,
                    current.key_epoch,
                    Some(current.revision),
                    vek,
                ),
                KeyChoice::NewEpoch => (
                    current.id,
                    revision,
                    current.key_epoch + 1,
                    Some(current.revision),
                    VolumeKey::generate().map_err(|e| VolumeOpError::Seal(e.to_string()))?,
                ),
            }
        }
    };
    let header = VolumeHeader {
        volume_id: *id.as_bytes(),
        vtype: HeaderType::new(vtype.as_str()).map_err(|e| VolumeOpError::Seal(e.to_string()))?,
        revision,
        key_epoch,
    };
    let staged = store.stage()?;
    let spool_dir = store.volumes_dir().to_path_buf();
    let sealing_keys = Arc::clone(&keys);
    let (staged, plaintext_size, digest, owner_tag, owner_key) = blocking(move || {
        let (source, len) = match input {
            Input::Descriptor(file) => PlainSource::open(file, &spool_dir)?,
            Input::Prepared(source, len) => (source, len),
        };
        // Encryption on this thread, digest and file writes on a second one: sealing then
        // takes about as long as the encryption alone.
        let mut staged = StagedWriter {
            inner: staged,
            failed: false,
        };
        let sealed = seal_stream_pipelined(&vek, &header, len, source, &mut staged);
        let StagedWriter {
            inner: staged,
            failed: staged_failed,
        } = staged;
        let (header_bytes, digest) = sealed.map_err(|e| match e {
            StreamError::Volume(VolumeError::LengthMismatch { declared, received }) => {
                VolumeOpError::Input(format!(
                    "it changed size while it was read ({declared} bytes expected, {received} read)"
                ))
            }
            StreamError::Io(source) if staged_failed => VolumeOpError::Store(StoreError::Io {
                action: "write a staged file in",
                path: spool_dir.clone(),
                source,
            }),
            StreamError::Io(e) => VolumeOpError::Input(e.to_string()),
            other => VolumeOpError::Seal(other.to_string()),
        })?;
        let owner = sealing_keys.owner();
        let tag = owner_tag(owner.tag_key(), &header_bytes, &digest)
            .map_err(|e| VolumeOpError::Seal(e.to_string()))?;
        let wrapped = owner
            .wrap(&header.volume_id, header.key_epoch, &vek)
            .map_err(|e| VolumeOpError::Seal(e.to_string()))?;
        Ok((staged, len, digest, tag, wrapped))
    })
    .await?;
    let new = NewRevision {
        id,
        vtype: vtype.clone(),
        revision,
        key_epoch,
        plaintext_size,
        digest,
        owner_key,
        owner_tag,
    };
    Ok(store.commit_local(staged, new, base).await?)
}

/// Verifies the current revision of volume `vtype` (owner tag, digest, then the AEAD stream)
/// and writes its plaintext to `output`. If the stream fails part-way, `output` has received
/// a prefix that the caller must discard; the error says so.
///
/// # Errors
/// [`VolumeOpError::NotFound`], [`StoreError::Tampered`], [`VolumeOpError::Output`].
pub async fn get(
    store: &Store,
    keys: Arc<UnlockedKeys>,
    vtype: &VolumeType,
    output: File,
) -> Result<VolumeRecord, VolumeOpError> {
    let record = match store.volume_by_type(vtype).await? {
        Some(record) if !record.deleted => record,
        _ => return Err(VolumeOpError::NotFound(vtype.clone())),
    };
    let store = store.clone();
    blocking(move || {
        let tampered = |reason: String| {
            VolumeOpError::Store(StoreError::Tampered {
                vtype: record.vtype.to_string(),
                reason,
            })
        };
        let owner = keys.owner();
        let file = store.open_verified_blocking(&record, owner.tag_key())?;
        let vek = owner
            .unwrap(record.id.as_bytes(), record.key_epoch, &record.owner_key)
            .map_err(|_| tampered("its wrapped volume key does not open".to_owned()))?;
        let expected = VolumeHeader {
            volume_id: *record.id.as_bytes(),
            vtype: HeaderType::new(record.vtype.as_str()).map_err(|e| tampered(e.to_string()))?,
            revision: record.revision,
            key_epoch: record.key_epoch,
        };
        let mut out = OutputWriter {
            inner: output,
            error: None,
        };
        // The digest and owner tag of this file were just verified; decryption still
        // authenticates every chunk, so a second digest would only cost a pass.
        match open_stream_undigested(&vek, expected, io::BufReader::new(file), &mut out) {
            Ok(_) => Ok(record),
            Err(StreamError::Io(e)) => match out.error.take() {
                Some(kind) => Err(VolumeOpError::Output(io::Error::new(kind, e.to_string()))),
                None => Err(tampered(format!("its file cannot be read: {e}"))),
            },
            Err(StreamError::Volume(e)) => Err(tampered(format!(
                "{e} (discard any output already written)"
            ))),
            Err(e) => Err(tampered(e.to_string())),
        }
    })
    .await
}

/// The output descriptor; remembers whether an I/O error came from it (rather than from
/// the stored file).
struct OutputWriter {
    inner: File,
    error: Option<io::ErrorKind>,
}

impl Write for OutputWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .write(buf)
            .inspect_err(|e| self.error = Some(e.kind()))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner
            .flush()
            .inspect_err(|e| self.error = Some(e.kind()))
    }
}

/// The staged file being sealed into; remembers whether an I/O error came from it (a full
/// disk, say) rather than from the caller's input.
struct StagedWriter {
    inner: StagedFile,
    failed: bool,
}

impl StagedWriter {
    fn note<T>(&mut self, outcome: io::Result<T>) -> io::Result<T> {
        // `write_all` retries an interruption; it is not the failure reported in the end.
        if let Err(e) = &outcome
            && e.kind() != io::ErrorKind::Interrupted
        {
            self.failed = true;
        }
        outcome
    }
}

impl Write for StagedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf);
        self.note(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        let flushed = self.inner.flush();
        self.note(flushed)
    }
}

/// Plaintext input of known length.
enum PlainSource {
    File(File),
    Memory(Cursor<Zeroizing<Vec<u8>>>),
    Spooled(spool::SpoolReader),
}

impl Read for PlainSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::File(file) => file.read(buf),
            Self::Memory(cursor) => cursor.read(buf),
            Self::Spooled(reader) => reader.read(buf),
        }
    }
}

impl PlainSource {
    /// Finds the length of `input`: a regular file's remaining size; otherwise reads it, in
    /// memory if it ends within one spool segment, else into an encrypted spool.
    fn open(mut input: File, spool_dir: &std::path::Path) -> Result<(Self, u64), VolumeOpError> {
        let failed = |e: io::Error| VolumeOpError::Input(e.to_string());
        let meta = input.metadata().map_err(failed)?;
        if meta.is_file() {
            let position = input.stream_position().map_err(failed)?;
            let len = meta.len().saturating_sub(position);
            return Ok((Self::File(input), len));
        }
        let mut first = Zeroizing::new(vec![0u8; SEGMENT_LEN]);
        let filled = fill(&mut input, &mut first).map_err(failed)?;
        if filled < SEGMENT_LEN {
            first.truncate(filled);
            return Ok((Self::Memory(Cursor::new(first)), filled as u64));
        }
        let spool_failed = |e: spool::SpoolError| VolumeOpError::Input(e.to_string());
        let mut spool = Spool::new(spool_dir).map_err(spool_failed)?;
        spool.push(&first).map_err(spool_failed)?;
        loop {
            let filled = fill(&mut input, &mut first).map_err(failed)?;
            if filled == 0 {
                break;
            }
            spool.push(&first[..filled]).map_err(spool_failed)?;
            if filled < SEGMENT_LEN {
                break;
            }
        }
        let len = spool.len();
        Ok((
            Self::Spooled(spool.into_reader().map_err(spool_failed)?),
            len,
        ))
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn fill(input: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests;
