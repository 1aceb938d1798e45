//! `plog volume …`: store, fetch and list volumes, byte for byte.

use std::path::PathBuf;

use clap::Subcommand;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// The `plog volume` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum VolumeCommand {
    /// Store FILE (or stdin, for `-`) as the volume of TYPE, exactly as given.
    Put {
        /// The volume type, e.g. `members`, `front`, `journals`.
        #[arg(value_name = "TYPE")]
        volume_type: String,
        /// The content: a file, or `-` for stdin.
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
    },
    /// Print the volume of TYPE (or write it to a file), byte for byte as stored.
    Get {
        /// The volume type.
        #[arg(value_name = "TYPE")]
        volume_type: String,
        /// Write to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List this identity's volumes.
    Ls,
}

pub(crate) fn run(command: &VolumeCommand, _global: &GlobalArgs) -> Result<(), Error> {
    match command {
        VolumeCommand::Put { .. } => not_implemented("plog volume put"),
        VolumeCommand::Get { .. } => not_implemented("plog volume get"),
        VolumeCommand::Ls => not_implemented("plog volume ls"),
    }
}
