//! Sync with the relays: one round ([`run_round`]) pushes and pulls every volume by revision
//! with every configured relay, one round at a time ([`coordinator`]), on demand and on a
//! schedule with backoff after failures ([`coordinator::run_schedule`]).
//!
//! Per relay, a round: lists the relay's volumes; brings the owner **manifest** up to date
//! first (a newer one is downloaded, its owner tag and AEAD checked, and accepted only if
//! nothing in it went backwards); then decides for every volume (`plan`) whether to push,
//! pull, delete, record or refuse, and carries that out; finally, if anything changed, writes
//! and pushes the next manifest. Downloads are installed by the store only after the owner
//! tag, the wrapped key and the whole AEAD stream verify, so a revision without a valid owner
//! tag never replaces anything. Conflicts are recorded and reported, never resolved by
//! overwriting; rollbacks (a relay serving less than it served before, or less than the
//! manifest records) are refused.

pub mod coordinator;
mod engine;
pub(crate) mod manifest_io;
mod plan;

use std::sync::Arc;

use plog_ipc_schema::dbus::sync::{RelayFailure, SyncReport};

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

/// What a round found.
#[derive(Debug, Clone, Default)]
pub struct RoundResult {
    /// The report.
    pub report: SyncReport,
    /// Whether some relay could not be reached (worth retrying soon).
    pub unreachable: bool,
}

/// Runs one sync round with every relay in turn. The report's timestamps are filled in by the
/// caller; a relay that fails is reported in `failures` and the others still sync.
///
/// # Errors
/// [`SyncError::Store`] if the local store fails (the round stops: nothing can be trusted).
pub async fn run_round(context: SyncContext<'_>) -> Result<RoundResult, SyncError> {
    let mut report = SyncReport {
        ok: true,
        ..SyncReport::default()
    };
    let mut unreachable = false;
    for relay in &context.relays {
        if relay.account.is_none() {
            report.failures.push(RelayFailure {
                relay: relay.origin.clone(),
                message: "no account at this relay yet; run `plog register --system` (or \
                          `--friend`)"
                    .to_owned(),
            });
            continue;
        }
        match engine::sync_relay(&context, relay, &mut report).await {
            Ok(()) => {}
            Err(engine::RelayRoundError::Store(error)) => return Err(SyncError::Store(error)),
            Err(engine::RelayRoundError::Relay { message, retryable }) => {
                unreachable |= retryable;
                report.failures.push(RelayFailure {
                    relay: relay.origin.clone(),
                    message,
                });
            }
        }
    }
    report.ok = report.conflicts.is_empty() && report.failures.is_empty();
    Ok(RoundResult {
        report,
        unreachable,
    })
}
