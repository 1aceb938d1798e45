//! URL paths of the relay API: route templates (in the `{param}` syntax of axum 0.8 /
//! matchit) for the server, and builders for the client that take only parsed values, so a
//! path can never be assembled from unchecked text.
//!
//! Two templates serve two verbs each with different parameter meanings, because a router
//! cannot hold two parameter names at the same position:
//! [`INVITE_ITEM_ROUTE`] (`GET` by locator, `DELETE` by invite id) and [`MAILBOX_ITEM_ROUTE`]
//! (`POST` to a recipient's user id, `DELETE` a message by sequence number).

use uuid::Uuid;

use crate::encoding::Bytes32;
use crate::handle::Handle;
use crate::http::invites::Locator;

/// `GET`: relay name, version, limits, registration policy.
pub const INFO: &str = "/v1/info";
/// `POST`: register an account.
pub const ACCOUNTS: &str = "/v1/accounts";
/// `POST`: ask for a login challenge.
pub const AUTH_CHALLENGE: &str = "/v1/auth/challenge";
/// `POST`: answer a challenge, receive a session.
pub const AUTH_RESPONSE: &str = "/v1/auth/response";
/// `DELETE`: end the current session.
pub const AUTH_SESSION: &str = "/v1/auth/session";
/// `GET`: look up an account by handle.
pub const HANDLE_ROUTE: &str = "/v1/handles/{handle}";
/// `DELETE`: delete my account and everything of mine (needs a fresh session).
pub const ME: &str = "/v1/me";
/// `PUT` / `DELETE`: set or drop my handle.
pub const ME_HANDLE: &str = "/v1/me/handle";
/// `GET` / `PUT`: my mail settings ([`crate::http::mailbox::MailSettings`]).
pub const ME_MAIL_SETTINGS: &str = "/v1/me/mail-settings";
/// `GET`: volumes I own and volumes shared with me.
pub const VOLUMES: &str = "/v1/volumes";
/// `PUT` / `GET` / `HEAD` / `DELETE` one volume.
pub const VOLUME_ROUTE: &str = "/v1/volumes/{volume_id}";
/// `GET`: the grants of one volume (owner only).
pub const GRANTS_ROUTE: &str = "/v1/volumes/{volume_id}/grants";
/// `PUT` / `DELETE` one grant.
pub const GRANT_ROUTE: &str = "/v1/volumes/{volume_id}/grants/{user_id}";
/// `POST`: register an invite. `GET`: list mine.
pub const INVITES: &str = "/v1/invites";
/// `GET` with a base64url [`Locator`]: look up an invite's owner. `DELETE` with an invite id:
/// withdraw an invite.
pub const INVITE_ITEM_ROUTE: &str = "/v1/invites/{invite}";
/// `POST`: redeem an invite (deliver a friend request).
pub const INVITES_REDEEM: &str = "/v1/invites/redeem";
/// `GET ?after=SEQ&limit=N`: my mail.
pub const MAILBOX: &str = "/v1/mailbox";
/// `POST` with a user id: send mail to that user. `DELETE` with a sequence number: drop one of
/// my messages.
pub const MAILBOX_ITEM_ROUTE: &str = "/v1/mailbox/{item}";
/// `GET`: server-sent events for my account.
pub const EVENTS: &str = "/v1/events";
/// `POST`: register a link token hash.
pub const LINKS: &str = "/v1/links";
/// `DELETE`: drop a link token hash.
pub const LINK_ROUTE: &str = "/v1/links/{token_hash}";
/// `GET`: liveness.
pub const HEALTHZ: &str = "/healthz";
/// `GET`: readiness (NATS and database reachable).
pub const READYZ: &str = "/readyz";
/// `GET` on the admin listener only: operator statistics.
pub const ADMIN_STATS: &str = "/admin/v1/stats";
/// `GET` on the admin listener only: Prometheus metrics.
pub const METRICS: &str = "/metrics";

/// `/v1/handles/{handle}`.
#[must_use]
pub fn handle(handle: &Handle) -> String {
    format!("/v1/handles/{handle}")
}

/// `/v1/volumes/{volume_id}`.
#[must_use]
pub fn volume(volume_id: Uuid) -> String {
    format!("/v1/volumes/{volume_id}")
}

/// `/v1/volumes/{volume_id}/grants`.
#[must_use]
pub fn grants(volume_id: Uuid) -> String {
    format!("/v1/volumes/{volume_id}/grants")
}

/// `/v1/volumes/{volume_id}/grants/{user_id}`.
#[must_use]
pub fn grant(volume_id: Uuid, grantee_id: Uuid) -> String {
    format!("/v1/volumes/{volume_id}/grants/{grantee_id}")
}

/// `/v1/invites/{locator}` (lookup).
#[must_use]
pub fn invite_by_locator(locator: &Locator) -> String {
    format!("/v1/invites/{locator}")
}

/// `/v1/invites/{invite_id}` (withdraw).
#[must_use]
pub fn invite_by_id(invite_id: Uuid) -> String {
    format!("/v1/invites/{invite_id}")
}

/// `/v1/mailbox/{user_id}` (send).
#[must_use]
pub fn mailbox_of(recipient_id: Uuid) -> String {
    format!("/v1/mailbox/{recipient_id}")
}

/// `/v1/mailbox/{seq}` (delete one of my messages).
#[must_use]
pub fn mailbox_message(seq: u64) -> String {
    format!("/v1/mailbox/{seq}")
}

/// `/v1/links/{token_hash}`.
#[must_use]
pub fn link(token_hash: &Bytes32) -> String {
    format!("/v1/links/{token_hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_match_templates() {
        let v = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let u = Uuid::from_u128(1);
        assert_eq!(
            volume(v),
            "/v1/volumes/01234567-89ab-cdef-0123-456789abcdef"
        );
        assert_eq!(
            grant(v, u),
            "/v1/volumes/01234567-89ab-cdef-0123-456789abcdef/grants/00000000-0000-0000-0000-000000000001"
        );
        assert_eq!(
            grants(u),
            "/v1/volumes/00000000-0000-0000-0000-000000000001/grants"
        );
        assert_eq!(
            handle(&Handle::parse("alice").expect("handle")),
            "/v1/handles/alice"
        );
        assert_eq!(
            invite_by_locator(&Locator::new([0; 16])),
            "/v1/invites/AAAAAAAAAAAAAAAAAAAAAA"
        );
        assert_eq!(
            invite_by_id(u),
            "/v1/invites/00000000-0000-0000-0000-000000000001"
        );
        assert_eq!(
            mailbox_of(u),
            "/v1/mailbox/00000000-0000-0000-0000-000000000001"
        );
        assert_eq!(mailbox_message(42), "/v1/mailbox/42");
        assert_eq!(
            link(&Bytes32::new([0xff; 32])),
            "/v1/links/__________________________________________8"
        );
    }
}
