//! `plog friend …`: invites, friend requests, approval and safety-number verification.
//!
//! Invite codes are secrets: the daemon writes a new one into a pipe, and a code the person
//! hands in goes to the daemon through a pipe too, never as a D-Bus argument. The CLI keeps a
//! code only in zeroized buffers and only until it is printed or sent.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use plog_ipc_schema::dbus::FriendsProxy;
use plog_ipc_schema::dbus::friends::{
    FriendEntry, FriendRequest, FriendState, InviteCodeOutput, InviteIssued, RequestVia,
    SafetyNumber,
};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::GlobalArgs;
use crate::commands::RelayOption;
use crate::commands::register::parse_handle;
use crate::console::{self, Prompter};
use crate::daemon::{Daemon, block_on, call, parse_reply};
use crate::error::Error;
use crate::output::{self, Table};
use crate::pipe;
use crate::secret::{self, Secret};

/// The `plog friend` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum FriendCommand {
    /// Create an invite code to hand to one friend (or withdraw one: `invite revoke ID`).
    ///
    /// The code is printed once, on stdout; plog keeps no copy. Whoever holds it can become
    /// your friend with a verified key until it expires or its uses are spent.
    Invite(InviteArgs),
    /// List your invites that still work (fetched from the relays first).
    Invites,
    /// Ask to become friends, with an invite code or by handle (the latter stays unverified).
    ///
    /// A code given as an argument is visible to other users of this machine (in the process
    /// list) while plog runs: pass `-` instead to read it from stdin, or to type it without
    /// echo on a terminal.
    #[command(group(ArgGroup::new("whom").required(true).args(["code", "handle"])))]
    Request {
        /// The invite code (`LOCATOR.SECRET`), or `-` to read it from stdin.
        #[arg(value_name = "CODE|-")]
        code: Option<String>,
        /// Find the system by its handle instead (its key stays unverified until you compare
        /// safety numbers).
        #[arg(long, value_name = "NAME")]
        handle: Option<String>,
        /// The relay to look the handle up at, as listed by `plog relay list` (needed only
        /// when several relays are configured; an invite code names its relay itself).
        #[arg(
            long,
            value_name = "ORIGIN",
            requires = "handle",
            conflicts_with = "code"
        )]
        relay: Option<String>,
    },
    /// List pending friend requests (fetched from the relays first).
    Requests,
    /// Approve a friend request.
    Approve {
        /// The request's id, as listed by `plog friend requests`.
        id: String,
    },
    /// Decline a friend request.
    Deny {
        /// The request's id, as listed by `plog friend requests`.
        id: String,
    },
    /// List friends (fetched from the relays first).
    #[command(visible_alias = "ls")]
    List,
    /// Compare safety numbers with a friend and mark them verified.
    ///
    /// Shows the safety number and asks whether it matches the one your friend sees. `--yes`
    /// confirms without asking (compare the digits first!); `--show` only prints the number.
    /// Without a terminal and without either flag the command prints nothing on stdout and
    /// fails, naming both flags, since nobody could have compared the digits.
    Verify {
        /// The friend's name (or local id).
        name: String,
        /// Only print the safety number; change nothing.
        #[arg(long)]
        show: bool,
    },
    /// Give a friend another local name.
    Rename {
        /// The friend's current name (or local id).
        name: String,
        /// The new name.
        new_name: String,
    },
    /// Forget a friend; revokes everything you share with them first (asks unless `--yes`).
    #[command(visible_alias = "rm")]
    Remove {
        /// The friend's name (or local id).
        name: String,
    },
    /// Whether strangers may send you friend requests by handle (invites always work).
    HandleRequests {
        /// `on` to accept requests by handle, `off` to refuse them.
        #[arg(value_enum)]
        setting: Switch,
        /// The relay.
        #[command(flatten)]
        relay: RelayOption,
    },
}

/// Arguments of `plog friend invite`: the options of a new invite, or `revoke`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
#[non_exhaustive]
pub struct InviteArgs {
    /// Withdraw an invite instead of creating one.
    #[command(subcommand)]
    pub action: Option<InviteAction>,
    /// The relay the invite lives on.
    #[command(flatten)]
    pub relay: RelayOption,
    /// How many friend requests the code may bring (default: the daemon's setting).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub uses: Option<u32>,
    /// How long the code works, e.g. `7d`, `12h`, `30m` (units s, m, h, d, w; default: the
    /// daemon's setting).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub expires: Option<u64>,
}

