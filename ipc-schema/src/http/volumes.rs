//! Volumes: `GET /v1/volumes` (listing), `PUT /v1/volumes/{id}` (upload, headers in
//! [`crate::http::headers`]) → [`RevisionResponse`], `GET|HEAD|DELETE /v1/volumes/{id}`.
//!
//! The client chooses a volume's id (a random UUID) when it first creates it. A caller that is
//! neither owner nor grantee gets `404` for every volume route.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::encoding::Bytes32;
use crate::vtype::VolumeType;

/// How the caller relates to a listed volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeRole {
    /// The caller owns it.
    Owner,
    /// The owner granted the caller access.
    Grantee,
}

/// One volume in `GET /v1/volumes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeEntry {
    /// The volume.
    pub volume_id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// Its type.
    pub vtype: VolumeType,
    /// The current revision (1 after creation).
    pub revision: u64,
    /// The key epoch of the current revision.
    pub key_epoch: u64,
    /// Size of the stored ciphertext (padded), in bytes.
    pub padded_size: u64,
    /// When the current revision was stored, unix seconds.
    pub updated_at: u64,
    /// The caller's relation to the volume.
    pub role: VolumeRole,
    /// The caller's own tag for the current revision: the owner tag for the owner, its grantee
    /// tag for a grantee; absent when the current revision carries none for the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_tag: Option<Bytes32>,
    /// Whether a key block for the current epoch is waiting for the caller (grantees only;
    /// always `false` for the owner).
    pub has_key_block: bool,
}

/// The body of `GET /v1/volumes`: volumes the caller owns and volumes shared with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeListing {
    /// The volumes, in no particular order.
    pub volumes: Vec<VolumeEntry>,
}

/// The answer to a successful `PUT /v1/volumes/{id}` (`201` when created, `200` when
/// replaced; the `ETag` header carries the same revision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionResponse {
    /// The volume.
    pub volume_id: Uuid,
    /// Its new revision.
    pub revision: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn wire_shapes() {
        let entry = VolumeEntry {
            volume_id: Uuid::from_u128(1),
            owner_id: Uuid::from_u128(2),
            vtype: VolumeType::parse("front").expect("vtype"),
            revision: 3,
            key_epoch: 1,
            padded_size: 4096,
            updated_at: 1_700_000_000,
            role: VolumeRole::Grantee,
            own_tag: Some(Bytes32::new([0; 32])),
            has_key_block: true,
        };
        assert_eq!(
            round_trip(&entry),
            r#"{"volume_id":"00000000-0000-0000-0000-000000000001","owner_id":"00000000-0000-0000-0000-000000000002","vtype":"front","revision":3,"key_epoch":1,"padded_size":4096,"updated_at":1700000000,"role":"grantee","own_tag":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","has_key_block":true}"#
        );
        let listing = VolumeListing {
            volumes: vec![
                entry.clone(),
                VolumeEntry {
                    role: VolumeRole::Owner,
                    own_tag: None,
                    has_key_block: false,
                    ..entry
                },
            ],
        };
        round_trip(&listing);
        assert_eq!(round_trip(&VolumeListing::default()), r#"{"volumes":[]}"#);
        assert_eq!(
            round_trip(&RevisionResponse {
                volume_id: Uuid::from_u128(1),
                revision: 4,
            }),
            r#"{"volume_id":"00000000-0000-0000-0000-000000000001","revision":4}"#
        );
    }
}
