//! `org.plurallog.Daemon1.Friends`. **Stubs**: every method admits the caller, requires the
//! keys and fails with `Failed("… not wired yet")`; friendship needs the relay client and the
//! mailbox, which are not part of this build. The signals are declared so that the served
//! interface matches the proxy.

use std::sync::Arc;

use plog_ipc_schema::dbus::DaemonError;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;
use zbus::{Connection, OwnedFd};

use super::DaemonState;
use super::errors::not_wired;

const WHAT: &str = "friends";

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

    async fn stub<T>(
        &self,
        connection: &Connection,
        header: &Header<'_>,
    ) -> Result<T, DaemonError> {
        let _call = self.state.admit(connection, header).await?;
        self.state.keys()?;
        Err(not_wired(WHAT))
    }
}

#[zbus::interface(name = "org.plurallog.Daemon1.Friends")]
impl FriendsInterface {
    async fn invite(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _relay: &str,
        _uses: u32,
        _ttl_secs: u64,
        _code_out_fd: OwnedFd,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header).await
    }

    async fn invites(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header).await
    }

    async fn revoke_invite(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _id: &str,
    ) -> Result<(), DaemonError> {
        self.stub(connection, &header).await
    }

    async fn set_handle_requests(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _relay: &str,
        _accept: bool,
    ) -> Result<(), DaemonError> {
        self.stub(connection, &header).await
    }

    async fn request(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _code_fd: OwnedFd,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header).await
    }

    async fn request_by_handle(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _relay: &str,
        _handle: &str,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header).await
    }

    async fn requests(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header).await
    }

    async fn approve(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _id: &str,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header).await
    }

    async fn deny(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _id: &str,
    ) -> Result<(), DaemonError> {
        self.stub(connection, &header).await
    }

    async fn list(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header).await
    }

    async fn verify(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _friend: &str,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header).await
    }

    async fn confirm_verified(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _friend: &str,
        _safety_number: &str,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header).await
    }

    async fn rename(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _friend: &str,
        _name: &str,
    ) -> Result<String, DaemonError> {
        self.stub(connection, &header).await
    }

    async fn remove(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &Connection,
        _friend: &str,
    ) -> Result<(), DaemonError> {
        self.stub(connection, &header).await
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
