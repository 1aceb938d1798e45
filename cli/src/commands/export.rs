//! `plog export`: write all records to a file.

use std::path::PathBuf;

use clap::Args;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// Arguments of `plog export`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct ExportArgs {
    /// The file to write.
    pub file: PathBuf,
}

pub(crate) fn run(_args: &ExportArgs, _global: &GlobalArgs) -> Result<(), Error> {
    not_implemented("plog export")
}
