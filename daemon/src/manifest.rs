//! The owner-only manifest (DESIGN §5): the identity's own record of what its volumes should
//! be, so that a device can refuse a relay that serves old revisions, old key epochs or drops
//! volumes. The sync engine stores it as a volume of type `manifest` (never grantable) and
//! checks every received manifest with [`check_successor`] before trusting anything in it.
//!
//! # Encoding, format 1
//!
//! The plaintext of the `manifest` volume is one UTF-8 JSON object, no trailing newline, at
//! most [`MAX_MANIFEST_LEN`] bytes, with exactly these members (unknown members are refused):
//!
//! ```json
//! {"format":1,"counter":7,"written_at":1700000000,
//!  "volumes":[{"id":"<uuid>","vtype":"front","revision":3,"key_epoch":1,"digest":"<64 hex>"}],
//!  "friends":[{"relay":"https://r.example","user_id":"<uuid>","public_key":"<base64url>",
//!              "verified":true,"grants":["front"]}],
//!  "tombstones":[{"id":"<uuid>","vtype":"polls","last_revision":2,"key_epoch":1,"deleted_at":1700000000}]}
//! ```
//!
//! - `format`: 1. A reader refuses other values.
//! - `counter`: incremented by every new manifest (compare-and-swap at the relay).
//! - `volumes`: every live volume except the manifest itself, sorted by type; `digest` is the
//!   BLAKE2b-256 of the sealed revision in lower-case hex.
//! - `friends`, `invites`, `requests`: the social state (friends with pinned keys, link tokens,
//!   counters, grants and grantee tag keys; invite codes we issued; requests waiting for
//!   approval), kept by [`crate::social`]; `docs/PROTOCOL.md` §11.6 lists every member.
//! - `tombstones`: removed volumes, checked so they can never silently disappear.

use plog_ipc_schema::dbus::friends::{FriendState, RequestVia};
use plog_ipc_schema::encoding::{Bytes16, Bytes32};
use plog_ipc_schema::{Handle, PublicKeyB64, VolumeType};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::VolumeRecord;

/// The format this version writes and reads.
pub const MANIFEST_FORMAT: u32 = 1;
/// Largest encoded manifest accepted.
pub const MAX_MANIFEST_LEN: usize = 4 * 1024 * 1024;

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// Monotonic counter.
    pub counter: u64,
    /// When it was written, unix seconds (shown as the manifest's age on a new device).
    pub written_at: u64,
    /// Live volumes, sorted by type.
    pub volumes: Vec<ManifestVolume>,
    /// Friends and what they were granted.
    pub friends: Vec<ManifestFriend>,
    /// Removed volumes.
    pub tombstones: Vec<ManifestTombstone>,
    /// Invites we issued that may still be redeemed.
    #[serde(default)]
    pub invites: Vec<ManifestInvite>,
    /// Friend requests waiting for our approval.
    #[serde(default)]
    pub requests: Vec<ManifestRequest>,
    /// Revocations recorded but not yet carried out to the end (grant deleted at the relay,
    /// volume re-encrypted under a new epoch); finished by the next revoke.
    #[serde(default)]
    pub revocations: Vec<ManifestRevocation>,
}

/// One live volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestVolume {
    /// Volume id.
    pub id: Uuid,
    /// Type.
    pub vtype: VolumeType,
    /// Current revision.
    pub revision: u64,
    /// Its key epoch.
    pub key_epoch: u64,
    /// BLAKE2b-256 of the sealed revision.
    #[serde(with = "hex_digest")]
    pub digest: [u8; 32],
}

