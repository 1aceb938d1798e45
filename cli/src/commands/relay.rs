//! `plog relay …`: the relays this identity uses, and their certificate pins.
//!
//! A pin is approved by a person: `add` and `trust` first probe the relay and show what it
//! presents (or take `--fingerprint`), and a pin is never approved silently in a script.

use clap::Subcommand;
use plog_ipc_schema::dbus::RelaysProxy;
use plog_ipc_schema::dbus::relays::{RelayEntry, RelayProbe};
use serde::Serialize;

use crate::GlobalArgs;
use crate::console::{self, Prompter};
use crate::daemon::{Daemon, block_on, call, parse_reply};
use crate::error::Error;
use crate::output::{self, Table};

/// The `plog relay` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum RelayCommand {
    /// Add a relay; adopts the existing account of this identity's key there, if any.
    Add {
        /// The relay's origin, e.g. `https://relay.example:8443`.
        url: String,
        /// Approve this certificate pin without asking (as printed by `plog-relay fingerprint`).
        #[arg(long, value_name = "sha256:HEX", value_parser = parse_pin)]
        fingerprint: Option<String>,
    },
    /// List the configured relays, their pins and accounts.
    #[command(visible_alias = "ls")]
    List,
    /// Forget a relay: end the session there (what is stored there stays there).
    #[command(visible_alias = "rm")]
    Remove {
        /// The relay's origin.
        url: String,
    },
    /// Re-pin a relay whose certificate changed, after showing the old and the new pin.
    Trust {
        /// The relay's origin.
        url: String,
        /// Approve this new pin without asking.
        #[arg(long, value_name = "sha256:HEX", value_parser = parse_pin)]
        fingerprint: Option<String>,
    },
    /// Point an identity at a relay's new origin (asks first; the derived key stays the same).
    Move {
        /// The origin the identity was registered at.
        old: String,
        /// The relay's new origin.
        new: String,
    },
}

/// Checks a certificate pin: `sha256:` followed by 64 lower-case hex digits.
fn parse_pin(value: &str) -> Result<String, String> {
    let valid = value.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if valid {
        Ok(value.to_owned())
    } else {
        Err(
            "expected `sha256:` followed by 64 lower-case hex digits, as printed by \
             `plog-relay fingerprint`"
                .to_owned(),
        )
    }
}

/// What `plog relay remove --json` prints.
#[derive(Debug, Serialize)]
struct Removed<'a> {
    removed: &'a str,
}

pub(crate) fn run(
    command: &RelayCommand,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    match command {
        RelayCommand::Add { url, fingerprint } => {
            add(url, fingerprint.as_deref(), global, prompter)
        }
        RelayCommand::List => list(global),
        RelayCommand::Remove { url } => {
            with_relays(|relays| async move { call("Relays.Remove", relays.remove(url)).await })?;
            if global.json {
                output::print_json(&Removed { removed: url })
            } else {
                output::print(&format!(
                    "{url} is forgotten; what is stored there stays there.\n"
                ))
            }
        }
        RelayCommand::Trust { url, fingerprint } => {
            trust(url, fingerprint.as_deref(), global, prompter)
        }
        RelayCommand::Move { old, new } => {
            console::confirm(
                prompter,
                global.yes,
                &format!(
                    "Point the identity registered at {old} to the new origin {new}? The key \
                     stays the same; do this only if the relay really moved."
                ),
                None,
            )?;
            let json = with_relays(|relays| async move {
                call("Relays.Move", relays.move_relay(old, new)).await
            })?;
            print_entry("Relays.Move", &json, global, "moved")
        }
    }
}

/// Runs one conversation with the relays interface.
fn with_relays<T, F, Fut>(f: F) -> Result<T, Error>
where
    F: FnOnce(RelaysProxy<'static>) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    block_on(async {
        let daemon = Daemon::connect().await?;
        f(daemon.relays().await?).await
    })
}

fn add(
    url: &str,
    fingerprint: Option<&str>,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    let needs_approval = fingerprint.is_none() && !global.yes;
    if needs_approval && !prompter.interactive() {
        return Err(Error::Usage(format!(
            "adding {url} needs approval of its certificate pin and stdin is not a terminal: \
             pass --fingerprint sha256:HEX (from `plog-relay fingerprint` on the relay), or \
             --yes to accept the pin the relay presents"
        )));
    }
    let json = block_on(async {
        let daemon = Daemon::connect().await?;
        let relays = daemon.relays().await?;
        let pin = match fingerprint {
            Some(pin) => pin.to_owned(),
            None => {
                let probe = probe(&relays, url).await?;
                eprint!("{}", describe_probe(&probe));
                console::confirm(
                    prompter,
                    global.yes,
                    "Trust this relay with this pin?",
                    Some("--fingerprint"),
                )?;
                probe.pin.to_string()
            }
        };
        call("Relays.Add", relays.add(url, &pin)).await
    })?;
    print_entry("Relays.Add", &json, global, "added")
}

