//! `org.plurallog.Daemon1.Relays`.
//!
//! `List` and `Remove` work on the store. `Probe`, `Add`, `Trust`, `Move`, `Register`,
//! `SetHandle`, `ReleaseHandle` and `DeleteAccount` need the relay client and are **not wired yet**: each checks the caller and its arguments
//! and then calls the matching function in [`network`], which fails with
//! `Failed("… not wired yet")`. Wiring them means replacing those function bodies (the
//! store side exists: [`crate::store::Store::add_relay`], `update_relay`, `move_relay`).

use std::sync::Arc;

use plog_ipc_schema::CertPin;
use plog_ipc_schema::dbus::DaemonError;
use zbus::Connection;
use zbus::message::Header;

use super::{DaemonState, to_json};
use crate::store::{RelayRecord, Store};

/// The Relays interface.
#[derive(Debug)]
pub struct RelaysInterface {
    state: Arc<DaemonState>,
}

impl RelaysInterface {
    /// The interface over the shared state.
    #[must_use]
    pub fn new(state: Arc<DaemonState>) -> Self {
        Self { state }
    }
}

/// The relay a `relay` argument names: its origin, or `""` for the only configured relay.
///
/// # Errors
/// `NotFound` for an unknown origin or when none is configured; `InvalidArgument` for `""`
/// with several relays.
pub async fn resolve_relay(store: &Store, relay: &str) -> Result<RelayRecord, DaemonError> {
    if relay.is_empty() {
        let mut relays = store.relays().await?;
        return match relays.len() {
            0 => Err(DaemonError::NotFound(
                "no relay is configured; add one with `plog relay add URL`".to_owned(),
            )),
            1 => Ok(relays.remove(0)),
            n => Err(DaemonError::InvalidArgument(format!(
                "{n} relays are configured; name one of them"
            ))),
        };
    }
    store
        .relay(relay)
        .await?
        .ok_or_else(|| DaemonError::NotFound(format!("no relay {relay} is configured")))
}

fn parse_pin(pin: &str) -> Result<CertPin, DaemonError> {
    CertPin::parse(pin).map_err(|e| DaemonError::InvalidArgument(format!("invalid pin: {e}")))
}

#[zbus::interface(name = "org.plurallog.Daemon1.Relays")]
impl RelaysInterface {
    async fn probe(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        url: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        network::probe(&self.state, url).await
    }

    async fn add(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        url: &str,
        pin: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let pin = parse_pin(pin)?;
        let keys = self.state.keys()?;
        network::add(&self.state, keys, url, pin).await
    }

    async fn list(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let relays = self.state.store.relays().await?;
        to_json(&relays.iter().map(RelayRecord::entry).collect::<Vec<_>>())
    }

    async fn remove(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        relay: &str,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        self.state.keys()?;
        let record = resolve_relay(&self.state.store, relay).await?;
        self.state.store.remove_relay(&record.origin).await?;
        Ok(())
    }

    async fn trust(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        relay: &str,
        pin: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let pin = parse_pin(pin)?;
        self.state.keys()?;
        let record = resolve_relay(&self.state.store, relay).await?;
        network::trust(&self.state, record, pin).await
    }

    #[zbus(name = "Move")]
    async fn move_relay(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        old: &str,
        new: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        self.state.keys()?;
        let record = resolve_relay(&self.state.store, old).await?;
        network::move_relay(&self.state, record, new).await
    }

    async fn register(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        relay: &str,
        kind: &str,
        handle: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let kind = match kind {
            "system" => plog_ipc_schema::http::accounts::AccountKind::System,
            "friend" => plog_ipc_schema::http::accounts::AccountKind::Friend,
            other => {
                return Err(DaemonError::InvalidArgument(format!(
                    "account kind must be \"system\" or \"friend\", not {other:?}"
                )));
            }
        };
        let handle = if handle.is_empty() {
            None
        } else {
            Some(
                plog_ipc_schema::Handle::parse(handle)
                    .map_err(|e| DaemonError::InvalidArgument(format!("invalid handle: {e}")))?,
            )
        };
        let keys = self.state.keys()?;
        let record = resolve_relay(&self.state.store, relay).await?;
        network::register(&self.state, keys, record, kind, handle).await
    }

