//! `org.plurallog.Daemon1.Sharing`. **Stubs**: every method admits the caller, checks what
//! can be checked locally (volume types; `manifest` is never grantable), requires the keys and
//! fails with `Failed("… not wired yet")`; sharing needs the relay client, key blocks and the
//! manifest CAS, which are not part of this build.

use std::sync::Arc;

use plog_ipc_schema::VolumeType;
use plog_ipc_schema::dbus::DaemonError;
use zbus::message::Header;
use zbus::{Connection, OwnedFd};

use super::DaemonState;
use super::errors::not_wired;

const WHAT: &str = "sharing";

/// The Sharing interface.
#[derive(Debug)]
pub struct SharingInterface {
    state: Arc<DaemonState>,
}

impl SharingInterface {
    /// The interface over the shared state.
    #[must_use]
    pub fn new(state: Arc<DaemonState>) -> Self {
        Self { state }
    }

    /// Admits the caller, checks `vtypes`, requires the keys, then reports the stub.
    async fn stub<T>(
        &self,
        connection: &Connection,
        header: &Header<'_>,
        vtypes: &[String],
    ) -> Result<T, DaemonError> {
        let _call = self.state.admit(connection, header).await?;
        grantable_types(vtypes)?;
        self.state.keys()?;
        Err(not_wired(WHAT))
    }
}

/// Parses types to grant or revoke; `manifest` is refused.
fn grantable_types(vtypes: &[String]) -> Result<Vec<VolumeType>, DaemonError> {
    vtypes
        .iter()
        .map(|text| {
            let vtype = VolumeType::parse(text).map_err(|e| {
                DaemonError::InvalidArgument(format!("invalid volume type {text:?}: {e}"))
            })?;
            if vtype.is_grantable() {
                Ok(vtype)
            } else {
                Err(DaemonError::InvalidArgument(
                    "the manifest is owner-only and can never be shared".to_owned(),
                ))
            }
        })
        .collect()
}

#[zbus::interface(name = "org.plurallog.Daemon1.Sharing")]
impl SharingInterface {
    async fn grant(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _friend: &str,
        vtypes: Vec<String>,
        _allow_unverified: bool,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header, &vtypes).await
    }

    async fn revoke(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _friend: &str,
        vtypes: Vec<String>,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header, &vtypes).await
    }

    async fn list(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header, &[]).await
    }

    async fn incoming(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _system: &str,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header, &[]).await
    }

    async fn view(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _system: &str,
        _vtype: &str,
        _out_fd: OwnedFd,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header, &[]).await
    }
}
