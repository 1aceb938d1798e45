//! `plog volume …`: store, fetch, list and remove volumes, byte for byte.
//!
//! Content crosses to the daemon only through a pipe, streamed with bounded memory, with a
//! progress bar on a terminal when the transfer takes more than a second.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use plog_ipc_schema::VolumeType;
use plog_ipc_schema::dbus::volumes::{LocalVolume, SyncState};
use serde::Serialize;
use zbus::Fd;

use crate::GlobalArgs;
use crate::daemon::{Daemon, block_on, call, parse_reply};
use crate::error::Error;
use crate::output::{self, Table};
use crate::output_file::OutputFile;
use crate::pipe;
use crate::progress::{self, Bar};

/// The `plog volume` subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum VolumeCommand {
    /// Store FILE (or stdin, for `-`) as the volume of TYPE, exactly as given.
    Put {
        /// The volume type, e.g. `members`, `front`, `journals`.
        #[arg(value_name = "TYPE")]
        volume_type: String,
        /// The content: a file, or `-` for stdin.
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
    },
    /// Print the volume of TYPE (or write it to a file), byte for byte as stored.
    Get {
        /// The volume type.
        #[arg(value_name = "TYPE")]
        volume_type: String,
        /// Write to this file (mode 0600) instead of stdout (`-`: stdout).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List this identity's volumes.
    Ls,
    /// Delete the volume of TYPE here and, at the next sync, at the relays.
    Rm {
        /// The volume type.
        #[arg(value_name = "TYPE")]
        volume_type: String,
    },
}

/// The path that means stdin (for `put`) or stdout (for `get -o`).
const STDIO: &str = "-";

pub(crate) fn run(command: &VolumeCommand, global: &GlobalArgs) -> Result<(), Error> {
    match command {
        VolumeCommand::Put { volume_type, file } => put(volume_type, file, global),
        VolumeCommand::Get {
            volume_type,
            output,
        } => get(volume_type, output.as_deref(), global),
        VolumeCommand::Ls => list(global),
        VolumeCommand::Rm { volume_type } => remove(volume_type, global),
    }
}

/// Checks a volume type given on the command line.
fn parse_vtype(text: &str) -> Result<VolumeType, Error> {
    VolumeType::parse(text)
        .map_err(|err| Error::Usage(format!("invalid volume type {text:?}: {err}")))
}

/// Where `put`'s content comes from.
enum Source {
    /// A regular file: its descriptor goes to the daemon as it is, which reads it at its own
    /// pace and learns its size up front (no copy through a pipe, no spooling).
    Regular(File),
    /// Stdin, a FIFO or a device: copied into a pipe.
    Stream(Box<dyn Read + Send>),
}

