//! `plog register`: create an account on the relays, as a system or as a friend.

use clap::Args;
use plog_ipc_schema::Handle;
use plog_ipc_schema::http::accounts::AccountKind;

use crate::GlobalArgs;
use crate::commands::RelayOption;
use crate::commands::relay::print_entry;
use crate::daemon::{Daemon, block_on, call};
use crate::error::Error;

/// Arguments of `plog register`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct RegisterArgs {
    /// The kind of account.
    #[command(flatten)]
    pub kind: KindArgs,
    /// A handle others can find this account by (optional; handles are public on the relay).
    #[arg(long, value_name = "NAME")]
    pub handle: Option<String>,
    /// The relay to register at.
    #[command(flatten)]
    pub relay: RelayOption,
}

/// Exactly one of `--system` and `--friend`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
#[non_exhaustive]
pub struct KindArgs {
    /// Register as a system (owns and shares records).
    #[arg(long)]
    pub system: bool,
    /// Register as a friend (sees what systems share).
    #[arg(long)]
    pub friend: bool,
}

impl KindArgs {
    /// The account kind chosen.
    #[must_use]
    pub fn kind(&self) -> AccountKind {
        if self.friend {
            AccountKind::Friend
        } else {
            AccountKind::System
        }
    }
}

/// Checks a handle given on the command line and folds it to its canonical (lower-case) form.
pub(crate) fn parse_handle(text: &str) -> Result<Handle, Error> {
    Handle::parse(text).map_err(|err| Error::Usage(format!("invalid handle {text:?}: {err}")))
}

pub(crate) fn run(args: &RegisterArgs, global: &GlobalArgs) -> Result<(), Error> {
    const METHOD: &str = "Relays.Register";
    let handle = args.handle.as_deref().map(parse_handle).transpose()?;
    let handle = handle.as_ref().map_or("", Handle::as_str);
    let kind = args.kind.kind().as_str();
    let json = block_on(async {
        let daemon = Daemon::connect().await?;
        let relays = daemon.relays().await?;
        call(METHOD, relays.register(args.relay.as_arg(), kind, handle)).await
    })?;
    print_entry(METHOD, &json, global, "registered")
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use clap::error::ErrorKind;

    use crate::{Cli, Command};

    fn kind_error(args: &[&str]) -> Option<ErrorKind> {
        Cli::try_parse_from(args).err().map(|e| e.kind())
    }

    #[test]
    fn exactly_one_account_kind() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from(["plog", "register", "--friend", "--handle", "kit"])?;
        let Command::Register(args) = cli.command else {
            panic!("expected register, got {:?}", cli.command);
        };
        assert!(args.kind.friend && !args.kind.system);
        assert_eq!(args.kind.kind().as_str(), "friend");
        assert_eq!(args.handle.as_deref(), Some("kit"));
        assert_eq!(args.relay.as_arg(), "");
        assert_eq!(
            kind_error(&["plog", "register"]),
            Some(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            kind_error(&["plog", "register", "--system", "--friend"]),
            Some(ErrorKind::ArgumentConflict)
        );
        let cli = Cli::try_parse_from(["plog", "register", "--system", "--relay", "https://r"])?;
        let Command::Register(args) = cli.command else {
            panic!("expected register, got {:?}", cli.command);
        };
        assert_eq!(args.kind.kind().as_str(), "system");
        assert_eq!(args.relay.as_arg(), "https://r");
        Ok(())
    }

    #[test]
    fn handles_are_checked_and_folded_before_asking_the_daemon() {
        assert_eq!(
            super::parse_handle("Kit_2")
                .map(|h| h.as_str().to_owned())
                .ok(),
            Some("kit_2".to_owned())
        );
        for bad in ["k", "2kit", "kit!", ""] {
            let err = super::parse_handle(bad).expect_err("invalid");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().starts_with("invalid handle"), "{err}");
        }
    }
}