fn trust(
    url: &str,
    fingerprint: Option<&str>,
    global: &GlobalArgs,
    prompter: &mut dyn Prompter,
) -> Result<(), Error> {
    let needs_approval = fingerprint.is_none() && !global.yes;
    if needs_approval && !prompter.interactive() {
        return Err(Error::Usage(format!(
            "re-pinning {url} needs approval of its new certificate pin and stdin is not a \
             terminal: pass --fingerprint sha256:HEX (from `plog-relay fingerprint` on the \
             relay), or --yes to accept the pin the relay presents"
        )));
    }
    let json = block_on(async {
        let daemon = Daemon::connect().await?;
        let relays = daemon.relays().await?;
        let pin = match fingerprint {
            Some(pin) => pin.to_owned(),
            None => {
                let probe = probe(&relays, url).await?;
                let Some(pinned) = probe.pinned else {
                    return Err(Error::Failed(format!(
                        "{url} is not a configured relay; add it with `plog relay add {url}`"
                    )));
                };
                eprint!("{}", describe_probe(&probe));
                if pinned != probe.pin {
                    console::confirm(
                        prompter,
                        global.yes,
                        "Replace the old pin with the new one?",
                        Some("--fingerprint"),
                    )?;
                }
                probe.pin.to_string()
            }
        };
        call("Relays.Trust", relays.trust(url, &pin)).await
    })?;
    print_entry("Relays.Trust", &json, global, "pinned")
}

async fn probe(relays: &RelaysProxy<'_>, url: &str) -> Result<RelayProbe, Error> {
    let json = call("Relays.Probe", relays.probe(url)).await?;
    parse_reply("Relays.Probe", &json)
}

/// What a person needs to decide on a pin, for stderr.
fn describe_probe(probe: &RelayProbe) -> String {
    let mut pairs = vec![("relay", probe.origin.clone())];
    if let Some(info) = &probe.info {
        pairs.push((
            "calls itself",
            format!("{:?} (version {}; unverified)", info.name, info.version),
        ));
    }
    match probe.pinned {
        Some(pinned) if pinned == probe.pin => {
            pairs.push(("pin", format!("{} (unchanged)", probe.pin)));
        }
        Some(pinned) => {
            pairs.push(("old pin", pinned.to_string()));
            pairs.push(("new pin", probe.pin.to_string()));
        }
        None => pairs.push(("pin", probe.pin.to_string())),
    }
    pairs.push((
        "certificate",
        if probe.ca_verified {
            "also verified by the system's certificate authorities".to_owned()
        } else {
            "self-signed or from an unknown authority: approve it only if the pin matches \
             what the relay's operator gave you (`plog-relay fingerprint`)"
                .to_owned()
        },
    ));
    output::fields(&pairs)
}

fn list(global: &GlobalArgs) -> Result<(), Error> {
    const METHOD: &str = "Relays.List";
    let json = with_relays(|relays| async move { call(METHOD, relays.list()).await })?;
    let entries: Vec<RelayEntry> = parse_reply(METHOD, &json)?;
    if global.json {
        output::print_daemon_json(METHOD, &json)
    } else {
        output::print(&render_list(&entries))
    }
}

/// The relays as a table.
pub(crate) fn render_list(entries: &[RelayEntry]) -> String {
    let mut table = Table::new(&["ORIGIN", "NAME", "ACCOUNT", "HANDLE", "PIN"]);
    for entry in entries {
        let origin = if entry.identity_origin == entry.id {
            entry.id.clone()
        } else {
            format!("{} (registered at {})", entry.id, entry.identity_origin)
        };
        let (account, handle) = match &entry.account {
            Some(account) => (
                account.kind.as_str().to_owned(),
                account
                    .handle
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |h| h.as_str().to_owned()),
            ),
            None => ("none".to_owned(), "-".to_owned()),
        };
        let pin = match entry.next_pin {
            Some(next) => format!("{} (next: {next})", entry.pin),
            None => entry.pin.to_string(),
        };
        table.row(vec![
            origin,
            entry.name.clone().unwrap_or_else(|| "-".to_owned()),
            account,
            handle,
            pin,
        ]);
    }
    table.render()
}

