//! The daemon's D-Bus API (DESIGN §6): the session-bus service [`BUS_NAME`] at
//! [`OBJECT_PATH`], one versioned interface per concern. The CLI and the desktop app use the
//! proxies generated here; the daemon implements the same names and signatures with
//! `#[zbus::interface]` and checks them against [`interfaces`] in its tests.
//!
//! # Secrets and payloads travel only as file descriptors
//!
//! Passphrases, recovery phrases, invite codes, key files, volume plaintext and anything
//! large cross the bus **only as Unix file descriptors** (`h` arguments, [`zbus::Fd`]), never
//! as message arguments: a bus monitor running as the same user could read arguments, but not
//! the contents of a pipe or file handed over by descriptor. The rules for every fd argument:
//!
//! - An *input* fd (`*_fd`: passphrase, phrase, code, key file, volume data) is read to end of
//!   file. Passphrases, phrases and codes are UTF-8; one trailing `\n` (or `\r\n`) is ignored.
//! - An *output* fd (`*_out_fd`) is written in full and then closed by the daemon. The caller
//!   must close its own copy of a pipe's write end after the call is sent, or it will never see
//!   end of file.
//! - Only identifiers, names, types and small public values (pins, safety numbers, JSON
//!   listings) are plain arguments.
//!
//! # Results
//!
//! Methods that describe state return one JSON document as a string; its shape is the typed
//! struct named in each method's documentation (serde, in this module), so the daemon, the
//! CLI's `--json` output and scripts all agree (DESIGN §6.1: listings are JSON arrays of
//! objects with `id` and, where there is one, `name`). Failures are [`DaemonError`]s, which
//! map to CLI exit codes.

pub mod error;
pub mod friends;
pub mod identity;
pub mod relays;
pub mod sharing;
pub mod sync;
pub mod volumes;

pub use error::{CliExitCode, DaemonError};
pub use friends::FriendsProxy;
pub use identity::IdentityProxy;
pub use relays::RelaysProxy;
pub use sharing::SharingProxy;
pub use sync::SyncProxy;
pub use volumes::VolumesProxy;

/// The daemon's well-known name on the session bus.
pub const BUS_NAME: &str = "org.plurallog.Daemon1";

/// The one object the daemon serves.
pub const OBJECT_PATH: &str = "/org/plurallog/Daemon1";

/// Interface names, version 1.
pub mod interfaces {
    /// Identity: init, unlock, lock, status, restore, export, import.
    pub const IDENTITY: &str = "org.plurallog.Daemon1.Identity";
    /// Relays: probe, add, list, remove, trust, move, register, handles, account deletion.
    pub const RELAYS: &str = "org.plurallog.Daemon1.Relays";
    /// Volumes: put, get, list, remove.
    pub const VOLUMES: &str = "org.plurallog.Daemon1.Volumes";
    /// Sync: sync now, progress signals.
    pub const SYNC: &str = "org.plurallog.Daemon1.Sync";
    /// Friends: invites, requests, approval, verification.
    pub const FRIENDS: &str = "org.plurallog.Daemon1.Friends";
    /// Sharing: grants, revocation, viewing what others share.
    pub const SHARING: &str = "org.plurallog.Daemon1.Sharing";

    /// Every interface.
    pub const ALL: [&str; 6] = [IDENTITY, RELAYS, VOLUMES, SYNC, FRIENDS, SHARING];
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::proxy::Defaults;

    fn interface_of<P: Defaults>() -> Option<String> {
        P::INTERFACE.as_ref().map(ToString::to_string)
    }

    fn destination_of<P: Defaults>() -> Option<String> {
        P::DESTINATION.as_ref().map(ToString::to_string)
    }

    fn path_of<P: Defaults>() -> Option<String> {
        P::PATH.as_ref().map(ToString::to_string)
    }

    #[test]
    fn proxies_use_the_documented_names() {
        let found = [
            interface_of::<IdentityProxy<'_>>(),
            interface_of::<RelaysProxy<'_>>(),
            interface_of::<VolumesProxy<'_>>(),
            interface_of::<SyncProxy<'_>>(),
            interface_of::<FriendsProxy<'_>>(),
            interface_of::<SharingProxy<'_>>(),
        ];
        for (found, expected) in found.iter().zip(interfaces::ALL) {
            assert_eq!(found.as_deref(), Some(expected));
        }
        for (destination, path) in [
            (
                destination_of::<IdentityProxy<'_>>(),
                path_of::<IdentityProxy<'_>>(),
            ),
            (
                destination_of::<RelaysProxy<'_>>(),
                path_of::<RelaysProxy<'_>>(),
            ),
            (
                destination_of::<VolumesProxy<'_>>(),
                path_of::<VolumesProxy<'_>>(),
            ),
            (
                destination_of::<SyncProxy<'_>>(),
                path_of::<SyncProxy<'_>>(),
            ),
            (
                destination_of::<FriendsProxy<'_>>(),
                path_of::<FriendsProxy<'_>>(),
            ),
            (
                destination_of::<SharingProxy<'_>>(),
                path_of::<SharingProxy<'_>>(),
            ),
        ] {
            assert_eq!(destination.as_deref(), Some(BUS_NAME));
            assert_eq!(path.as_deref(), Some(OBJECT_PATH));
        }
    }

    #[test]
    fn names_are_valid_dbus_names() {
        assert!(zbus::names::WellKnownName::try_from(BUS_NAME).is_ok());
        assert!(zbus::ObjectPath::try_from(OBJECT_PATH).is_ok());
        for name in interfaces::ALL {
            assert!(zbus::names::InterfaceName::try_from(name).is_ok(), "{name}");
        }
    }
}
