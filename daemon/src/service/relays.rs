//! `org.plurallog.Daemon1.Relays`.
//!
//! `List` and `Remove` work on the store alone. The other methods check the caller and their
//! arguments here and then talk to the relay through [`network`].
//!
//! Everything but `Probe` and `List` needs an initialized, unlocked identity (`Locked` /
//! `NotInitialized` otherwise). For `Add` that is deliberate: adding a relay adopts the
//! existing account of the derived key (DESIGN §6.1), which a locked daemon could not do, and
//! adding silently without it would surprise a person who just restored their identity.

use std::sync::Arc;

use plog_crypto::identity::normalize_origin;
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

/// The relay a `relay` argument names: its origin (as stored, or written any way that
/// normalises to it, e.g. with a trailing `/` or the default port), or `""` for the only
/// configured relay.
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
                "{n} relays are configured ({}); name one of them",
                relays
                    .iter()
                    .map(|r| r.origin.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        };
    }
    if let Some(record) = store.relay(relay).await? {
        return Ok(record);
    }
    if let Ok(origin) = normalize_origin(relay)
        && let Some(record) = store.relay(&origin).await?
    {
        return Ok(record);
    }
    Err(DaemonError::NotFound(format!(
        "no relay {relay} is configured"
    )))
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
        if let Some(client) = self.state.sync.links().take(&record.origin) {
            network::end_session(&record.origin, &client).await;
        }
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
        self.state.keys()?;
        let record = resolve_relay(&self.state.store, relay).await?;
        network::set_handle(&self.state, record, handle).await
    }

    async fn release_handle(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        relay: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        self.state.keys()?;
        let record = resolve_relay(&self.state.store, relay).await?;
        network::release_handle(&self.state, record).await
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

pub mod network;
