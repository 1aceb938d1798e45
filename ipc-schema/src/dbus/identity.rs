//! `org.plurallog.Daemon1.Identity`: creating, opening and backing up the identity.
//!
//! After `Init`, `Restore` and `Import` the daemon is unlocked.

use serde::{Deserialize, Serialize};
use zbus::{Fd, proxy};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::dbus::DaemonError;

/// The identity interface.
#[proxy(
    interface = "org.plurallog.Daemon1.Identity",
    default_service = "org.plurallog.Daemon1",
    default_path = "/org/plurallog/Daemon1"
)]
pub trait Identity {
    /// Creates a new identity protected by the passphrase read from `passphrase_fd`, writes
    /// the recovery phrase (BIP39 words separated by single spaces, then `\n`) to
    /// `phrase_out_fd` and unlocks. Fails with `AlreadyInitialized` if an identity exists.
    fn init(&self, passphrase_fd: Fd<'_>, phrase_out_fd: Fd<'_>) -> Result<(), DaemonError>;

    /// Opens the key file with the passphrase read from `passphrase_fd`.
    fn unlock(&self, passphrase_fd: Fd<'_>) -> Result<(), DaemonError>;

    /// Wipes the keys from daemon memory.
    fn lock(&self) -> Result<(), DaemonError>;

    /// The daemon's state as JSON [`StatusReport`].
    fn status(&self) -> Result<String, DaemonError>;

    /// Rebuilds the identity from the recovery phrase read from `phrase_fd`, protected by the
    /// passphrase read from `passphrase_fd`, and unlocks. Relays added afterwards find the
    /// existing accounts by key.
    fn restore(&self, phrase_fd: Fd<'_>, passphrase_fd: Fd<'_>) -> Result<(), DaemonError>;

    /// Writes the sealed key file to `key_file_out_fd`. Asks for the passphrase again
    /// (`passphrase_fd`) even when unlocked.
    fn export(&self, passphrase_fd: Fd<'_>, key_file_out_fd: Fd<'_>) -> Result<(), DaemonError>;

    /// Installs a key file read from `key_file_fd`, opened with the passphrase read from
    /// `passphrase_fd`, and unlocks. Fails with `AlreadyInitialized` if an identity exists.
    fn import(&self, key_file_fd: Fd<'_>, passphrase_fd: Fd<'_>) -> Result<(), DaemonError>;

    /// Emitted whenever the daemon locks (`true`: idle timeout, suspend, screen lock, `Lock`)
    /// or unlocks (`false`).
    #[zbus(signal)]
    fn lock_state_changed(&self, locked: bool) -> zbus::Result<()>;
}

/// The JSON returned by `Status` (and printed by `plog status --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The daemon version.
    pub version: String,
    /// Whether an identity exists.
    pub initialized: bool,
    /// Whether the keys are out of memory.
    pub locked: bool,
    /// Seconds of inactivity after which the daemon locks itself (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_lock_secs: Option<u64>,
    /// Number of configured relays.
    pub relays: u32,
    /// Number of relays whose live event stream is connected (friend requests and notices
    /// from them arrive at once).
    #[serde(default)]
    pub live_relays: u32,
    /// Whether a sync round is running.
    pub syncing: bool,
    /// When the last sync round finished, unix seconds (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_at: Option<u64>,
    /// Why the last sync round failed (absent: it succeeded, or none ran yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_error: Option<String>,
}

/// What `plog init --json` prints: `{"recovery_phrase": "w1 w2 …"}`. The CLI builds it from
/// what the daemon wrote to `phrase_out_fd`; it is wiped from memory on drop and never printed
/// by `Debug`.
#[derive(Serialize, Deserialize, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct RecoveryPhraseOutput {
    /// The recovery phrase, words separated by single spaces.
    pub recovery_phrase: String,
}

impl std::fmt::Debug for RecoveryPhraseOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryPhraseOutput(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn status_shape() {
        let status = StatusReport {
            version: "0.1.0".to_owned(),
            initialized: true,
            locked: false,
            auto_lock_secs: Some(900),
            relays: 1,
            live_relays: 0,
            syncing: false,
            last_sync_at: None,
            last_sync_error: None,
        };
        assert_eq!(
            round_trip(&status),
            r#"{"version":"0.1.0","initialized":true,"locked":false,"auto_lock_secs":900,"relays":1,"live_relays":0,"syncing":false}"#
        );
    }

    #[test]
    fn recovery_phrase_shape_and_debug() {
        let output = RecoveryPhraseOutput {
            recovery_phrase: "abandon ability able".to_owned(),
        };
        let json = serde_json::to_string(&output).expect("serialize");
        assert_eq!(json, r#"{"recovery_phrase":"abandon ability able"}"#);
        let back: RecoveryPhraseOutput = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, output);
        assert_eq!(format!("{back:?}"), "RecoveryPhraseOutput(***)");
    }
}
