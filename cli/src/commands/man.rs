//! `plog man`: man pages generated from the command definitions, one per command.

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};
use clap_mangen::Man;

use crate::commands::completions::refuse_json;
use crate::error::Error;
use crate::output_file;
use crate::{Cli, GlobalArgs};

/// Arguments of `plog man`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct ManArgs {
    /// Write `plog.1` and one page per subcommand (`plog-relay-add.1`, …) into this directory
    /// instead of printing `plog.1` on stdout.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub(crate) fn run(args: &ManArgs, global: &GlobalArgs) -> Result<(), Error> {
    refuse_json(global, "plog man")?;
    let mut command = Cli::command().disable_help_subcommand(true);
    // Building fills in the display names (`plog-relay-add`) the page names come from.
    command.build();
    match &args.dir {
        None => crate::output::print(&render(&command)?),
        Some(dir) => {
            if !dir.is_dir() {
                return Err(Error::Usage(format!(
                    "{} is not a directory",
                    dir.display()
                )));
            }
            let mut pages = Vec::new();
            write_pages(&command, dir, &mut pages)?;
            let listing: String = pages
                .iter()
                .map(|page| format!("{}\n", page.display()))
                .collect();
            crate::output::print(&listing)
        }
    }
}

fn render(command: &clap::Command) -> Result<String, Error> {
    let mut page = Vec::new();
    Man::new(command.clone())
        .render(&mut page)
        .map_err(|err| Error::Failed(format!("cannot render the man page: {err}")))?;
    String::from_utf8(page)
        .map_err(|err| Error::Failed(format!("the man page is not UTF-8: {err}")))
}

/// Writes the page of `command` and of each visible subcommand, recursively.
fn write_pages(command: &clap::Command, dir: &Path, pages: &mut Vec<PathBuf>) -> Result<(), Error> {
    let name = Man::new(command.clone()).get_filename();
    let written = output_file::write_file(&dir.join(name), render(command)?.as_bytes(), 0o644)?;
    pages.push(written);
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_pages(sub, dir, pages)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_command() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut command = Cli::command().disable_help_subcommand(true);
        command.build();
        let mut pages = Vec::new();
        write_pages(&command, dir.path(), &mut pages).expect("pages");
        let names: Vec<String> = pages
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        for expected in [
            "plog.1",
            "plog-init.1",
            "plog-relay.1",
            "plog-relay-add.1",
            "plog-volume-put.1",
            "plog-identity-restore.1",
            "plog-handle-set.1",
            "plog-account-delete.1",
            "plog-friend-invite.1",
            "plog-friend-invite-revoke.1",
            "plog-friend-verify.1",
            "plog-friend-handle-requests.1",
            "plog-share-grant.1",
            "plog-share-list.1",
            "plog-view.1",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        let page = std::fs::read_to_string(dir.path().join("plog-volume-put.1")).expect("page");
        assert!(page.contains(".TH"), "not a man page");
        assert!(
            page.contains("FILE|\\-") || page.contains("FILE|-"),
            "{page}"
        );
        let page = std::fs::read_to_string(dir.path().join("plog-friend-request.1")).expect("page");
        assert!(
            page.contains("process list"),
            "argv exposure is documented: {page}"
        );
    }
}