/// What `put` reads from.
struct Input {
    /// The file or stdin.
    source: Source,
    /// Its size, when known up front (a regular file).
    size: Option<u64>,
    /// Its name in messages.
    shown: String,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("size", &self.size)
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

/// Opens the file `put` reads from (`-`: stdin).
fn open_input(path: &Path) -> Result<Input, Error> {
    if path.as_os_str() == STDIO {
        return Ok(Input {
            source: Source::Stream(Box::new(io::stdin())),
            size: None,
            shown: "stdin".to_owned(),
        });
    }
    let shown = path.display().to_string();
    let file =
        File::open(path).map_err(|err| Error::Usage(format!("cannot open {shown}: {err}")))?;
    let metadata = file
        .metadata()
        .map_err(|err| Error::io(format!("inspecting {shown}"), err))?;
    if metadata.is_dir() {
        return Err(Error::Usage(format!("{shown} is a directory")));
    }
    if metadata.is_file() {
        return Ok(Input {
            source: Source::Regular(file),
            size: Some(metadata.len()),
            shown,
        });
    }
    Ok(Input {
        source: Source::Stream(Box::new(file)),
        size: None,
        shown,
    })
}

fn put(volume_type: &str, path: &Path, global: &GlobalArgs) -> Result<(), Error> {
    const METHOD: &str = "Volumes.Put";
    let vtype = parse_vtype(volume_type)?;
    let Input {
        source,
        size,
        shown,
    } = open_input(path)?;
    let bar = Bar::bytes(&format!("put {vtype}"), size, progress::wanted(global.json));
    let result = block_on(async {
        let volumes = Daemon::connect().await?.volumes().await?;
        match source {
            Source::Regular(file) => {
                let data_fd = Fd::from(OwnedFd::from(file));
                let json = call(METHOD, volumes.put(vtype.as_str(), data_fd)).await?;
                Ok((json, size.unwrap_or(0)))
            }
            Source::Stream(source) => {
                let (data_fd, feeder) = pipe::feed_from(source, bar.clone())?;
                let json = call(METHOD, volumes.put(vtype.as_str(), data_fd)).await?;
                let sent = feeder.finish().map_err(|err| {
                    Error::Failed(format!(
                        "sending {shown} to plogd failed ({err}); plogd may have stored only \
                         part of it, so run the command again"
                    ))
                })?;
                Ok((json, sent))
            }
        }
    });
    bar.finish();
    let (json, sent) = result?;
    let volume: LocalVolume = parse_reply(METHOD, &json)?;
    if volume.size != sent {
        return Err(Error::Failed(format!(
            "plogd stored {} bytes of {vtype} but {sent} were sent; run the command again",
            volume.size
        )));
    }
    if global.json {
        output::print_daemon_json(METHOD, &json)
    } else {
        output::print(&format!(
            "Stored {}: revision {}, {}, {}.\n",
            volume.vtype.as_str(),
            volume.revision,
            output::bytes(volume.size),
            sync_state(volume.sync)
        ))
    }
}

/// What `plog volume get -o FILE --json` prints.
#[derive(Debug, Serialize)]
struct Fetched<'a> {
    vtype: &'a str,
    bytes: u64,
    output: &'a Path,
}

fn get(volume_type: &str, output: Option<&Path>, global: &GlobalArgs) -> Result<(), Error> {
    let vtype = parse_vtype(volume_type)?;
    let target = output.filter(|path| path.as_os_str() != STDIO);
    let bar = Bar::bytes(&format!("get {vtype}"), None, progress::wanted(global.json));
    let Some(target) = target else {
        if global.json {
            return Err(Error::Usage(
                "with --json the volume needs a place of its own: pass -o FILE".to_owned(),
            ));
        }
        let result = block_on(fetch(&vtype, io::stdout(), bar.clone()));
        bar.finish();
        return result.map(drop);
    };
    let file = OutputFile::create(target, 0o600)?;
    let result = block_on(fetch(&vtype, file, bar.clone()));
    bar.finish();
    let (file, bytes) = result?;
    let written = file.commit()?;
    if global.json {
        output::print_json(&Fetched {
            vtype: vtype.as_str(),
            bytes,
            output: &written,
        })
    } else {
        Ok(())
    }
}

/// `Volumes.Get` into `sink`.
async fn fetch<W: io::Write + Send + 'static>(
    vtype: &VolumeType,
    sink: W,
    bar: Bar,
) -> Result<(W, u64), Error> {
    let volumes = Daemon::connect().await?.volumes().await?;
    let (out_fd, drain) = pipe::drain_into(sink, bar)?;
    let called = call("Volumes.Get", volumes.get(vtype.as_str(), out_fd)).await;
    let ((), copied) = drain.settle(called, || format!("writing volume {vtype}"))?;
    Ok(copied)
}

fn list(global: &GlobalArgs) -> Result<(), Error> {
    const METHOD: &str = "Volumes.List";
    let json = block_on(async {
        let volumes = Daemon::connect().await?.volumes().await?;
        call(METHOD, volumes.list()).await
    })?;
    let listed: Vec<LocalVolume> = parse_reply(METHOD, &json)?;
    if global.json {
        output::print_daemon_json(METHOD, &json)
    } else {
        output::print(&render_list(&listed))
    }
}

/// The volumes as a table.
pub(crate) fn render_list(volumes: &[LocalVolume]) -> String {
    let mut table = Table::new(&["TYPE", "REVISION", "SIZE", "UPDATED", "SYNC"]);
    for volume in volumes {
        table.row(vec![
            volume.vtype.as_str().to_owned(),
            volume.revision.to_string(),
            output::bytes(volume.size),
            output::utc_time(volume.updated_at),
            sync_state(volume.sync).to_owned(),
        ]);
    }
    table.render()
}

