//! `plog import …`: read the export files of other apps.

use std::path::PathBuf;

use clap::Subcommand;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// The `plog import` subcommands, one per source format.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum ImportCommand {
    /// Import PluralKit's JSON export.
    Pluralkit {
        /// The export file.
        file: PathBuf,
    },
    /// Import Simply Plural's export.
    Simplyplural {
        /// The export file.
        file: PathBuf,
    },
}

pub(crate) fn run(command: &ImportCommand, _global: &GlobalArgs) -> Result<(), Error> {
    match command {
        ImportCommand::Pluralkit { .. } => not_implemented("plog import pluralkit"),
        ImportCommand::Simplyplural { .. } => not_implemented("plog import simplyplural"),
    }
}