/// Prints the relay entry a command returned: its JSON, or one line saying what happened.
pub(crate) fn print_entry(
    method: &'static str,
    json: &str,
    global: &GlobalArgs,
    what_happened: &str,
) -> Result<(), Error> {
    let entry: RelayEntry = parse_reply(method, json)?;
    if global.json {
        return output::print_daemon_json(method, json);
    }
    let mut line = format!("{} {what_happened}, pinned to {}", entry.id, entry.pin);
    if let Some(account) = &entry.account {
        line.push_str(&format!(
            "; {} account {}",
            account.kind.as_str(),
            account.user_id
        ));
        if let Some(handle) = &account.handle {
            line.push_str(&format!(" with handle {}", handle.as_str()));
        }
    }
    output::print(&format!("{line}.\n"))
}

#[cfg(test)]
mod tests {
    use plog_ipc_schema::CertPin;
    use plog_ipc_schema::dbus::relays::RelayAccount;
    use plog_ipc_schema::http::accounts::AccountKind;
    use uuid::Uuid;

    use super::*;
    use crate::console::scripted::Scripted;

    #[test]
    fn pins_are_sha256_and_64_lower_case_hex_digits() {
        let good = format!("sha256:{}", "0123456789abcdef".repeat(4));
        assert_eq!(parse_pin(&good).as_deref(), Ok(good.as_str()));
        for bad in [
            String::new(),
            "sha256:".to_owned(),
            "0123456789abcdef".repeat(4),
            format!("sha256:{}", "0123456789ABCDEF".repeat(4)),
            format!("sha256:{}", "0123456789abcdef".repeat(4) + "0"),
            format!("sha1:{}", "0123456789abcdef".repeat(4)),
            format!("sha256:{}g", &"0123456789abcdef".repeat(4)[1..]),
        ] {
            assert!(parse_pin(&bad).is_err(), "accepted {bad:?}");
        }
    }

    fn entry(moved: bool) -> RelayEntry {
        RelayEntry {
            id: "https://new.example".to_owned(),
            name: Some("home".to_owned()),
            identity_origin: if moved {
                "https://old.example".to_owned()
            } else {
                "https://new.example".to_owned()
            },
            pin: CertPin::from_digest([0xab; 32]),
            next_pin: None,
            account: Some(RelayAccount {
                user_id: Uuid::from_u128(1),
                kind: AccountKind::System,
                handle: None,
            }),
        }
    }

    #[test]
    fn relay_table() {
        let pin = CertPin::from_digest([0xab; 32]).to_string();
        let mut bare = entry(true);
        bare.account = None;
        bare.name = None;
        let text = render_list(&[entry(false), bare]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ORIGIN"), "{text}");
        assert!(lines[1].starts_with("https://new.example "), "{text}");
        assert!(
            lines[1].contains(" home ") && lines[1].contains(" system "),
            "{text}"
        );
        assert!(lines[1].ends_with(&pin), "{text}");
        assert!(
            lines[2].starts_with("https://new.example (registered at https://old.example)"),
            "{text}"
        );
        assert!(lines[2].contains(" none "), "{text}");
        // The columns line up.
        let pin_column = lines[0].find("PIN").expect("PIN header");
        assert_eq!(lines[1].find(&pin), Some(pin_column));
        assert_eq!(lines[2].find(&pin), Some(pin_column));
    }

    #[test]
    fn probes_show_old_and_new_pins() {
        let old = CertPin::from_digest([1; 32]);
        let new = CertPin::from_digest([2; 32]);
        let mut probe = RelayProbe {
            origin: "https://10.0.0.2:8443".to_owned(),
            pin: new,
            ca_verified: false,
            pinned: Some(old),
            info: None,
        };
        let text = describe_probe(&probe);
        assert!(text.contains(&format!("old pin      {old}")), "{text}");
        assert!(text.contains(&format!("new pin      {new}")), "{text}");
        assert!(text.contains("self-signed"), "{text}");
        probe.pinned = None;
        probe.ca_verified = true;
        let text = describe_probe(&probe);
        assert!(text.contains(&format!("pin          {new}")), "{text}");
        assert!(text.contains("certificate authorities"), "{text}");
    }

    #[test]
    fn scripts_must_name_the_pin_or_say_yes() {
        let global = GlobalArgs {
            json: false,
            yes: false,
        };
        let mut prompter = Scripted::no_terminal();
        for result in [
            add("https://r.example", None, &global, &mut prompter),
            trust("https://r.example", None, &global, &mut prompter),
        ] {
            let err = result.expect_err("needs approval");
            assert_eq!(err.exit_code(), 2);
            let text = err.to_string();
            assert!(
                text.contains("--fingerprint") && text.contains("--yes"),
                "{text}"
            );
        }
        assert!(prompter.prompts.is_empty());
    }
}
