//! Login (DESIGN §5, "challenge without a decryption oracle").
//!
//! 1. `POST /v1/auth/challenge` with [`ChallengeRequest`] → [`ChallengeResponse`]. The relay
//!    runs HPKE SetupBaseS to the account's key and sends only `enc`; the client builds the
//!    HPKE `info` itself from the origin it connected to, `user_id` and `challenge_id`.
//! 2. `POST /v1/auth/response` with [`ProofRequest`] (the 32-byte HPKE export) →
//!    [`SessionResponse`]. A challenge answers once.
//! 3. `DELETE /v1/auth/session` ends the session (`204`).
//!
//! The session token then travels as `Authorization: Bearer <base64url>`
//! ([`crate::token::SessionToken::to_authorization`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::encoding::{Bytes32, PublicKeyB64};
use crate::token::SessionToken;

/// The body of `POST /v1/auth/challenge`: whom to challenge.
///
/// Exactly one of two objects, chosen by its single key (serde's externally tagged form, not
/// an untagged guess): `{"user_id": "<uuid>"}` for a known account, or
/// `{"public_key": "<base64url>"}`, which is how a restored installation finds its account.
/// An object with both keys, neither or any other key is refused. An unknown id or key still
/// gets a challenge (to a pseudo-key), so the answer reveals nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeRequest {
    /// Challenge the account with this id.
    UserId(Uuid),
    /// Challenge the account registered with this public key.
    PublicKey(PublicKeyB64),
}

/// The answer to `POST /v1/auth/challenge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// The challenge, part of the HPKE `info`.
    pub challenge_id: Uuid,
    /// The challenged account, part of the HPKE `info` (found by key when asked by key).
    pub user_id: Uuid,
    /// The HPKE encapsulated key (32 bytes for DHKEM(X25519)).
    pub enc: Bytes32,
    /// When the challenge stops being answerable, unix seconds.
    pub expires_at: u64,
}

/// The body of `POST /v1/auth/response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofRequest {
    /// The challenge answered.
    pub challenge_id: Uuid,
    /// `Export("plog/v1/auth-proof", 32)` of the HPKE context.
    pub proof: Bytes32,
    /// An optional label for the session (e.g. a device name), shown to the user only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_label: Option<String>,
}

/// The answer to a successful `POST /v1/auth/response`.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResponse {
    /// The bearer token; the relay keeps only its hash.
    pub session_token: SessionToken,
    /// When the session ends, unix seconds.
    pub expires_at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn challenge_request_shapes() {
        let by_id = ChallengeRequest::UserId(Uuid::from_u128(3));
        assert_eq!(
            round_trip(&by_id),
            r#"{"user_id":"00000000-0000-0000-0000-000000000003"}"#
        );
        let by_key = ChallengeRequest::PublicKey(PublicKeyB64::new([0; 32]));
        assert_eq!(
            round_trip(&by_key),
            r#"{"public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#
        );
    }

    #[test]
    fn challenge_request_rejections() {
        for bad in [
            r#"{}"#,
            r#"{"user_id":"00000000-0000-0000-0000-000000000003","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#,
            r#"{"handle":"alice"}"#,
            r#"{"user_id":"not-a-uuid"}"#,
            r#"{"public_key":"AAAA"}"#,
            r#""user_id""#,
        ] {
            assert!(
                serde_json::from_str::<ChallengeRequest>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn challenge_response_wire_shape() {
        let response = ChallengeResponse {
            challenge_id: Uuid::from_u128(0xc),
            user_id: Uuid::from_u128(0xa),
            enc: Bytes32::new([0xfb; 32]),
            expires_at: 1_700_000_060,
        };
        assert_eq!(
            round_trip(&response),
            r#"{"challenge_id":"00000000-0000-0000-0000-00000000000c","user_id":"00000000-0000-0000-0000-00000000000a","enc":"-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s","expires_at":1700000060}"#
        );
    }

    #[test]
    fn proof_and_session() {
        let proof = ProofRequest {
            challenge_id: Uuid::from_u128(1),
            proof: Bytes32::new([2; 32]),
            device_label: None,
        };
        assert_eq!(
            round_trip(&proof),
            r#"{"challenge_id":"00000000-0000-0000-0000-000000000001","proof":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"}"#
        );
        round_trip(&ProofRequest {
            device_label: Some("laptop".to_owned()),
            ..proof
        });
        assert!(
            serde_json::from_str::<ProofRequest>(
                r#"{"challenge_id":"00000000-0000-0000-0000-000000000001","proof":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI","ttl":9}"#
            )
            .is_err()
        );

        let session = SessionResponse {
            session_token: SessionToken::from_bytes([1; 32]),
            expires_at: 9,
        };
        let json = serde_json::to_string(&session).expect("serialize");
        assert_eq!(
            json,
            r#"{"session_token":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE","expires_at":9}"#
        );
        let back: SessionResponse = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, session);
        assert!(!format!("{back:?}").contains("AQEB"));
    }
}
