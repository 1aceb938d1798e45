//! Reading the manifest for a change, writing the changed one as the next local revision, and
//! pushing it to the relays (the compare-and-swap of DESIGN §5: the relay takes the manifest
//! only on top of the revision this device last saw).

use std::sync::Arc;

use plog_ipc_schema::dbus::DaemonError;

use super::{Social, now_secs};
use crate::custody::UnlockedKeys;
use crate::manifest::{MANIFEST_FORMAT, Manifest};
use crate::sync::coordinator::FailureKind;
use crate::sync::manifest_io::{self, ManifestIoError};

fn manifest_error(error: ManifestIoError) -> DaemonError {
    match error {
        ManifestIoError::Store(error) => error.into(),
        ManifestIoError::Invalid(message) => DaemonError::Failed(format!("the manifest {message}")),
    }
}

impl Social {
    /// The local manifest, or an empty one if this device has none yet.
    pub(super) async fn load(&self, keys: &Arc<UnlockedKeys>) -> Result<Manifest, DaemonError> {
        Ok(manifest_io::read_local(&self.store, keys)
            .await
            .map_err(manifest_error)?
            .map_or_else(
                || Manifest {
                    format: MANIFEST_FORMAT,
                    counter: 0,
                    written_at: now_secs(),
                    volumes: Vec::new(),
                    friends: Vec::new(),
                    tombstones: Vec::new(),
                    invites: Vec::new(),
                    requests: Vec::new(),
                    revocations: Vec::new(),
                },
                |(_, manifest)| manifest,
            ))
    }

    /// Stores `changed` as the next manifest: its social state, with the volume list brought
    /// up to the local records (as a sync round would write it).
    pub(super) async fn save(
        &self,
        keys: &Arc<UnlockedKeys>,
        changed: &Manifest,
    ) -> Result<(), DaemonError> {
        let records = self.store.volumes().await?;
        let next = Manifest::from_records(changed.counter + 1, now_secs(), &records, Some(changed));
        manifest_io::write_local(&self.store, keys, &next)
            .await
            .map_err(manifest_error)?;
        Ok(())
    }

    /// Runs a sync round, which pushes the local manifest (and any volume revision waiting)
    /// with a compare-and-swap on its revision. Fails if the round failed: a change to grants
    /// must not go further than the manifest that records it.
    pub(super) async fn publish(&self) -> Result<(), DaemonError> {
        let mut outcome = self.sync.sync_now().await;
        // A round that was already running when the manifest was written may have read the
        // older one: then one more round pushes ours.
        if outcome.failure.is_none() && !self.manifest_pushed().await? {
            outcome = self.sync.sync_now().await;
        }
        match outcome.failure {
            None => Ok(()),
            Some((kind, message)) => {
                let message = format!("the manifest could not be pushed first: {message}");
                Err(match kind {
                    FailureKind::Network => DaemonError::Network(message),
                    FailureKind::Conflict => DaemonError::Conflict(message),
                    FailureKind::Locked | FailureKind::NotInitialized => {
                        DaemonError::Locked(message)
                    }
                    _ => DaemonError::Failed(message),
                })
            }
        }
    }

    async fn manifest_pushed(&self) -> Result<bool, DaemonError> {
        let Some(record) = self
            .store
            .volume_by_type(&manifest_io::manifest_type())
            .await?
        else {
            return Ok(true);
        };
        Ok(self.store.highest_remote_revision(record.id).await? >= record.revision)
    }
}
