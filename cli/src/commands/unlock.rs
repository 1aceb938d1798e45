//! `plog unlock`: unlock the daemon's keys with the passphrase.

use std::path::PathBuf;

use clap::Args;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// Arguments of `plog unlock`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct UnlockArgs {
    /// Read the passphrase from this file instead of asking (must not be readable by others).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

pub(crate) fn run(_args: &UnlockArgs, _global: &GlobalArgs) -> Result<(), Error> {
    not_implemented("plog unlock")
}
