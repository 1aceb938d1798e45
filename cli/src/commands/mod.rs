//! One module per `plog` subcommand: its arguments (clap derive) and its `run`.
//!
//! Each `run` that needs the daemon makes exactly one D-Bus call (`relay add` and `relay trust`
//! first probe the relay so a person can approve its pin, `friend verify` shows the safety
//! number before confirming it, and `view` without a type lists the shared types before
//! fetching each) and prints the answer; listings print a JSON array of objects with `id` and,
//! where there is one, `name` under `--json`.

pub mod account;
pub mod analytics;
pub mod completions;
pub mod export;
pub mod friend;
pub mod front;
pub mod handle;
pub mod identity;
pub mod import;
pub mod init;
pub mod lock;
pub mod man;
pub mod member;
pub mod register;
pub mod relay;
pub mod share;
pub mod status;
pub mod sync;
pub mod unlock;
pub mod view;
pub mod volume;

use clap::Args;
use serde::Serialize;

/// `--relay ORIGIN`: which configured relay a command is about.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct RelayOption {
    /// The relay's origin, as listed by `plog relay list` (needed only when several relays
    /// are configured).
    #[arg(long, value_name = "ORIGIN")]
    pub relay: Option<String>,
}

impl RelayOption {
    /// The D-Bus `relay` argument: the origin, or empty for "the only configured relay".
    pub(crate) fn as_arg(&self) -> &str {
        self.relay.as_deref().unwrap_or("")
    }
}

/// What `--json` prints after a command that locks or unlocks the daemon.
#[derive(Debug, Serialize)]
pub(crate) struct LockState {
    /// Whether the keys are out of memory now.
    pub(crate) locked: bool,
}
