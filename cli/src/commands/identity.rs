//! `plog identity …`: restore an identity from its recovery phrase.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// The `plog identity` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum IdentityCommand {
    /// Recreate the identity from its recovery phrase and unlock the daemon.
    Restore(RestoreArgs),
}

/// Arguments of `plog identity restore`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct RestoreArgs {
    /// File holding the recovery phrase (must not be readable by others).
    #[arg(long, value_name = "FILE")]
    pub phrase_file: PathBuf,
    /// Read the new passphrase from this file instead of asking.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

pub(crate) fn run(command: &IdentityCommand, _global: &GlobalArgs) -> Result<(), Error> {
    match command {
        IdentityCommand::Restore(_) => not_implemented("plog identity restore"),
    }
}
