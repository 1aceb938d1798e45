//! `POST /v1/accounts`: registration. The account is usable only after its first successful
//! challenge (proof of possession of the key); `DELETE /v1/me` removes it (fresh session
//! required, no body, `204`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::encoding::PublicKeyB64;
use crate::handle::Handle;

/// What an account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// A system: owns volumes.
    System,
    /// A friend: reads what systems share.
    Friend,
}

impl AccountKind {
    /// The wire string: `"system"` or `"friend"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Friend => "friend",
        }
    }
}

/// The body of `POST /v1/accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// System or friend.
    pub kind: AccountKind,
    /// The per-relay identity public key.
    pub public_key: PublicKeyB64,
    /// An optional handle; unactivated accounts hold none until activated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Handle>,
}

/// The answer to `POST /v1/accounts` (`201`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    /// The new account's id, random and specific to this relay.
    pub user_id: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn wire_shape() {
        let request = RegisterRequest {
            kind: AccountKind::System,
            public_key: PublicKeyB64::new([0; 32]),
            handle: Some(Handle::parse("alice").expect("handle")),
        };
        assert_eq!(
            round_trip(&request),
            r#"{"kind":"system","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","handle":"alice"}"#
        );
        let anonymous = RegisterRequest {
            kind: AccountKind::Friend,
            handle: None,
            ..request
        };
        assert_eq!(
            round_trip(&anonymous),
            r#"{"kind":"friend","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#
        );
        round_trip(&RegisterResponse {
            user_id: Uuid::from_u128(5),
        });
    }

    #[test]
    fn rejections() {
        let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        for bad in [
            format!(r#"{{"kind":"System","public_key":"{key}"}}"#),
            format!(r#"{{"kind":"admin","public_key":"{key}"}}"#),
            format!(r#"{{"kind":"system","public_key":"{}"}}"#, &key[1..]),
            format!(r#"{{"kind":"system","public_key":"{key}","handle":"A"}}"#),
            format!(r#"{{"kind":"system","public_key":"{key}","admin":true}}"#),
        ] {
            assert!(
                serde_json::from_str::<RegisterRequest>(&bad).is_err(),
                "{bad}"
            );
        }
    }
}