/// One friend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFriend {
    /// The relay the friendship lives on.
    pub relay: String,
    /// The friend's account id there.
    pub user_id: Uuid,
    /// The friend's pinned public key.
    pub public_key: PublicKeyB64,
    /// Whether it was verified.
    pub verified: bool,
    /// Granted types.
    pub grants: Vec<VolumeType>,
    /// The local friend id.
    pub id: Uuid,
    /// The local alias.
    pub name: String,
    /// The handle the friend claimed or was found by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Handle>,
    /// Pending (we asked, no approval yet) or linked.
    pub state: FriendState,
    /// A key other than the pinned one was seen for this account: sharing stops until the
    /// person re-verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_key: Option<PublicKeyB64>,
    /// The link token we post to them with (theirs), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_token: Option<Bytes32>,
    /// The link token they post to us with (ours; its hash is registered at the relay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recv_token: Option<Bytes32>,
    /// The counter of the last envelope we sent them.
    pub send_counter: u64,
    /// The counter of the last envelope we accepted from them.
    pub recv_counter: u64,
    /// The grantee tag keys we hold for them, one per granted volume and key epoch.
    pub tag_keys: Vec<ManifestTagKey>,
    /// When the friendship was recorded, unix seconds.
    pub added_at: u64,
}

/// A grantee tag key (the exporter output of the grantee's key block, `docs/PROTOCOL.md`
/// §9.6), kept so that every later revision of that epoch carries the grantee's tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestTagKey {
    /// The volume.
    pub volume_id: Uuid,
    /// The key epoch the key block was sealed for.
    pub key_epoch: u64,
    /// The tag key.
    pub key: Bytes32,
}

/// An invite we issued; the code is kept so that requests sealed with its secret open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestInvite {
    /// The relay's invite id.
    pub id: Uuid,
    /// The relay it was registered at.
    pub relay: String,
    /// The code, `locator.secret`.
    pub code: String,
    /// When it stops working, unix seconds.
    pub expires_at: u64,
    /// Uses it was created with.
    pub uses: u32,
}

/// A revocation in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestRevocation {
    /// The relay of the friendship.
    pub relay: String,
    /// The former grantee's account id there.
    pub user_id: Uuid,
    /// The volume.
    pub volume_id: Uuid,
    /// Its type.
    pub vtype: VolumeType,
    /// The key epoch the former grantee holds a key for; the volume must move past it.
    pub from_epoch: u64,
}

/// A friend request waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestRequest {
    /// The local request id.
    pub id: Uuid,
    /// The relay it came through.
    pub relay: String,
    /// The requester's account id there.
    pub user_id: Uuid,
    /// The requester's key (checked by the invite secret when `verified`).
    pub public_key: PublicKeyB64,
    /// The handle the requester claims (never verified by the relay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Handle>,
    /// How it came.
    pub via: RequestVia,
    /// Whether the requester proved knowledge of one of our invite codes.
    pub verified: bool,
    /// When it arrived, unix seconds.
    pub received_at: u64,
    /// The token the requester accepts our mail under.
    pub link_token: Bytes32,
    /// The envelope's message id (duplicates are dropped).
    pub message_id: Bytes16,
    /// The envelope's counter.
    pub counter: u64,
}

