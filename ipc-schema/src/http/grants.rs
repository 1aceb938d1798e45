//! Grants: `PUT /v1/volumes/{id}/grants/{user_id}` with [`GrantRequest`] (`204`; `409
//! revision_conflict` if `revision` is no longer the current one, `409 epoch_fenced` if
//! `key_epoch` is older than the volume's),
//! `DELETE /v1/volumes/{id}/grants/{user_id}` (`204`), `GET /v1/volumes/{id}/grants` →
//! [`GrantListing`]. Owner only; anyone else gets `404`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::encoding::{B64Bytes, Bytes32};

/// The body of `PUT /v1/volumes/{id}/grants/{user_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// The epoch the key block is for; must be the volume's current epoch.
    pub key_epoch: u64,
    /// The grantee's key block: an HPKE envelope from owner to grantee holding the epoch's
    /// volume key.
    pub key_block: B64Bytes,
    /// The volume's current revision, which `tag` covers.
    pub revision: u64,
    /// The grantee's tag over that revision (the MAC of `docs/PROTOCOL.md` §9.5 under the
    /// tag key of this key block); the relay adds it to the revision's tags so that the
    /// grantee can read the revision at once, without waiting for the next upload.
    pub tag: Bytes32,
}

/// One grant in [`GrantListing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantEntry {
    /// Who may fetch the volume.
    pub grantee_id: Uuid,
    /// The epoch of the stored key block.
    pub key_epoch: u64,
    /// When the grant was stored, unix seconds.
    pub created_at: u64,
}

/// The body of `GET /v1/volumes/{id}/grants`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantListing {
    /// The grants of the volume.
    pub grants: Vec<GrantEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn wire_shapes() {
        assert_eq!(
            round_trip(&GrantRequest {
                key_epoch: 2,
                key_block: B64Bytes::new(vec![0xff, 0xee]),
                revision: 3,
                tag: Bytes32::new([0; 32]),
            }),
            r#"{"key_epoch":2,"key_block":"_-4","revision":3,"tag":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#
        );
        assert!(
            serde_json::from_str::<GrantRequest>(r#"{"key_epoch":2,"key_block":"_-4="}"#).is_err()
        );
        assert_eq!(
            round_trip(&GrantListing {
                grants: vec![GrantEntry {
                    grantee_id: Uuid::from_u128(1),
                    key_epoch: 2,
                    created_at: 3,
                }],
            }),
            r#"{"grants":[{"grantee_id":"00000000-0000-0000-0000-000000000001","key_epoch":2,"created_at":3}]}"#
        );
    }
}
