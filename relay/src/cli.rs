//! The `plog-relay` command line (DESIGN §6.1), defined once with clap derive.
//!
//! Settings come, from lowest to highest precedence, from built-in defaults, the TOML file given
//! by `--config`, `PLOG_RELAY_*` environment variables and flags. The flags carry no `env`
//! attributes: the configuration layer (`crate::config`) reads every variable itself, so each
//! is handled once and an unknown one is reported.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use uuid::Uuid;

/// PluralLog relay: stores end-to-end encrypted volumes it cannot read.
#[derive(Debug, Parser)]
#[command(name = "plog-relay", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `plog-relay` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Run the relay: public HTTPS API, admin listener, NATS and database connections.
    Serve(ServeArgs),
    /// Print the certificate pin (`sha256:` + 64 hex digits) users approve on first contact.
    Fingerprint(FingerprintArgs),
    /// Print a commented example configuration file.
    DefaultConfig,
    /// Operator tools, through the admin listener.
    Admin(AdminArgs),
}

/// Flags of `plog-relay serve`. The default is no flags at all.
#[derive(Debug, Default, Args)]
#[non_exhaustive]
pub struct ServeArgs {
    /// Configuration file (TOML); default: the file named by `PLOG_RELAY_CONFIG`, if any.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the certificate, the SQLite database, the admin token and the managed NATS
    /// server's store.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the public HTTPS listener.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Address of the admin listener: a loopback address or `unix:PATH`, never the public port.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// NATS server or cluster to use; without it the relay runs its own `nats-server` child.
    #[arg(long, value_name = "URL")]
    pub nats_url: Option<String>,
    /// Metadata database (`sqlite:…` or `postgres://…`); SQLite in the data directory by default.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// The origin clients connect to and logins are bound to, shared by all instances.
    #[arg(long, value_name = "URL")]
    pub public_origin: Option<String>,
}

