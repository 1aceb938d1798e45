//! `org.plurallog.Daemon1.Sharing`: grants, revocation, what we share and what is shared with
//! us, and the in-memory view. The work is done by [`crate::social`].

use std::sync::Arc;

use plog_ipc_schema::dbus::DaemonError;
use zbus::message::Header;
use zbus::{Connection, OwnedFd};

use super::{DaemonState, to_json};
use crate::fdio;

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
}

#[zbus::interface(name = "org.plurallog.Daemon1.Sharing")]
impl SharingInterface {
    async fn grant(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        friend: &str,
        vtypes: Vec<String>,
        allow_unverified: bool,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(
            &self
                .state
                .social
                .grant(friend, &vtypes, allow_unverified)
                .await?,
        )
    }

    async fn revoke(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        friend: &str,
        vtypes: Vec<String>,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(&self.state.social.revoke(friend, &vtypes).await?)
    }

    async fn list(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(&self.state.social.shares().await?)
    }

    async fn incoming(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        system: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(&self.state.social.incoming(system).await?)
    }

    async fn view(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        system: &str,
        vtype: &str,
        out_fd: OwnedFd,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(
            &self
                .state
                .social
                .view(system, vtype, fdio::into_file(out_fd))
                .await?,
        )
    }
}
