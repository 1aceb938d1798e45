//! Internal errors as D-Bus errors: the variant tells the CLI which exit code to use, the
//! description tells the person what happened and what to do. Descriptions come from the
//! internal errors' messages, which never contain secrets.

use plog_ipc_schema::dbus::DaemonError;

use crate::custody::CustodyError;
use crate::fdio::FdError;
use crate::store::StoreError;
use crate::volumes::VolumeOpError;

impl From<CustodyError> for DaemonError {
    fn from(error: CustodyError) -> Self {
        let message = error.to_string();
        match error {
            CustodyError::NotInitialized => Self::NotInitialized(message),
            CustodyError::Locked => Self::Locked(message),
            CustodyError::AlreadyInitialized { .. } => Self::AlreadyInitialized(format!(
                "{message}; to replace it, remove it yourself after making sure you have its recovery phrase"
            )),
            CustodyError::WrongPassphrase => Self::WrongPassphrase(message),
            CustodyError::EmptyPassphrase | CustodyError::Phrase(_) => {
                Self::InvalidArgument(message)
            }
            _ => Self::Failed(message),
        }
    }
}

impl From<FdError> for DaemonError {
    fn from(error: FdError) -> Self {
        let message = error.to_string();
        match error {
            FdError::TooLong { .. } | FdError::NotUtf8 { .. } => Self::InvalidArgument(message),
            _ => Self::Failed(message),
        }
    }
}

impl From<StoreError> for DaemonError {
    fn from(error: StoreError) -> Self {
        let message = error.to_string();
        match error {
            StoreError::NotFound(_) => Self::NotFound(message),
            StoreError::Conflict(_)
            | StoreError::RevisionRegression { .. }
            | StoreError::EpochRegression { .. } => Self::Conflict(message),
            StoreError::InvalidInput(_) => Self::InvalidArgument(message),
            _ => Self::Failed(message),
        }
    }
}

impl From<VolumeOpError> for DaemonError {
    fn from(error: VolumeOpError) -> Self {
        match error {
            VolumeOpError::Store(error) => error.into(),
            VolumeOpError::NotFound(_) => Self::NotFound(error.to_string()),
            VolumeOpError::Input(_) => Self::InvalidArgument(error.to_string()),
            _ => Self::Failed(error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plog_ipc_schema::dbus::CliExitCode;

    #[test]
    fn custody_errors_map_to_their_exit_codes() {
        let cases = [
            (CustodyError::NotInitialized, CliExitCode::Locked),
            (CustodyError::Locked, CliExitCode::Locked),
            (CustodyError::WrongPassphrase, CliExitCode::Failure),
            (CustodyError::EmptyPassphrase, CliExitCode::Usage),
            (
                CustodyError::AlreadyInitialized {
                    path: "identity.key".into(),
                },
                CliExitCode::Conflict,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(DaemonError::from(error).exit_code(), code);
        }
        match DaemonError::from(CustodyError::Locked) {
            DaemonError::Locked(message) => {
                assert_eq!(message, "the daemon is locked; run `plog unlock`");
            }
            other => panic!("{other:?}"),
        }
        match DaemonError::from(CustodyError::NotInitialized) {
            DaemonError::NotInitialized(message) => assert_eq!(
                message,
                "no identity yet; run `plog init` or `plog identity restore`"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            DaemonError::from(CustodyError::WrongPassphrase),
            DaemonError::WrongPassphrase(_)
        ));
    }

    #[test]
    fn store_errors_keep_their_meaning() {
        assert!(matches!(
            DaemonError::from(StoreError::NotFound("x".into())),
            DaemonError::NotFound(_)
        ));
        assert!(matches!(
            DaemonError::from(StoreError::RevisionRegression {
                vtype: "front".into(),
                local: 2,
                received: 1
            }),
            DaemonError::Conflict(_)
        ));
        match DaemonError::from(StoreError::Tampered {
            vtype: "front".into(),
            reason: "its digest does not match the store".into(),
        }) {
            DaemonError::Failed(message) => assert_eq!(
                message,
                "stored volume front is damaged or was altered: its digest does not match the store"
            ),
            other => panic!("{other:?}"),
        }
    }
}
