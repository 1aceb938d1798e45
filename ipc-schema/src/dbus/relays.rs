//! `org.plurallog.Daemon1.Relays`: which relays the daemon uses and how it trusts them.
//!
//! A `relay` argument names a configured relay by its origin (`https://host:port`); the empty
//! string means "the only configured relay" and fails with `InvalidArgument` when there are
//! several. Pins are written as in [`crate::pin`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zbus::proxy;

use crate::dbus::DaemonError;
use crate::handle::Handle;
use crate::http::accounts::AccountKind;
use crate::http::info::RelayInfo;
use crate::pin::CertPin;

/// The relays interface.
#[proxy(
    interface = "org.plurallog.Daemon1.Relays",
    default_service = "org.plurallog.Daemon1",
    default_path = "/org/plurallog/Daemon1"
)]
pub trait Relays {
    /// Connects to `url` without trusting it yet and returns JSON [`RelayProbe`]: the pin to
    /// show the person for approval (first contact, or before `Trust`).
    fn probe(&self, url: &str) -> Result<String, DaemonError>;

    /// Adds the relay at `url`, pinned to `pin` (approved by the person or given with
    /// `--fingerprint`), and adopts the existing account of the derived key if there is one.
    /// Returns JSON [`RelayEntry`]. `PinMismatch` if the relay presents another key.
    fn add(&self, url: &str, pin: &str) -> Result<String, DaemonError>;

    /// JSON array of [`RelayEntry`].
    fn list(&self) -> Result<String, DaemonError>;

    /// Forgets a relay, ending the daemon's session there if it has one (best effort: an
    /// unreachable relay lets it expire); its data stays on the relay.
    fn remove(&self, relay: &str) -> Result<(), DaemonError>;

    /// Re-pins a relay to `pin` after the person saw old and new values. Returns JSON
    /// [`RelayEntry`].
    fn trust(&self, relay: &str, pin: &str) -> Result<String, DaemonError>;

    /// Re-points relay `old` to the origin `new` (`plog relay move OLD NEW`, confirmed by the
    /// person); the identity origin, and so the key, stays. Returns JSON [`RelayEntry`].
    #[zbus(name = "Move")]
    fn move_relay(&self, old: &str, new: &str) -> Result<String, DaemonError>;

    /// Registers an account of `kind` (`"system"` or `"friend"`) with an optional `handle`
    /// (empty string: none) and activates it by answering its first challenge. Returns JSON
    /// [`RelayEntry`].
    fn register(&self, relay: &str, kind: &str, handle: &str) -> Result<String, DaemonError>;

    /// Sets the handle of the account at `relay` to `handle` (`plog handle set NAME`),
    /// replacing the current one. `Conflict` if another account holds it, `InvalidArgument`
    /// if it is not a valid [`Handle`]. Returns JSON [`RelayEntry`].
    fn set_handle(&self, relay: &str, handle: &str) -> Result<String, DaemonError>;

    /// Gives up the handle of the account at `relay` (`plog handle release`). Returns JSON
    /// [`RelayEntry`].
    fn release_handle(&self, relay: &str) -> Result<String, DaemonError>;

    /// Deletes the account at `relay` and everything stored under it there (`plog account
    /// delete`, confirmed by the person; the relay requires a fresh challenge for it), then
    /// forgets the account locally. The relay stays configured. Returns JSON [`RelayEntry`]
    /// without `account`.
    fn delete_account(&self, relay: &str) -> Result<String, DaemonError>;
}

/// The daemon's account at one relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayAccount {
    /// The account id at that relay.
    pub user_id: Uuid,
    /// System or friend.
    pub kind: AccountKind,
    /// The account's handle, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Handle>,
}

/// One configured relay, as listed by `plog relay ls --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayEntry {
    /// The relay's current origin; also the `relay` argument of the other methods.
    pub id: String,
    /// The name the relay gives itself in `/v1/info`, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The origin the identity key was derived from: the origin at registration. `Move`
    /// changes `id`, never this.
    pub identity_origin: String,
    /// The pinned certificate key.
    pub pin: CertPin,
    /// A next pin the relay announced, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_pin: Option<CertPin>,
    /// The account there, once registered or adopted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<RelayAccount>,
}

/// The answer to `Probe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayProbe {
    /// The origin connected to.
    pub origin: String,
    /// The pin of the certificate it presented.
    pub pin: CertPin,
    /// Whether the certificate also verifies against the system roots.
    pub ca_verified: bool,
    /// The pin currently stored for this origin, if it is configured (shown beside `pin`
    /// before `Trust`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<CertPin>,
    /// What the relay says about itself (untrusted until pinned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<RelayInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::info::{Limits, RegistrationPolicy};
    use crate::test_util::round_trip;

    #[test]
    fn entry_shape() {
        let entry = RelayEntry {
            id: "https://relay.example:8443".to_owned(),
            name: Some("home".to_owned()),
            identity_origin: "https://relay.example:8443".to_owned(),
            pin: CertPin::from_digest([0; 32]),
            next_pin: None,
            account: Some(RelayAccount {
                user_id: Uuid::from_u128(1),
                kind: AccountKind::System,
                handle: None,
            }),
        };
        assert_eq!(
            round_trip(&entry),
            r#"{"id":"https://relay.example:8443","name":"home","identity_origin":"https://relay.example:8443","pin":"sha256:0000000000000000000000000000000000000000000000000000000000000000","account":{"user_id":"00000000-0000-0000-0000-000000000001","kind":"system"}}"#
        );
        round_trip(&vec![entry]);
    }

    #[test]
    fn probe_shape() {
        let probe = RelayProbe {
            origin: "https://10.0.0.2:8443".to_owned(),
            pin: CertPin::from_digest([1; 32]),
            ca_verified: false,
            pinned: Some(CertPin::from_digest([2; 32])),
            info: Some(RelayInfo {
                name: "home".to_owned(),
                version: "0.1.0".to_owned(),
                limits: Limits {
                    max_volume_bytes: 1,
                    quota_bytes: 2,
                },
                registration: RegistrationPolicy::Open,
                ip_retention_days: 7,
                next_certificate_pin: None,
            }),
        };
        round_trip(&probe);
    }
}
