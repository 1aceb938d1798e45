//! Errors of the daemon's entry point.

/// Exit status of a run that failed (2 is left to usage errors reported by the parser).
pub const EXIT_FAILURE: u8 = 1;

/// Why `plogd` stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// This version does not carry the service out yet.
    #[error("{command}: not implemented in this version")]
    NotImplemented {
        /// The command, i.e. `plogd`.
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
