//! `plog unlock`: unlock the daemon's keys with the passphrase.

use std::path::PathBuf;

use clap::Args;

use crate::GlobalArgs;
use crate::commands::LockState;
use crate::console::Prompter;
use crate::daemon::{Daemon, block_on, call};
use crate::error::Error;
use crate::output;
use crate::pipe;
use crate::secret::{self, PassphraseUse};

/// Arguments of `plog unlock`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct UnlockArgs {
    /// Read the passphrase from this file instead of asking (must not be readable by others).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

pub(crate) fn run(
    args: &UnlockArgs,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    let passphrase = secret::passphrase(
        args.passphrase_file.as_deref(),
        PassphraseUse::Current,
        prompter,
    )?;
    block_on(async {
        let daemon = Daemon::connect().await?;
        let identity = daemon.identity().await?;
        let (passphrase_fd, feeder) = pipe::feed_secret(passphrase)?;
        call("Identity.Unlock", identity.unlock(passphrase_fd)).await?;
        feeder
            .finish()
            .map_err(|err| Error::io("sending the passphrase", err))?;
        Ok(())
    })?;
    if global.json {
        output::print_json(&LockState { locked: false })
    } else {
        output::print("plogd is unlocked.\n")
    }
}
