//! One relay's part of a sync round: manifest first, then every volume, then the next
//! manifest. See the module documentation of [`super`] for the order and its reasons.

use std::collections::BTreeMap;
use std::sync::Arc;

use plog_ipc_schema::dbus::sync::{SyncConflict, SyncReport};
use plog_ipc_schema::encoding::{B64Bytes, Bytes32};
use plog_ipc_schema::http::headers::{GranteeTags, Precondition, ReaderMaterial, UploadHeaders};
use plog_ipc_schema::http::volumes::{VolumeEntry, VolumeRole};
use uuid::Uuid;

use super::SyncContext;
use super::manifest_io::{self, ManifestIoError};
use super::plan::{Action, LocalSide, ManifestSays, RemoteSide, decide};
use crate::custody::UnlockedKeys;
use crate::manifest::{MAX_MANIFEST_LEN, Manifest, check_successor};
use crate::relay_client::{RelayClient, RelayError, VolumeBody};
use crate::store::{IncomingRevision, RelayRecord, Store, StoreError, VolumeRecord, VolumeStatus};

/// Why one relay's part of a round stopped.
#[derive(Debug)]
pub(super) enum RelayRoundError {
    /// The local store failed: the whole round stops.
    Store(StoreError),
    /// This relay could not be synced (unreachable, refused, rolled back).
    Relay {
        /// What went wrong, for people.
        message: String,
        /// Whether trying again soon may help (the relay was unreachable).
        retryable: bool,
    },
}

impl From<StoreError> for RelayRoundError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<ManifestIoError> for RelayRoundError {
    fn from(error: ManifestIoError) -> Self {
        match error {
            ManifestIoError::Store(error) => Self::Store(error),
            ManifestIoError::Invalid(message) => Self::refused(format!("manifest: {message}")),
        }
    }
}

impl RelayRoundError {
    fn refused(message: String) -> Self {
        Self::Relay {
            message,
            retryable: false,
        }
    }
}

fn relay_error(error: &RelayError) -> RelayRoundError {
    RelayRoundError::Relay {
        message: error.to_string(),
        retryable: error.is_retryable(),
    }
}

/// What this relay lists as ours, by volume id.
fn owned(listing: Vec<VolumeEntry>) -> BTreeMap<Uuid, VolumeEntry> {
    listing
        .into_iter()
        .filter(|entry| entry.role == VolumeRole::Owner)
        .map(|entry| (entry.volume_id, entry))
        .collect()
}

fn remote_side(entry: &VolumeEntry) -> RemoteSide {
    RemoteSide {
        revision: entry.revision,
        owner_tag: entry.own_tag.map(|tag| *tag.as_bytes()),
    }
}

fn local_side(status: &VolumeStatus, relay: &str) -> LocalSide {
    let row = status.relays.iter().find(|row| row.relay == relay);
    LocalSide {
        revision: status.volume.revision,
        deleted: status.volume.deleted,
        owner_tag: status.volume.owner_tag,
        base: row.and_then(|row| row.remote_revision),
    }
}

fn manifest_says(manifest: Option<&Manifest>, id: Uuid) -> ManifestSays {
    manifest.map_or_else(ManifestSays::default, |manifest| ManifestSays {
        revision: manifest
            .volumes
            .iter()
            .find(|volume| volume.id == id)
            .map(|volume| volume.revision),
        tombstoned: manifest.tombstones.iter().any(|tomb| tomb.id == id),
    })
}

/// Everything one relay's round works with.
struct RelayRound<'a, 'c> {
    context: &'a SyncContext<'c>,
    relay: &'a RelayRecord,
    client: RelayClient,
    keys: Arc<UnlockedKeys>,
    report: &'a mut SyncReport,
    /// Problems found with single volumes (the relay itself answered).
    problems: usize,
    /// Volumes removed at the relay in this round: the next manifest keeps their tombstones
    /// (the store forgets a tombstone once every relay has applied it).
    removed: Vec<VolumeRecord>,
    /// The manifest this round works with, whose grants and tag keys give every pushed
    /// revision its grantee tags.
    manifest: Option<Manifest>,
}

