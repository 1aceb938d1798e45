//! `plog init`: create an identity, show its recovery phrase once, unlock the daemon.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use plog_ipc_schema::dbus::identity::RecoveryPhraseOutput;

use crate::GlobalArgs;
use crate::console::Prompter;
use crate::daemon::{Daemon, block_on, call};
use crate::error::Error;
use crate::pipe;
use crate::secret::{self, MAX_SECRET_LEN, PassphraseUse, Secret};

/// Arguments of `plog init`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct InitArgs {
    /// Read the new passphrase from this file instead of asking (must not be readable by
    /// others).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

/// Said on stderr before the phrase, so it is seen even when stdout goes to a file.
const WARNING: &str = "\
Your recovery phrase follows. Write it down and keep it offline, somewhere safe: with your
relay list it is the only way to recover this identity if the key file or the passphrase is
lost, and anyone who has it can take the identity over. It is shown only this once.
";

pub(crate) fn run(
    args: &InitArgs,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    let passphrase = secret::passphrase(
        args.passphrase_file.as_deref(),
        PassphraseUse::New,
        prompter,
    )?;
    let phrase = block_on(init(passphrase))?;
    let words = std::str::from_utf8(secret::without_line_break(&phrase))
        .map_err(|_| Error::bad_reply("Identity.Init", "the recovery phrase is not UTF-8"))?;
    if words.is_empty() {
        return Err(Error::bad_reply(
            "Identity.Init",
            "no recovery phrase was written",
        ));
    }
    if global.json {
        let output = RecoveryPhraseOutput {
            recovery_phrase: words.to_owned(),
        };
        let mut stdout = io::stdout().lock();
        serde_json::to_writer(&mut stdout, &output)
            .map_err(io::Error::from)
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush())
            .map_err(|err| Error::io("writing to stdout", err))
    } else {
        eprint!("{WARNING}");
        let mut stdout = io::stdout().lock();
        stdout
            .write_all(words.as_bytes())
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush())
            .map_err(|err| Error::io("writing to stdout", err))?;
        eprintln!("The identity is created and plogd is unlocked.");
        Ok(())
    }
}

/// `Identity.Init`: the passphrase goes in through one pipe, the phrase comes back through
/// another.
async fn init(passphrase: Secret) -> Result<Secret, Error> {
    let daemon = Daemon::connect().await?;
    let identity = daemon.identity().await?;
    let (passphrase_fd, feeder) = pipe::feed_secret(passphrase)?;
    let (phrase_fd, drain) = pipe::drain_secret(MAX_SECRET_LEN)?;
    call("Identity.Init", identity.init(passphrase_fd, phrase_fd)).await?;
    feeder
        .finish()
        .map_err(|err| Error::io("sending the passphrase", err))?;
    drain
        .finish()
        .map_err(|err| Error::io("receiving the recovery phrase", err))
}
