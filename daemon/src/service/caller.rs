//! Who is calling: only callers running as the daemon's own uid are served (DESIGN §6). The
//! uid is asked of the bus (`GetConnectionUnixUser` of the message's sender), which learned it
//! from the kernel when the caller connected.

use plog_ipc_schema::dbus::DaemonError;
use zbus::message::Header;
use zbus::names::BusName;

/// The uid of the sender of `header`, as the bus reports it.
///
/// # Errors
/// `PermissionDenied` if the message has no sender or the bus cannot tell its uid.
pub async fn caller_uid(
    bus: &zbus::fdo::DBusProxy<'_>,
    header: &Header<'_>,
) -> Result<u32, DaemonError> {
    let sender = header
        .sender()
        .ok_or_else(|| DaemonError::PermissionDenied("the call has no sender".to_owned()))?;
    bus.get_connection_unix_user(BusName::Unique(sender.to_owned()))
        .await
        .map_err(|e| {
            DaemonError::PermissionDenied(format!("cannot determine the caller's user: {e}"))
        })
}

/// Admits `caller` only if it is `daemon`.
///
/// # Errors
/// `PermissionDenied` naming both uids.
pub fn check_uid(caller: u32, daemon: u32) -> Result<(), DaemonError> {
    if caller == daemon {
        Ok(())
    } else {
        Err(DaemonError::PermissionDenied(format!(
            "this daemon serves only uid {daemon}; the caller runs as uid {caller}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_uid_is_refused() {
        assert!(check_uid(1000, 1000).is_ok());
        match check_uid(0, 1000) {
            Err(DaemonError::PermissionDenied(message)) => {
                assert!(
                    message.contains("uid 1000") && message.contains("uid 0"),
                    "{message}"
                );
            }
            other => panic!("expected PermissionDenied, got {other:?}"),
        }
        assert!(matches!(
            check_uid(1001, 1000),
            Err(DaemonError::PermissionDenied(_))
        ));
    }
}
