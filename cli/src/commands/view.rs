//! `plog view`: show what a system shared with you, decrypted in memory only.

use clap::Args;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// Arguments of `plog view`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct ViewArgs {
    /// The system's local name.
    pub system: String,
    /// Only this volume type.
    #[arg(value_name = "TYPE")]
    pub volume_type: Option<String>,
    /// Print the decrypted bytes exactly as stored.
    #[arg(long)]
    pub raw: bool,
}

pub(crate) fn run(_args: &ViewArgs, _global: &GlobalArgs) -> Result<(), Error> {
    not_implemented("plog view")
}
