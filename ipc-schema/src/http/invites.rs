//! Invites (DESIGN §5): the code a system hands out is `locator.secret`; the relay only ever
//! sees the locator and its hash, never the secret.
//!
//! - `POST /v1/invites` with [`InviteCreateRequest`] → [`InviteCreated`] (`201`).
//! - `GET /v1/invites` → [`InviteListing`]: my invites that still work.
//! - `DELETE /v1/invites/{invite_id}` withdraws one (`204`).
//! - `GET /v1/invites/{locator}` (rate limited) → [`InviteLookup`]: the owner's key, which the
//!   friend checks against the fingerprint carried by the code's secret.
//! - `POST /v1/invites/redeem` with [`InviteRedeemRequest`] (`202`): the relay puts the sealed
//!   friend request in the owner's mailbox and spends one use.
//!
//! Expired, exhausted and unknown invites all answer `404`.
//!
//! An invite's id is the UUID whose 16 bytes are the first 16 bytes of its locator hash
//! ([`invite_id_of`]): the relay needs no second column, and the id says nothing the hash does
//! not.

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

/// One invite in [`InviteListing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteEntry {
    /// The id to withdraw it with.
    pub invite_id: Uuid,
    /// When it stops working, unix seconds.
    pub expires_at: u64,
    /// Remaining uses.
    pub uses: u32,
    /// When it was registered, unix seconds.
    pub created_at: u64,
}

/// The body of `GET /v1/invites`: the caller's invites that are neither expired nor used up,
/// oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteListing {
    /// The invites.
    pub invites: Vec<InviteEntry>,
}

/// The invite id of a locator hash: the UUID made of its first 16 bytes.
#[must_use]
pub fn invite_id_of(locator_hash: &Bytes32) -> Uuid {
    let mut id = [0u8; 16];
    id.copy_from_slice(&locator_hash.as_bytes()[..16]);
    Uuid::from_bytes(id)
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
        round_trip(&InviteListing {
            invites: vec![InviteEntry {
                invite_id: Uuid::from_u128(4),
                expires_at: 100,
                uses: 2,
                created_at: 50,
            }],
        });
        let mut hash = [0u8; 32];
        hash[0] = 0xab;
        hash[15] = 0xcd;
        hash[16] = 0xff;
        assert_eq!(
            invite_id_of(&Bytes32::new(hash)).to_string(),
            "ab000000-0000-0000-0000-0000000000cd"
        );
        assert!(
            serde_json::from_str::<InviteRedeemRequest>(
                r#"{"locator":"AAAAAAAAAAAAAAAAAAAAAAAA","envelope":"AQID"}"#
            )
            .is_err()
        );
    }
}
