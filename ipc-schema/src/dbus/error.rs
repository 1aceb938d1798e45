//! Typed D-Bus errors of the daemon (names under `org.plurallog.Error.`) and the CLI exit code
//! each one maps to.
//!
//! The description carried with each error is for people: it names the problem and the way out
//! ("the daemon is locked; run `plog unlock`") and never holds a secret.

/// The `plog` exit codes (DESIGN §6.1 scripts rely on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CliExitCode {
    /// 1: any other failure.
    Failure,
    /// 2: bad usage or a bad argument.
    Usage,
    /// 3: the identity is locked or does not exist yet.
    Locked,
    /// 4: a relay could not be reached (or not safely: certificate pin mismatch).
    Network,
    /// 5: a conflict (revision conflict, sync conflict, already exists).
    Conflict,
}

impl CliExitCode {
    /// The process exit status.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::Failure => 1,
            Self::Usage => 2,
            Self::Locked => 3,
            Self::Network => 4,
            Self::Conflict => 5,
        }
    }
}

/// Every error the daemon returns over D-Bus.
///
/// The D-Bus error name is `org.plurallog.Error.<Variant>`, e.g.
/// `org.plurallog.Error.Locked`. A proxy call returns this type directly: errors with one of
/// these names arrive as their variant, anything else (no daemon on the bus, a transport
/// failure, an unknown error name) as [`DaemonError::ZBus`].
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.plurallog.Error")]
#[non_exhaustive]
pub enum DaemonError {
    /// A D-Bus level failure, or an error name this crate does not know.
    #[zbus(error)]
    ZBus(zbus::Error),
    /// The identity is locked: run `plog unlock`.
    Locked(String),
    /// No identity yet: run `plog init` or `plog identity restore`.
    NotInitialized(String),
    /// An identity exists already.
    AlreadyInitialized(String),
    /// The passphrase does not open the key file.
    WrongPassphrase(String),
    /// A relay could not be reached or answered with a server error.
    Network(String),
    /// A relay's certificate does not match its pin (the description names both values).
    PinMismatch(String),
    /// A revision or sync conflict, or something that exists already.
    Conflict(String),
    /// No such relay, volume, friend, request or share.
    NotFound(String),
    /// A malformed or unacceptable argument (bad type name, bad fd, bad JSON, …).
    InvalidArgument(String),
    /// The caller may not do this (other uid, or a relay refused).
    PermissionDenied(String),
    /// The friend's key is not verified (compare safety numbers first, or override).
    Unverified(String),
    /// Anything else.
    Failed(String),
}

impl DaemonError {
    /// The CLI exit code for this error.
    #[must_use]
    pub const fn exit_code(&self) -> CliExitCode {
        match self {
            Self::InvalidArgument(_) => CliExitCode::Usage,
            Self::Locked(_) | Self::NotInitialized(_) => CliExitCode::Locked,
            Self::Network(_) | Self::PinMismatch(_) => CliExitCode::Network,
            Self::Conflict(_) | Self::AlreadyInitialized(_) => CliExitCode::Conflict,
            Self::ZBus(_)
            | Self::WrongPassphrase(_)
            | Self::NotFound(_)
            | Self::PermissionDenied(_)
            | Self::Unverified(_)
            | Self::Failed(_) => CliExitCode::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::DBusError as _;

    fn all() -> Vec<DaemonError> {
        let m = || "why".to_owned();
        vec![
            DaemonError::Locked(m()),
            DaemonError::NotInitialized(m()),
            DaemonError::AlreadyInitialized(m()),
            DaemonError::WrongPassphrase(m()),
            DaemonError::Network(m()),
            DaemonError::PinMismatch(m()),
            DaemonError::Conflict(m()),
            DaemonError::NotFound(m()),
            DaemonError::InvalidArgument(m()),
            DaemonError::PermissionDenied(m()),
            DaemonError::Unverified(m()),
            DaemonError::Failed(m()),
        ]
    }

    #[test]
    fn names_are_under_the_prefix() {
        let names: Vec<String> = all().iter().map(|e| e.name().to_string()).collect();
        assert_eq!(
            names,
            [
                "org.plurallog.Error.Locked",
                "org.plurallog.Error.NotInitialized",
                "org.plurallog.Error.AlreadyInitialized",
                "org.plurallog.Error.WrongPassphrase",
                "org.plurallog.Error.Network",
                "org.plurallog.Error.PinMismatch",
                "org.plurallog.Error.Conflict",
                "org.plurallog.Error.NotFound",
                "org.plurallog.Error.InvalidArgument",
                "org.plurallog.Error.PermissionDenied",
                "org.plurallog.Error.Unverified",
                "org.plurallog.Error.Failed",
            ]
        );
        for error in all() {
            assert_eq!(error.description(), Some("why"));
            assert!(zbus::names::ErrorName::try_from(error.name().as_str()).is_ok());
        }
    }

    /// Sends each error through the wire form a daemon replies with and back through the
    /// conversion a proxy applies.
    #[test]
    fn errors_round_trip_through_reply_messages() {
        let call = zbus::Message::method_call(crate::dbus::OBJECT_PATH, "Unlock")
            .interface(crate::dbus::interfaces::IDENTITY)
            .build(&())
            .expect("method call");
        for error in all() {
            let reply = error.create_reply(&call.header()).expect("error reply");
            let back = DaemonError::from(zbus::Error::from(reply));
            assert_eq!(back.name(), error.name());
            assert_eq!(back.description(), Some("why"));
            assert_eq!(back.exit_code(), error.exit_code());
        }

        let foreign = zbus::Message::error(&call.header(), "org.example.Error.Other")
            .build(&("nope",))
            .expect("error reply");
        assert!(matches!(
            DaemonError::from(zbus::Error::from(foreign)),
            DaemonError::ZBus(_)
        ));
    }

    #[test]
    fn exit_codes() {
        let m = || String::new();
        assert_eq!(DaemonError::InvalidArgument(m()).exit_code().code(), 2);
        assert_eq!(DaemonError::Locked(m()).exit_code().code(), 3);
        assert_eq!(DaemonError::NotInitialized(m()).exit_code().code(), 3);
        assert_eq!(DaemonError::Network(m()).exit_code().code(), 4);
        assert_eq!(DaemonError::PinMismatch(m()).exit_code().code(), 4);
        assert_eq!(DaemonError::Conflict(m()).exit_code().code(), 5);
        assert_eq!(DaemonError::AlreadyInitialized(m()).exit_code().code(), 5);
        assert_eq!(DaemonError::Failed(m()).exit_code().code(), 1);
        assert_eq!(DaemonError::WrongPassphrase(m()).exit_code().code(), 1);
        assert_eq!(
            DaemonError::ZBus(zbus::Error::InvalidReply)
                .exit_code()
                .code(),
            1
        );
    }
}