/// Syncs every volume with `relay`, adding what happened to `report`.
pub(super) async fn sync_relay(
    context: &SyncContext<'_>,
    relay: &RelayRecord,
    report: &mut SyncReport,
) -> Result<(), RelayRoundError> {
    let client = context
        .links
        .client(relay)
        .map_err(|error| relay_error(&error))?;
    let mut round = RelayRound {
        context,
        relay,
        client,
        keys: Arc::clone(&context.keys),
        report,
        problems: 0,
        removed: Vec::new(),
        manifest: None,
    };
    round.run().await
}

impl RelayRound<'_, '_> {
    fn store(&self) -> &Store {
        self.context.store
    }

    fn origin(&self) -> &str {
        &self.relay.origin
    }

    async fn run(&mut self) -> Result<(), RelayRoundError> {
        let listing = owned(
            self.client
                .list_volumes()
                .await
                .map_err(|error| relay_error(&error))?,
        );
        let manifest_entry = listing
            .values()
            .find(|entry| entry.vtype.as_str() == "manifest")
            .cloned();
        let manifest = {
            let _turn = self.context.store.manifest_turn().await;
            self.sync_manifest_down(manifest_entry.as_ref()).await?
        };
        self.manifest.clone_from(&manifest);

        let statuses = self.store().volume_statuses().await?;
        let mut plans = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for status in statuses
            .iter()
            .filter(|status| status.volume.vtype.as_str() != "manifest")
        {
            seen.insert(status.volume.id);
            let local = local_side(status, self.origin());
            let remote = listing.get(&status.volume.id);
            let action = decide(
                Some(&local),
                remote.map(remote_side).as_ref(),
                manifest_says(manifest.as_ref(), status.volume.id),
            );
            plans.push((Some(status.volume.clone()), remote.cloned(), action));
        }
        for entry in listing
            .values()
            .filter(|entry| entry.vtype.as_str() != "manifest" && !seen.contains(&entry.volume_id))
        {
            let action = decide(
                None,
                Some(&remote_side(entry)),
                manifest_says(manifest.as_ref(), entry.volume_id),
            );
            plans.push((None, Some(entry.clone()), action));
        }

        let total = plans
            .iter()
            .filter(|(.., action)| {
                matches!(
                    action,
                    Action::Push { .. } | Action::Pull | Action::Delete { .. }
                )
            })
            .count() as u64;
        let mut done = 0;
        (self.context.progress)(self.origin(), done, total);
        for (record, entry, action) in plans {
            let transfers = matches!(
                action,
                Action::Push { .. } | Action::Pull | Action::Delete { .. }
            );
            self.carry_out(record.as_ref(), entry.as_ref(), action)
                .await?;
            if transfers {
                done += 1;
                (self.context.progress)(self.origin(), done, total);
            }
        }

        if self.problems == 0 {
            let _turn = self.context.store.manifest_turn().await;
            // A social change may have written a newer manifest since this round read it.
            let manifest = match manifest_io::read_local(self.store(), &self.keys).await? {
                Some((_, local)) if manifest.as_ref().is_none_or(|m| local.counter > m.counter) => {
                    Some(local)
                }
                _ => manifest,
            };
            self.sync_manifest_up(manifest, manifest_entry.as_ref())
                .await?;
        }
        Ok(())
    }

    /// Brings the local manifest up to the relay's if the relay's is newer and verifies.
    async fn sync_manifest_down(
        &mut self,
        entry: Option<&VolumeEntry>,
    ) -> Result<Option<Manifest>, RelayRoundError> {
        let local = manifest_io::read_local(self.store(), &self.keys).await?;
        let status = self
            .store()
            .volume_statuses()
            .await?
            .into_iter()
            .find(|status| status.volume.vtype.as_str() == "manifest");
        let local_side = status
            .as_ref()
            .map(|status| local_side(status, self.origin()));
        let action = decide(
            local_side.as_ref(),
            entry.map(remote_side).as_ref(),
            ManifestSays::default(),
        );
        let local_manifest = local.map(|(_, manifest)| manifest);
        match (action, entry) {
            (Action::Pull, Some(entry)) => {
                let received = self.download_manifest(entry).await?;
                if let Some(local) = &local_manifest
                    && let Err(error) = check_successor(local, &received)
                {
                    return Err(RelayRoundError::refused(format!(
                        "the relay's manifest is refused: {error}"
                    )));
                }
                self.pull(entry, local_side.as_ref().map(|side| side.revision))
                    .await?;
                Ok(Some(received))
            }
            (Action::Refuse { reason }, _) => {
                Err(RelayRoundError::refused(format!("manifest: {reason}")))
            }
            (Action::Conflict { remote, reason }, Some(_)) => {
                if let Some(status) = &status {
                    self.conflict(&status.volume, remote, &reason).await?;
                }
                self.problems += 1;
                Ok(local_manifest)
            }
            (Action::Record { revision }, Some(entry)) => {
                self.store()
                    .mark_pushed(entry.volume_id, self.origin(), revision)
                    .await
                    .or_else(ignore_missing_row)?;
                Ok(local_manifest)
            }
            _ => Ok(local_manifest),
        }
    }

