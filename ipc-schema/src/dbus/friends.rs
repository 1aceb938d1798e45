//! `org.plurallog.Daemon1.Friends`: invites, friend requests, approval and verification.
//!
//! A `friend` argument is a friend's local id (UUID) or its name (the local alias); a request
//! `id` is the id listed by `Requests`. Invite codes are secrets and cross the bus only through
//! descriptors.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zbus::{Fd, proxy};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::dbus::DaemonError;
use crate::handle::Handle;
use crate::vtype::VolumeType;

/// The friends interface.
#[proxy(
    interface = "org.plurallog.Daemon1.Friends",
    default_service = "org.plurallog.Daemon1",
    default_path = "/org/plurallog/Daemon1"
)]
pub trait Friends {
    /// Creates an invite at `relay` (empty: the only relay) valid for `uses` redemptions and
    /// `ttl_secs` seconds (0 for either: the configured default), writes the code
    /// (`locator.secret`, then `\n`) to `code_out_fd`, and returns JSON [`InviteIssued`].
    fn invite(
        &self,
        relay: &str,
        uses: u32,
        ttl_secs: u64,
        code_out_fd: Fd<'_>,
    ) -> Result<String, DaemonError>;

    /// Fetches from the relays, then returns JSON array of [`InviteIssued`]: our invites that
    /// still work.
    fn invites(&self) -> Result<String, DaemonError>;

    /// Withdraws invite `id` (as listed by `Invites`) at the relay.
    fn revoke_invite(&self, id: &str) -> Result<(), DaemonError>;

    /// Whether strangers may send us friend requests by handle at `relay` (empty: the only
    /// relay). Invites and existing friends are not affected.
    fn set_handle_requests(&self, relay: &str, accept: bool) -> Result<(), DaemonError>;

    /// Sends a friend request with the invite code read from `code_fd`; the owner's key is
    /// checked against the code's fingerprint, so the new friend is verified. Returns JSON
    /// [`FriendEntry`] (pending until the owner approves).
    fn request(&self, code_fd: Fd<'_>) -> Result<String, DaemonError>;

    /// Sends a friend request to the account holding `handle` at `relay` (empty: the only
    /// relay). The key found by handle stays unverified until safety numbers are compared.
    /// Returns JSON [`FriendEntry`].
    fn request_by_handle(&self, relay: &str, handle: &str) -> Result<String, DaemonError>;

    /// Fetches the mailbox, then returns JSON array of [`FriendRequest`] (incoming, pending).
    fn requests(&self) -> Result<String, DaemonError>;

    /// Accepts request `id`. Returns JSON [`FriendEntry`].
    fn approve(&self, id: &str) -> Result<String, DaemonError>;

    /// Declines request `id`.
    fn deny(&self, id: &str) -> Result<(), DaemonError>;

    /// Fetches from the relays, then returns JSON array of [`FriendEntry`].
    fn list(&self) -> Result<String, DaemonError>;

    /// Returns JSON [`SafetyNumber`] for `friend`, to compare with theirs.
    fn verify(&self, friend: &str) -> Result<String, DaemonError>;

    /// Marks `friend` verified after the person compared `safety_number` (as shown by
    /// `Verify`) with theirs; fails with `Conflict` if the key changed meanwhile. Returns
    /// JSON [`FriendEntry`].
    fn confirm_verified(&self, friend: &str, safety_number: &str) -> Result<String, DaemonError>;

    /// Renames `friend` locally. Returns JSON [`FriendEntry`].
    fn rename(&self, friend: &str, name: &str) -> Result<String, DaemonError>;

    /// Revokes everything shared with `friend` and forgets it.
    fn remove(&self, friend: &str) -> Result<(), DaemonError>;

    /// A friend request arrived: its request `id` and the requester's `name`.
    #[zbus(signal)]
    fn friend_request_received(&self, id: &str, name: &str) -> zbus::Result<()>;

    /// Friend `friend_id` (named `name`) shared volume type `vtype` with us.
    #[zbus(signal)]
    fn share_received(&self, friend_id: &str, name: &str, vtype: &str) -> zbus::Result<()>;

    /// Friend `friend_id` (named `name`) revoked our access to `vtype`.
    #[zbus(signal)]
    fn access_revoked(&self, friend_id: &str, name: &str, vtype: &str) -> zbus::Result<()>;
}

/// How a friend request reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestVia {
    /// Through one of our invite codes: the requester knows the secret, so it is verified.
    Invite,
    /// By handle: unverified until safety numbers are compared.
    Handle,
}

