//! `plog view`: show what a system shared with you, decrypted in memory only.
//!
//! The daemon writes each volume's plaintext into a pipe while a thread of ours reads it into
//! a zeroized buffer; nothing of it is written anywhere but stdout (no temporary files), and
//! nothing is printed before every requested volume has arrived whole.

use std::fmt;
use std::io::{self, Write};

use clap::Args;
use plog_ipc_schema::VolumeType;
use plog_ipc_schema::dbus::SharingProxy;
use plog_ipc_schema::dbus::sharing::{IncomingShare, SharedView};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::GlobalArgs;
use crate::daemon::{Daemon, block_on, call, parse_reply};
use crate::error::Error;
use crate::output;
use crate::pipe;
use crate::progress::{self, Bar};

/// Arguments of `plog view`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct ViewArgs {
    /// The system's name (or local id), as listed by `plog friend list`.
    pub system: String,
    /// Only this volume type (needed for `--raw`); without it, every type the system shares
    /// with you.
    #[arg(value_name = "TYPE")]
    pub volume_type: Option<String>,
    /// Print the decrypted bytes exactly as stored (needs TYPE; not with `--json`).
    #[arg(long)]
    pub raw: bool,
}

pub(crate) fn run(args: &ViewArgs, global: &GlobalArgs) -> Result<(), Error> {
    if args.raw && args.volume_type.is_none() {
        return Err(Error::Usage(
            "--raw needs TYPE: the bytes of several volumes in a row could not be told apart"
                .to_owned(),
        ));
    }
    if args.raw && global.json {
        return Err(Error::Usage(
            "--raw prints the bytes as they are and --json a document about them: pass one of \
             them"
                .to_owned(),
        ));
    }
    let vtype = args
        .volume_type
        .as_deref()
        .map(|text| {
            VolumeType::parse(text)
                .map_err(|err| Error::Usage(format!("invalid volume type {text:?}: {err}")))
        })
        .transpose()?;
    let views = block_on(fetch(&args.system, vtype.as_ref(), global.json))?;
    let mut stdout = io::stdout().lock();
    let printed = if args.raw {
        views
            .iter()
            .try_for_each(|viewed| stdout.write_all(&viewed.content.0))
    } else if global.json {
        write_json(&mut stdout, &views)
    } else if views.is_empty() {
        writeln!(stdout, "{} shares nothing with you.", args.system)
    } else {
        write_text(&mut stdout, &views, &args.system)
    };
    printed
        .and_then(|()| stdout.flush())
        .map_err(|err| Error::io("writing to stdout", err))
}

/// Plaintext received from the daemon, in a buffer that is wiped when dropped and whose old
/// copies are wiped as it grows.
#[derive(Default)]
struct Plaintext(Zeroizing<Vec<u8>>);

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plaintext({} bytes)", self.0.len())
    }
}

impl Write for Plaintext {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let needed = self
            .0
            .len()
            .checked_add(data.len())
            .ok_or_else(|| io::Error::other("the shared content does not fit in memory"))?;
        if needed > self.0.capacity() {
            // Growing in place would leave the old allocation unwiped; copy into a new one and
            // let the old buffer be zeroized as it drops.
            let capacity = needed.max(self.0.capacity().saturating_mul(2));
            let mut grown = Zeroizing::new(Vec::with_capacity(capacity));
            grown.extend_from_slice(&self.0);
            self.0 = grown;
        }
        self.0.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One volume as the daemon described and delivered it.
#[derive(Debug)]
struct Viewed {
    view: SharedView,
    content: Plaintext,
}

impl Viewed {
    /// The content as text, if it is UTF-8.
    fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.content.0).ok()
    }
}

/// `Sharing.Incoming` (unless a type was given), then `Sharing.View` for each type.
async fn fetch(system: &str, vtype: Option<&VolumeType>, json: bool) -> Result<Vec<Viewed>, Error> {
    const INCOMING: &str = "Sharing.Incoming";
    let sharing = Daemon::connect().await?.sharing().await?;
    let types = match vtype {
        Some(vtype) => vec![vtype.clone()],
        None => {
            let listed = call(INCOMING, sharing.incoming(system)).await?;
            let shares: Vec<IncomingShare> = parse_reply(INCOMING, &listed)?;
            let mut types: Vec<VolumeType> = Vec::with_capacity(shares.len());
            for share in shares {
                if !types.contains(&share.name) {
                    types.push(share.name);
                }
            }
            types
        }
    };
    let mut views = Vec::with_capacity(types.len());
    for vtype in &types {
        views.push(view_one(&sharing, system, vtype, json).await?);
    }
    Ok(views)
}