    /// Downloads the relay's manifest into memory and verifies it.
    async fn download_manifest(&self, entry: &VolumeEntry) -> Result<Manifest, RelayRoundError> {
        // The relay chooses what it sends: the download is held in memory only up to the
        // largest sealed manifest (padding included), and refused beyond it.
        let too_large = || RelayRoundError::refused("the relay's manifest is too large".to_owned());
        if entry.padded_size > MAX_SEALED_MANIFEST_LEN {
            return Err(too_large());
        }
        let mut sink = BoundedBuffer::default();
        let meta = match self.client.get_volume(entry.volume_id, &mut sink).await {
            Ok(meta) => meta,
            Err(_) if sink.overflowed => return Err(too_large()),
            Err(error) => return Err(relay_error(&error)),
        };
        let sealed = sink.bytes;
        let ReaderMaterial::Owner {
            owner_tag,
            owner_key,
        } = &meta.headers.reader
        else {
            return Err(RelayRoundError::refused(
                "the relay served the manifest without owner material".to_owned(),
            ));
        };
        Ok(manifest_io::verify_download(
            &self.keys,
            entry.volume_id,
            meta.headers.revision,
            meta.headers.key_epoch,
            owner_key.as_bytes(),
            owner_tag.as_bytes(),
            &sealed,
        )?)
    }