/// Flags of `plog-relay fingerprint`. The default is no flags at all.
#[derive(Debug, Default, Args)]
#[non_exhaustive]
pub struct FingerprintArgs {
    /// Configuration file (TOML) naming `[tls]` certificate files or the data directory, as
    /// for `serve`; default: the file named by `PLOG_RELAY_CONFIG`, if any.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory holding the relay's generated certificate.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Flags of `plog-relay admin`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct AdminArgs {
    /// Data directory of a local relay: the admin address and `admin.token` are read from it.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["admin_url", "token_file"])]
    pub data_dir: Option<PathBuf>,
    /// URL of the admin listener (with `--token-file`).
    #[arg(long, value_name = "URL", requires = "token_file")]
    pub admin_url: Option<String>,
    /// File holding the admin bearer token (with `--admin-url`).
    #[arg(long, value_name = "FILE", requires = "admin_url")]
    pub token_file: Option<PathBuf>,
    /// Print exactly one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// The admin action.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The `plog-relay admin` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum AdminCommand {
    /// Counts of accounts, volumes (overall and by type), storage, friend links, grants, sessions.
    Stats,
    /// List accounts: id, kind, handle, storage, activity.
    Users,
    /// List sharing grants (volume and grantee ids).
    Grants,
    /// Session count, or invalidate every session.
    #[command(subcommand)]
    Sessions(AdminSessionsCommand),
    /// Purge expired challenges, unactivated accounts and orphaned objects now.
    Cleanup,
    /// Show recent anomalies: mass challenges, auth failures, storage growth.
    Anomalies,
    /// Delete an account and everything it owns.
    DeleteUser {
        /// The account's user id.
        user_id: Uuid,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// The `plog-relay admin sessions` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum AdminSessionsCommand {
    /// Print the number of live sessions.
    Count,
    /// End every session on every instance (bumps the relay's session epoch).
    InvalidateAll {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

impl AdminCommand {
    /// The full command, as named in messages.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Stats => "plog-relay admin stats",
            Self::Users => "plog-relay admin users",
            Self::Grants => "plog-relay admin grants",
            Self::Sessions(AdminSessionsCommand::Count) => "plog-relay admin sessions count",
            Self::Sessions(AdminSessionsCommand::InvalidateAll { .. }) => {
                "plog-relay admin sessions invalidate-all"
            }
            Self::Cleanup => "plog-relay admin cleanup",
            Self::Anomalies => "plog-relay admin anomalies",
            Self::DeleteUser { .. } => "plog-relay admin delete-user",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("plog-relay").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_takes_every_contract_flag() -> Result<(), clap::Error> {
        let cli = parse(&[
            "serve",
            "--config",
            "relay.toml",
            "--data-dir",
            "data",
            "--listen",
            "127.0.0.1:8443",
            "--admin-listen",
            "127.0.0.1:8444",
            "--nats-url",
            "nats://127.0.0.1:4222",
            "--database-url",
            "sqlite:relay.db",
            "--public-origin",
            "https://relay.example",
        ])?;
        let Command::Serve(serve) = cli.command else {
            panic!("expected serve, got {:?}", cli.command);
        };
        assert_eq!(serve.listen, Some(SocketAddr::from(([127, 0, 0, 1], 8443))));
        assert_eq!(serve.admin_listen.as_deref(), Some("127.0.0.1:8444"));
        assert_eq!(
            serve.public_origin.as_deref(),
            Some("https://relay.example")
        );
        Ok(())
    }

    #[test]
    fn no_flag_reads_the_environment() {
        // The configuration layer reads every PLOG_RELAY_* variable; clap must not as well.
        fn walk(command: &clap::Command) {
            for arg in command.get_arguments() {
                assert_eq!(
                    arg.get_env(),
                    None,
                    "{} --{}",
                    command.get_name(),
                    arg.get_id()
                );
            }
            command.get_subcommands().for_each(walk);
        }
        walk(&Cli::command());
    }

    #[test]
    fn fingerprint_takes_a_config_file_and_a_data_dir() -> Result<(), clap::Error> {
        let cli = parse(&[
            "fingerprint",
            "--config",
            "relay.toml",
            "--data-dir",
            "data",
        ])?;
        let Command::Fingerprint(args) = cli.command else {
            panic!("expected fingerprint, got {:?}", cli.command);
        };
        assert_eq!(args.config, Some(PathBuf::from("relay.toml")));
        assert_eq!(args.data_dir, Some(PathBuf::from("data")));
        Ok(())
    }

    #[test]
    fn serve_rejects_a_listen_address_that_is_not_one() {
        let err = parse(&["serve", "--listen", "not-an-address"]).err();
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::ValueValidation));
    }

    #[test]
    fn admin_json_is_accepted_after_the_subcommand() -> Result<(), clap::Error> {
        let cli = parse(&["admin", "--data-dir", "data", "stats", "--json"])?;
        let Command::Admin(admin) = cli.command else {
            panic!("expected admin, got {:?}", cli.command);
        };
        assert!(admin.json);
        assert_eq!(admin.command.name(), "plog-relay admin stats");
        Ok(())
    }

    #[test]
    fn admin_data_dir_excludes_url_and_token() {
        let err = parse(&[
            "admin",
            "--data-dir",
            "data",
            "--admin-url",
            "http://127.0.0.1:8444",
            "--token-file",
            "token",
            "stats",
        ])
        .err();
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::ArgumentConflict));
    }

    #[test]
    fn admin_url_needs_a_token_file() {
        let err = parse(&["admin", "--admin-url", "http://127.0.0.1:8444", "stats"]).err();
        assert_eq!(
            err.map(|e| e.kind()),
            Some(ErrorKind::MissingRequiredArgument)
        );
    }

    #[test]
    fn delete_user_needs_a_uuid() {
        let err = parse(&["admin", "delete-user", "alice"]).err();
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::ValueValidation));
    }
}
