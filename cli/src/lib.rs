//! The CLI's one job: **argument parsing and output**. `plog` turns a command line into exactly
//! one D-Bus call to the user's `plogd` and prints the answer as text or, with `--json`, as one
//! JSON document on stdout. It holds no keys and does no cryptography or networking of its own.
//!
//! The command tree is the scriptable contract of DESIGN §6.1, defined once with clap derive:
//! [`Cli`] and [`Command`] here, one module under [`commands`] per subcommand, each with its
//! arguments and its `run`. The binary `plog` only parses and calls [`run`].
//!
//! Identity, relay, account, volume, sync, friend, sharing and view commands talk to the
//! daemon through the proxies of `plog-ipc-schema`; secrets and payloads cross only as pipes
//! handed over as file descriptors. Record commands are not carried out yet and fail with
//! "not implemented in this version". Errors go to stderr as `error: <description>` with the
//! exit status of [`Error::exit_code`].

pub mod commands;
mod console;
mod daemon;
mod error;
mod output;
mod output_file;
mod pipe;
mod progress;
mod secret;

use clap::{Args, Parser, Subcommand};

pub use error::{EXIT_FAILURE, Error, NoBus};

/// The CLI's version, as printed by `plog --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// PluralLog: end-to-end encrypted records for plural systems.
#[derive(Debug, Parser)]
#[command(name = "plog", version)]
#[non_exhaustive]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, before or after the subcommand.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct GlobalArgs {
    /// Print exactly one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Answer yes to confirmations (nothing prompts when stdin is not a terminal).
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
}

/// The `plog` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Create a new identity, print its recovery phrase and unlock the daemon.
    Init(commands::init::InitArgs),
    /// Unlock the daemon's keys with the passphrase.
    Unlock(commands::unlock::UnlockArgs),
    /// Forget the unlocked keys now.
    Lock(commands::lock::LockArgs),
    /// Show whether the daemon is unlocked, its relays and the last sync.
    Status(commands::status::StatusArgs),
    /// Identity backup and restore.
    #[command(subcommand)]
    Identity(commands::identity::IdentityCommand),
    /// Relays this identity uses.
    #[command(subcommand)]
    Relay(commands::relay::RelayCommand),
    /// Register an account on the relays (as a system or as a friend).
    Register(commands::register::RegisterArgs),
    /// The public handle of this identity's account at a relay.
    #[command(subcommand)]
    Handle(commands::handle::HandleCommand),
    /// This identity's account at a relay.
    #[command(subcommand)]
    Account(commands::account::AccountCommand),
    /// Store and fetch volumes byte for byte.
    #[command(subcommand)]
    Volume(commands::volume::VolumeCommand),
    /// Run one sync round now; fails if the round failed.
    Sync(commands::sync::SyncArgs),
    /// Invite, request, approve, list and verify friends.
    #[command(subcommand)]
    Friend(commands::friend::FriendCommand),
    /// Grant, revoke and list friends' access to volume types.
    #[command(subcommand)]
    Share(commands::share::ShareCommand),
    /// Show what a system has shared with you (decrypted in memory, printed on stdout only).
    ///
    /// Text is printed under a heading per volume type, with control characters (terminal
    /// escape sequences, bidirectional overrides) shown escaped, since the content is someone
    /// else's; binary content is only counted. `--raw` prints one type's bytes exactly as
    /// stored; `--json` prints an array of objects with the content as a string (null when it
    /// is not UTF-8).
    View(commands::view::ViewArgs),
    /// System members.
    #[command(subcommand)]
    Member(commands::member::MemberCommand),
    /// Who is fronting, and the switch history.
    #[command(subcommand)]
    Front(commands::front::FrontCommand),
    /// Summaries of fronting over time.
    Analytics(commands::analytics::AnalyticsArgs),
    /// Import another app's export.
    #[command(subcommand)]
    Import(commands::import::ImportCommand),
    /// Export all records to a file.
    Export(commands::export::ExportArgs),
    /// Print a shell completion script for plog.
    Completions(commands::completions::CompletionsArgs),
    /// Print plog's man page, or write one page per command into a directory.
    Man(commands::man::ManArgs),
}

/// Runs one parsed `plog` command line.
///
/// Questions (confirmations, passphrases) are asked on the terminal, and only when stdin is
/// one.
///
/// # Errors
///
/// The [`Error`] that made the command fail; [`Error::exit_code`] is the status to exit with.
pub fn run(cli: &Cli) -> Result<(), Error> {
    let global = &cli.global;
    let prompter = &mut console::Terminal;
    match &cli.command {
        Command::Init(args) => commands::init::run(args, global, prompter),
        Command::Unlock(args) => commands::unlock::run(args, global, prompter),
        Command::Lock(args) => commands::lock::run(args, global),
        Command::Status(args) => commands::status::run(args, global),
        Command::Identity(command) => commands::identity::run(command, global, prompter),
        Command::Relay(command) => commands::relay::run(command, global, prompter),
        Command::Register(args) => commands::register::run(args, global),
        Command::Handle(command) => commands::handle::run(command, global),
        Command::Account(command) => commands::account::run(command, global, prompter),
        Command::Volume(command) => commands::volume::run(command, global),
        Command::Sync(args) => commands::sync::run(args, global),
        Command::Friend(command) => commands::friend::run(command, global, prompter),
        Command::Share(command) => commands::share::run(command, global, prompter),
        Command::View(args) => commands::view::run(args, global),
        Command::Member(command) => commands::member::run(command, global),
        Command::Front(command) => commands::front::run(command, global),
        Command::Analytics(args) => commands::analytics::run(args, global),
        Command::Import(command) => commands::import::run(command, global),
        Command::Export(args) => commands::export::run(args, global),
        Command::Completions(args) => commands::completions::run(args, global),
        Command::Man(args) => commands::man::run(args, global),
    }
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
    fn json_and_yes_are_accepted_anywhere() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from(["plog", "--json", "status"])?;
        assert!(cli.global.json);
        let cli = Cli::try_parse_from(["plog", "friend", "list", "--json", "--yes"])?;
        assert!(cli.global.json && cli.global.yes);
        Ok(())
    }

    #[test]
    fn unimplemented_commands_fail_naming_themselves() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from(["plog", "front", "log", "--since", "yesterday"])?;
        let err = run(&cli).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("plog front log: not implemented in this version")
        );
        Ok(())
    }
}
