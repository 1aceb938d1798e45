//! Link tokens: `POST /v1/links` with [`LinkRequest`] (`204`) and
//! `DELETE /v1/links/{token_hash}` (`204`).
//!
//! Each side of a friendship registers the hash of the token under which it accepts mail from
//! the other. The relay counts links and checks tokens; it stores no pair.

use serde::{Deserialize, Serialize};

use crate::encoding::Bytes32;

/// The body of `POST /v1/links`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// Hash of the link token (the hash function is the crypto crate's choice).
    pub token_hash: Bytes32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn wire_shape() {
        assert_eq!(
            round_trip(&LinkRequest {
                token_hash: Bytes32::new([0; 32]),
            }),
            r#"{"token_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#
        );
        assert!(serde_json::from_str::<LinkRequest>(r#"{"token_hash":""}"#).is_err());
    }
}
