//! One module per `plog` subcommand: its arguments (clap derive) and its `run`.
//!
//! Each `run` will make exactly one D-Bus call to `plogd` and print the answer; listings print a
//! JSON array of objects with `id` and, where there is one, `name` under `--json`.

pub mod analytics;
pub mod export;
pub mod friend;
pub mod front;
pub mod identity;
pub mod import;
pub mod init;
pub mod lock;
pub mod member;
pub mod register;
pub mod relay;
pub mod share;
pub mod status;
pub mod sync;
pub mod unlock;
pub mod view;
pub mod volume;
