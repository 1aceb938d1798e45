//! `plog member …`: the system's members.

use clap::Subcommand;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// The `plog member` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum MemberCommand {
    /// Add a member.
    Add {
        /// The member's name.
        name: String,
        /// Pronouns, e.g. `they/them`.
        #[arg(long, value_name = "P")]
        pronouns: Option<String>,
        /// A display name.
        #[arg(long, value_name = "D")]
        display_name: Option<String>,
        /// A colour as hex, e.g. `#7f5af0`.
        #[arg(long, value_name = "HEX")]
        color: Option<String>,
    },
    /// List members.
    Ls,
}

pub(crate) fn run(command: &MemberCommand, _global: &GlobalArgs) -> Result<(), Error> {
    match command {
        MemberCommand::Add { .. } => not_implemented("plog member add"),
        MemberCommand::Ls => not_implemented("plog member ls"),
    }
}
