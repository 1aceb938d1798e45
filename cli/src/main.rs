//! `plog`: parses the command line and hands it to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = plog_cli::Cli::parse();
    match plog_cli::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if !err.is_broken_pipe() {
                eprintln!("error: {err}");
            }
            ExitCode::from(err.exit_code())
        }
    }
}
