//! `org.plurallog.Daemon1.Friends`: invites, friend requests, approval, verification and
//! removal. The work is done by [`crate::social`]; the signals are emitted from its events by
//! [`super::spawn_signal_forwarders`].

use std::sync::Arc;

use plog_ipc_schema::dbus::DaemonError;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::{Connection, OwnedFd};

use super::{DaemonState, to_json};
use crate::fdio;

/// The Friends interface.
#[derive(Debug)]
pub struct FriendsInterface {
    state: Arc<DaemonState>,
}

impl FriendsInterface {
    /// The interface over the shared state.
    #[must_use]
    pub fn new(state: Arc<DaemonState>) -> Self {
        Self { state }
    }
}

#[zbus::interface(name = "org.plurallog.Daemon1.Friends")]
impl FriendsInterface {
    async fn invite(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        relay: &str,
        uses: u32,
        ttl_secs: u64,
        code_out_fd: OwnedFd,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        let out = fdio::into_file(code_out_fd);
        to_json(&self.state.social.invite(relay, uses, ttl_secs, out).await?)
    }

    async fn invites(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(&self.state.social.invites().await?)
    }

    async fn revoke_invite(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        id: &str,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        self.state.social.revoke_invite(id).await
    }

    async fn set_handle_requests(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        relay: &str,
        accept: bool,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        self.state.social.set_handle_requests(relay, accept).await
    }

    async fn request(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        code_fd: OwnedFd,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(&self.state.social.request(fdio::into_file(code_fd)).await?)
    }

    async fn request_by_handle(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        relay: &str,
        handle: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(&self.state.social.request_by_handle(relay, handle).await?)
    }

    async fn requests(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(&self.state.social.requests().await?)
    }

    async fn approve(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        id: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(&self.state.social.approve(id).await?)
    }

    async fn deny(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        id: &str,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        self.state.social.deny(id).await
    }

    async fn list(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(&self.state.social.list().await?)
    }

    async fn verify(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        friend: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(&self.state.social.verify(friend).await?)
    }

    async fn confirm_verified(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        friend: &str,
        safety_number: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(
            &self
                .state
                .social
                .confirm_verified(friend, safety_number)
                .await?,
        )
    }

    async fn rename(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        friend: &str,
        name: &str,
    ) -> Result<String, DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        to_json(&self.state.social.rename(friend, name).await?)
    }

    async fn remove(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        friend: &str,
    ) -> Result<(), DaemonError> {
        let _call = self.state.admit(connection, &header).await?;
        self.state.social.remove(friend).await
    }

    /// A friend request arrived.
    #[zbus(signal)]
    pub async fn friend_request_received(
        emitter: &SignalEmitter<'_>,
        id: &str,
        name: &str,
    ) -> zbus::Result<()>;

    /// A friend shared a volume type with us.
    #[zbus(signal)]
    pub async fn share_received(
        emitter: &SignalEmitter<'_>,
        friend_id: &str,
        name: &str,
        vtype: &str,
    ) -> zbus::Result<()>;

    /// A friend revoked our access to a volume type.
    #[zbus(signal)]
    pub async fn access_revoked(
        emitter: &SignalEmitter<'_>,
        friend_id: &str,
        name: &str,
        vtype: &str,
    ) -> zbus::Result<()>;
}