/// `Sharing.View` of one type, read through a pipe while the call runs (the daemon writes
/// before it answers, so reading only afterwards would deadlock on anything larger than the
/// pipe's buffer).
async fn view_one(
    sharing: &SharingProxy<'_>,
    system: &str,
    vtype: &VolumeType,
    json: bool,
) -> Result<Viewed, Error> {
    const METHOD: &str = "Sharing.View";
    let bar = Bar::bytes(&format!("view {vtype}"), None, progress::wanted(json));
    let (out_fd, drain) = pipe::drain_into(Plaintext::default(), bar.clone())?;
    let called = call(METHOD, sharing.view(system, vtype.as_str(), out_fd)).await;
    let settled = drain.settle(called, || format!("receiving {vtype} from {system}"));
    bar.finish();
    let (json, (content, received)) = settled?;
    let view: SharedView = parse_reply(METHOD, &json)?;
    if view.vtype != *vtype {
        return Err(Error::bad_reply(
            METHOD,
            format!("asked for {vtype}, got {}", view.vtype),
        ));
    }
    if view.size != received {
        return Err(Error::bad_reply(
            METHOD,
            format!(
                "it announced {} bytes of {vtype} but wrote {received}",
                view.size
            ),
        ));
    }
    Ok(Viewed { view, content })
}

/// One element of what `plog view --json` prints.
#[derive(Debug, Serialize)]
struct ViewJson<'a> {
    id: String,
    name: &'a str,
    system_id: String,
    system: &'a str,
    revision: u64,
    size: u64,
    sensitive: bool,
    /// The content if it is UTF-8, otherwise null (`--raw` prints any content).
    content: Option<&'a str>,
}

/// Writes the views as one JSON array, straight from the buffers (no copy of the content).
fn write_json(out: &mut impl Write, views: &[Viewed]) -> io::Result<()> {
    let documents: Vec<ViewJson<'_>> = views
        .iter()
        .map(|viewed| ViewJson {
            id: viewed.view.id.to_string(),
            name: viewed.view.vtype.as_str(),
            system_id: viewed.view.system_id.to_string(),
            system: &viewed.view.system,
            revision: viewed.view.revision,
            size: viewed.view.size,
            sensitive: viewed.view.sensitive,
            content: viewed.text(),
        })
        .collect();
    serde_json::to_writer(&mut *out, &documents).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// Writes each view under a heading, for people.
fn write_text(out: &mut impl Write, views: &[Viewed], system: &str) -> io::Result<()> {
    for (index, viewed) in views.iter().enumerate() {
        let view = &viewed.view;
        if index > 0 {
            out.write_all(b"\n")?;
        }
        writeln!(
            out,
            "== {} from {} (revision {}, {}) ==",
            view.vtype,
            view.system,
            view.revision,
            output::bytes(view.size)
        )?;
        match viewed.text() {
            Some("") => writeln!(out, "(empty)")?,
            Some(text) => {
                write_escaped(out, text)?;
                if !text.ends_with('\n') {
                    out.write_all(b"\n")?;
                }
            }
            None => writeln!(
                out,
                "{} bytes of binary content; use --raw (`plog view {system} {} --raw`)",
                view.size, view.vtype
            )?,
        }
    }
    Ok(())
}

/// Writes `text` with the characters that could take over a terminal or reorder what is shown
/// (control characters other than line breaks and tabs, bidirectional overrides) escaped as
/// `\u{…}`: the content is someone else's, and a person reading it must see what it says.
fn write_escaped(out: &mut impl Write, text: &str) -> io::Result<()> {
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        let harmless = match c {
            '\n' | '\t' => true,
            '\r' => chars.peek().is_some_and(|&(_, next)| next == '\n'),
            c => !c.is_control() && !is_bidi_control(c),
        };
        if !harmless {
            out.write_all(text.get(start..index).unwrap_or_default().as_bytes())?;
            write!(out, "{}", c.escape_unicode())?;
            start = index + c.len_utf8();
        }
    }
    out.write_all(text.get(start..).unwrap_or_default().as_bytes())
}