/// `plog friend invite revoke`.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum InviteAction {
    /// Withdraw an invite at the relay, so its code stops working.
    Revoke {
        /// The invite's id, as listed by `plog friend invites`.
        id: String,
    },
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum Switch {
    /// Accept.
    On,
    /// Refuse.
    Off,
}

/// Largest invite code accepted or received; real codes are about a hundred characters.
const MAX_CODE_LEN: usize = 1024;

/// Parses a duration such as `7d`, `12h`, `30m`, `45s` or `2w` into seconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let factor: u64 = match unit {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        "" => {
            return Err("add a unit: s, m, h, d or w (for example 7d, 12h or 30m)".to_owned());
        }
        _ => {
            return Err(format!(
                "unknown unit {unit:?}: use s, m, h, d or w (for example 7d, 12h or 30m)"
            ));
        }
    };
    let count: u64 = digits
        .parse()
        .map_err(|_| "expected a number followed by a unit, like 7d".to_owned())?;
    if count == 0 {
        return Err("an invite must work for more than zero time".to_owned());
    }
    count
        .checked_mul(factor)
        .ok_or_else(|| "that is too long".to_owned())
}

pub(crate) fn run(
    command: &FriendCommand,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    match command {
        FriendCommand::Invite(args) => match &args.action {
            Some(InviteAction::Revoke { id }) => revoke_invite(id, global),
            None => invite(args, global),
        },
        FriendCommand::Invites => invites(global),
        FriendCommand::Request {
            code,
            handle,
            relay,
        } => request(
            code.as_deref(),
            handle.as_deref(),
            relay.as_deref(),
            global,
            prompter,
        ),
        FriendCommand::Requests => requests(global),
        FriendCommand::Approve { id } => {
            const METHOD: &str = "Friends.Approve";
            let json =
                with_friends(|friends| async move { call(METHOD, friends.approve(id)).await })?;
            print_friend(METHOD, &json, global, |friend| {
                format!("Approved: {} is your friend now.\n", friend.name)
            })
        }
        FriendCommand::Deny { id } => {
            with_friends(|friends| async move { call("Friends.Deny", friends.deny(id)).await })?;
            if global.json {
                output::print_json(&Denied { denied: id })
            } else {
                output::print(&format!("Declined friend request {id}.\n"))
            }
        }
        FriendCommand::List => list(global),
        FriendCommand::Verify { name, show } => verify(name, *show, global, prompter),
        FriendCommand::Rename { name, new_name } => {
            const METHOD: &str = "Friends.Rename";
            if new_name.trim().is_empty() {
                return Err(Error::Usage("the new name is empty".to_owned()));
            }
            let json = with_friends(|friends| async move {
                call(METHOD, friends.rename(name, new_name)).await
            })?;
            print_friend(METHOD, &json, global, |friend| {
                format!("{name} is now called {}.\n", friend.name)
            })
        }
        FriendCommand::Remove { name } => {
            console::confirm(
                prompter,
                global.yes,
                &format!(
                    "Remove friend {name}? Everything you share with them is revoked first (those \
                     volumes get new keys) and they are forgotten."
                ),
                None,
            )?;
            with_friends(
                |friends| async move { call("Friends.Remove", friends.remove(name)).await },
            )?;
            if global.json {
                output::print_json(&Removed { removed: name })
            } else {
                output::print(&format!(
                    "Removed {name}; nothing of yours is shared with them any more.\n"
                ))
            }
        }
        FriendCommand::HandleRequests { setting, relay } => {
            let accept = *setting == Switch::On;
            with_friends(|friends| async move {
                call(
                    "Friends.SetHandleRequests",
                    friends.set_handle_requests(relay.as_arg(), accept),
                )
                .await
            })?;
            if global.json {
                output::print_json(&HandleRequests {
                    relay: relay.relay.as_deref(),
                    handle_requests: accept,
                })
            } else {
                let at = relay
                    .relay
                    .as_deref()
                    .map_or_else(String::new, |origin| format!(" at {origin}"));
                output::print(&if accept {
                    format!("Friend requests by handle are accepted{at}.\n")
                } else {
                    format!(
                        "Friend requests by handle are refused{at}; invites and existing friends \
                         still work.\n"
                    )
                })
            }
        }
    }
}

/// What `plog friend deny --json` prints.
#[derive(Debug, Serialize)]
struct Denied<'a> {
    denied: &'a str,
}

