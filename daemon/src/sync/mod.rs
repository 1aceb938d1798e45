//! Sync with the relays: the round entry point ([`run_round`]), one round at a time
//! ([`coordinator`]), and the schedule ([`coordinator::run_schedule`]).
//!
//! **Not wired yet.** [`run_round`] is the seam where the sync engine goes: push local
//! revisions and tombstones the store marks pending, pull newer revisions, keep the manifest,
//! using the relay client (`crate::relay_client`) and the store API documented in
//! [`crate::store`]. Until then a round with configured relays fails with
//! [`SyncError::NotWired`]; with no relay there is nothing to do and the round succeeds.

pub mod coordinator;

use std::sync::Arc;

use plog_ipc_schema::dbus::sync::SyncReport;

use crate::custody::UnlockedKeys;
use crate::relay_links::RelayLinks;
use crate::store::{RelayRecord, Store, StoreError};

/// What a round works with.
pub struct SyncContext<'a> {
    /// The local store.
    pub store: &'a Store,
    /// The relay clients (sessions are kept between rounds).
    pub links: &'a RelayLinks,
    /// The unlocked keys (held for the whole round, even if the daemon locks meanwhile).
    pub keys: Arc<UnlockedKeys>,
    /// The relays to sync with, read when the round started.
    pub relays: Vec<RelayRecord>,
    /// Reports progress at one relay: `(relay origin, done, total)`.
    pub progress: &'a (dyn Fn(&str, u64, u64) + Send + Sync),
}

impl std::fmt::Debug for SyncContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncContext")
            .field("relays", &self.relays.len())
            .finish_non_exhaustive()
    }
}

/// Why a round failed as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The sync engine is not part of this build yet.
    #[error("sync with relays is not wired yet in this version of plogd")]
    NotWired,
    /// Relays could not be reached.
    #[error("{0}")]
    Network(String),
    /// Conflicts were found (nothing was overwritten).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs one sync round. The report's timestamps are filled in by the caller.
///
/// # Errors
/// [`SyncError`]; currently [`SyncError::NotWired`] whenever a relay is configured.
pub async fn run_round(context: SyncContext<'_>) -> Result<SyncReport, SyncError> {
    if context.relays.is_empty() {
        return Ok(SyncReport {
            ok: true,
            ..SyncReport::default()
        });
    }
    Err(SyncError::NotWired)
}