/// A removed volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestTombstone {
    /// Volume id.
    pub id: Uuid,
    /// Type.
    pub vtype: VolumeType,
    /// The last revision before removal.
    pub last_revision: u64,
    /// Its key epoch.
    pub key_epoch: u64,
    /// When it was removed, unix seconds.
    pub deleted_at: u64,
}

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Not a manifest of a known format.
    #[error("malformed manifest: {0}")]
    Malformed(String),
    /// Too large.
    #[error("manifest is larger than {MAX_MANIFEST_LEN} bytes")]
    TooLarge,
    /// The counter went backwards.
    #[error("manifest counter went back from {local} to {received}")]
    CounterRegression {
        /// Local counter.
        local: u64,
        /// Received counter.
        received: u64,
    },
    /// Same counter, different content: two writers forked it.
    #[error("manifest {counter} exists in two different versions")]
    Fork {
        /// The counter.
        counter: u64,
    },
    /// A volume's revision went backwards.
    #[error("manifest lists volume {vtype} at revision {received}, older than {local}")]
    RevisionRegression {
        /// Type.
        vtype: String,
        /// Local revision.
        local: u64,
        /// Received revision.
        received: u64,
    },
    /// A volume's key epoch went backwards.
    #[error("manifest lists volume {vtype} at key epoch {received}, older than {local}")]
    EpochRegression {
        /// Type.
        vtype: String,
        /// Local epoch.
        local: u64,
        /// Received epoch.
        received: u64,
    },
    /// Same revision, different content.
    #[error("manifest lists volume {vtype} revision {revision} with another digest")]
    DigestMismatch {
        /// Type.
        vtype: String,
        /// The revision.
        revision: u64,
    },
    /// A volume vanished without a tombstone, or a tombstone vanished.
    #[error("manifest silently drops {what} {vtype}")]
    Dropped {
        /// `volume` or `tombstone`.
        what: &'static str,
        /// Type.
        vtype: String,
    },
}

impl Manifest {
    /// A manifest of the live volumes in `records` (the manifest itself left out), keeping
    /// `previous`'s friends and tombstones and adding a tombstone for each removed record.
    #[must_use]
    pub fn from_records(
        counter: u64,
        written_at: u64,
        records: &[VolumeRecord],
        previous: Option<&Manifest>,
    ) -> Self {
        let mut volumes: Vec<ManifestVolume> = records
            .iter()
            .filter(|r| !r.deleted && r.vtype.is_grantable())
            .map(|r| ManifestVolume {
                id: r.id,
                vtype: r.vtype.clone(),
                revision: r.revision,
                key_epoch: r.key_epoch,
                digest: r.digest,
            })
            .collect();
        volumes.sort_by(|a, b| a.vtype.cmp(&b.vtype));
        let mut tombstones = previous.map(|p| p.tombstones.clone()).unwrap_or_default();
        for record in records.iter().filter(|r| r.deleted) {
            if !tombstones.iter().any(|t| t.id == record.id) {
                tombstones.push(ManifestTombstone {
                    id: record.id,
                    vtype: record.vtype.clone(),
                    last_revision: record.revision,
                    key_epoch: record.key_epoch,
                    deleted_at: record.updated_at,
                });
            }
        }
        Self {
            format: MANIFEST_FORMAT,
            counter,
            written_at,
            volumes,
            friends: previous.map(|p| p.friends.clone()).unwrap_or_default(),
            tombstones,
            invites: previous.map(|p| p.invites.clone()).unwrap_or_default(),
            requests: previous.map(|p| p.requests.clone()).unwrap_or_default(),
            revocations: previous.map(|p| p.revocations.clone()).unwrap_or_default(),
        }
    }

    /// The byte encoding (format 1: compact JSON).
    ///
    /// # Errors
    /// [`ManifestError::TooLarge`].
    pub fn encode(&self) -> Result<Vec<u8>, ManifestError> {
        let bytes =
            serde_json::to_vec(self).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        if bytes.len() > MAX_MANIFEST_LEN {
            return Err(ManifestError::TooLarge);
        }
        Ok(bytes)
    }

