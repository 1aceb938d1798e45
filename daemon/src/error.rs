//! Errors of the daemon's entry point.

/// Exit status of a run that failed (2 is left to usage errors reported by the parser).
pub const EXIT_FAILURE: u8 = 1;

/// Why `plogd` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The XDG directories could not be found or created.
    #[error(transparent)]
    Paths(#[from] crate::paths::PathsError),
    /// Another instance runs, or the lock could not be taken.
    #[error(transparent)]
    Instance(#[from] crate::process::InstanceError),
    /// The configuration file is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The configuration directory cannot be watched.
    #[error(transparent)]
    Watch(#[from] crate::config::watch::WatchError),
    /// The local store cannot be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The session bus cannot be used.
    #[error("D-Bus: {0} (is a session bus running? `DBUS_SESSION_BUS_ADDRESS` names it)")]
    Bus(zbus::Error),
    /// Another process owns the bus name.
    #[error("another process already owns org.plurallog.Daemon1 on this bus (is plogd running?)")]
    NameTaken,
    /// The process protections could not be applied.
    #[error("cannot disable core dumps and ptrace: {0}")]
    Harden(std::io::Error),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// Signal handlers could not be installed.
    #[error("cannot handle termination signals: {0}")]
    Signals(std::io::Error),
}

impl Error {
    /// The process exit status that reports this error.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        EXIT_FAILURE
    }
}
