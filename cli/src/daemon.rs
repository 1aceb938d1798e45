//! The way to `plogd`: one session-bus connection per command, the interface proxies of
//! `plog-ipc-schema`, and the mapping of every call's failure to an [`Error`] that says what to
//! do about it.

use std::env;
use std::future::Future;

use plog_ipc_schema::dbus::{
    DaemonError, FriendsProxy, IdentityProxy, RelaysProxy, SharingProxy, SyncProxy, VolumesProxy,
};
use serde::de::DeserializeOwned;
use zbus::Connection;

use crate::error::{Error, NoBus};

/// Runs `future` (one command's conversation with the daemon) to completion on a runtime of
/// its own. One thread is enough: the command waits for a single call, and the blocking copies
/// of pipe contents run on threads of their own.
pub(crate) fn block_on<T>(future: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Error::io("starting the async runtime", err))?;
    runtime.block_on(future)
}

/// A connection to the session bus, on which `plogd` is (or will be activated as)
/// [`plog_ipc_schema::dbus::BUS_NAME`].
#[derive(Debug)]
pub(crate) struct Daemon {
    connection: Connection,
}

impl Daemon {
    /// Connects to the bus named by `$DBUS_SESSION_BUS_ADDRESS` (or the default socket).
    pub(crate) async fn connect() -> Result<Self, Error> {
        match zbus::connection::Builder::session().build().await {
            Ok(connection) => Ok(Self { connection }),
            Err(source) => Err(Error::NoBus(NoBus {
                address: env::var("DBUS_SESSION_BUS_ADDRESS").ok(),
                source,
            })),
        }
    }

    /// The identity interface.
    pub(crate) async fn identity(&self) -> Result<IdentityProxy<'static>, Error> {
        IdentityProxy::new(&self.connection)
            .await
            .map_err(proxy_error)
    }

    /// The relays interface.
    pub(crate) async fn relays(&self) -> Result<RelaysProxy<'static>, Error> {
        RelaysProxy::new(&self.connection)
            .await
            .map_err(proxy_error)
    }

    /// The volumes interface.
    pub(crate) async fn volumes(&self) -> Result<VolumesProxy<'static>, Error> {
        VolumesProxy::new(&self.connection)
            .await
            .map_err(proxy_error)
    }

    /// The sync interface.
    pub(crate) async fn sync(&self) -> Result<SyncProxy<'static>, Error> {
        SyncProxy::new(&self.connection).await.map_err(proxy_error)
    }

    /// The friends interface.
    pub(crate) async fn friends(&self) -> Result<FriendsProxy<'static>, Error> {
        FriendsProxy::new(&self.connection)
            .await
            .map_err(proxy_error)
    }

    /// The sharing interface.
    pub(crate) async fn sharing(&self) -> Result<SharingProxy<'static>, Error> {
        SharingProxy::new(&self.connection)
            .await
            .map_err(proxy_error)
    }
}

fn proxy_error(source: zbus::Error) -> Error {
    Error::Bus {
        method: "creating a proxy",
        source,
    }
}

/// Awaits the D-Bus call `method` (named `Interface.Method` for messages) and classifies its
/// failure.
pub(crate) async fn call<T>(
    method: &'static str,
    call: impl Future<Output = Result<T, DaemonError>>,
) -> Result<T, Error> {
    call.await.map_err(|err| Error::from_call(method, err))
}

/// Reads the JSON document the daemon answered `method` with as `T`.
pub(crate) fn parse_reply<T: DeserializeOwned>(
    method: &'static str,
    json: &str,
) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|err| Error::bad_reply(method, err))
}
