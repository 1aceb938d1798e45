//! Reading and writing the owner manifest as a volume: the local copy through the store, a
//! downloaded one verified in memory before anything is installed.

use std::io::{Read, Write};
use std::sync::Arc;

use plog_crypto::volume::{
    VolumeDigester, VolumeHeader, VolumeType as HeaderType, open_to_vec, verify_owner_tag,
};
use plog_ipc_schema::VolumeType;
use uuid::Uuid;

use crate::custody::UnlockedKeys;
use crate::manifest::{MAX_MANIFEST_LEN, Manifest};
use crate::store::{Store, StoreError, VolumeRecord};
use crate::volumes;

/// The manifest's volume type.
pub(crate) fn manifest_type() -> VolumeType {
    // "manifest" is a fixed, valid type name.
    VolumeType::parse("manifest").unwrap_or_else(|_| unreachable!("manifest is a volume type"))
}

/// A manifest that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ManifestIoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the manifest {0}")]
    Invalid(String),
}

/// The local manifest, verified and decrypted; `None` if this device has none yet.
pub(crate) async fn read_local(
    store: &Store,
    keys: &Arc<UnlockedKeys>,
) -> Result<Option<(VolumeRecord, Manifest)>, ManifestIoError> {
    let Some(record) = store.volume_by_type(&manifest_type()).await? else {
        return Ok(None);
    };
    if record.deleted {
        return Ok(None);
    }
    let store = store.clone();
    let keys = Arc::clone(keys);
    tokio::task::spawn_blocking(move || {
        let file = store.open_verified_blocking(&record, keys.owner().tag_key())?;
        let mut sealed = Vec::new();
        file.take(MAX_MANIFEST_LEN as u64 * 2)
            .read_to_end(&mut sealed)
            .map_err(|e| ManifestIoError::Invalid(format!("cannot be read: {e}")))?;
        let manifest = open_manifest(&keys, &record_header(&record)?, &record.owner_key, &sealed)?;
        Ok(Some((record, manifest)))
    })
    .await
    .map_err(|e| ManifestIoError::Invalid(format!("reading it failed: {e}")))?
}

/// Verifies a downloaded manifest volume held in memory: the header it announces, the owner
/// tag over header and digest, then the AEAD stream; returns its content.
pub(super) fn verify_download(
    keys: &UnlockedKeys,
    id: Uuid,
    revision: u64,
    key_epoch: u64,
    owner_key: &[u8],
    owner_tag: &[u8; 32],
    sealed: &[u8],
) -> Result<Manifest, ManifestIoError> {
    let header = VolumeHeader {
        volume_id: *id.as_bytes(),
        vtype: HeaderType::new("manifest").map_err(|e| ManifestIoError::Invalid(e.to_string()))?,
        revision,
        key_epoch,
    };
    let header_len = header_len(sealed)?;
    let (found, _) = VolumeHeader::parse(&sealed[..header_len])
        .map_err(|e| ManifestIoError::Invalid(format!("has a bad header: {e}")))?;
    if found != header {
        return Err(ManifestIoError::Invalid(
            "header does not match what the relay announced".to_owned(),
        ));
    }
    let mut digester = VolumeDigester::new();
    digester.update(sealed);
    let digest = digester.finalize();
    verify_owner_tag(
        keys.owner().tag_key(),
        &sealed[..header_len],
        &digest,
        owner_tag,
    )
    .map_err(|_| ManifestIoError::Invalid("has no valid owner tag".to_owned()))?;
    let owner_key: &[u8; plog_crypto::volume::WRAPPED_KEY_LEN] = owner_key
        .try_into()
        .map_err(|_| ManifestIoError::Invalid("has a wrapped key of the wrong size".to_owned()))?;
    open_manifest(keys, &header, owner_key, sealed)
}

/// Stores `manifest` as the next local revision of the manifest volume.
pub(crate) async fn write_local(
    store: &Store,
    keys: &Arc<UnlockedKeys>,
    manifest: &Manifest,
) -> Result<VolumeRecord, ManifestIoError> {
    let bytes = manifest
        .encode()
        .map_err(|e| ManifestIoError::Invalid(e.to_string()))?;
    let (reader, mut writer) =
        std::io::pipe().map_err(|e| ManifestIoError::Invalid(format!("cannot be staged: {e}")))?;
    // The pipe holds 64 KiB; the writer runs beside the sealing reader.
    let feeder = std::thread::spawn(move || writer.write_all(&bytes));
    let input = std::fs::File::from(std::os::fd::OwnedFd::from(reader));
    let stored = volumes::put(store, Arc::clone(keys), &manifest_type(), input).await;
    let fed = feeder.join();
    let record = stored.map_err(|e| ManifestIoError::Invalid(format!("cannot be stored: {e}")))?;
    match fed {
        Ok(Ok(())) => Ok(record),
        _ => Err(ManifestIoError::Invalid(
            "could not be handed to the store in full".to_owned(),
        )),
    }
}

fn record_header(record: &VolumeRecord) -> Result<VolumeHeader, ManifestIoError> {
    Ok(VolumeHeader {
        volume_id: *record.id.as_bytes(),
        vtype: HeaderType::new(record.vtype.as_str())
            .map_err(|e| ManifestIoError::Invalid(e.to_string()))?,
        revision: record.revision,
        key_epoch: record.key_epoch,
    })
}

fn header_len(sealed: &[u8]) -> Result<usize, ManifestIoError> {
    crate::store::header_bytes(sealed)
        .map(<[u8]>::len)
        .ok_or_else(|| ManifestIoError::Invalid("has an incomplete header".to_owned()))
}

fn open_manifest(
    keys: &UnlockedKeys,
    header: &VolumeHeader,
    owner_key: &[u8; plog_crypto::volume::WRAPPED_KEY_LEN],
    sealed: &[u8],
) -> Result<Manifest, ManifestIoError> {
    let vek = keys
        .owner()
        .unwrap(&header.volume_id, header.key_epoch, owner_key)
        .map_err(|_| ManifestIoError::Invalid("key does not open".to_owned()))?;
    let (plaintext, _) = open_to_vec(&vek, header.clone(), sealed)
        .map_err(|e| ManifestIoError::Invalid(format!("does not decrypt: {e}")))?;
    Manifest::decode(&plaintext).map_err(|e| ManifestIoError::Invalid(e.to_string()))
}
