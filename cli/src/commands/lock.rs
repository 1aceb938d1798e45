//! `plog lock`: make the daemon forget its unlocked keys.

use clap::Args;

use crate::GlobalArgs;
use crate::commands::LockState;
use crate::daemon::{Daemon, block_on, call};
use crate::error::Error;
use crate::output;

/// Arguments of `plog lock` (none yet).
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct LockArgs {}

pub(crate) fn run(_args: &LockArgs, global: &GlobalArgs) -> Result<(), Error> {
    block_on(async {
        let daemon = Daemon::connect().await?;
        call("Identity.Lock", daemon.identity().await?.lock()).await
    })?;
    if global.json {
        output::print_json(&LockState { locked: true })
    } else {
        output::print("plogd is locked.\n")
    }
}
