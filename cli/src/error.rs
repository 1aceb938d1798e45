//! Errors of the CLI.

/// Exit status of a command that failed (2 is left to usage errors reported by the parser).
pub const EXIT_FAILURE: u8 = 1;

/// Why a `plog` command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command is part of the contract but this version does not carry it out yet.
    #[error("{command}: not implemented in this version")]
    NotImplemented {
        /// The full command, e.g. `plog volume put`.
        command: &'static str,
    },
}

impl Error {
    /// The process exit status that reports this error.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NotImplemented { .. } => EXIT_FAILURE,
        }
    }
}

/// The error of a command this version does not carry out yet.
pub(crate) fn not_implemented(command: &'static str) -> Result<(), Error> {
    Err(Error::NotImplemented { command })
}