    async fn set_handle(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        relay: &str,
        handle: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let handle = plog_ipc_schema::Handle::parse(handle)
            .map_err(|e| DaemonError::InvalidArgument(format!("invalid handle: {e}")))?;
        let keys = self.state.keys()?;
        let record = resolve_relay(&self.state.store, relay).await?;
        network::set_handle(&self.state, keys, record, handle).await
    }

    async fn release_handle(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        relay: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let keys = self.state.keys()?;
        let record = resolve_relay(&self.state.store, relay).await?;
        network::release_handle(&self.state, keys, record).await
    }

    async fn delete_account(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        relay: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let keys = self.state.keys()?;
        let record = resolve_relay(&self.state.store, relay).await?;
        network::delete_account(&self.state, keys, record).await
    }
}

/// The network side of the Relays interface. **Stubs**: the relay client replaces these
/// bodies. Arguments arrive checked (caller admitted, pin and kind parsed, relay resolved,
/// keys unlocked).
pub mod network {
    use std::sync::Arc;

    use plog_ipc_schema::dbus::DaemonError;
    use plog_ipc_schema::http::accounts::AccountKind;
    use plog_ipc_schema::{CertPin, Handle};

    use crate::custody::UnlockedKeys;
    use crate::service::DaemonState;
    use crate::service::errors::not_wired;
    use crate::store::RelayRecord;

    /// Connects to `url` untrusted and returns JSON `RelayProbe`.
    ///
    /// # Errors
    /// Not wired yet.
    pub async fn probe(_state: &DaemonState, _url: &str) -> Result<String, DaemonError> {
        Err(not_wired("probing a relay"))
    }

    /// Adds the relay at `url` pinned to `pin`, adopting an existing account of the derived
    /// key; returns JSON `RelayEntry`.
    ///
    /// # Errors
    /// Not wired yet.
    pub async fn add(
        _state: &DaemonState,
        _keys: Arc<UnlockedKeys>,
        _url: &str,
        _pin: CertPin,
    ) -> Result<String, DaemonError> {
        Err(not_wired("adding a relay"))
    }

    /// Re-pins `relay` to `pin`; returns JSON `RelayEntry`.
    ///
    /// # Errors
    /// Not wired yet.
    pub async fn trust(
        _state: &DaemonState,
        _relay: RelayRecord,
        _pin: CertPin,
    ) -> Result<String, DaemonError> {
        Err(not_wired("re-pinning a relay"))
    }

    /// Re-points `relay` to origin `new`; returns JSON `RelayEntry`.
    ///
    /// # Errors
    /// Not wired yet.
    pub async fn move_relay(
        _state: &DaemonState,
        _relay: RelayRecord,
        _new: &str,
    ) -> Result<String, DaemonError> {
        Err(not_wired("moving a relay"))
    }

    /// Registers and activates an account of `kind`; returns JSON `RelayEntry`.
    ///
    /// # Errors
    /// Not wired yet.
    pub async fn register(
        _state: &DaemonState,
        _keys: Arc<UnlockedKeys>,
        _relay: RelayRecord,
        _kind: AccountKind,
        _handle: Option<Handle>,
    ) -> Result<String, DaemonError> {
        Err(not_wired("registering at a relay"))
    }

    /// Sets the account's handle at `relay`; returns JSON `RelayEntry`.
    ///
    /// # Errors
    /// Not wired yet.
    pub async fn set_handle(
        _state: &DaemonState,
        _keys: Arc<UnlockedKeys>,
        _relay: RelayRecord,
        _handle: Handle,
    ) -> Result<String, DaemonError> {
        Err(not_wired("setting a handle"))
    }

    /// Gives up the account's handle at `relay`; returns JSON `RelayEntry`.
    ///
    /// # Errors
    /// Not wired yet.
    pub async fn release_handle(
        _state: &DaemonState,
        _keys: Arc<UnlockedKeys>,
        _relay: RelayRecord,
    ) -> Result<String, DaemonError> {
        Err(not_wired("releasing a handle"))
    }

    /// Deletes the account at `relay` (fresh challenge), then forgets it locally
    /// (`Store::update_relay` with `account: Some(None)`); returns JSON `RelayEntry`.
    ///
    /// # Errors
    /// Not wired yet.
    pub async fn delete_account(
        _state: &DaemonState,
        _keys: Arc<UnlockedKeys>,
        _relay: RelayRecord,
    ) -> Result<String, DaemonError> {
        Err(not_wired("deleting an account"))
    }
}
