//! `org.plurallog.Daemon1.Sync`: on-demand sync and progress signals. Scheduled rounds emit
//! the same signals.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zbus::proxy;

use crate::dbus::DaemonError;
use crate::vtype::VolumeType;

/// The sync interface.
#[proxy(
    interface = "org.plurallog.Daemon1.Sync",
    default_service = "org.plurallog.Daemon1",
    default_path = "/org/plurallog/Daemon1"
)]
pub trait Sync {
    /// Runs one round (or joins the running one) and returns when it has finished: JSON
    /// [`SyncReport`] on success. A failed round is an error (`Network` when relays were
    /// unreachable, `Conflict` when conflicts were found, `Failed` otherwise) whose description
    /// summarises the report; the `SyncFinished` signal carries the full report either way.
    fn sync_now(&self) -> Result<String, DaemonError>;

    /// Progress of a running round at one relay: `done` of `total` volumes transferred.
    #[zbus(signal)]
    fn sync_progress(&self, relay: &str, done: u64, total: u64) -> zbus::Result<()>;

    /// A round finished; `report` is JSON [`SyncReport`].
    #[zbus(signal)]
    fn sync_finished(&self, ok: bool, report: &str) -> zbus::Result<()>;
}

/// A volume changed both here and elsewhere; nothing was overwritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncConflict {
    /// The volume id.
    pub id: Uuid,
    /// The volume type.
    pub name: VolumeType,
    /// The relay where the conflict was found.
    pub relay: String,
    /// The local revision.
    pub local_revision: u64,
    /// The relay's revision.
    pub remote_revision: u64,
}

/// A relay the round could not complete with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayFailure {
    /// The relay's origin.
    pub relay: String,
    /// What went wrong, for people.
    pub message: String,
}

/// The outcome of one sync round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Whether the round completed with no conflicts and no failures.
    pub ok: bool,
    /// When it started, unix seconds.
    pub started_at: u64,
    /// When it finished, unix seconds.
    pub finished_at: u64,
    /// Revisions uploaded.
    pub pushed: u32,
    /// Revisions downloaded.
    pub pulled: u32,
    /// Conflicts found.
    pub conflicts: Vec<SyncConflict>,
    /// Relays that failed.
    pub failures: Vec<RelayFailure>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn report_shape() {
        let report = SyncReport {
            ok: false,
            started_at: 1,
            finished_at: 2,
            pushed: 1,
            pulled: 0,
            conflicts: vec![SyncConflict {
                id: Uuid::from_u128(1),
                name: VolumeType::parse("front").expect("vtype"),
                relay: "https://r.example".to_owned(),
                local_revision: 3,
                remote_revision: 4,
            }],
            failures: vec![RelayFailure {
                relay: "https://s.example".to_owned(),
                message: "connection refused".to_owned(),
            }],
        };
        assert_eq!(
            round_trip(&report),
            r#"{"ok":false,"started_at":1,"finished_at":2,"pushed":1,"pulled":0,"conflicts":[{"id":"00000000-0000-0000-0000-000000000001","name":"front","relay":"https://r.example","local_revision":3,"remote_revision":4}],"failures":[{"relay":"https://s.example","message":"connection refused"}]}"#
        );
        round_trip(&SyncReport::default());
    }
}
