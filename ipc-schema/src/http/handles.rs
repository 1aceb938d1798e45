//! Handles: `GET /v1/handles/{handle}` (session required, rate limited per account) and
//! `PUT|DELETE /v1/me/handle`.
//!
//! A key found by handle is *unverified* until both sides compare safety numbers: "friend
//! handle doesn't mean friend".

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::encoding::PublicKeyB64;
use crate::handle::Handle;

/// The answer to `GET /v1/handles/{handle}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleLookup {
    /// The account holding the handle.
    pub user_id: Uuid,
    /// Its public key (unverified).
    pub public_key: PublicKeyB64,
}

/// The body of `PUT /v1/me/handle` (`204` on success, `handle_taken` or `invalid_handle`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetHandleRequest {
    /// The handle to take.
    pub handle: Handle,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn wire_shapes() {
        assert_eq!(
            round_trip(&HandleLookup {
                user_id: Uuid::from_u128(1),
                public_key: PublicKeyB64::new([0; 32]),
            }),
            r#"{"user_id":"00000000-0000-0000-0000-000000000001","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#
        );
        assert_eq!(
            round_trip(&SetHandleRequest {
                handle: Handle::parse("bob-2").expect("handle"),
            }),
            r#"{"handle":"bob-2"}"#
        );
        assert!(serde_json::from_str::<SetHandleRequest>(r#"{"handle":"B"}"#).is_err());
    }
}
