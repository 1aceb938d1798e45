//! `plog init`: create an identity, show its recovery phrase once, unlock the daemon.

use std::path::PathBuf;

use clap::Args;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// Arguments of `plog init`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct InitArgs {
    /// Read the new passphrase from this file instead of asking (must not be readable by
    /// others).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

pub(crate) fn run(_args: &InitArgs, _global: &GlobalArgs) -> Result<(), Error> {
    not_implemented("plog init")
}
