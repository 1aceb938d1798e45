//! `plog identity …`: back up, install and restore the identity.

use std::fs::File;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::GlobalArgs;
use crate::commands::LockState;
use crate::console::Prompter;
use crate::daemon::{Daemon, block_on, call};
use crate::error::Error;
use crate::output;
use crate::output_file::OutputFile;
use crate::pipe;
use crate::progress::Bar;
use crate::secret::{self, PassphraseUse, Secret};

/// The `plog identity` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum IdentityCommand {
    /// Recreate the identity from its recovery phrase and unlock the daemon.
    Restore(RestoreArgs),
    /// Write the passphrase-sealed key file (asks for the passphrase again).
    Export(ExportArgs),
    /// Install a key file written by `plog identity export` and unlock the daemon.
    Import(ImportArgs),
}

/// Arguments of `plog identity restore`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct RestoreArgs {
    /// File holding the recovery phrase (must not be readable by others).
    #[arg(long, value_name = "FILE")]
    pub phrase_file: PathBuf,
    /// Read the new passphrase from this file instead of asking.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// Arguments of `plog identity export`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct ExportArgs {
    /// Write the key file here (mode 0600) instead of to stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read the passphrase from this file instead of asking (must not be readable by others).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// Arguments of `plog identity import`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct ImportArgs {
    /// The key file.
    pub file: PathBuf,
    /// Read the key file's passphrase from this file instead of asking (must not be readable
    /// by others).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// What `plog identity export -o FILE --json` prints.
#[derive(Debug, Serialize)]
struct Exported<'a> {
    key_file: &'a Path,
    bytes: u64,
}

pub(crate) fn run(
    command: &IdentityCommand,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    match command {
        IdentityCommand::Restore(args) => restore(args, global, prompter),
        IdentityCommand::Export(args) => export(args, global, prompter),
        IdentityCommand::Import(args) => import(args, global, prompter),
    }
}

fn restore(
    args: &RestoreArgs,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    let phrase = secret::read_secret_file(&args.phrase_file, "recovery phrase")?;
    let passphrase = secret::passphrase(
        args.passphrase_file.as_deref(),
        PassphraseUse::New,
        prompter,
    )?;
    block_on(async {
        let daemon = Daemon::connect().await?;
        let identity = daemon.identity().await?;
        let (phrase_fd, phrase_feeder) = pipe::feed_secret(phrase)?;
        let (passphrase_fd, passphrase_feeder) = pipe::feed_secret(passphrase)?;
        call(
            "Identity.Restore",
            identity.restore(phrase_fd, passphrase_fd),
        )
        .await?;
        phrase_feeder
            .finish()
            .map_err(|err| Error::io("sending the recovery phrase", err))?;
        passphrase_feeder
            .finish()
            .map_err(|err| Error::io("sending the passphrase", err))?;
        Ok(())
    })?;
    if global.json {
        output::print_json(&LockState { locked: false })
    } else {
        output::print(
            "The identity is restored and plogd is unlocked. Add your relays again with \
             `plog relay add URL`: their accounts are found by key.\n",
        )
    }
}

fn export(
    args: &ExportArgs,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    check_export_target(
        args.output.as_deref(),
        global.json,
        io::stdout().is_terminal(),
    )?;
    let passphrase = secret::passphrase(
        args.passphrase_file.as_deref(),
        PassphraseUse::Current,
        prompter,
    )?;
    match &args.output {
        Some(path) => {
            let file = OutputFile::create(path, 0o600)?;
            let (file, bytes) = block_on(export_into(passphrase, file))?;
            let written = file.commit()?;
            if global.json {
                output::print_json(&Exported {
                    key_file: &written,
                    bytes,
                })
            } else {
                output::print(&format!(
                    "Key file written to {}; it opens only with your passphrase.\n",
                    written.display()
                ))
            }
        }
        None => block_on(export_into(passphrase, io::stdout())).map(drop),
    }
}

/// The key file is binary, and stdout carries the JSON document under `--json`.
fn check_export_target(
    output: Option<&Path>,
    json: bool,
    stdout_is_terminal: bool,
) -> Result<(), Error> {
    match output {
        Some(_) => Ok(()),
        None if json => Err(Error::Usage(
            "with --json the key file needs a place of its own: pass -o FILE".to_owned(),
        )),
        None if stdout_is_terminal => Err(Error::Usage(
            "the key file is binary and stdout is a terminal: pass -o FILE or redirect stdout"
                .to_owned(),
        )),
        None => Ok(()),
    }
}

/// `Identity.Export` into `sink`.
async fn export_into<W: io::Write + Send + 'static>(
    passphrase: Secret,
    sink: W,
) -> Result<(W, u64), Error> {
    let daemon = Daemon::connect().await?;
    let identity = daemon.identity().await?;
    let (passphrase_fd, feeder) = pipe::feed_secret(passphrase)?;
    let (key_file_fd, drain) = pipe::drain_into(sink, Bar::hidden())?;
    let called = call(
        "Identity.Export",
        identity.export(passphrase_fd, key_file_fd),
    )
    .await;
    let ((), copied) = drain.settle(called, || "writing the key file".to_owned())?;
    feeder
        .finish()
        .map_err(|err| Error::io("sending the passphrase", err))?;
    Ok(copied)
}

fn import(
    args: &ImportArgs,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    let key_file = File::open(&args.file).map_err(|err| {
        Error::Usage(format!(
            "cannot open the key file {}: {err}",
            args.file.display()
        ))
    })?;
    let passphrase = secret::passphrase(
        args.passphrase_file.as_deref(),
        PassphraseUse::Current,
        prompter,
    )?;
    block_on(async {
        let daemon = Daemon::connect().await?;
        let identity = daemon.identity().await?;
        let (key_file_fd, key_feeder) = pipe::feed_from(key_file, Bar::hidden())?;
        let (passphrase_fd, passphrase_feeder) = pipe::feed_secret(passphrase)?;
        call(
            "Identity.Import",
            identity.import(key_file_fd, passphrase_fd),
        )
        .await?;
        key_feeder
            .finish()
            .map_err(|err| Error::io(format!("reading {}", args.file.display()), err))?;
        passphrase_feeder
            .finish()
            .map_err(|err| Error::io("sending the passphrase", err))?;
        Ok(())
    })?;
    if global.json {
        output::print_json(&LockState { locked: false })
    } else {
        output::print("The key file is installed and plogd is unlocked.\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_never_goes_to_a_terminal_or_into_json() {
        let file = Some(Path::new("key"));
        assert!(check_export_target(file, true, true).is_ok());
        assert!(check_export_target(None, false, false).is_ok());
        for (json, terminal, hint) in [(true, false, "--json"), (false, true, "terminal")] {
            let err = check_export_target(None, json, terminal).expect_err("refused");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(hint), "{err}");
            assert!(err.to_string().contains("-o FILE"), "{err}");
        }
    }
}
