//! The daemon's one job: **key custody, the local store, sync and the D-Bus service** for one
//! user. `plogd` holds the unlocked keys in memory, keeps only ciphertext and wrapped keys on
//! disk, syncs with the user's relays and answers the `plog` CLI and desktop apps on the session
//! bus as `org.plurallog.Daemon1`.
//!
//! The binary `plogd` is a thin wrapper: it parses its arguments with [`Cli`] and hands them to
//! [`run`], which hardens the process, starts the service ([`daemon::start`]) and serves until
//! SIGTERM or SIGINT. Tests start the service on a private bus with [`daemon::start`].
//!
//! | module | what |
//! |---|---|
//! | [`paths`] | XDG directories and files |
//! | [`config`] | TOML configuration and its hot reload |
//! | [`process`] | core dumps and ptrace off, single instance, uid |
//! | [`custody`] | the keys: init, unlock, lock, restore, export, import; idle and logind locking |
//! | [`store`] | SQLite + ciphertext files; the API the sync engine uses |
//! | [`volumes`] | put / get with streaming encryption |
//! | [`manifest`] | the owner-only manifest and its regression checks |
//! | [`service`] | the six D-Bus interfaces |
//! | [`sync`] | sync rounds and schedule (the round itself is a stub) |
//! | [`relay_client`] | the HTTPS client for relays |
//! | [`relay_links`] | one client per configured relay, shared by the service and sync |

pub mod config;
pub mod custody;
pub mod daemon;
mod error;
pub mod fdio;
pub mod manifest;
pub mod paths;
pub mod process;
pub mod relay_client;
pub mod relay_links;
pub mod service;
pub mod social;
pub mod store;
pub mod sync;
pub mod volumes;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

pub use error::{EXIT_FAILURE, Error};

/// The daemon's version, as printed by `plogd --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// How long running calls get to finish after a termination signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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

/// Runs the daemon with a parsed command line until SIGTERM or SIGINT.
///
/// # Errors
/// [`Error`] if the daemon cannot start; the message names the cause.
pub fn run(cli: &Cli) -> Result<(), Error> {
    // Before any key can exist in this process.
    process::harden().map_err(Error::Harden)?;
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let outcome = runtime.block_on(serve_until_signalled(cli));
    // Blocking reads of a caller's descriptor cannot be interrupted; do not wait for them
    // forever.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    outcome
}

async fn serve_until_signalled(cli: &Cli) -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).map_err(Error::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(Error::Signals)?;
    let paths = paths::Paths::from_env(cli.config.clone())?;
    let running = daemon::start(daemon::StartOptions::new(paths)).await?;
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
        _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
    }
    running.shutdown().await;
    Ok(())
}

/// Logs to stderr (journald picks it up under systemd); `RUST_LOG` sets the filter. Nothing
/// logged by this crate contains secrets or plaintext.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
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
        let cli = Cli::try_parse_from(["plogd"])?;
        assert_eq!(cli.config, None);
        Ok(())
    }
}
