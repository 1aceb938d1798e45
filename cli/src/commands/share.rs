//! `plog share …`: grant or revoke a friend's access to volume types.

use clap::Subcommand;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// The `plog share` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum ShareCommand {
    /// Give a friend the keys to one or more volume types.
    Grant {
        /// The friend's local name.
        friend: String,
        /// The volume types to share.
        #[arg(value_name = "TYPE", required = true)]
        types: Vec<String>,
    },
    /// Revoke a friend's access (to the given types, or to everything); rotates the keys.
    Revoke {
        /// The friend's local name.
        friend: String,
        /// The volume types to revoke; all of them if none are given.
        #[arg(value_name = "TYPE")]
        types: Vec<String>,
    },
}

pub(crate) fn run(command: &ShareCommand, _global: &GlobalArgs) -> Result<(), Error> {
    match command {
        ShareCommand::Grant { .. } => not_implemented("plog share grant"),
        ShareCommand::Revoke { .. } => not_implemented("plog share revoke"),
    }
}
