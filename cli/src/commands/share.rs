//! `plog share …`: grant or revoke a friend's access to volume types, and list what is shared.

use clap::Subcommand;
use plog_ipc_schema::VolumeType;
use plog_ipc_schema::dbus::DaemonError;
use plog_ipc_schema::dbus::sharing::ShareEntry;

use crate::GlobalArgs;
use crate::commands::friend::type_list;
use crate::console::{self, Prompter};
use crate::daemon::{Daemon, block_on, call, parse_reply};
use crate::error::Error;
use crate::output::{self, Table};

/// The `plog share` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum ShareCommand {
    /// Give a friend the keys to one or more volume types.
    ///
    /// A friend whose key is not verified (or changed since) gets nothing unless you pass
    /// `--unverified`; compare safety numbers with `plog friend verify FRIEND` instead.
    Grant {
        /// The friend's name (or local id).
        friend: String,
        /// The volume types to share (`manifest` never is).
        #[arg(value_name = "TYPE", required = true)]
        types: Vec<String>,
        /// Share even though the friend's key is not verified.
        #[arg(long)]
        unverified: bool,
    },
    /// Revoke a friend's access (to the given types, or to everything); rotates the keys.
    ///
    /// Revoking everything asks first unless `--yes` is given. What the friend already read
    /// cannot be recalled; new revisions are sealed under new keys they do not get.
    Revoke {
        /// The friend's name (or local id).
        friend: String,
        /// The volume types to revoke; all of them if none are given.
        #[arg(value_name = "TYPE")]
        types: Vec<String>,
    },
    /// List what you share, per friend.
    #[command(visible_alias = "ls")]
    List,
}

pub(crate) fn run(
    command: &ShareCommand,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    match command {
        ShareCommand::Grant {
            friend,
            types,
            unverified,
        } => grant(friend, types, *unverified, global),
        ShareCommand::Revoke { friend, types } => revoke(friend, types, global, prompter),
        ShareCommand::List => list(global),
    }
}

/// Checks the volume types given on the command line: valid, grantable, each once (in the
/// order given).
fn parse_types(types: &[String]) -> Result<Vec<VolumeType>, Error> {
    let mut parsed: Vec<VolumeType> = Vec::with_capacity(types.len());
    for text in types {
        let vtype = VolumeType::parse(text)
            .map_err(|err| Error::Usage(format!("invalid volume type {text:?}: {err}")))?;
        if !vtype.is_grantable() {
            return Err(Error::Usage(format!(
                "{vtype} is never shared: it holds your keys and your friends list"
            )));
        }
        if !parsed.contains(&vtype) {
            parsed.push(vtype);
        }
    }
    Ok(parsed)
}

fn grant(
    friend: &str,
    types: &[String],
    unverified: bool,
    global: &GlobalArgs,
) -> Result<(), Error> {
    const METHOD: &str = "Sharing.Grant";
    let vtypes = parse_types(types)?;
    let names: Vec<&str> = vtypes.iter().map(VolumeType::as_str).collect();
    let json = block_on(async {
        let sharing = Daemon::connect().await?.sharing().await?;
        call(METHOD, sharing.grant(friend, &names, unverified)).await
    })
    .map_err(|err| explain_unverified(err, friend))?;
    let entry: ShareEntry = parse_reply(METHOD, &json)?;
    if global.json {
        output::print_daemon_json(METHOD, &json)
    } else {
        output::print(&format!(
            "Shared with {}: {}.\n",
            entry.name,
            type_list(&entry.vtypes)
        ))
    }
}

/// Adds the ways out to the daemon's refusal to share with an unverified friend, keeping its
/// exit status: a script needs the flag's name, a person the command that verifies.
fn explain_unverified(error: Error, friend: &str) -> Error {
    match error {
        Error::Daemon(DaemonError::Unverified(description))
            if !description.contains("--unverified") =>
        {
            let reason = if description.is_empty() {
                format!("{friend}'s key is not verified")
            } else {
                description
            };
            Error::Daemon(DaemonError::Unverified(format!(
                "{reason}; compare safety numbers with `plog friend verify {friend}`, or pass \
                 --unverified to share anyway"
            )))
        }
        other => other,
    }
}

