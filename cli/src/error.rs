//! Errors of the CLI and the exit status each one maps to (DESIGN §6.1: usage 2, locked 3,
//! network 4, conflict 5, anything else 1).

use std::fmt;
use std::io;

use plog_ipc_schema::dbus::{CliExitCode, DaemonError};
use zbus::DBusError as _;
use zbus::fdo;

/// Exit status of a command that failed (2 is left to usage errors).
pub const EXIT_FAILURE: u8 = 1;

/// What `systemd`-less users and everyone else are told when the daemon is not on the bus.
const START_HINT: &str = "start it with `systemctl --user start plogd` or run `plogd`";

/// Why a `plog` command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The command is part of the contract but this version does not carry it out yet.
    #[error("{command}: not implemented in this version")]
    NotImplemented {
        /// The full command, e.g. `plog friend invite`.
        command: &'static str,
    },
    /// A bad argument, found before the daemon was asked (a missing file, a passphrase file
    /// others can read, a confirmation that cannot be asked for without a terminal, …).
    #[error("{0}")]
    Usage(String),
    /// The person answered "no" to a confirmation.
    #[error("cancelled; nothing was changed")]
    Declined,
    /// No session bus could be reached.
    #[error("{0}")]
    NoBus(NoBus),
    /// The daemon is not on the bus and D-Bus activation did not start it.
    #[error("plogd is not running; {START_HINT}")]
    DaemonNotRunning,
    /// D-Bus activation tried to start the daemon and failed.
    #[error("plogd could not be started by D-Bus activation ({0}); {START_HINT}")]
    DaemonNotStarted(String),
    /// The daemon on the bus does not have the method (it is older or newer than this CLI).
    #[error(
        "plogd does not offer {method} ({detail}); is plogd the same version as plog {version}?",
        version = crate::VERSION
    )]
    DaemonMismatch {
        /// The D-Bus method, e.g. `Volumes.Put`.
        method: &'static str,
        /// What the bus said.
        detail: String,
    },
    /// The daemon refused or failed the call.
    #[error("{}", describe_daemon_error(.0))]
    Daemon(DaemonError),
    /// The D-Bus call itself failed (connection lost, malformed message, …).
    #[error("D-Bus call {method} failed: {source}")]
    Bus {
        /// The D-Bus method.
        method: &'static str,
        /// The failure.
        source: zbus::Error,
    },
    /// The daemon answered with something this CLI cannot read.
    #[error("plogd answered {method} with an unreadable result: {reason}")]
    BadReply {
        /// The D-Bus method.
        method: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A local input or output failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. "writing to stdout".
        context: String,
        /// The failure.
        source: io::Error,
    },
    /// Anything else, described for people.
    #[error("{0}")]
    Failed(String),
}

/// The session bus could not be reached; says where it was looked for.
#[derive(Debug)]
pub struct NoBus {
    /// `$DBUS_SESSION_BUS_ADDRESS`, if set.
    pub(crate) address: Option<String>,
    /// What connecting reported.
    pub(crate) source: zbus::Error,
}

impl fmt::Display for NoBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.address {
            Some(address) => write!(
                f,
                "cannot reach the session bus at DBUS_SESSION_BUS_ADDRESS={address} ({}); \
                 is the D-Bus session running?",
                self.source
            ),
            None => write!(
                f,
                "cannot reach the session bus: DBUS_SESSION_BUS_ADDRESS is unset and the \
                 default socket $XDG_RUNTIME_DIR/bus is unreachable ({}); run plog inside a \
                 login session or set DBUS_SESSION_BUS_ADDRESS",
                self.source
            ),
        }
    }
}

impl Error {
    /// The process exit status that reports this error.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => CliExitCode::Usage.code(),
            Self::Daemon(error) => error.exit_code().code(),
            Self::NotImplemented { .. }
            | Self::Declined
            | Self::NoBus(_)
            | Self::DaemonNotRunning
            | Self::DaemonNotStarted(_)
            | Self::DaemonMismatch { .. }
            | Self::Bus { .. }
            | Self::BadReply { .. }
            | Self::Io { .. }
            | Self::Failed(_) => EXIT_FAILURE,
        }
    }

    /// Whether the output was cut off by its reader (`plog volume get TYPE | head`): the
    /// reader chose to stop, so there is nothing to tell it.
    #[must_use]
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }

    /// Classifies the failure of the D-Bus call `method`: the daemon's own errors stay as they
    /// are, while the bus's answers for "nobody owns that name" and "activation failed" become
    /// the errors that tell the person what to run.
    pub(crate) fn from_call(method: &'static str, error: DaemonError) -> Self {
        let DaemonError::ZBus(bus_error) = error else {
            return Self::Daemon(error);
        };
        match bus_error {
            zbus::Error::FDO(fdo_error) => Self::from_fdo(method, *fdo_error),
            other => Self::Bus {
                method,
                source: other,
            },
        }
    }

    fn from_fdo(method: &'static str, error: fdo::Error) -> Self {
        match error {
            fdo::Error::ServiceUnknown(_) | fdo::Error::NameHasNoOwner(_) => Self::DaemonNotRunning,
            fdo::Error::UnknownMethod(detail)
            | fdo::Error::UnknownInterface(detail)
            | fdo::Error::UnknownObject(detail) => Self::DaemonMismatch { method, detail },
            error
                if error
                    .name()
                    .starts_with("org.freedesktop.DBus.Error.Spawn.") =>
            {
                Self::DaemonNotStarted(error.description().unwrap_or_default().to_owned())
            }
            error => Self::Bus {
                method,
                source: zbus::Error::FDO(Box::new(error)),
            },
        }
    }

    /// A local I/O failure while `context`.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// The daemon's answer to `method` is not the JSON it documents.
    pub(crate) fn bad_reply(method: &'static str, reason: impl fmt::Display) -> Self {
        Self::BadReply {
            method,
            reason: reason.to_string(),
        }
    }
}

