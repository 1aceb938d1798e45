//! Installing a revision downloaded from a relay: staged, checked end to end, then committed
//! with a compare-and-swap on the local revision.

use std::io::{self, Write};
use std::sync::Arc;

use plog_crypto::volume::{
    VolumeDigester, VolumeHeader, VolumeType as HeaderType, WRAPPED_KEY_LEN,
    open_stream_undigested, verify_owner_tag,
};
use plog_ipc_schema::VolumeType;
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use super::verify::{MAX_HEADER_LEN, header_bytes};
use super::{NewRevision, Store, StoreError, VolumeRecord, blocking};
use crate::custody::UnlockedKeys;

/// What the relay announced about a revision (headers of `GET /v1/volumes/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRevision {
    /// The volume id.
    pub id: Uuid,
    /// The type (`X-Plog-Volume-Type`).
    pub vtype: VolumeType,
    /// The revision (`ETag`).
    pub revision: u64,
    /// The key epoch (`X-Plog-Key-Epoch`).
    pub key_epoch: u64,
    /// The owner-wrapped volume key (`X-Plog-Owner-Key`).
    pub owner_key: [u8; WRAPPED_KEY_LEN],
    /// The owner tag (`X-Plog-Owner-Tag`).
    pub owner_tag: [u8; 32],
    /// Most bytes to accept (`Content-Length`, or the relay's limit).
    pub max_len: u64,
}