/// What `plog friend remove --json` prints.
#[derive(Debug, Serialize)]
struct Removed<'a> {
    removed: &'a str,
}

/// What `plog friend invite revoke --json` prints.
#[derive(Debug, Serialize)]
struct Revoked<'a> {
    revoked: &'a str,
}

/// What `plog friend handle-requests --json` prints (`relay` null: the only relay).
#[derive(Debug, Serialize)]
struct HandleRequests<'a> {
    relay: Option<&'a str>,
    handle_requests: bool,
}

/// Runs one conversation with the friends interface.
fn with_friends<T, F, Fut>(f: F) -> Result<T, Error>
where
    F: FnOnce(FriendsProxy<'static>) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    block_on(async {
        let daemon = Daemon::connect().await?;
        f(daemon.friends().await?).await
    })
}

/// Prints the [`FriendEntry`] the daemon answered `method` with: as it is under `--json`,
/// otherwise `headline` and the friend's details.
fn print_friend(
    method: &'static str,
    json: &str,
    global: &GlobalArgs,
    headline: impl FnOnce(&FriendEntry) -> String,
) -> Result<(), Error> {
    let friend: FriendEntry = parse_reply(method, json)?;
    if global.json {
        output::print_daemon_json(method, json)
    } else {
        output::print(&format!(
            "{}{}",
            headline(&friend),
            describe_friend(&friend)
        ))
    }
}

/// One friend's details, for people.
fn describe_friend(friend: &FriendEntry) -> String {
    let mut pairs = vec![("name", friend.name.clone())];
    if let Some(handle) = &friend.handle {
        pairs.push(("handle", handle.as_str().to_owned()));
    }
    pairs.push(("relay", friend.relay.clone()));
    pairs.push(("state", state_text(friend.state).to_owned()));
    pairs.push((
        "verified",
        if friend.verified {
            "yes".to_owned()
        } else {
            format!(
                "no: compare safety numbers with `plog friend verify {}`",
                friend.name
            )
        },
    ));
    if friend.key_changed {
        pairs.push((
            "key changed",
            "yes: sharing is blocked until you verify again".to_owned(),
        ));
    }
    pairs.push(("shared by me", type_list(&friend.shared_by_me)));
    pairs.push(("shared with me", type_list(&friend.shared_with_me)));
    output::fields(&pairs)
}

fn state_text(state: FriendState) -> &'static str {
    match state {
        FriendState::Pending => "pending (waiting for their approval)",
        FriendState::Linked => "linked",
        _ => "unknown",
    }
}

fn short_state(state: FriendState) -> &'static str {
    match state {
        FriendState::Pending => "pending",
        FriendState::Linked => "linked",
        _ => "unknown",
    }
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

