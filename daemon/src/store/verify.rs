//! Checking a stored volume file against its row before anything is decrypted: length,
//! digest, header and owner tag.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use plog_crypto::volume::{
    OwnerTagKey, VolumeDigester, VolumeHeader, VolumeType as HeaderType, verify_owner_tag,
};
use subtle::ConstantTimeEq;

use super::{Store, StoreError, VolumeRecord};

/// Bytes of the header before the type name's length byte (magic, version, id).
const FIXED_PREFIX: usize = 8 + 1 + 16;
/// Longest encoded header: fixed prefix, length byte, 32-byte name, revision, epoch, nonce.
pub(crate) const MAX_HEADER_LEN: usize = FIXED_PREFIX + 1 + 32 + 8 + 8 + 24;

/// The encoded header at the start of `prefix`, if `prefix` holds all of it.
pub(crate) fn header_bytes(prefix: &[u8]) -> Option<&[u8]> {
    let name_len = usize::from(*prefix.get(FIXED_PREFIX)?);
    prefix.get(..FIXED_PREFIX + 1 + name_len + 8 + 8 + 24)
}

/// The header a record's file must carry.
pub(crate) fn expected_header(record: &VolumeRecord) -> Result<VolumeHeader, StoreError> {
    Ok(VolumeHeader {
        volume_id: *record.id.as_bytes(),
        vtype: HeaderType::new(record.vtype.as_str())
            .map_err(|_| StoreError::Corrupt(format!("volume type {}", record.vtype)))?,
        revision: record.revision,
        key_epoch: record.key_epoch,
    })
}

impl Store {
    /// Opens the file of `record` and checks it before anything is decrypted: it exists, has
    /// the recorded length and digest, carries the recorded header, and the owner tag verifies
    /// under `tag_key`. Returns the file positioned at its start. Blocking: call it from a
    /// blocking task.
    ///
    /// # Errors
    /// [`StoreError::Tampered`] naming the first check that failed.
    pub fn open_verified_blocking(
        &self,
        record: &VolumeRecord,
        tag_key: &OwnerTagKey,
    ) -> Result<File, StoreError> {
        let tampered = |reason: String| StoreError::Tampered {
            vtype: record.vtype.to_string(),
            reason,
        };
        let path = self.files().path(&record.file_name);
        let mut file =
            File::open(&path).map_err(|e| tampered(format!("its file cannot be opened: {e}")))?;
        let len = file
            .metadata()
            .map_err(|e| tampered(format!("its file cannot be read: {e}")))?
            .len();
        if len != record.sealed_len {
            return Err(tampered(format!(
                "its file has {len} bytes, the store expects {}",
                record.sealed_len
            )));
        }
        let mut digester = VolumeDigester::new();
        let mut prefix = Vec::with_capacity(MAX_HEADER_LEN);
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(tampered(format!("its file cannot be read: {e}"))),
            };
            let chunk = &buf[..n];
            digester.update(chunk);
            let room = MAX_HEADER_LEN - prefix.len();
            prefix.extend_from_slice(&chunk[..room.min(n)]);
        }
        let digest = digester.finalize();
        if !bool::from(digest.ct_eq(&record.digest)) {
            return Err(tampered("its digest does not match the store".to_owned()));
        }
        let header =
            header_bytes(&prefix).ok_or_else(|| tampered("its header is incomplete".to_owned()))?;
        let (found, _nonce) = VolumeHeader::parse(header)
            .map_err(|e| tampered(format!("its header is invalid: {e}")))?;
        if found != expected_header(record)? {
            return Err(tampered(
                "its header names another volume, type, revision or epoch".to_owned(),
            ));
        }
        verify_owner_tag(tag_key, header, &digest, &record.owner_tag)
            .map_err(|_| tampered("its owner tag does not verify".to_owned()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| tampered(format!("its file cannot be read: {e}")))?;
        Ok(file)
    }
}
