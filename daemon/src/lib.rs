//! The daemon's one job: **key custody, the local store, sync and the D-Bus service** for one
//! user. `plogd` holds the unlocked keys in memory, keeps only ciphertext and wrapped keys on
//! disk, syncs with the user's relays and answers the `plog` CLI and desktop apps on the session
//! bus as `org.plurallog.Daemon1`.
//!
//! The binary `plogd` is a thin wrapper: it parses its arguments with [`Cli`] and hands them to
//! [`run`]. This version defines the command line only; starting the service still reports that
//! it is not implemented and fails, so nothing can mistake it for a working daemon.

mod error;

use std::path::PathBuf;

use clap::Parser;

pub use error::{EXIT_FAILURE, Error};

/// The daemon's version, as printed by `plogd --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// PluralLog user daemon: keeps your keys, your encrypted records and your sync.
///
/// Paths follow the XDG base directories (`$XDG_CONFIG_HOME`, `$XDG_DATA_HOME`,
/// `$XDG_STATE_HOME`, `$XDG_CACHE_HOME`, `$XDG_RUNTIME_DIR`); the bus is the one named by
/// `$DBUS_SESSION_BUS_ADDRESS`.
#[derive(Debug, Parser)]
#[command(name = "plogd", version)]
#[non_exhaustive]
pub struct Cli {
    /// Configuration file (TOML); by default `$XDG_CONFIG_HOME/plog/plogd.toml`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Runs the daemon with a parsed command line.
///
/// # Errors
///
/// Currently always [`Error::NotImplemented`].
pub fn run(_cli: &Cli) -> Result<(), Error> {
    Err(Error::NotImplemented { command: "plogd" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_flag_is_optional() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from(["plogd", "--config", "plogd.toml"])?;
        assert_eq!(cli.config, Some(PathBuf::from("plogd.toml")));
        Ok(())
    }

    #[test]
    fn starting_the_service_fails_honestly() {
        let cli = Cli { config: None };
        let err = run(&cli).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("plogd: not implemented in this version")
        );
    }
}
