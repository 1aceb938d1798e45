//! Errors of the relay's command-line entry point.

/// Exit status of a command that failed (2 is left to usage errors reported by the parser).
pub const EXIT_FAILURE: u8 = 1;

/// Why a `plog-relay` command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command is part of the contract but this version does not carry it out yet.
    #[error("{command}: not implemented in this version")]
    NotImplemented {
        /// The full command, e.g. `plog-relay admin stats`.
        command: &'static str,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The certificate could not be read or created.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The server failed to start or stopped with an error.
    #[error(transparent)]
    Serve(#[from] crate::server::ServeError),
    /// The listener or the runtime could not be set up.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The process exit status that reports this error.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        EXIT_FAILURE
    }
}
