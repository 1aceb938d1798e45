//! The D-Bus service: `org.plurallog.Daemon1` at `/org/plurallog/Daemon1` with the six
//! interfaces defined by the proxies in `plog_ipc_schema::dbus` (same names, same signatures;
//! the integration test introspects the served object and calls it through those proxies).
//!
//! Every method first checks the caller ([`caller`]): its uid, asked of the bus, must be the
//! daemon's, else `PermissionDenied`; then it records activity for the idle lock. Internal
//! errors become [`DaemonError`]s with readable descriptions and no secrets ([`errors`]).
//!
//! | interface | module | state |
//! |---|---|---|
//! | Identity | [`identity`] | complete |
//! | Volumes | [`volumes`] | complete |
//! | Relays | [`relays`] | complete |
//! | Sync | [`sync`] | complete around the [`crate::sync`] entry point, which is a stub |
//! | Friends | [`friends`] | complete, over [`crate::social`] |
//! | Sharing | [`sharing`] | complete, over [`crate::social`] |

pub mod caller;
pub mod errors;
pub mod friends;
pub mod identity;
pub mod relays;
pub mod sharing;
pub mod sync;
pub mod volumes;

use std::sync::Arc;

use plog_ipc_schema::dbus::{DaemonError, OBJECT_PATH};
use tokio::sync::{OnceCell, broadcast, watch};
use tokio::task::JoinHandle;
use zbus::Connection;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

use crate::config::Config;
use crate::custody::idle::Activity;
use crate::custody::{Custody, UnlockedKeys};
use crate::social::{Social, SocialSignal};
use crate::store::Store;
use crate::sync::coordinator::{SyncCoordinator, SyncEvent};

/// What every interface shares.
#[derive(Debug)]
pub struct DaemonState {
    /// The local store.
    pub store: Store,
    /// The keys.
    pub custody: Arc<Custody>,
    /// The live configuration.
    pub config: watch::Receiver<Arc<Config>>,
    /// Last served call, for the idle lock.
    pub activity: Activity,
    /// Sync rounds.
    pub sync: Arc<SyncCoordinator>,
    /// Friends and sharing.
    pub social: Arc<Social>,
    /// The uid callers must have.
    pub uid: u32,
    bus: OnceCell<zbus::fdo::DBusProxy<'static>>,
}

impl DaemonState {
    /// Shared state for the interfaces.
    #[must_use]
    pub fn new(
        store: Store,
        custody: Arc<Custody>,
        config: watch::Receiver<Arc<Config>>,
        activity: Activity,
        sync: Arc<SyncCoordinator>,
        social: Arc<Social>,
        uid: u32,
    ) -> Self {
        Self {
            store,
            custody,
            config,
            activity,
            sync,
            social,
            uid,
            bus: OnceCell::new(),
        }
    }

    /// The start of every method: checks the caller's uid and records activity. The returned
    /// guard records activity again when the call ends, so a long call does not count as idle.
    async fn admit(
        &self,
        connection: &Connection,
        header: &Header<'_>,
    ) -> Result<CallGuard<'_>, DaemonError> {
        let bus = self
            .bus
            .get_or_try_init(|| async {
                zbus::fdo::DBusProxy::builder(connection)
                    .cache_properties(zbus::proxy::CacheProperties::No)
                    .build()
                    .await
            })
            .await
            .map_err(|e| {
                DaemonError::Failed(format!("cannot ask the bus about the caller: {e}"))
            })?;
        let uid = caller::caller_uid(bus, header).await?;
        caller::check_uid(uid, self.uid)?;
        self.activity.touch();
        Ok(CallGuard(&self.activity))
    }

    /// The unlocked keys, or `Locked` / `NotInitialized`.
    fn keys(&self) -> Result<Arc<UnlockedKeys>, DaemonError> {
        self.custody.keys().map_err(DaemonError::from)
    }
}

/// Records activity when a call ends.
struct CallGuard<'a>(&'a Activity);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.0.touch();
    }
}

/// Serves the six interfaces on `connection` at [`OBJECT_PATH`].
///
/// # Errors
/// The zbus error if an interface cannot be registered.
pub async fn serve_at(connection: &Connection, state: &Arc<DaemonState>) -> zbus::Result<()> {
    let server = connection.object_server();
    server
        .at(
            OBJECT_PATH,
            identity::IdentityInterface::new(Arc::clone(state)),
        )
        .await?;
    server
        .at(
            OBJECT_PATH,
            volumes::VolumesInterface::new(Arc::clone(state)),
        )
        .await?;
    server
        .at(OBJECT_PATH, relays::RelaysInterface::new(Arc::clone(state)))
        .await?;
    server
        .at(OBJECT_PATH, sync::SyncInterface::new(Arc::clone(state)))
        .await?;
    server
        .at(
            OBJECT_PATH,
            friends::FriendsInterface::new(Arc::clone(state)),
        )
        .await?;
    server
        .at(
            OBJECT_PATH,
            sharing::SharingInterface::new(Arc::clone(state)),
        )
        .await?;
    Ok(())
}

