//! `plog account …`: this identity's account at a relay.

use clap::Subcommand;

use crate::commands::RelayOption;
use plog_ipc_schema::dbus::relays::RelayEntry;

use crate::GlobalArgs;
use crate::console::{self, Prompter};
use crate::daemon::{Daemon, block_on, call, parse_reply};
use crate::error::Error;
use crate::output;

/// The `plog account` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum AccountCommand {
    /// Delete the account and everything stored under it at the relay (asks first).
    Delete {
        /// The relay.
        #[command(flatten)]
        relay: RelayOption,
    },
}

pub(crate) fn run(
    command: &AccountCommand,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    match command {
        AccountCommand::Delete { relay } => {
            const METHOD: &str = "Relays.DeleteAccount";
            let at = relay
                .relay
                .as_deref()
                .map_or_else(|| "the configured relay".to_owned(), str::to_owned);
            console::confirm(
                prompter,
                global.yes,
                &format!(
                    "Delete your account at {at} and every volume, grant and message stored \
                     under it there? This cannot be undone."
                ),
                None,
            )?;
            let json = block_on(async {
                let relays = Daemon::connect().await?.relays().await?;
                call(METHOD, relays.delete_account(relay.as_arg())).await
            })?;
            let entry: RelayEntry = parse_reply(METHOD, &json)?;
            if global.json {
                output::print_daemon_json(METHOD, &json)
            } else {
                output::print(&format!(
                    "Your account at {} is deleted; the relay stays configured.\n",
                    entry.id
                ))
            }
        }
    }
}