    /// Writes the next manifest if the volumes changed, and pushes it.
    async fn sync_manifest_up(
        &mut self,
        current: Option<Manifest>,
        entry: Option<&VolumeEntry>,
    ) -> Result<(), RelayRoundError> {
        let mut records = self.store().volumes().await?;
        for removed in &self.removed {
            if !records.iter().any(|record| record.id == removed.id) {
                records.push(VolumeRecord {
                    deleted: true,
                    ..removed.clone()
                });
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let counter = current.as_ref().map_or(1, |m| m.counter + 1);
        let next = Manifest::from_records(counter, now, &records, current.as_ref());
        let unchanged = current
            .as_ref()
            .is_some_and(|m| m.volumes == next.volumes && m.tombstones == next.tombstones);
        if !unchanged {
            manifest_io::write_local(self.store(), &self.keys, &next).await?;
        }
        let Some(status) = self
            .store()
            .volume_statuses()
            .await?
            .into_iter()
            .find(|status| status.volume.vtype.as_str() == "manifest")
        else {
            return Ok(());
        };
        let local = local_side(&status, self.origin());
        let action = decide(
            Some(&local),
            entry.map(remote_side).as_ref(),
            ManifestSays::default(),
        );
        self.carry_out(Some(&status.volume), entry, action).await
    }

    async fn carry_out(
        &mut self,
        record: Option<&VolumeRecord>,
        entry: Option<&VolumeEntry>,
        action: Action,
    ) -> Result<(), RelayRoundError> {
        match (action, record, entry) {
            (Action::Nothing, ..) => Ok(()),
            (Action::Push { if_match }, Some(record), _) => self.push(record, if_match).await,
            (Action::Pull, _, Some(entry)) => {
                self.pull(entry, record.map(|record| record.revision)).await
            }
            (Action::Record { revision }, Some(record), _) => Ok(self
                .store()
                .mark_pushed(record.id, self.origin(), revision)
                .await
                .or_else(ignore_missing_row)?),
            (Action::Delete { if_match }, Some(record), _) => {
                match self.client.delete_volume(record.id, Some(if_match)).await {
                    Ok(()) | Err(RelayError::NotFound { .. }) => {
                        self.store()
                            .mark_removed_at(record.id, self.origin())
                            .await?;
                        self.removed.push(record.clone());
                        Ok(())
                    }
                    Err(RelayError::Conflict { .. }) => {
                        self.conflict(
                            record,
                            if_match + 1,
                            "changed at the relay after it was removed here",
                        )
                        .await
                    }
                    Err(error) => self.failed(record, &error).await,
                }
            }
            (Action::Forget, Some(record), _) => {
                self.store()
                    .mark_removed_at(record.id, self.origin())
                    .await?;
                self.removed.push(record.clone());
                Ok(())
            }
            (Action::RemoveHere, Some(record), _) => {
                self.store().mark_deleted(&record.vtype).await?;
                self.store()
                    .mark_removed_at(record.id, self.origin())
                    .await?;
                Ok(())
            }
            (Action::Conflict { remote, reason }, Some(record), _) => {
                self.conflict(record, remote, &reason).await
            }
            (Action::Refuse { reason }, record, entry) => {
                let vtype = record
                    .map(|r| r.vtype.to_string())
                    .or_else(|| entry.map(|e| e.vtype.to_string()))
                    .unwrap_or_default();
                if let Some(record) = record {
                    self.store()
                        .mark_error(record.id, self.origin(), &reason)
                        .await
                        .or_else(ignore_missing_row)?;
                }
                self.problem(format!("{vtype}: {reason}"));
                Ok(())
            }
            (action, ..) => {
                self.problem(format!("internal: no way to carry out {action:?}"));
                Ok(())
            }
        }
    }

    async fn push(
        &mut self,
        record: &VolumeRecord,
        if_match: Option<u64>,
    ) -> Result<(), RelayRoundError> {
        let mut grantee_tags = GranteeTags::new();
        if let Some(manifest) = &self.manifest
            && record.vtype.is_grantable()
        {
            let header = self.store().stored_header(record).await?;
            for (grantee, tag) in
                crate::social::grantee_tags_for(manifest, self.origin(), record, &header)
            {
                grantee_tags.insert(grantee, Bytes32::new(tag));
            }
        }
        let file = self.store().open_ciphertext(record).await?;
        let upload = UploadHeaders {
            vtype: record.vtype.clone(),
            key_epoch: record.key_epoch,
            owner_tag: Bytes32::new(record.owner_tag),
            owner_key: B64Bytes::new(record.owner_key.to_vec()),
            grantee_tags,
            precondition: if_match.map_or(Precondition::Create, |revision| Precondition::Replace {
                revision,
            }),
        };
        let body = VolumeBody::Reader {
            reader: Box::new(file),
            length: Some(record.sealed_len),
        };
        match self.client.put_volume(record.id, &upload, body).await {
            Ok(stored) => {
                self.store()
                    .mark_pushed(record.id, self.origin(), stored.revision)
                    .await
                    .or_else(ignore_missing_row)?;
                self.report.pushed += 1;
                Ok(())
            }
            Err(RelayError::Conflict { .. }) => {
                let remote = if_match.map_or(1, |revision| revision + 1);
                self.conflict(record, remote, "the relay took another revision first")
                    .await
            }
            Err(error) => self.failed(record, &error).await,
        }
    }

    async fn pull(
        &mut self,
        entry: &VolumeEntry,
        base: Option<u64>,
    ) -> Result<(), RelayRoundError> {
        let meta = match self.client.head_volume(entry.volume_id).await {
            Ok(Some(meta)) => meta,
            Ok(None) => {
                self.problem(format!(
                    "{}: vanished at the relay during the round",
                    entry.vtype
                ));
                return Ok(());
            }
            Err(error) if error.is_retryable() => return Err(relay_error(&error)),
            Err(error) => {
                self.problem(format!("{}: {error}", entry.vtype));
                return Ok(());
            }
        };
        let ReaderMaterial::Owner {
            owner_tag,
            owner_key,
        } = &meta.headers.reader
        else {
            self.problem(format!("{}: served without owner material", entry.vtype));
            return Ok(());
        };
        let Ok(owner_key) = owner_key.as_bytes().try_into() else {
            self.problem(format!(
                "{}: the wrapped key has the wrong size",
                entry.vtype
            ));
            return Ok(());
        };
        let incoming = IncomingRevision {
            id: entry.volume_id,
            vtype: entry.vtype.clone(),
            revision: meta.headers.revision,
            key_epoch: meta.headers.key_epoch,
            owner_key,
            owner_tag: *owner_tag.as_bytes(),
            max_len: meta
                .length
                .unwrap_or(entry.padded_size)
                .max(entry.padded_size),
        };
        // The download streams through a pipe into the store, which verifies while it writes.
        let (mut writer, reader) = tokio::io::duplex(256 * 1024);
        let client = self.client.clone();
        let id = entry.volume_id;
        let download = async move {
            let result = client.get_volume(id, &mut writer).await;
            drop(writer);
            result
        };
        let install = self.store().install_download(
            self.origin(),
            incoming,
            reader,
            base,
            Arc::clone(&self.keys),
        );
        let (downloaded, installed) = tokio::join!(download, install);
        match (downloaded, installed) {
            (Ok(_), Ok(_)) => {
                self.report.pulled += 1;
                Ok(())
            }
            (Err(error), _) if error.is_retryable() => Err(relay_error(&error)),
            (Err(error), _) => {
                self.problem(format!("{}: {error}", entry.vtype));
                Ok(())
            }
            (Ok(_), Err(StoreError::Conflict(reason))) => {
                self.report.conflicts.push(SyncConflict {
                    id: entry.volume_id,
                    name: entry.vtype.clone(),
                    relay: self.origin().to_owned(),
                    local_revision: base.unwrap_or(0),
                    remote_revision: entry.revision,
                });
                tracing::info!(vtype = %entry.vtype, %reason, "sync conflict");
                Ok(())
            }
            (Ok(_), Err(error @ (StoreError::Database(_) | StoreError::Io { .. }))) => {
                Err(RelayRoundError::Store(error))
            }
            (Ok(_), Err(error)) => {
                self.problem(format!("{}: {error}", entry.vtype));
                Ok(())
            }
        }
    }

    async fn conflict(
        &mut self,
        record: &VolumeRecord,
        remote: u64,
        reason: &str,
    ) -> Result<(), RelayRoundError> {
        self.store()
            .mark_conflict(record.id, self.origin(), remote, reason)
            .await
            .or_else(ignore_missing_row)?;
        self.report.conflicts.push(SyncConflict {
            id: record.id,
            name: record.vtype.clone(),
            relay: self.origin().to_owned(),
            local_revision: record.revision,
            remote_revision: remote,
        });
        self.problems += 1;
        Ok(())
    }

    /// A volume-level failure: retryable ones stop this relay's part of the round (the relay
    /// is unreachable), others are recorded and the round goes on.
    async fn failed(
        &mut self,
        record: &VolumeRecord,
        error: &RelayError,
    ) -> Result<(), RelayRoundError> {
        self.store()
            .mark_error(record.id, self.origin(), &error.to_string())
            .await
            .or_else(ignore_missing_row)?;
        if error.is_retryable() {
            return Err(relay_error(error));
        }
        self.problem(format!("{}: {error}", record.vtype));
        Ok(())
    }

    fn problem(&mut self, message: String) {
        self.problems += 1;
        self.report
            .failures
            .push(plog_ipc_schema::dbus::sync::RelayFailure {
                relay: self.origin().to_owned(),
                message,
            });
    }
}

/// The most bytes a sealed manifest may take: its plaintext limit, padded (PADMÉ adds at most
/// about 1/16), plus chunk overhead, with room to spare.
const MAX_SEALED_MANIFEST_LEN: u64 = 2 * MAX_MANIFEST_LEN as u64;

/// An in-memory download sink that refuses to grow past [`MAX_SEALED_MANIFEST_LEN`].
#[derive(Default)]
struct BoundedBuffer {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl tokio::io::AsyncWrite for BoundedBuffer {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if (self.bytes.len() + buf.len()) as u64 > MAX_SEALED_MANIFEST_LEN {
            self.overflowed = true;
            return std::task::Poll::Ready(Err(std::io::Error::other("manifest too large")));
        }
        self.bytes.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Bookkeeping rows are created when relays and volumes are; a missing one only means there
/// is nothing to record.
fn ignore_missing_row(error: StoreError) -> Result<(), StoreError> {
    match error {
        StoreError::NotFound(_) => Ok(()),
        other => Err(other),
    }
}
