//! Locking on suspend and on screen lock, as reported by systemd-logind on the system bus.
//!
//! - `org.freedesktop.login1.Manager.PrepareForSleep(true)`: the machine is about to sleep →
//!   lock if `lock.lock_on_suspend`.
//! - `org.freedesktop.login1.Session.Lock` on a session whose `User` is this daemon's uid →
//!   lock if `lock.lock_on_screen_lock`.
//!
//! Where there is no system bus or no logind (containers, minimal systems) the watch logs at
//! debug level and ends; the daemon works without it.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::watch;
use zbus::MatchRule;
use zbus::message::Type as MessageType;

use super::{Custody, LockReason};
use crate::config::Config;

const LOGIN1: &str = "org.freedesktop.login1";
const SESSION_INTERFACE: &str = "org.freedesktop.login1.Session";

#[zbus::proxy(
    interface = "org.freedesktop.login1.Manager",
    default_service = "org.freedesktop.login1",
    default_path = "/org/freedesktop/login1"
)]
trait LoginManager {
    /// The machine is about to sleep (`true`) or has woken (`false`).
    #[zbus(signal)]
    fn prepare_for_sleep(&self, start: bool) -> zbus::Result<()>;
}

#[zbus::proxy(
    interface = "org.freedesktop.login1.Session",
    default_service = "org.freedesktop.login1"
)]
trait LoginSession {
    /// The session's user: uid and object path.
    #[zbus(property)]
    fn user(&self) -> zbus::Result<(u32, zbus::OwnedObjectPath)>;
}

/// Connects to the system bus and watches logind until the daemon stops. Never fails: a
/// missing bus or logind is logged at debug level.
pub async fn watch_system_bus(custody: Arc<Custody>, config: watch::Receiver<Arc<Config>>) {
    match zbus::Connection::system().await {
        Ok(connection) => watch(connection, custody, config, crate::process::uid()).await,
        Err(error) => {
            tracing::debug!(%error, "no system bus: no locking on suspend or screen lock");
        }
    }
}

/// Watches logind on `connection` for `uid`'s sessions.
pub async fn watch(
    connection: zbus::Connection,
    custody: Arc<Custody>,
    config: watch::Receiver<Arc<Config>>,
    uid: u32,
) {
    let sleep = async {
        let manager = match LoginManagerProxy::new(&connection).await {
            Ok(manager) => manager,
            Err(error) => {
                tracing::debug!(%error, "logind manager unavailable");
                return;
            }
        };
        let mut signals = match manager.receive_prepare_for_sleep().await {
            Ok(signals) => signals,
            Err(error) => {
                tracing::debug!(%error, "cannot follow PrepareForSleep");
                return;
            }
        };
        while let Some(signal) = signals.next().await {
            let starting = signal.args().map(|args| args.start).unwrap_or(false);
            if starting && config.borrow().lock.lock_on_suspend {
                custody.lock(LockReason::Suspend);
            }
        }
    };
    let screen = async {
        let rule = match MatchRule::builder()
            .msg_type(MessageType::Signal)
            .sender(LOGIN1)
            .interface(SESSION_INTERFACE)
            .member("Lock")
            .build()
        {
            Ok(rule) => rule,
            Err(error) => {
                tracing::debug!(%error, "cannot build the session lock match rule");
                return;
            }
        };
        let mut messages = match zbus::MessageStream::for_match_rule(rule, &connection, None).await
        {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(%error, "cannot follow session Lock signals");
                return;
            }
        };
        while let Some(Ok(message)) = messages.next().await {
            let header = message.header();
            let Some(path) = header.path() else { continue };
            if !config.borrow().lock.lock_on_screen_lock {
                continue;
            }
            if session_belongs_to(&connection, path.to_owned().into(), uid).await {
                custody.lock(LockReason::ScreenLock);
            }
        }
    };
    tokio::join!(sleep, screen);
}

/// Whether the logind session at `path` belongs to `uid` (its `User` property).
pub async fn session_belongs_to(
    connection: &zbus::Connection,
    path: zbus::OwnedObjectPath,
    uid: u32,
) -> bool {
    let session = LoginSessionProxy::builder(connection)
        .path(path)
        .build()
        .await;
    match session {
        Ok(session) => match session.user().await {
            Ok((owner, _)) => owner == uid,
            Err(error) => {
                tracing::debug!(%error, "cannot read the locked session's user");
                false
            }
        },
        Err(error) => {
            tracing::debug!(%error, "cannot reach the locked session");
            false
        }
    }
}
