//! `org.plurallog.Daemon1.Sync`: `SyncNow` and the progress signals, around the round entry
//! point of [`crate::sync`] (a stub until the sync engine is wired).

use std::sync::Arc;

use plog_ipc_schema::dbus::DaemonError;
use zbus::Connection;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

use super::{DaemonState, to_json};
use crate::sync::coordinator::FailureKind;

/// The Sync interface.
#[derive(Debug)]
pub struct SyncInterface {
    state: Arc<DaemonState>,
}

impl SyncInterface {
    /// The interface over the shared state.
    #[must_use]
    pub fn new(state: Arc<DaemonState>) -> Self {
        Self { state }
    }
}

#[zbus::interface(name = "org.plurallog.Daemon1.Sync")]
impl SyncInterface {
    async fn sync_now(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        self.state.keys()?;
        let outcome = self.state.sync.sync_now().await;
        match outcome.failure {
            None => to_json(&outcome.report),
            Some((kind, message)) => Err(match kind {
                FailureKind::Locked => DaemonError::Locked(message),
                FailureKind::NotInitialized => DaemonError::NotInitialized(message),
                FailureKind::Network => DaemonError::Network(message),
                FailureKind::Conflict => DaemonError::Conflict(message),
                _ => DaemonError::Failed(message),
            }),
        }
    }

    /// Progress of a running round at one relay.
    #[zbus(signal)]
    pub async fn sync_progress(
        emitter: &SignalEmitter<'_>,
        relay: &str,
        done: u64,
        total: u64,
    ) -> zbus::Result<()>;

    /// A round finished; `report` is JSON `SyncReport`.
    #[zbus(signal)]
    pub async fn sync_finished(
        emitter: &SignalEmitter<'_>,
        ok: bool,
        report: &str,
    ) -> zbus::Result<()>;
}
