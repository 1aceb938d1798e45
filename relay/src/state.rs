//! What every request handler shares.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use plog_crypto::SecretBytes;

use crate::broker::Broker;
use crate::config::Config;
use crate::db::Db;

/// The state of one relay instance.
#[derive(Debug)]
pub struct AppState {
    /// The configuration it was started with.
    pub config: Config,
    /// The canonical public origin every login is bound to.
    pub origin: String,
    /// SQL metadata.
    pub db: Db,
    /// NATS JetStream: objects, challenges, sessions.
    pub broker: Broker,
    /// The deployment's secret for pseudo-keys of unknown accounts (shared by all instances
    /// through the database).
    pub relay_secret: SecretBytes<32>,
    /// Wakes the purge task after a commit or deletion queued objects.
    pub purge: tokio::sync::Notify,
    /// Friend requests by handle, per sender account (`mailbox.handle_requests_*`).
    pub handle_requests: crate::api::rate_limit::RateLimiter,
    /// Invite lookups and redemptions, per account (`limits.invite_lookups_*`).
    pub invite_lookups: crate::api::rate_limit::RateLimiter,
    /// Becomes `true` when the relay starts shutting down, so long-lived responses (event
    /// streams) end instead of holding the graceful shutdown open.
    pub shutting_down: tokio::sync::watch::Receiver<bool>,
}

/// The state as handlers receive it.
pub type SharedState = Arc<AppState>;

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
