//! `plog register`: create an account on the relays, as a system or as a friend.

use clap::Args;

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

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

pub(crate) fn run(_args: &RegisterArgs, _global: &GlobalArgs) -> Result<(), Error> {
    not_implemented("plog register")
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
        assert_eq!(args.handle.as_deref(), Some("kit"));
        assert_eq!(
            kind_error(&["plog", "register"]),
            Some(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            kind_error(&["plog", "register", "--system", "--friend"]),
            Some(ErrorKind::ArgumentConflict)
        );
        Ok(())
    }
}
