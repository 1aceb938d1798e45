//! `plog completions SHELL`: a completion script generated from the command definitions.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::error::Error;
use crate::{Cli, GlobalArgs};

/// Arguments of `plog completions`.
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub(crate) fn run(args: &CompletionsArgs, global: &GlobalArgs) -> Result<(), Error> {
    refuse_json(global, "plog completions")?;
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "plog", &mut script);
    let text = String::from_utf8(script)
        .map_err(|err| Error::Failed(format!("the completion script is not UTF-8: {err}")))?;
    crate::output::print(&text)
}

/// Generated files are not JSON documents; saying so beats printing something else.
pub(crate) fn refuse_json(global: &GlobalArgs, command: &str) -> Result<(), Error> {
    if global.json {
        Err(Error::Usage(format!(
            "{command} prints no JSON; drop --json"
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_commands() {
        for shell in Shell::value_variants() {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "plog", &mut script);
            let text = String::from_utf8_lossy(&script);
            assert!(text.contains("plog"), "{shell}");
            assert!(
                text.contains("unlock") && text.contains("passphrase-file"),
                "{shell}"
            );
        }
    }
}
