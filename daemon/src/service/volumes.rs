//! `org.plurallog.Daemon1.Volumes`: put, get, list and remove, byte-exact for every type but
//! `manifest`, which is owner-internal (kept by the sync engine). All four need the daemon
//! unlocked.

use std::sync::Arc;

use plog_ipc_schema::VolumeType;
use plog_ipc_schema::dbus::DaemonError;
use plog_ipc_schema::dbus::volumes::LocalVolume;
use zbus::message::Header;
use zbus::{Connection, OwnedFd};

use super::{DaemonState, to_json};
use crate::fdio;
use crate::volumes;

/// The Volumes interface.
#[derive(Debug)]
pub struct VolumesInterface {
    state: Arc<DaemonState>,
}

impl VolumesInterface {
    /// The interface over the shared state.
    #[must_use]
    pub fn new(state: Arc<DaemonState>) -> Self {
        Self { state }
    }

    async fn listing(&self) -> Result<Vec<LocalVolume>, DaemonError> {
        let statuses = self.state.store.volume_statuses().await?;
        Ok(statuses
            .iter()
            .filter(|s| !s.volume.deleted && s.volume.vtype.is_grantable())
            .map(crate::store::VolumeStatus::local_volume)
            .collect())
    }
}

/// A user-facing volume type: valid and not `manifest`.
fn user_type(text: &str) -> Result<VolumeType, DaemonError> {
    let vtype = VolumeType::parse(text)
        .map_err(|e| DaemonError::InvalidArgument(format!("invalid volume type {text:?}: {e}")))?;
    if !vtype.is_grantable() {
        return Err(DaemonError::InvalidArgument(
            "the manifest volume is kept by the daemon itself and cannot be read or written directly"
                .to_owned(),
        ));
    }
    Ok(vtype)
}

#[zbus::interface(name = "org.plurallog.Daemon1.Volumes")]
impl VolumesInterface {
    async fn put(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        vtype: &str,
        data_fd: OwnedFd,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let vtype = user_type(vtype)?;
        let keys = self.state.keys()?;
        let record =
            volumes::put(&self.state.store, keys, &vtype, fdio::into_file(data_fd)).await?;
        let listing = self.listing().await?;
        let entry = listing
            .into_iter()
            .find(|v| v.id == record.id)
            .ok_or_else(|| {
                DaemonError::Failed(format!("volume {vtype} vanished after it was stored"))
            })?;
        to_json(&entry)
    }

    async fn get(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        vtype: &str,
        out_fd: OwnedFd,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let vtype = user_type(vtype)?;
        let keys = self.state.keys()?;
        volumes::get(&self.state.store, keys, &vtype, fdio::into_file(out_fd)).await?;
        Ok(())
    }

    async fn list(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        self.state.keys()?;
        to_json(&self.listing().await?)
    }

    async fn remove(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        vtype: &str,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let vtype = user_type(vtype)?;
        self.state.keys()?;
        self.state.store.mark_deleted(&vtype).await?;
        Ok(())
    }
}