/// Volume types as `front, members`, or `-` for none.
pub(crate) fn type_list<T: std::fmt::Display>(types: &[T]) -> String {
    if types.is_empty() {
        "-".to_owned()
    } else {
        types
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

fn invite(args: &InviteArgs, global: &GlobalArgs) -> Result<(), Error> {
    const METHOD: &str = "Friends.Invite";
    let uses = args.uses.unwrap_or(0);
    let ttl = args.expires.unwrap_or(0);
    let (json, code) = with_friends(|friends| async move {
        let (code_fd, drain) = pipe::drain_secret(MAX_CODE_LEN)?;
        let called = call(
            METHOD,
            friends.invite(args.relay.as_arg(), uses, ttl, code_fd),
        )
        .await;
        drain.settle(called, || "receiving the invite code".to_owned())
    })?;
    let issued: InviteIssued = parse_reply(METHOD, &json)?;
    let code = std::str::from_utf8(secret::without_line_break(&code))
        .map_err(|_| Error::bad_reply(METHOD, "the invite code is not UTF-8"))?;
    if code.is_empty() {
        return Err(Error::bad_reply(METHOD, "no invite code was written"));
    }
    let mut stdout = io::stdout().lock();
    let written = if global.json {
        let output = InviteCodeOutput {
            code: code.to_owned(),
        };
        serde_json::to_writer(&mut stdout, &output)
            .map_err(io::Error::from)
            .and_then(|()| stdout.write_all(b"\n"))
    } else {
        stdout
            .write_all(code.as_bytes())
            .and_then(|()| stdout.write_all(b"\n"))
    };
    written
        .and_then(|()| stdout.flush())
        .map_err(|err| Error::io("writing to stdout", err))?;
    if !global.json {
        eprint!("{}", describe_invite(&issued, now_unix()));
    }
    Ok(())
}

/// What to tell the person after an invite code was printed, for stderr.
fn describe_invite(issued: &InviteIssued, now: u64) -> String {
    let uses = match issued.uses {
        1 => "1 friend request".to_owned(),
        n => format!("{n} friend requests"),
    };
    let left = issued.expires_at.saturating_sub(now);
    format!(
        "Give this code only to the person you are inviting, over a channel you trust: whoever \
         holds it can become your friend with a verified key.\n\
         It works for {uses} until {} (in {}), at {}.\n\
         Withdraw it with `plog friend invite revoke {}`.\n",
        output::utc_time(issued.expires_at),
        human_span(left),
        issued.relay,
        issued.id
    )
}

/// A span of time for people, to the largest sensible unit: `6 d 23 h`, `12 h`, `29 min`.
fn human_span(secs: u64) -> String {
    if secs >= 86_400 {
        let (days, hours) = (secs / 86_400, secs % 86_400 / 3600);
        if hours == 0 {
            format!("{days} d")
        } else {
            format!("{days} d {hours} h")
        }
    } else {
        output::duration(secs)
    }
}

fn revoke_invite(id: &str, global: &GlobalArgs) -> Result<(), Error> {
    with_friends(|friends| async move {
        call("Friends.RevokeInvite", friends.revoke_invite(id)).await
    })?;
    if global.json {
        output::print_json(&Revoked { revoked: id })
    } else {
        output::print(&format!(
            "Invite {id} is withdrawn; its code no longer works.\n"
        ))
    }
}

fn invites(global: &GlobalArgs) -> Result<(), Error> {
    const METHOD: &str = "Friends.Invites";
    let json = with_friends(|friends| async move { call(METHOD, friends.invites()).await })?;
    let listed: Vec<InviteIssued> = parse_reply(METHOD, &json)?;
    if global.json {
        output::print_daemon_json(METHOD, &json)
    } else if listed.is_empty() {
        output::print("No invites are open; create one with `plog friend invite`.\n")
    } else {
        output::print(&render_invites(&listed))
    }
}

/// Open invites as a table.
fn render_invites(invites: &[InviteIssued]) -> String {
    let mut table = Table::new(&["ID", "RELAY", "EXPIRES", "USES LEFT"]);
    for invite in invites {
        table.row(vec![
            invite.id.to_string(),
            invite.relay.clone(),
            output::utc_time(invite.expires_at),
            invite.uses.to_string(),
        ]);
    }
    table.render()
}

/// The invite code of `plog friend request CODE|-`: the argument itself, or for `-` what
/// `stdin` holds (typed without echo when stdin is a terminal).
fn read_code(
    argument: &str,
    prompter: &mut dyn Prompter,
    stdin: &mut impl Read,
) -> Result<Secret, Error> {
    let code = if argument == "-" {
        if prompter.interactive() {
            let typed = prompter
                .secret("Invite code: ")
                .map_err(|err| Error::io("reading the invite code", err))?;
            Zeroizing::new(typed.as_bytes().to_vec())
        } else {
            secret::read_bounded(stdin, MAX_CODE_LEN)
                .map_err(|err| Error::io("reading the invite code from stdin", err))?
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "stdin holds more than {MAX_CODE_LEN} bytes; an invite code is much \
                         shorter"
                    ))
                })?
        }
    } else {
        Zeroizing::new(argument.as_bytes().to_vec())
    };
    // Only the shape is checked here, to catch a wrong argument before asking the daemon; the
    // daemon parses the code. The code itself never appears in a message.
    let trimmed = secret::without_line_break(&code).trim_ascii();
    if trimmed.is_empty() {
        return Err(Error::Usage("the invite code is empty".to_owned()));
    }
    if !trimmed.contains(&b'.') || trimmed.len() > MAX_CODE_LEN {
        return Err(Error::Usage(
            "that does not look like an invite code (LOCATOR.SECRET, as printed by `plog \
             friend invite`)"
                .to_owned(),
        ));
    }
    Ok(code)
}

/// Stdin without the standard library's buffer: what that buffer holds is never wiped, so an
/// invite code is read from the descriptor straight into a zeroized buffer instead.
fn unbuffered_stdin() -> Result<File, Error> {
    io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .map_err(|err| Error::io("opening stdin", err))
}

