//! `plog friend …`: invites, friend requests, approval and safety-number verification.

use clap::{ArgGroup, Subcommand};

use crate::GlobalArgs;
use crate::error::{Error, not_implemented};

/// The `plog friend` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum FriendCommand {
    /// Create an invite code to hand to a friend.
    Invite,
    /// Ask to become friends, with an invite code or by handle (the latter stays unverified).
    #[command(group(ArgGroup::new("whom").required(true).args(["code", "handle"])))]
    Request {
        /// The invite code (`locator.secret`).
        code: Option<String>,
        /// Find the system by its handle instead.
        #[arg(long, value_name = "NAME")]
        handle: Option<String>,
    },
    /// List pending friend requests (fetched from the relay first).
    Requests,
    /// Approve a friend request.
    Approve {
        /// The request's id, as listed by `plog friend requests`.
        id: String,
    },
    /// List friends (fetched from the relay first).
    List,
    /// Compare safety numbers with a friend and mark them verified.
    Verify {
        /// The friend's local name.
        name: String,
    },
}

pub(crate) fn run(command: &FriendCommand, _global: &GlobalArgs) -> Result<(), Error> {
    match command {
        FriendCommand::Invite => not_implemented("plog friend invite"),
        FriendCommand::Request { .. } => not_implemented("plog friend request"),
        FriendCommand::Requests => not_implemented("plog friend requests"),
        FriendCommand::Approve { .. } => not_implemented("plog friend approve"),
        FriendCommand::List => not_implemented("plog friend list"),
        FriendCommand::Verify { .. } => not_implemented("plog friend verify"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use clap::error::ErrorKind;

    use crate::Cli;

    #[test]
    fn request_takes_a_code_or_a_handle_not_both() {
        assert!(Cli::try_parse_from(["plog", "friend", "request", "abc.def"]).is_ok());
        assert!(Cli::try_parse_from(["plog", "friend", "request", "--handle", "kit"]).is_ok());
        let kind = |args: &[&str]| Cli::try_parse_from(args).err().map(|e| e.kind());
        assert_eq!(
            kind(&["plog", "friend", "request"]),
            Some(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            kind(&["plog", "friend", "request", "abc.def", "--handle", "kit"]),
            Some(ErrorKind::ArgumentConflict)
        );
    }
}