/// The daemon's descriptions are written for people ("the daemon is locked; run `plog
/// unlock`"), so they are shown as they are; an error without one is shown by its name.
fn describe_daemon_error(error: &DaemonError) -> String {
    if let DaemonError::ZBus(source) = error {
        return source.to_string();
    }
    match error.description() {
        Some(text) if !text.is_empty() => text.to_owned(),
        _ => format!("plogd failed ({})", error.name()),
    }
}

/// The error of a command this version does not carry out yet.
pub(crate) fn not_implemented(command: &'static str) -> Result<(), Error> {
    Err(Error::NotImplemented { command })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fdo_call_error(error: fdo::Error) -> Error {
        Error::from_call(
            "Identity.Status",
            DaemonError::ZBus(zbus::Error::from(error)),
        )
    }

    #[test]
    fn daemon_errors_keep_their_exit_codes_and_descriptions() {
        let cases = [
            (DaemonError::InvalidArgument("bad type".into()), 2),
            (DaemonError::Locked("locked; run `plog unlock`".into()), 3),
            (DaemonError::NotInitialized("no identity".into()), 3),
            (DaemonError::Network("unreachable".into()), 4),
            (DaemonError::PinMismatch("pins differ".into()), 4),
            (DaemonError::Conflict("revision conflict".into()), 5),
            (DaemonError::AlreadyInitialized("exists".into()), 5),
            (DaemonError::WrongPassphrase("wrong passphrase".into()), 1),
            (DaemonError::NotFound("no such volume".into()), 1),
            (DaemonError::Failed("boom".into()), 1),
        ];
        for (daemon_error, code) in cases {
            let description = daemon_error.description().map(str::to_owned);
            let error = Error::from_call("Volumes.Put", daemon_error);
            assert_eq!(error.exit_code(), code, "{error:?}");
            assert_eq!(Some(error.to_string()), description);
        }
        let unnamed = Error::from_call("Volumes.Put", DaemonError::Failed(String::new()));
        assert_eq!(
            unnamed.to_string(),
            "plogd failed (org.plurallog.Error.Failed)"
        );
    }

    #[test]
    fn a_missing_daemon_names_the_commands_that_start_it() {
        for error in [
            fdo::Error::ServiceUnknown("The name is not activatable".into()),
            fdo::Error::NameHasNoOwner("no owner".into()),
        ] {
            let error = fdo_call_error(error);
            assert!(matches!(error, Error::DaemonNotRunning), "{error:?}");
            assert_eq!(
                error.to_string(),
                "plogd is not running; start it with `systemctl --user start plogd` or run \
                 `plogd`"
            );
            assert_eq!(error.exit_code(), 1);
        }
        let spawn = fdo_call_error(fdo::Error::SpawnChildExited("exited with 1".into()));
        assert!(spawn.to_string().contains("exited with 1"), "{spawn}");
        assert!(spawn.to_string().contains("systemctl --user start plogd"));
    }

    #[test]
    fn an_unknown_method_points_at_a_version_mismatch() {
        let error = fdo_call_error(fdo::Error::UnknownMethod("no SetHandle".into()));
        let text = error.to_string();
        assert!(text.starts_with("plogd does not offer Identity.Status (no SetHandle)"));
        assert!(text.contains(crate::VERSION));
        let other = fdo_call_error(fdo::Error::AccessDenied("policy".into()));
        assert!(matches!(other, Error::Bus { .. }), "{other:?}");
        assert_eq!(other.exit_code(), 1);
    }

    #[test]
    fn local_errors_have_their_codes() {
        assert_eq!(Error::Usage("bad".into()).exit_code(), 2);
        assert_eq!(Error::Declined.exit_code(), 1);
        let cut = Error::io(
            "writing to stdout",
            io::Error::from(io::ErrorKind::BrokenPipe),
        );
        assert!(cut.is_broken_pipe());
        assert_eq!(cut.exit_code(), 1);
        assert!(!Error::io("reading x", io::Error::other("gone")).is_broken_pipe());
        assert_eq!(
            Error::io("reading x", io::Error::other("gone")).to_string(),
            "reading x: gone"
        );
        let no_bus = Error::NoBus(NoBus {
            address: None,
            source: zbus::Error::Address("x".into()),
        });
        assert!(
            no_bus
                .to_string()
                .contains("DBUS_SESSION_BUS_ADDRESS is unset")
        );
        let with_address = Error::NoBus(NoBus {
            address: Some("unix:path=/nowhere".into()),
            source: zbus::Error::Address("x".into()),
        });
        assert!(
            with_address
                .to_string()
                .contains("DBUS_SESSION_BUS_ADDRESS=unix:path=/nowhere")
        );
    }
}