fn request(
    code: Option<&str>,
    handle: Option<&str>,
    relay: Option<&str>,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    let (method, json) = match (code, handle) {
        (_, Some(handle)) => {
            const METHOD: &str = "Friends.RequestByHandle";
            let handle = parse_handle(handle)?;
            let relay = relay.unwrap_or("");
            let json = with_friends(|friends| async move {
                call(METHOD, friends.request_by_handle(relay, handle.as_str())).await
            })?;
            (METHOD, json)
        }
        (Some(code), None) => {
            const METHOD: &str = "Friends.Request";
            let code = if code == "-" && !prompter.interactive() {
                read_code(code, prompter, &mut unbuffered_stdin()?)?
            } else {
                read_code(code, prompter, &mut io::empty())?
            };
            let json = with_friends(|friends| async move {
                let (code_fd, feeder) = pipe::feed_secret(code)?;
                let json = call(METHOD, friends.request(code_fd)).await?;
                feeder
                    .finish()
                    .map_err(|err| Error::io("sending the invite code", err))?;
                Ok(json)
            })?;
            (METHOD, json)
        }
        (None, None) => {
            return Err(Error::Usage(
                "give an invite code (or `-` to read it from stdin) or --handle NAME".to_owned(),
            ));
        }
    };
    print_friend(method, &json, global, |friend| {
        let trust = if friend.verified {
            "Their key is verified by the invite code.".to_owned()
        } else {
            format!(
                "Their key is not verified: compare safety numbers with `plog friend verify {}`.",
                friend.name
            )
        };
        format!(
            "Friend request sent to {}; it stays pending until they approve. {trust}\n",
            friend.name
        )
    })
}

fn requests(global: &GlobalArgs) -> Result<(), Error> {
    const METHOD: &str = "Friends.Requests";
    let json = with_friends(|friends| async move { call(METHOD, friends.requests()).await })?;
    let listed: Vec<FriendRequest> = parse_reply(METHOD, &json)?;
    if global.json {
        output::print_daemon_json(METHOD, &json)
    } else if listed.is_empty() {
        output::print("No pending friend requests.\n")
    } else {
        output::print(&render_requests(&listed))
    }
}

/// Pending requests as a table.
fn render_requests(requests: &[FriendRequest]) -> String {
    let mut table = Table::new(&["ID", "NAME", "VIA", "VERIFIED", "RECEIVED"]);
    for request in requests {
        let via = match request.via {
            RequestVia::Invite => "invite",
            RequestVia::Handle => "handle",
        };
        table.row(vec![
            request.id.to_string(),
            request.name.clone(),
            via.to_owned(),
            yes_no(request.verified),
            output::utc_time(request.received_at),
        ]);
    }
    table.render()
}

fn list(global: &GlobalArgs) -> Result<(), Error> {
    const METHOD: &str = "Friends.List";
    let json = with_friends(|friends| async move { call(METHOD, friends.list()).await })?;
    let listed: Vec<FriendEntry> = parse_reply(METHOD, &json)?;
    if global.json {
        output::print_daemon_json(METHOD, &json)
    } else if listed.is_empty() {
        output::print(
            "No friends yet; invite one with `plog friend invite` or send a request with `plog \
             friend request`.\n",
        )
    } else {
        output::print(&render_friends(&listed))
    }
}

/// Friends as a table.
fn render_friends(friends: &[FriendEntry]) -> String {
    let mut table = Table::new(&[
        "NAME",
        "STATE",
        "VERIFIED",
        "KEY CHANGED",
        "SHARED BY ME",
        "SHARED WITH ME",
    ]);
    for friend in friends {
        table.row(vec![
            friend.name.clone(),
            short_state(friend.state).to_owned(),
            yes_no(friend.verified),
            yes_no(friend.key_changed),
            type_list(&friend.shared_by_me),
            type_list(&friend.shared_with_me),
        ]);
    }
    table.render()
}

/// The safety number laid out for reading aloud: four groups per line, indented.
fn layout_number(number: &str) -> String {
    let groups: Vec<&str> = number.split_whitespace().collect();
    let mut text = String::new();
    for line in groups.chunks(4) {
        text.push_str("    ");
        text.push_str(&line.join(" "));
        text.push('\n');
    }
    text
}

/// The safety number with its heading, for people.
fn describe_number(number: &SafetyNumber) -> String {
    format!(
        "Safety number with {}:\n\n{}\n",
        number.name,
        layout_number(&number.safety_number)
    )
}