/// Stops serving the six interfaces. The interfaces hold the shared state, whose bus proxy
/// holds the connection: removing them breaks that cycle so the connection can close.
pub async fn unserve(connection: &Connection) {
    let server = connection.object_server();
    let _ = server
        .remove::<identity::IdentityInterface, _>(OBJECT_PATH)
        .await;
    let _ = server
        .remove::<volumes::VolumesInterface, _>(OBJECT_PATH)
        .await;
    let _ = server
        .remove::<relays::RelaysInterface, _>(OBJECT_PATH)
        .await;
    let _ = server.remove::<sync::SyncInterface, _>(OBJECT_PATH).await;
    let _ = server
        .remove::<friends::FriendsInterface, _>(OBJECT_PATH)
        .await;
    let _ = server
        .remove::<sharing::SharingInterface, _>(OBJECT_PATH)
        .await;
}

/// Turns lock transitions and sync events into signals until the sources close.
pub fn spawn_signal_forwarders(
    connection: &Connection,
    state: &Arc<DaemonState>,
) -> Vec<JoinHandle<()>> {
    let mut lock_events = state.custody.subscribe();
    let lock_connection = connection.clone();
    let locks = tokio::spawn(async move {
        loop {
            let event = match lock_events.recv().await {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let emitted = match SignalEmitter::new(&lock_connection, OBJECT_PATH) {
                Ok(emitter) => {
                    identity::IdentityInterface::lock_state_changed(&emitter, event.is_locked())
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(error) = emitted {
                tracing::debug!(%error, "cannot emit LockStateChanged");
            }
        }
    });
    let mut sync_events = state.sync.subscribe();
    let sync_connection = connection.clone();
    let syncs = tokio::spawn(async move {
        loop {
            let event = match sync_events.recv().await {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let emitter = match SignalEmitter::new(&sync_connection, OBJECT_PATH) {
                Ok(emitter) => emitter,
                Err(error) => {
                    tracing::debug!(%error, "cannot emit sync signals");
                    continue;
                }
            };
            let emitted = match event {
                SyncEvent::Progress { relay, done, total } => {
                    sync::SyncInterface::sync_progress(&emitter, &relay, done, total).await
                }
                SyncEvent::Finished(outcome) => {
                    let report = serde_json::to_string(&outcome.report).unwrap_or_default();
                    sync::SyncInterface::sync_finished(&emitter, outcome.report.ok, &report).await
                }
            };
            if let Err(error) = emitted {
                tracing::debug!(%error, "cannot emit a sync signal");
            }
        }
    });
    let mut social_events = state.social.subscribe();
    let social_connection = connection.clone();
    let socials = tokio::spawn(async move {
        loop {
            let signal = match social_events.recv().await {
                Ok(signal) => signal,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let emitter = match SignalEmitter::new(&social_connection, OBJECT_PATH) {
                Ok(emitter) => emitter,
                Err(error) => {
                    tracing::debug!(%error, "cannot emit friend signals");
                    continue;
                }
            };
            let emitted = match signal {
                SocialSignal::FriendRequest { id, name } => {
                    friends::FriendsInterface::friend_request_received(
                        &emitter,
                        &id.to_string(),
                        &name,
                    )
                    .await
                }
                SocialSignal::ShareReceived {
                    friend_id,
                    name,
                    vtype,
                } => {
                    friends::FriendsInterface::share_received(
                        &emitter,
                        &friend_id.to_string(),
                        &name,
                        &vtype,
                    )
                    .await
                }
                SocialSignal::AccessRevoked {
                    friend_id,
                    name,
                    vtype,
                } => {
                    friends::FriendsInterface::access_revoked(
                        &emitter,
                        &friend_id.to_string(),
                        &name,
                        &vtype,
                    )
                    .await
                }
            };
            if let Err(error) = emitted {
                tracing::debug!(%error, "cannot emit a friend signal");
            }
        }
    });
    vec![locks, syncs, socials]
}

/// Serialises a result document.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, DaemonError> {
    serde_json::to_string(value)
        .map_err(|e| DaemonError::Failed(format!("cannot encode the result: {e}")))
}
