//! Invites (DESIGN §5): the code a system hands out is `locator.secret`; the relay only ever
//! sees the locator and its hash, never the secret.
//!
//! - `POST /v1/invites` with [`InviteCreateRequest`] → [`InviteCreated`] (`201`).
//! - `DELETE /v1/invites/{invite_id}` withdraws one (`204`).
//! - `GET /v1/invites/{locator}` (rate limited) → [`InviteLookup`]: the owner's key, which the
//!   friend checks against the fingerprint carried by the code's secret.
//! - `POST /v1/invites/redeem` with [`InviteRedeemRequest`] (`202`): the relay puts the sealed
//!   friend request in the owner's mailbox and spends one use.
//!
//! Expired, exhausted and unknown invites all answer `404`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::encoding::{B64Bytes, Bytes16, Bytes32, PublicKeyB64};
use crate::handle::Handle;

/// An invite locator: 16 random bytes, base64url (22 characters) in paths and JSON.
pub type Locator = Bytes16;

/// The body of `POST /v1/invites`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteCreateRequest {
    /// Hash of the locator (the hash function is the crypto crate's choice).
    pub locator_hash: Bytes32,
    /// When the invite stops working, unix seconds.
    pub expires_at: u64,
    /// How many times it may be redeemed (at least 1).
    pub uses: u32,
}

/// The answer to `POST /v1/invites`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteCreated {
    /// The id to withdraw it with.
    pub invite_id: Uuid,
    /// When it stops working, unix seconds (the relay may shorten what was asked).
    pub expires_at: u64,
    /// Remaining uses.
    pub uses: u32,
}

/// The answer to `GET /v1/invites/{locator}`: the invite's owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteLookup {
    /// The owner's account.
    pub user_id: Uuid,
    /// The owner's public key, to be checked against the code's fingerprint.
    pub public_key: PublicKeyB64,
    /// The owner's handle, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Handle>,
}

/// The body of `POST /v1/invites/redeem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRedeemRequest {
    /// The locator part of the code.
    pub locator: Locator,
    /// The friend request, sealed to the owner (HPKE mode_authpsk, PSK from the secret).
    pub envelope: B64Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn wire_shapes() {
        assert_eq!(
            round_trip(&InviteCreateRequest {
                locator_hash: Bytes32::new([0; 32]),
                expires_at: 100,
                uses: 1,
            }),
            r#"{"locator_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","expires_at":100,"uses":1}"#
        );
        round_trip(&InviteCreated {
            invite_id: Uuid::from_u128(4),
            expires_at: 100,
            uses: 1,
        });
        let lookup = InviteLookup {
            user_id: Uuid::from_u128(4),
            public_key: PublicKeyB64::new([1; 32]),
            handle: None,
        };
        assert!(!round_trip(&lookup).contains("handle"));
        round_trip(&InviteLookup {
            handle: Some(Handle::parse("sys").expect("handle")),
            ..lookup
        });
        assert_eq!(
            round_trip(&InviteRedeemRequest {
                locator: Locator::new([0; 16]),
                envelope: B64Bytes::new(vec![1, 2, 3]),
            }),
            r#"{"locator":"AAAAAAAAAAAAAAAAAAAAAA","envelope":"AQID"}"#
        );
        assert!(
            serde_json::from_str::<InviteRedeemRequest>(
                r#"{"locator":"AAAAAAAAAAAAAAAAAAAAAAAA","envelope":"AQID"}"#
            )
            .is_err()
        );
    }
}