/// What `verify` does once the number is known.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Print the number only (`--show`, or the friend is verified already).
    Show,
    /// Mark the friend verified.
    Confirm,
}

/// Decides, and asks if need be, whether the person confirmed that `number` matches.
///
/// The number must have been shown before this is called (except in the failure without a
/// terminal, whose message carries it).
fn decide(
    number: &SafetyNumber,
    show: bool,
    yes: bool,
    prompter: &mut dyn Prompter,
) -> Result<Verdict, Error> {
    if show {
        return Ok(Verdict::Show);
    }
    if yes {
        return Ok(Verdict::Confirm);
    }
    if number.verified {
        return Ok(Verdict::Show);
    }
    if !prompter.interactive() {
        return Err(Error::Usage(format!(
            "the safety number with {name} is {digits}. Nobody can confirm that it matches: \
             stdin is not a terminal. Compare it with {name}, then run `plog friend verify \
             {name} --yes`, or pass --show to only print it",
            name = number.name,
            digits = number
                .safety_number
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        )));
    }
    console::confirm(
        prompter,
        false,
        &format!("Do these digits match the ones {} sees?", number.name),
        None,
    )?;
    Ok(Verdict::Confirm)
}

fn verify(
    name: &str,
    show: bool,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    const VERIFY: &str = "Friends.Verify";
    const CONFIRM: &str = "Friends.ConfirmVerified";
    if show && global.yes {
        return Err(Error::Usage(
            "--show only prints the safety number and --yes confirms it: pass one of them"
                .to_owned(),
        ));
    }
    let outcome = with_friends(|friends| async move {
        let json = call(VERIFY, friends.verify(name)).await?;
        let number: SafetyNumber = parse_reply(VERIFY, &json)?;
        let showable = show || global.yes || number.verified || prompter.interactive();
        if showable && !(show && global.json) {
            let text = describe_number(&number);
            // Under --json stdout is reserved for the one document printed at the end.
            if global.json {
                eprint!("{text}");
            } else {
                output::print(&text)?;
            }
        }
        match decide(&number, show, global.yes, prompter)? {
            Verdict::Show => Ok((VERIFY, json, number)),
            Verdict::Confirm => {
                let json = call(
                    CONFIRM,
                    friends.confirm_verified(name, &number.safety_number),
                )
                .await?;
                Ok((CONFIRM, json, number))
            }
        }
    })?;
    let (method, json, number) = outcome;
    if method == CONFIRM {
        return print_friend(CONFIRM, &json, global, |friend| {
            format!("{} is verified.\n", friend.name)
        });
    }
    if global.json {
        output::print_daemon_json(VERIFY, &json)
    } else if number.verified {
        output::print(&format!("{} is verified.\n", number.name))
    } else {
        output::print(&format!(
            "{} is not verified yet; once the digits match, run `plog friend verify {}`.\n",
            number.name, number.name
        ))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use clap::error::ErrorKind;

    use super::*;
    use crate::console::scripted::Scripted;
    use crate::{Cli, Command};

    fn friend_command(args: &[&str]) -> Result<FriendCommand, clap::Error> {
        let mut full = vec!["plog", "friend"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full)?.command {
            Command::Friend(command) => Ok(command),
            other => panic!("expected a friend command, got {other:?}"),
        }
    }

    fn kind(args: &[&str]) -> Option<ErrorKind> {
        friend_command(args).err().map(|e| e.kind())
    }

    #[test]
    fn request_takes_a_code_or_a_handle_not_both() {
        assert!(friend_command(&["request", "abc.def"]).is_ok());
        assert!(friend_command(&["request", "-"]).is_ok());
        assert!(friend_command(&["request", "--handle", "kit"]).is_ok());
        assert!(
            friend_command(&["request", "--handle", "kit", "--relay", "https://r.example"]).is_ok()
        );
        assert_eq!(kind(&["request"]), Some(ErrorKind::MissingRequiredArgument));
        assert_eq!(
            kind(&["request", "abc.def", "--handle", "kit"]),
            Some(ErrorKind::ArgumentConflict)
        );
        assert_eq!(
            kind(&["request", "abc.def", "--relay", "https://r.example"]),
            Some(ErrorKind::ArgumentConflict)
        );
    }

    #[test]
    fn invite_takes_options_or_revoke() -> Result<(), clap::Error> {
        let FriendCommand::Invite(args) = friend_command(&[
            "invite",
            "--uses",
            "3",
            "--expires",
            "12h",
            "--relay",
            "https://r.example",
        ])?
        else {
            panic!("expected invite");
        };
        assert!(args.action.is_none());
        assert_eq!(args.uses, Some(3));
        assert_eq!(args.expires, Some(12 * 3600));
        assert_eq!(args.relay.as_arg(), "https://r.example");

        let FriendCommand::Invite(args) = friend_command(&["invite"])? else {
            panic!("expected invite");
        };
        assert_eq!(
            (args.uses, args.expires, args.relay.as_arg()),
            (None, None, "")
        );

        let FriendCommand::Invite(args) = friend_command(&["invite", "revoke", "abc"])? else {
            panic!("expected invite");
        };
        assert!(matches!(args.action, Some(InviteAction::Revoke { ref id }) if id == "abc"));

        assert_eq!(
            kind(&["invite", "--uses", "2", "revoke", "abc"]),
            Some(ErrorKind::ArgumentConflict)
        );
        assert_eq!(
            kind(&["invite", "--uses", "0"]),
            Some(ErrorKind::ValueValidation)
        );
        assert_eq!(
            kind(&["invite", "--expires", "7"]),
            Some(ErrorKind::ValueValidation)
        );
        assert_eq!(
            kind(&["invite", "revoke"]),
            Some(ErrorKind::MissingRequiredArgument)
        );
        Ok(())
    }

    #[test]
    fn other_friend_commands_parse() -> Result<(), clap::Error> {
        assert!(matches!(
            friend_command(&["handle-requests", "off", "--relay", "https://r.example"])?,
            FriendCommand::HandleRequests { setting: Switch::Off, ref relay }
                if relay.as_arg() == "https://r.example"
        ));
        assert_eq!(
            kind(&["handle-requests", "maybe"]),
            Some(ErrorKind::InvalidValue)
        );
        assert!(matches!(
            friend_command(&["verify", "bob", "--show"])?,
            FriendCommand::Verify { ref name, show: true } if name == "bob"
        ));
        assert!(matches!(
            friend_command(&["rename", "bob", "robert"])?,
            FriendCommand::Rename { ref name, ref new_name } if name == "bob" && new_name == "robert"
        ));
        assert!(matches!(
            friend_command(&["rm", "bob"])?,
            FriendCommand::Remove { .. }
        ));
        assert!(matches!(friend_command(&["ls"])?, FriendCommand::List));
        assert!(matches!(
            friend_command(&["deny", "x"])?,
            FriendCommand::Deny { .. }
        ));
        assert!(matches!(
            friend_command(&["invites"])?,
            FriendCommand::Invites
        ));
        assert_eq!(
            kind(&["rename", "bob"]),
            Some(ErrorKind::MissingRequiredArgument)
        );
        Ok(())
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400));
        assert_eq!(parse_duration("12h"), Ok(12 * 3600));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("30min"), Ok(1800));
        assert_eq!(parse_duration("45s"), Ok(45));
        assert_eq!(parse_duration("2w"), Ok(14 * 86_400));
        for bad in [
            "",
            "7",
            "d",
            "0d",
            "7y",
            "-1d",
            "1.5h",
            " 7d",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(
            parse_duration("7")
                .err()
                .is_some_and(|e| e.contains("unit"))
        );
        assert!(
            parse_duration("18446744073709551615w")
                .err()
                .is_some_and(|e| e.contains("too long"))
        );
    }

    #[test]
    fn codes_come_from_the_argument_stdin_or_the_terminal() {
        let mut prompter = Scripted::no_terminal();
        let code = read_code("abc.def", &mut prompter, &mut &b""[..]).expect("argument");
        assert_eq!(code.as_slice(), b"abc.def");

        let code = read_code("-", &mut prompter, &mut &b"abc.def\n"[..]).expect("stdin");
        assert_eq!(code.as_slice(), b"abc.def\n");
        assert!(prompter.prompts.is_empty());

        let mut prompter = Scripted::answering(&["typed.code"]);
        let code = read_code("-", &mut prompter, &mut &b"ignored"[..]).expect("typed");
        assert_eq!(code.as_slice(), b"typed.code");
        assert_eq!(prompter.prompts, ["Invite code: "]);
    }

    #[test]
    fn bad_codes_are_refused_without_repeating_them() {
        let mut prompter = Scripted::no_terminal();
        for (argument, stdin) in [
            ("nodot-secret", &b""[..]),
            ("-", b"\n"),
            ("-", b""),
            ("-", b"  \n"),
            ("-", b"secretwithoutdot"),
        ] {
            let err = read_code(argument, &mut prompter, &mut &stdin[..]).expect_err("refused");
            assert_eq!(err.exit_code(), 2, "{argument:?} {stdin:?}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        let long = vec![b'a'; MAX_CODE_LEN + 1];
        let err = read_code("-", &mut prompter, &mut &long[..]).expect_err("too long");
        assert!(err.to_string().contains("more than"), "{err}");
    }

    fn number(verified: bool) -> SafetyNumber {
        SafetyNumber {
            id: uuid::Uuid::from_u128(1),
            name: "bob".to_owned(),
            safety_number: "12345 67890 11111 22222 33333".to_owned(),
            verified,
        }
    }

    #[test]
    fn verification_asks_only_a_person() {
        let mut prompter = Scripted::answering(&["y\n"]);
        assert_eq!(
            decide(&number(false), false, false, &mut prompter).ok(),
            Some(Verdict::Confirm)
        );
        assert_eq!(
            prompter.prompts,
            ["Do these digits match the ones bob sees? [y/N] "]
        );

        let mut prompter = Scripted::answering(&["n\n"]);
        let declined = decide(&number(false), false, false, &mut prompter);
        assert!(matches!(declined, Err(Error::Declined)), "{declined:?}");

        let mut prompter = Scripted::no_terminal();
        assert_eq!(
            decide(&number(false), false, true, &mut prompter).ok(),
            Some(Verdict::Confirm)
        );
        assert_eq!(
            decide(&number(false), true, false, &mut prompter).ok(),
            Some(Verdict::Show)
        );
        assert_eq!(
            decide(&number(true), false, false, &mut prompter).ok(),
            Some(Verdict::Show)
        );
        let err = decide(&number(false), false, false, &mut prompter).expect_err("no terminal");
        let text = err.to_string();
        assert_eq!(err.exit_code(), 2);
        assert!(text.contains("--yes") && text.contains("--show"), "{text}");
        assert!(text.contains("12345 67890 11111 22222 33333"), "{text}");
        assert!(prompter.prompts.is_empty());
    }

    #[test]
    fn safety_numbers_are_laid_out_in_rows_of_four() {
        assert_eq!(
            layout_number("11111 22222 33333 44444 55555\n66666"),
            "    11111 22222 33333 44444\n    55555 66666\n"
        );
    }

    #[test]
    fn tables() {
        let friend = FriendEntry {
            id: uuid::Uuid::from_u128(1),
            name: "bob".to_owned(),
            handle: None,
            relay: "https://r.example".to_owned(),
            user_id: uuid::Uuid::from_u128(2),
            state: FriendState::Linked,
            verified: true,
            key_changed: false,
            shared_by_me: vec![
                plog_ipc_schema::VolumeType::parse("front").expect("vtype"),
                plog_ipc_schema::VolumeType::parse("members").expect("vtype"),
            ],
            shared_with_me: vec![],
        };
        assert_eq!(
            render_friends(&[friend]),
            "NAME  STATE   VERIFIED  KEY CHANGED  SHARED BY ME    SHARED WITH ME\n\
             bob   linked  yes       no           front, members  -\n"
        );
        let request = FriendRequest {
            id: uuid::Uuid::from_u128(3),
            name: "kit".to_owned(),
            handle: None,
            relay: "https://r.example".to_owned(),
            user_id: uuid::Uuid::from_u128(4),
            via: RequestVia::Handle,
            verified: false,
            received_at: 86_400,
        };
        assert_eq!(
            render_requests(&[request]),
            "ID                                    NAME  VIA     VERIFIED  RECEIVED\n\
             00000000-0000-0000-0000-000000000003  kit   handle  no        1970-01-02 00:00 UTC\n"
        );
    }

    #[test]
    fn invites_are_described_for_people() {
        let issued = InviteIssued {
            id: uuid::Uuid::from_u128(9),
            relay: "https://r.example".to_owned(),
            expires_at: 7 * 86_400,
            uses: 1,
        };
        let text = describe_invite(&issued, 3600);
        assert!(
            text.contains("for 1 friend request until 1970-01-08 00:00 UTC (in 6 d 23 h)"),
            "{text}"
        );
        assert!(text.contains("plog friend invite revoke 00000000-0000-0000-0000-000000000009"));
        assert_eq!(human_span(86_400), "1 d");
        assert_eq!(human_span(1800), "30 min");
    }
}
