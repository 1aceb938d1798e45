//! `plog status`: whether the daemon is unlocked, its relays and the last sync.

use clap::Args;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// Arguments of `plog status` (none yet).
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct StatusArgs {}

pub(crate) fn run(_args: &StatusArgs, _global: &GlobalArgs) -> Result<(), Error> {
    not_implemented("plog status")
}
