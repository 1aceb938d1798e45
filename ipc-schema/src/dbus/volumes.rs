//! `org.plurallog.Daemon1.Volumes`: the local volumes of the system, byte-exact for every type.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zbus::{Fd, proxy};

use crate::dbus::DaemonError;
use crate::vtype::VolumeType;

/// The volumes interface. `vtype` arguments follow [`crate::vtype`].
#[proxy(
    interface = "org.plurallog.Daemon1.Volumes",
    default_service = "org.plurallog.Daemon1",
    default_path = "/org/plurallog/Daemon1"
)]
pub trait Volumes {
    /// Stores the bytes read from `data_fd` as the new content of volume `vtype` (creating
    /// it), to be pushed by the next sync. Returns JSON [`LocalVolume`].
    fn put(&self, vtype: &str, data_fd: Fd<'_>) -> Result<String, DaemonError>;

    /// Writes the content of volume `vtype`, exactly as stored, to `out_fd`.
    fn get(&self, vtype: &str, out_fd: Fd<'_>) -> Result<(), DaemonError>;

    /// JSON array of [`LocalVolume`].
    fn list(&self) -> Result<String, DaemonError>;

    /// Deletes volume `vtype` here and, at the next sync, at the relays.
    fn remove(&self, vtype: &str) -> Result<(), DaemonError>;
}

/// Sync state of a local volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SyncState {
    /// Same revision here and at the relays.
    Synced,
    /// Local changes not pushed yet.
    Pending,
    /// Changed here and elsewhere; needs attention (nothing was overwritten).
    Conflict,
}

/// One volume, as listed by `plog volume ls --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalVolume {
    /// The volume id.
    pub id: Uuid,
    /// The volume type, as a name.
    pub name: VolumeType,
    /// The volume type.
    pub vtype: VolumeType,
    /// The local revision.
    pub revision: u64,
    /// The key epoch of that revision.
    pub key_epoch: u64,
    /// Plaintext size in bytes.
    pub size: u64,
    /// When the content last changed, unix seconds.
    pub updated_at: u64,
    /// Sync state.
    pub sync: SyncState,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn listing_shape() {
        let vtype = VolumeType::parse("members").expect("vtype");
        let volume = LocalVolume {
            id: Uuid::from_u128(1),
            name: vtype.clone(),
            vtype,
            revision: 2,
            key_epoch: 1,
            size: 10,
            updated_at: 3,
            sync: SyncState::Pending,
        };
        assert_eq!(
            round_trip(&vec![volume]),
            r#"[{"id":"00000000-0000-0000-0000-000000000001","name":"members","vtype":"members","revision":2,"key_epoch":1,"size":10,"updated_at":3,"sync":"pending"}]"#
        );
    }
}