fn revoke(
    friend: &str,
    types: &[String],
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    const METHOD: &str = "Sharing.Revoke";
    let vtypes = parse_types(types)?;
    if vtypes.is_empty() {
        console::confirm(
            prompter,
            global.yes,
            &format!(
                "Revoke everything you share with {friend}? Those volumes get new keys; what \
                 {friend} already read cannot be recalled."
            ),
            None,
        )?;
    }
    let names: Vec<&str> = vtypes.iter().map(VolumeType::as_str).collect();
    let json = block_on(async {
        let sharing = Daemon::connect().await?.sharing().await?;
        call(METHOD, sharing.revoke(friend, &names)).await
    })?;
    let entry: ShareEntry = parse_reply(METHOD, &json)?;
    if global.json {
        return output::print_daemon_json(METHOD, &json);
    }
    let revoked = if vtypes.is_empty() {
        "everything".to_owned()
    } else {
        type_list(&vtypes)
    };
    let remaining = if entry.vtypes.is_empty() {
        "nothing is shared with them any more".to_owned()
    } else {
        format!("still shared with them: {}", type_list(&entry.vtypes))
    };
    output::print(&format!(
        "Revoked {revoked} from {}; {remaining}. New revisions use new keys; what they already \
         read cannot be recalled.\n",
        entry.name
    ))
}

fn list(global: &GlobalArgs) -> Result<(), Error> {
    const METHOD: &str = "Sharing.List";
    let json = block_on(async {
        let sharing = Daemon::connect().await?.sharing().await?;
        call(METHOD, sharing.list()).await
    })?;
    let entries: Vec<ShareEntry> = parse_reply(METHOD, &json)?;
    if global.json {
        output::print_daemon_json(METHOD, &json)
    } else if entries.is_empty() {
        output::print("You share nothing with friends.\n")
    } else {
        output::print(&render_list(&entries))
    }
}

/// What is shared, as a table.
fn render_list(entries: &[ShareEntry]) -> String {
    let mut table = Table::new(&["FRIEND", "TYPES"]);
    for entry in entries {
        table.row(vec![entry.name.clone(), type_list(&entry.vtypes)]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use clap::error::ErrorKind;

    use super::*;
    use crate::{Cli, Command};

    fn share_command(args: &[&str]) -> Result<ShareCommand, clap::Error> {
        let mut full = vec!["plog", "share"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full)?.command {
            Command::Share(command) => Ok(command),
            other => panic!("expected a share command, got {other:?}"),
        }
    }

    #[test]
    fn share_commands_parse() -> Result<(), clap::Error> {
        let ShareCommand::Grant {
            friend,
            types,
            unverified,
        } = share_command(&["grant", "bob", "front", "members", "--unverified"])?
        else {
            panic!("expected grant");
        };
        assert_eq!((friend.as_str(), unverified), ("bob", true));
        assert_eq!(types, ["front", "members"]);
        assert_eq!(
            share_command(&["grant", "bob"]).err().map(|e| e.kind()),
            Some(ErrorKind::MissingRequiredArgument)
        );
        let ShareCommand::Revoke { types, .. } = share_command(&["revoke", "bob"])? else {
            panic!("expected revoke");
        };
        assert!(types.is_empty());
        assert!(matches!(share_command(&["ls"])?, ShareCommand::List));
        Ok(())
    }

    #[test]
    fn types_are_checked_before_asking_the_daemon() {
        let types = |list: &[&str]| list.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
        let parsed = parse_types(&types(&["front", "members", "front"])).expect("valid");
        assert_eq!(
            parsed.iter().map(VolumeType::as_str).collect::<Vec<_>>(),
            ["front", "members"]
        );
        for bad in [&["Front"][..], &["front", "manifest"], &[""]] {
            let err = parse_types(&types(bad)).expect_err("refused");
            assert_eq!(err.exit_code(), 2, "{bad:?}");
        }
        assert!(
            parse_types(&types(&["manifest"]))
                .err()
                .is_some_and(|e| e.to_string().contains("never shared"))
        );
    }

    #[test]
    fn unverified_refusals_name_the_way_out() {
        let err = explain_unverified(
            Error::Daemon(DaemonError::Unverified("bob's key is not verified".into())),
            "bob",
        );
        assert_eq!(err.exit_code(), 1);
        let text = err.to_string();
        assert!(text.starts_with("bob's key is not verified; "), "{text}");
        assert!(text.contains("plog friend verify bob"), "{text}");
        assert!(text.contains("--unverified"), "{text}");
        let named = explain_unverified(
            Error::Daemon(DaemonError::Unverified("pass --unverified".into())),
            "bob",
        );
        assert_eq!(named.to_string(), "pass --unverified");
        let other = explain_unverified(Error::Daemon(DaemonError::NotFound("no".into())), "bob");
        assert_eq!(other.to_string(), "no");
    }

    #[test]
    fn share_table() {
        let entry = ShareEntry {
            id: uuid::Uuid::from_u128(1),
            name: "bob".to_owned(),
            vtypes: vec![VolumeType::parse("front").expect("vtype")],
        };
        assert_eq!(render_list(&[entry]), "FRIEND  TYPES\nbob     front\n");
    }
}
