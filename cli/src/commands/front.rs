//! `plog front …`: who is fronting now, and the switch history.

use clap::Subcommand;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// The `plog front` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum FrontCommand {
    /// Replace the current front with these members.
    Set {
        /// The members now fronting.
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// Add a member to the current front (co-fronting).
    Add {
        /// The member.
        name: String,
    },
    /// Take a member out of the current front.
    End {
        /// The member.
        name: String,
    },
    /// Show who is fronting now.
    Now,
    /// Show the switch history.
    Log {
        /// Only switches since WHEN (a date, a time or a duration such as `7d`).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
    },
}

pub(crate) fn run(command: &FrontCommand, _global: &GlobalArgs) -> Result<(), Error> {
    match command {
        FrontCommand::Set { .. } => not_implemented("plog front set"),
        FrontCommand::Add { .. } => not_implemented("plog front add"),
        FrontCommand::End { .. } => not_implemented("plog front end"),
        FrontCommand::Now => not_implemented("plog front now"),
        FrontCommand::Log { .. } => not_implemented("plog front log"),
    }
}