/// A writer that only counts: the plaintext of a verified download goes nowhere.
struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Store {
    /// Streams a revision from `relay` into a staged file and installs it if every check
    /// passes: size within `max_len`; header = announced id, type, revision and epoch; owner
    /// tag over header and digest; the wrapped key opens under our owner key; the whole AEAD
    /// stream and its padding authenticate. It must not regress the local revision or key
    /// epoch, and the local volume must still be at `base` (the revision the sync engine saw,
    /// `None` for no local volume) — a local write in between is a conflict, not overwritten.
    ///
    /// Installing the revision the volume already has, with the same digest, only records
    /// that `relay` has it. On success `relay` is marked synced and other relays without this
    /// revision pending.
    ///
    /// # Errors
    /// [`StoreError::Refused`] if a check fails (nothing is stored);
    /// [`StoreError::RevisionRegression`], [`StoreError::EpochRegression`];
    /// [`StoreError::Conflict`] if the local volume changed since `base`, is another volume of
    /// the same type, or has this revision with other content; I/O and database errors.
    pub async fn install_download<R: AsyncRead + Unpin + Send>(
        &self,
        relay: &str,
        incoming: IncomingRevision,
        mut body: R,
        base: Option<u64>,
        keys: Arc<UnlockedKeys>,
    ) -> Result<VolumeRecord, StoreError> {
        let refused = |reason: String| StoreError::Refused {
            vtype: incoming.vtype.to_string(),
            reason,
        };
        let io_error = |source| StoreError::Io {
            action: "write a staged file in",
            path: self.files().dir().to_path_buf(),
            source,
        };
        let mut staged = self.stage()?;
        let mut out = tokio::fs::File::from_std(staged.shared_handle().map_err(io_error)?);
        let mut digester = VolumeDigester::new();
        let mut prefix = Vec::with_capacity(MAX_HEADER_LEN);
        let mut buf = vec![0u8; 64 * 1024];
        let mut total: u64 = 0;
        loop {
            let n = body
                .read(&mut buf)
                .await
                .map_err(|e| refused(format!("the download failed: {e}")))?;
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > incoming.max_len {
                return Err(refused(format!(
                    "it is larger than the announced {} bytes",
                    incoming.max_len
                )));
            }
            let chunk = &buf[..n];
            digester.update(chunk);
            let room = MAX_HEADER_LEN - prefix.len();
            prefix.extend_from_slice(&chunk[..room.min(n)]);
            out.write_all(chunk).await.map_err(io_error)?;
        }
        out.flush().await.map_err(io_error)?;
        drop(out);
        staged.note_written(total);
        let digest = digester.finalize();

        let header = header_bytes(&prefix)
            .ok_or_else(|| refused("its header is incomplete".to_owned()))?
            .to_vec();
        let expected = VolumeHeader {
            volume_id: *incoming.id.as_bytes(),
            vtype: HeaderType::new(incoming.vtype.as_str()).map_err(|e| refused(e.to_string()))?,
            revision: incoming.revision,
            key_epoch: incoming.key_epoch,
        };
        let (found, _nonce) =
            VolumeHeader::parse(&header).map_err(|e| refused(format!("bad header: {e}")))?;
        if found != expected {
            return Err(refused(
                "its header does not match the announced id, type, revision and epoch".to_owned(),
            ));
        }
        verify_owner_tag(
            keys.owner().tag_key(),
            &header,
            &digest,
            &incoming.owner_tag,
        )
        .map_err(|_| {
            refused("the owner tag does not verify (not written by this identity)".to_owned())
        })?;
        let vek = keys
            .owner()
            .unwrap(&expected.volume_id, incoming.key_epoch, &incoming.owner_key)
            .map_err(|_| refused("the wrapped volume key does not open".to_owned()))?;
        let reader = staged.reopen().map_err(io_error)?;
        let plaintext_size = blocking(move || {
            let mut sink = CountingSink(0);
            // Digest and tag of these staged bytes are checked above; decrypting them proves
            // the key and every chunk without a second digest.
            open_stream_undigested(&vek, expected, reader, &mut sink).map_err(|e| {
                StoreError::Refused {
                    vtype: String::new(),
                    reason: e.to_string(),
                }
            })?;
            Ok(sink.0)
        })
        .await
        .map_err(|e| match e {
            StoreError::Refused { reason, .. } => refused(reason),
            other => other,
        })?;

        let local = self.volume_by_type(&incoming.vtype).await?;
        if let Some(local) = &local {
            check_successor(local, &incoming, &digest)?;
            if local.revision == incoming.revision {
                // Same revision, same bytes: the relay just has what we have.
                self.mark_pushed(local.id, relay, local.revision).await?;
                return Ok(local.clone());
            }
        }
        if local.as_ref().map(|l| l.revision) != base {
            return Err(StoreError::Conflict(format!(
                "volume {} changed here while a revision was downloaded; sync again",
                incoming.vtype
            )));
        }
        let new = NewRevision {
            id: incoming.id,
            vtype: incoming.vtype.clone(),
            revision: incoming.revision,
            key_epoch: incoming.key_epoch,
            plaintext_size,
            digest,
            owner_key: incoming.owner_key,
            owner_tag: incoming.owner_tag,
        };
        self.commit(staged, new, base, Some(relay)).await
    }
}

/// Refuses an incoming revision that would move the local volume backwards or replace it
/// with another volume or other content of the same revision.
fn check_successor(
    local: &VolumeRecord,
    incoming: &IncomingRevision,
    digest: &[u8; 32],
) -> Result<(), StoreError> {
    let vtype = incoming.vtype.to_string();
    if local.id != incoming.id {
        return Err(StoreError::Conflict(format!(
            "another volume of type {vtype} exists here (id {}); the relay's is {}",
            local.id, incoming.id
        )));
    }
    if incoming.revision < local.revision {
        return Err(StoreError::RevisionRegression {
            vtype,
            local: local.revision,
            received: incoming.revision,
        });
    }
    if incoming.key_epoch < local.key_epoch {
        return Err(StoreError::EpochRegression {
            vtype,
            local: local.key_epoch,
            received: incoming.key_epoch,
        });
    }
    if incoming.revision == local.revision && !bool::from(digest.ct_eq(&local.digest)) {
        return Err(StoreError::Conflict(format!(
            "volume {vtype}: the relay's revision {} differs from the local one with the same number",
            local.revision
        )));
    }
    Ok(())
}
