//! The relay's one job: be the **untrusted HTTPS server** that stores ciphertext volumes,
//! authenticates devices by challenge, enforces sharing grants and delivers sealed mail between
//! PluralLog users — without ever holding a password, a private key, a volume key or plaintext.
//!
//! The binary `plog-relay` is a thin wrapper: it parses its arguments with [`Cli`] and hands
//! them to [`run`]. This version defines the command-line contract (`serve`, `fingerprint`,
//! `default-config`, `admin …`); every command still reports that it is not implemented and
//! fails, so nothing can mistake it for a working relay.
#![forbid(unsafe_code)]

mod cli;
mod error;

pub use cli::{
    AdminArgs, AdminCommand, AdminSessionsCommand, Cli, Command, FingerprintArgs, ServeArgs,
};
pub use error::{EXIT_FAILURE, Error};

/// The relay's version, as printed by `plog-relay --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs one parsed `plog-relay` command line.
///
/// # Errors
///
/// Every command currently returns [`Error::NotImplemented`].
pub fn run(cli: &Cli) -> Result<(), Error> {
    let command = match &cli.command {
        Command::Serve(_) => "plog-relay serve",
        Command::Fingerprint(_) => "plog-relay fingerprint",
        Command::DefaultConfig => "plog-relay default-config",
        Command::Admin(admin) => admin.command.name(),
    };
    Err(Error::NotImplemented { command })
}