/// A pending incoming friend request, as listed by `plog friend requests --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequest {
    /// The request id (argument of `Approve` / `Deny`).
    pub id: Uuid,
    /// The requester's handle, or a short form of its key when it has none.
    pub name: String,
    /// The requester's handle, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Handle>,
    /// The relay the request came through.
    pub relay: String,
    /// The requester's account id there.
    pub user_id: Uuid,
    /// How it came.
    pub via: RequestVia,
    /// Whether the requester's key is verified.
    pub verified: bool,
    /// When it arrived, unix seconds.
    pub received_at: u64,
}

/// Where a friendship stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FriendState {
    /// We asked; they have not approved yet.
    Pending,
    /// Both sides approved.
    Linked,
}

/// A friend, as listed by `plog friend list --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendEntry {
    /// The local friend id.
    pub id: Uuid,
    /// The local alias (the peer's handle unless renamed).
    pub name: String,
    /// The peer's handle, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Handle>,
    /// The relay the friendship lives on.
    pub relay: String,
    /// The peer's account id there.
    pub user_id: Uuid,
    /// Pending or linked.
    pub state: FriendState,
    /// Whether the peer's key is verified.
    pub verified: bool,
    /// Whether the peer's key changed since it was pinned (sharing is blocked until
    /// re-verified).
    pub key_changed: bool,
    /// Types we share with them.
    pub shared_by_me: Vec<VolumeType>,
    /// Types they share with us.
    pub shared_with_me: Vec<VolumeType>,
}

/// The answer to `Verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyNumber {
    /// The local friend id.
    pub id: Uuid,
    /// The friend's name.
    pub name: String,
    /// The digits, grouped for reading aloud, identical on both sides.
    pub safety_number: String,
    /// Whether it is already verified.
    pub verified: bool,
}

/// The answer to `Invite` (the code itself went to `code_out_fd`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteIssued {
    /// The relay's invite id.
    pub id: Uuid,
    /// The relay it lives on.
    pub relay: String,
    /// When it stops working, unix seconds.
    pub expires_at: u64,
    /// How many redemptions are left.
    pub uses: u32,
}

/// What `plog friend invite --json` prints: `{"code": "…"}`. Built by the CLI from what the
/// daemon wrote to `code_out_fd`; wiped on drop, never printed by `Debug`.
#[derive(Serialize, Deserialize, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct InviteCodeOutput {
    /// The invite code, `locator.secret`.
    pub code: String,
}

impl std::fmt::Debug for InviteCodeOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InviteCodeOutput(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn shapes() {
        let request = FriendRequest {
            id: Uuid::from_u128(1),
            name: "bob".to_owned(),
            handle: Some(Handle::parse("bob").expect("handle")),
            relay: "https://r.example".to_owned(),
            user_id: Uuid::from_u128(2),
            via: RequestVia::Handle,
            verified: false,
            received_at: 3,
        };
        assert_eq!(
            round_trip(&vec![request]),
            r#"[{"id":"00000000-0000-0000-0000-000000000001","name":"bob","handle":"bob","relay":"https://r.example","user_id":"00000000-0000-0000-0000-000000000002","via":"handle","verified":false,"received_at":3}]"#
        );
        let friend = FriendEntry {
            id: Uuid::from_u128(1),
            name: "bob".to_owned(),
            handle: None,
            relay: "https://r.example".to_owned(),
            user_id: Uuid::from_u128(2),
            state: FriendState::Linked,
            verified: true,
            key_changed: false,
            shared_by_me: vec![VolumeType::parse("front").expect("vtype")],
            shared_with_me: vec![],
        };
        assert_eq!(
            round_trip(&vec![friend]),
            r#"[{"id":"00000000-0000-0000-0000-000000000001","name":"bob","relay":"https://r.example","user_id":"00000000-0000-0000-0000-000000000002","state":"linked","verified":true,"key_changed":false,"shared_by_me":["front"],"shared_with_me":[]}]"#
        );
        round_trip(&SafetyNumber {
            id: Uuid::from_u128(1),
            name: "bob".to_owned(),
            safety_number: "12345 67890".to_owned(),
            verified: false,
        });
        round_trip(&InviteIssued {
            id: Uuid::from_u128(1),
            relay: "https://r.example".to_owned(),
            expires_at: 9,
            uses: 1,
        });
    }

    #[test]
    fn invite_code_output() {
        let output = InviteCodeOutput {
            code: "locator.secret".to_owned(),
        };
        let json = serde_json::to_string(&output).expect("serialize");
        assert_eq!(json, r#"{"code":"locator.secret"}"#);
        let back: InviteCodeOutput = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, output);
        assert_eq!(format!("{back:?}"), "InviteCodeOutput(***)");
    }
}
