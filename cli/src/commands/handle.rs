//! `plog handle …`: the optional public name others can find this identity's account by.

use clap::Subcommand;

use crate::GlobalArgs;
use crate::commands::RelayOption;
use crate::commands::register::parse_handle;
use crate::commands::relay::print_entry;
use crate::daemon::{Daemon, block_on, call};
use crate::error::Error;

/// The `plog handle` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum HandleCommand {
    /// Take NAME as this account's handle (replacing the current one); handles are public on
    /// the relay.
    Set {
        /// The handle: 3 to 32 characters, a letter first, then letters, digits, `-` or `_`.
        name: String,
        /// The relay.
        #[command(flatten)]
        relay: RelayOption,
    },
    /// Give up this account's handle.
    Release {
        /// The relay.
        #[command(flatten)]
        relay: RelayOption,
    },
}

pub(crate) fn run(command: &HandleCommand, global: &GlobalArgs) -> Result<(), Error> {
    match command {
        HandleCommand::Set { name, relay } => {
            const METHOD: &str = "Relays.SetHandle";
            let handle = parse_handle(name)?;
            let json = block_on(async {
                let relays = Daemon::connect().await?.relays().await?;
                call(METHOD, relays.set_handle(relay.as_arg(), handle.as_str())).await
            })?;
            print_entry(METHOD, &json, global, "updated")
        }
        HandleCommand::Release { relay } => {
            const METHOD: &str = "Relays.ReleaseHandle";
            let json = block_on(async {
                let relays = Daemon::connect().await?.relays().await?;
                call(METHOD, relays.release_handle(relay.as_arg())).await
            })?;
            print_entry(METHOD, &json, global, "updated")
        }
    }
}
