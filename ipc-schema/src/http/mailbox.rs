//! The mailbox: sealed envelopes (friend requests, approvals, notices) waiting for their
//! recipient.
//!
//! - `POST /v1/mailbox/{user_id}` with [`MailPostRequest`] (`202`, no body; the sender learns
//!   nothing about the recipient's mailbox).
//! - `GET /v1/mailbox?after=SEQ&limit=N` ([`MailQuery`]) → [`MailListing`], oldest first.
//! - `DELETE /v1/mailbox/{seq}` drops one of my messages (`204`).
//!
//! - `GET /v1/me/mail-settings` → [`MailSettings`]; `PUT /v1/me/mail-settings` with
//!   [`MailSettings`] (`204`): whether requests by handle are accepted at all.
//!
//! Invite redemptions arrive here too, with source [`MailSource::Invite`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::encoding::B64Bytes;
use crate::token::LinkToken;

/// Why the relay should accept a post.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case", deny_unknown_fields)]
pub enum MailRoute {
    /// `{"via":"link","token":"<base64url>"}`: a link token whose hash the recipient
    /// registered.
    Link {
        /// The link token.
        token: LinkToken,
    },
    /// `{"via":"handle"}`: a friend request to someone found by handle; rate limited, and
    /// refused (`forbidden`) when the recipient has switched such requests off. (Written as
    /// an empty struct variant so that extra keys are refused here too.)
    Handle {},
}

/// The body of `POST /v1/mailbox/{user_id}`.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailPostRequest {
    /// The sealed envelope (HPKE, opaque to the relay).
    pub envelope: B64Bytes,
    /// Why the post may be delivered.
    pub route: MailRoute,
}

/// The body of `GET` and `PUT /v1/me/mail-settings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// Whether strangers may post friend requests found by handle (`via: handle`); true for
    /// a new account. Invite and link mail is not affected.
    pub handle_requests: bool,
}

/// The query of `GET /v1/mailbox`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailQuery {
    /// Only messages with a sequence number greater than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// At most this many messages (the relay caps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// How a message reached the mailbox, as the relay saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailSource {
    /// Posted with a registered link token.
    Link,
    /// Delivered by redeeming one of my invites.
    Invite,
    /// A friend request by handle (its key is unverified).
    Handle,
}

/// One message in [`MailListing`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailMessage {
    /// Position in my mailbox; increases, with gaps.
    pub seq: u64,
    /// The authenticated account that posted it (the envelope binds it again).
    pub sender_id: Uuid,
    /// How it arrived.
    pub source: MailSource,
    /// When the relay accepted it, unix seconds.
    pub received_at: u64,
    /// The sealed envelope.
    pub envelope: B64Bytes,
}

/// The body of `GET /v1/mailbox`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailListing {
    /// Messages, oldest first.
    pub messages: Vec<MailMessage>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn post_shapes() {
        let by_link = MailPostRequest {
            envelope: B64Bytes::new(vec![1, 2, 3]),
            route: MailRoute::Link {
                token: LinkToken::from_bytes([0; 32]),
            },
        };
        assert_eq!(
            round_trip(&by_link),
            r#"{"envelope":"AQID","route":{"via":"link","token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}"#
        );
        let by_handle = MailPostRequest {
            envelope: B64Bytes::new(vec![1, 2, 3]),
            route: MailRoute::Handle {},
        };
        assert_eq!(
            round_trip(&by_handle),
            r#"{"envelope":"AQID","route":{"via":"handle"}}"#
        );
        for bad in [
            r#"{"envelope":"AQID","route":{"via":"invite"}}"#,
            r#"{"envelope":"AQID","route":{"via":"link"}}"#,
            r#"{"envelope":"AQID","route":{"via":"link","token":"AAAA"}}"#,
            r#"{"envelope":"AQID"}"#,
        ] {
            assert!(
                serde_json::from_str::<MailPostRequest>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn settings_shape() {
        assert_eq!(
            round_trip(&MailSettings {
                handle_requests: false
            }),
            r#"{"handle_requests":false}"#
        );
    }

    #[test]
    fn listing_and_query_shapes() {
        let listing = MailListing {
            messages: vec![MailMessage {
                seq: 7,
                sender_id: Uuid::from_u128(1),
                source: MailSource::Invite,
                received_at: 5,
                envelope: B64Bytes::new(vec![9]),
            }],
        };
        assert_eq!(
            round_trip(&listing),
            r#"{"messages":[{"seq":7,"sender_id":"00000000-0000-0000-0000-000000000001","source":"invite","received_at":5,"envelope":"CQ"}]}"#
        );
        assert_eq!(round_trip(&MailQuery::default()), "{}");
        assert_eq!(
            round_trip(&MailQuery {
                after: Some(7),
                limit: Some(100),
            }),
            r#"{"after":7,"limit":100}"#
        );
    }
}