/// Characters that change the direction of the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use uuid::Uuid;

    use super::*;
    use crate::{Cli, Command};

    fn view_args(args: &[&str]) -> Result<ViewArgs, clap::Error> {
        let mut full = vec!["plog", "view"];
        full.extend_from_slice(args);
        match Cli::try_parse_from(full)?.command {
            Command::View(args) => Ok(args),
            other => panic!("expected view, got {other:?}"),
        }
    }

    #[test]
    fn view_parses() -> Result<(), clap::Error> {
        let args = view_args(&["the-crew", "front", "--raw"])?;
        assert_eq!(
            (args.system.as_str(), args.volume_type.as_deref(), args.raw),
            ("the-crew", Some("front"), true)
        );
        let args = view_args(&["the-crew"])?;
        assert_eq!((args.volume_type, args.raw), (None, false));
        assert!(view_args(&[]).is_err());
        Ok(())
    }

    #[test]
    fn raw_needs_a_type_and_no_json() {
        let global = |json| GlobalArgs { json, yes: false };
        let args = view_args(&["the-crew", "--raw"]).expect("parses");
        let err = run(&args, &global(false)).expect_err("refused");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--raw needs TYPE"), "{err}");
        let args = view_args(&["the-crew", "front", "--raw"]).expect("parses");
        let err = run(&args, &global(true)).expect_err("refused");
        assert_eq!(err.exit_code(), 2);
        let args = view_args(&["the-crew", "Front"]).expect("parses");
        let err = run(&args, &global(false)).expect_err("refused");
        assert!(err.to_string().starts_with("invalid volume type"), "{err}");
    }

    #[test]
    fn growing_buffers_keep_every_byte() {
        let mut buffer = Plaintext::default();
        let data: Vec<u8> = (0..200_000_u32).map(|i| (i % 251) as u8).collect();
        for chunk in data.chunks(7_001) {
            buffer.write_all(chunk).expect("write");
        }
        assert_eq!(buffer.0.as_slice(), data.as_slice());
        assert_eq!(format!("{buffer:?}"), "Plaintext(200000 bytes)");
    }

    fn escaped(text: &str) -> String {
        let mut out = Vec::new();
        write_escaped(&mut out, text).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn terminal_controls_are_shown_escaped() {
        assert_eq!(
            escaped("plain\ttext\nnext line\r\n"),
            "plain\ttext\nnext line\r\n"
        );
        assert_eq!(escaped("\u{1b}[2Jgone"), "\\u{1b}[2Jgone");
        assert_eq!(escaped("a\rb"), "a\\u{d}b");
        assert_eq!(escaped("x\u{202e}yz\u{9b}"), "x\\u{202e}yz\\u{9b}");
        assert_eq!(escaped("ünïcode ✓"), "ünïcode ✓");
        assert_eq!(escaped(""), "");
    }

    fn viewed(vtype: &str, content: &[u8]) -> Viewed {
        Viewed {
            view: SharedView {
                id: Uuid::from_u128(5),
                vtype: VolumeType::parse(vtype).expect("vtype"),
                system_id: Uuid::from_u128(1),
                system: "the-crew".to_owned(),
                revision: 3,
                size: content.len() as u64,
                sensitive: true,
            },
            content: Plaintext(Zeroizing::new(content.to_vec())),
        }
    }

    #[test]
    fn text_and_json_output() {
        let views = [
            viewed("front", b"alice fronting"),
            viewed("members", &[0xff, 0x00, 0x01]),
            viewed("polls", b""),
        ];
        let mut out = Vec::new();
        write_text(&mut out, &views, "crew").expect("text");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "== front from the-crew (revision 3, 14 B) ==\n\
             alice fronting\n\
             \n\
             == members from the-crew (revision 3, 3 B) ==\n\
             3 bytes of binary content; use --raw (`plog view crew members --raw`)\n\
             \n\
             == polls from the-crew (revision 3, 0 B) ==\n\
             (empty)\n"
        );
        let mut out = Vec::new();
        write_json(&mut out, &views[..2]).expect("json");
        let json: serde_json::Value = serde_json::from_slice(&out).expect("one document");
        assert_eq!(
            json,
            serde_json::json!([
                {
                    "id": "00000000-0000-0000-0000-000000000005",
                    "name": "front",
                    "system_id": "00000000-0000-0000-0000-000000000001",
                    "system": "the-crew",
                    "revision": 3,
                    "size": 14,
                    "sensitive": true,
                    "content": "alice fronting"
                },
                {
                    "id": "00000000-0000-0000-0000-000000000005",
                    "name": "members",
                    "system_id": "00000000-0000-0000-0000-000000000001",
                    "system": "the-crew",
                    "revision": 3,
                    "size": 3,
                    "sensitive": true,
                    "content": null
                }
            ])
        );
    }
}
