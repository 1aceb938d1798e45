//! `plog sync`: one sync round, returning when it is finished.

use clap::Args;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// Arguments of `plog sync` (none yet).
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct SyncArgs {}

pub(crate) fn run(_args: &SyncArgs, _global: &GlobalArgs) -> Result<(), Error> {
    not_implemented("plog sync")
}
