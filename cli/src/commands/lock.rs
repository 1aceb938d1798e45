//! `plog lock`: make the daemon forget its unlocked keys.

use clap::Args;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// Arguments of `plog lock` (none yet).
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct LockArgs {}

pub(crate) fn run(_args: &LockArgs, _global: &GlobalArgs) -> Result<(), Error> {
    not_implemented("plog lock")
}