    /// Parses and validates an encoded manifest.
    ///
    /// # Errors
    /// [`ManifestError::TooLarge`] or [`ManifestError::Malformed`].
    pub fn decode(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.len() > MAX_MANIFEST_LEN {
            return Err(ManifestError::TooLarge);
        }
        let manifest: Self =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(ManifestError::Malformed(format!(
                "format {} is not supported",
                manifest.format
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for volume in &manifest.volumes {
            if !volume.vtype.is_grantable() {
                return Err(ManifestError::Malformed(
                    "the manifest lists itself".to_owned(),
                ));
            }
            if !seen.insert(volume.id) {
                return Err(ManifestError::Malformed(format!(
                    "volume {} is listed twice",
                    volume.vtype
                )));
            }
        }
        let mut types = std::collections::HashSet::new();
        if !manifest
            .volumes
            .iter()
            .all(|v| types.insert(v.vtype.clone()))
        {
            return Err(ManifestError::Malformed(
                "a volume type is listed twice".to_owned(),
            ));
        }
        Ok(manifest)
    }
}

/// Accepts `received` as the successor of `local` only if nothing went backwards: counter,
/// every volume's revision and key epoch, and no volume or tombstone disappeared.
///
/// # Errors
/// The first regression found.
pub fn check_successor(local: &Manifest, received: &Manifest) -> Result<(), ManifestError> {
    if received.counter < local.counter {
        return Err(ManifestError::CounterRegression {
            local: local.counter,
            received: received.counter,
        });
    }
    if received.counter == local.counter && received != local {
        return Err(ManifestError::Fork {
            counter: local.counter,
        });
    }
    for mine in &local.volumes {
        let vtype = mine.vtype.to_string();
        match received.volumes.iter().find(|v| v.id == mine.id) {
            Some(theirs) => {
                if theirs.revision < mine.revision {
                    return Err(ManifestError::RevisionRegression {
                        vtype,
                        local: mine.revision,
                        received: theirs.revision,
                    });
                }
                if theirs.key_epoch < mine.key_epoch {
                    return Err(ManifestError::EpochRegression {
                        vtype,
                        local: mine.key_epoch,
                        received: theirs.key_epoch,
                    });
                }
                if theirs.revision == mine.revision && theirs.digest != mine.digest {
                    return Err(ManifestError::DigestMismatch {
                        vtype,
                        revision: mine.revision,
                    });
                }
            }
            None if received.tombstones.iter().any(|t| t.id == mine.id) => {}
            None => {
                return Err(ManifestError::Dropped {
                    what: "volume",
                    vtype,
                });
            }
        }
    }
    for tombstone in &local.tombstones {
        let kept = received.tombstones.iter().any(|t| t.id == tombstone.id);
        let revived = received.volumes.iter().any(|v| v.id == tombstone.id);
        if !kept || revived {
            return Err(ManifestError::Dropped {
                what: "tombstone of",
                vtype: tombstone.vtype.to_string(),
            });
        }
    }
    Ok(())
}

mod hex_digest {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(digest: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(digest))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(serde::de::Error::custom(
                "a digest is 64 lower-case hex digits",
            ));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(&text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vtype(name: &str) -> VolumeType {
        VolumeType::parse(name).expect("vtype")
    }

    fn volume(n: u128, name: &str, revision: u64, key_epoch: u64) -> ManifestVolume {
        ManifestVolume {
            id: Uuid::from_u128(n),
            vtype: vtype(name),
            revision,
            key_epoch,
            digest: [revision as u8; 32],
        }
    }

    fn manifest(counter: u64, volumes: Vec<ManifestVolume>) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            counter,
            written_at: 1_700_000_000,
            volumes,
            friends: Vec::new(),
            tombstones: Vec::new(),
            invites: Vec::new(),
            requests: Vec::new(),
            revocations: Vec::new(),
        }
    }

    #[test]
    fn encoding_is_the_documented_json() {
        let m = manifest(7, vec![volume(1, "front", 3, 1)]);
        let bytes = m.encode().expect("encode");
        let expected = format!(
            concat!(
                r#"{{"format":1,"counter":7,"written_at":1700000000,"volumes":[{{"id":"00000000-0000-0000-0000-000000000001","vtype":"front","revision":3,"key_epoch":1,"digest":"{}"}}],"#,
                r#""friends":[],"tombstones":[],"invites":[],"requests":[],"revocations":[]}}"#
            ),
            "03".repeat(32)
        );
        assert_eq!(String::from_utf8(bytes.clone()).expect("utf8"), expected);
        assert_eq!(Manifest::decode(&bytes).expect("decode"), m);
    }

    #[test]
    fn decode_refuses_unknown_formats_members_and_duplicates() {
        let mut m = manifest(1, vec![]);
        m.format = 2;
        let err = Manifest::decode(&m.encode().expect("encode")).expect_err("format");
        assert!(err.to_string().contains("format 2"), "{err}");
        let err = Manifest::decode(br#"{"format":1,"counter":1,"written_at":0,"volumes":[],"friends":[],"tombstones":[],"extra":1}"#)
            .expect_err("unknown member");
        assert!(err.to_string().contains("extra"), "{err}");
        let dup = manifest(1, vec![volume(1, "front", 1, 1), volume(2, "front", 1, 1)]);
        assert!(Manifest::decode(&dup.encode().expect("encode")).is_err());
        let itself = manifest(1, vec![volume(1, "manifest", 1, 1)]);
        assert!(Manifest::decode(&itself.encode().expect("encode")).is_err());
        assert!(Manifest::decode(&vec![b' '; MAX_MANIFEST_LEN + 1]).is_err());
    }

    #[test]
    fn forward_moves_are_accepted() {
        let local = manifest(3, vec![volume(1, "front", 2, 1)]);
        let next = manifest(
            4,
            vec![volume(1, "front", 3, 2), volume(2, "members", 1, 1)],
        );
        assert_eq!(check_successor(&local, &next), Ok(()));
        assert_eq!(check_successor(&local, &local.clone()), Ok(()));
    }

    #[test]
    fn every_regression_is_refused() {
        let local = manifest(3, vec![volume(1, "front", 2, 2)]);
        assert!(matches!(
            check_successor(&local, &manifest(2, vec![volume(1, "front", 2, 2)])),
            Err(ManifestError::CounterRegression {
                local: 3,
                received: 2
            })
        ));
        assert!(matches!(
            check_successor(&local, &manifest(3, vec![volume(1, "front", 3, 2)])),
            Err(ManifestError::Fork { counter: 3 })
        ));
        assert!(matches!(
            check_successor(&local, &manifest(4, vec![volume(1, "front", 1, 2)])),
            Err(ManifestError::RevisionRegression {
                local: 2,
                received: 1,
                ..
            })
        ));
        assert!(matches!(
            check_successor(&local, &manifest(4, vec![volume(1, "front", 3, 1)])),
            Err(ManifestError::EpochRegression {
                local: 2,
                received: 1,
                ..
            })
        ));
        let mut same_rev = volume(1, "front", 2, 2);
        same_rev.digest = [9; 32];
        assert!(matches!(
            check_successor(&local, &manifest(4, vec![same_rev])),
            Err(ManifestError::DigestMismatch { revision: 2, .. })
        ));
        assert!(matches!(
            check_successor(&local, &manifest(4, vec![])),
            Err(ManifestError::Dropped { what: "volume", .. })
        ));
    }

    #[test]
    fn tombstones_must_stay() {
        let mut local = manifest(3, vec![]);
        local.tombstones.push(ManifestTombstone {
            id: Uuid::from_u128(5),
            vtype: vtype("polls"),
            last_revision: 2,
            key_epoch: 1,
            deleted_at: 1,
        });
        let mut next = manifest(4, vec![]);
        assert!(check_successor(&local, &next).is_err(), "tombstone dropped");
        next.tombstones = local.tombstones.clone();
        assert_eq!(check_successor(&local, &next), Ok(()));
        next.volumes.push(volume(5, "polls", 3, 1));
        assert!(check_successor(&local, &next).is_err(), "revived");

        // A volume removed with a tombstone is fine.
        let before = manifest(1, vec![volume(5, "polls", 2, 1)]);
        assert_eq!(
            check_successor(&before, &{
                let mut m = manifest(2, vec![]);
                m.tombstones = local.tombstones.clone();
                m
            }),
            Ok(())
        );
    }
}