fn sync_state(state: SyncState) -> &'static str {
    match state {
        SyncState::Synced => "synced",
        SyncState::Pending => "pending sync",
        SyncState::Conflict => "conflict",
        _ => "unknown",
    }
}

/// What `plog volume rm --json` prints.
#[derive(Debug, Serialize)]
struct Removed<'a> {
    removed: &'a str,
}

fn remove(volume_type: &str, global: &GlobalArgs) -> Result<(), Error> {
    let vtype = parse_vtype(volume_type)?;
    block_on(async {
        let volumes = Daemon::connect().await?.volumes().await?;
        call("Volumes.Remove", volumes.remove(vtype.as_str())).await
    })?;
    if global.json {
        output::print_json(&Removed {
            removed: vtype.as_str(),
        })
    } else {
        output::print(&format!(
            "Removed {vtype}; the relays forget it at the next sync.\n"
        ))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use uuid::Uuid;

    use super::*;
    use crate::{Cli, Command};

    #[test]
    fn types_are_checked_before_asking_the_daemon() {
        assert!(parse_vtype("journals").is_ok());
        for bad in ["", "Members", "9lives", "a b", &"x".repeat(33)] {
            let err = parse_vtype(bad).expect_err("invalid");
            assert_eq!(err.exit_code(), 2, "{bad:?}");
            assert!(err.to_string().starts_with("invalid volume type"), "{err}");
        }
        let global = GlobalArgs {
            json: false,
            yes: false,
        };
        let err = put("Bad", Path::new("-"), &global).expect_err("invalid type");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn inputs_must_exist_and_be_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = open_input(&dir.path().join("missing")).err();
        assert!(matches!(missing, Some(Error::Usage(ref text)) if text.starts_with("cannot open")));
        let directory = open_input(dir.path()).err();
        assert!(
            matches!(directory, Some(Error::Usage(ref text)) if text.ends_with("is a directory"))
        );
        let path = dir.path().join("data");
        std::fs::write(&path, b"12345").expect("write");
        let input = open_input(&path).expect("file");
        assert_eq!(input.size, Some(5));
        assert_eq!(input.shown, path.display().to_string());
        let input = open_input(Path::new("-")).expect("stdin");
        assert_eq!((input.size, input.shown.as_str()), (None, "stdin"));
    }

    #[test]
    fn json_output_of_get_needs_a_file() {
        let global = GlobalArgs {
            json: true,
            yes: false,
        };
        for output in [None, Some(Path::new("-"))] {
            let err = get("members", output, &global).expect_err("refused");
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains("-o FILE"), "{err}");
        }
    }

    #[test]
    fn volume_commands_parse() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from(["plog", "volume", "get", "front", "-o", "out"])?;
        let Command::Volume(VolumeCommand::Get {
            volume_type,
            output,
        }) = cli.command
        else {
            panic!("expected volume get, got {:?}", cli.command);
        };
        assert_eq!(volume_type, "front");
        assert_eq!(output.as_deref(), Some(Path::new("out")));
        let cli = Cli::try_parse_from(["plog", "volume", "rm", "front", "--json"])?;
        assert!(matches!(
            cli.command,
            Command::Volume(VolumeCommand::Rm { .. })
        ));
        assert!(cli.global.json);
        Ok(())
    }

    #[test]
    fn volume_table() {
        let vtype = VolumeType::parse("members").expect("vtype");
        let volume = LocalVolume {
            id: Uuid::from_u128(1),
            name: vtype.clone(),
            vtype,
            revision: 12,
            key_epoch: 1,
            size: 2048,
            updated_at: 86_400,
            sync: SyncState::Pending,
        };
        assert_eq!(
            render_list(&[volume]),
            "TYPE     REVISION  SIZE     UPDATED               SYNC\n\
             members  12        2.0 KiB  1970-01-02 00:00 UTC  pending sync\n"
        );
    }
}
