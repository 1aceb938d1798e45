//! Sharing by volume type: grants with key blocks, revocation with key rotation (DESIGN §5),
//! and the friend's view, decrypted in memory only.
//!
//! Grant: the manifest records the grant and the grantee's tag key and is pushed first (the
//! compare-and-swap), then the relay stores the grant with the key block and the grantee's
//! tag over the current revision. Every later revision of that epoch carries the grantee's
//! tag (the sync engine adds it from the manifest).
//!
//! Revoke: the manifest drops the grant and is pushed first; the relay deletes the grant (the
//! friend's next fetch is a 404); the volume is re-encrypted under a new epoch and key; the
//! remaining grantees of that volume (from the manifest, never from a list the relay serves)
//! get key blocks for the new epoch; the new revision is pushed, after which the relay fences
//! uploads under older epochs. The friend is told with a "revoked" notice.

use std::fs::File;
use std::sync::Arc;

use plog_crypto::keyblock::{self, KeyBlockContext};
use plog_crypto::volume::{
    GranteeTagKey, VolumeHeader, VolumeKey, grantee_tag, open_to_vec, verify_grantee_tag,
};
use plog_ipc_schema::dbus::DaemonError;
use plog_ipc_schema::dbus::friends::FriendState;
use plog_ipc_schema::dbus::sharing::{IncomingShare, ShareEntry, SharedView};
use plog_ipc_schema::encoding::Bytes32;
use plog_ipc_schema::http::grants::GrantRequest;
use plog_ipc_schema::http::headers::ReaderMaterial;
use plog_ipc_schema::http::volumes::{VolumeEntry, VolumeRole};
use plog_ipc_schema::{ErrorCode, VolumeType};
use uuid::Uuid;

use super::mail::{MailBody, identity_key};
use super::{Account, Social, find_friend, find_friend_mut};
use crate::custody::UnlockedKeys;
use crate::fdio;
use crate::manifest::{Manifest, ManifestFriend, ManifestRevocation, ManifestTagKey};
use crate::relay_client::RelayError;
use crate::store::VolumeRecord;

/// Largest shared volume a view holds in memory.
const MAX_VIEW_BYTES: u64 = 512 * 1024 * 1024;

/// The volume types named by `vtypes`, each grantable.
fn parse_types(vtypes: &[String]) -> Result<Vec<VolumeType>, DaemonError> {
    let mut parsed = Vec::new();
    for name in vtypes {
        let vtype = VolumeType::parse(name)
            .map_err(|e| DaemonError::InvalidArgument(format!("{name:?}: {e}")))?;
        if !vtype.is_grantable() {
            return Err(DaemonError::InvalidArgument(format!(
                "{vtype} is never shared"
            )));
        }
        if !parsed.contains(&vtype) {
            parsed.push(vtype);
        }
    }
    Ok(parsed)
}

/// A key block for `friend` and its tag key.
fn seal_block(
    account: &Account,
    friend: &ManifestFriend,
    record: &VolumeRecord,
    vek: &VolumeKey,
) -> Result<(Vec<u8>, GranteeTagKey), DaemonError> {
    keyblock::seal(
        &account.identity,
        &identity_key(&friend.public_key),
        &KeyBlockContext {
            relay_origin: &account.record.identity_origin,
            owner_id: *account.user_id.as_bytes(),
            grantee_id: *friend.user_id.as_bytes(),
            volume_id: *record.id.as_bytes(),
            epoch: record.key_epoch,
        },
        vek,
    )
    .map_err(|e| DaemonError::Failed(format!("cannot seal a key block: {e}")))
}

fn remember_tag_key(friend: &mut ManifestFriend, record: &VolumeRecord, key: &GranteeTagKey) {
    friend.tag_keys.retain(|k| k.volume_id != record.id);
    friend.tag_keys.push(ManifestTagKey {
        volume_id: record.id,
        key_epoch: record.key_epoch,
        key: Bytes32::new(*key.expose()),
    });
}

/// `PUT …/grants/{grantee}` for the revision `record` with the grantee's key block and tag.
async fn store_grant(
    account: &Account,
    record: &VolumeRecord,
    grantee: Uuid,
    block: Vec<u8>,
    tag: [u8; 32],
) -> Result<(), RelayError> {
    account
        .client
        .put_grant(
            record.id,
            grantee,
            &GrantRequest {
                key_epoch: record.key_epoch,
                key_block: plog_ipc_schema::B64Bytes::new(block),
                revision: record.revision,
                tag: Bytes32::new(tag),
            },
        )
        .await
}

fn grant_error(error: RelayError, vtype: &VolumeType) -> DaemonError {
    match error.code() {
        Some(ErrorCode::RevisionConflict | ErrorCode::EpochFenced) => DaemonError::Conflict(
            format!("{vtype} changed at the relay meanwhile; run `plog sync` and grant again"),
        ),
        _ => error.into(),
    }
}

impl Social {
    fn unwrap_key(keys: &UnlockedKeys, record: &VolumeRecord) -> Result<VolumeKey, DaemonError> {
        keys.owner()
            .unwrap(record.id.as_bytes(), record.key_epoch, &record.owner_key)
            .map_err(|_| {
                DaemonError::Failed(format!(
                    "the stored key of {} does not open: the local store is damaged",
                    record.vtype
                ))
            })
    }

    async fn live_volume(&self, vtype: &VolumeType) -> Result<VolumeRecord, DaemonError> {
        match self.store.volume_by_type(vtype).await? {
            Some(record) if !record.deleted => Ok(record),
            _ => Err(DaemonError::NotFound(format!(
                "there is no {vtype} volume to share; store one first (`plog volume put {vtype} FILE`)"
            ))),
        }
    }

    /// `Sharing.Grant`.
    pub async fn grant(
        &self,
        friend: &str,
        vtypes: &[String],
        allow_unverified: bool,
    ) -> Result<ShareEntry, DaemonError> {
        let keys = self.keys()?;
        let vtypes = parse_types(vtypes)?;
        if vtypes.is_empty() {
            return Err(DaemonError::InvalidArgument(
                "name at least one volume type to share".to_owned(),
            ));
        }
        let target = find_friend(&self.load(&keys).await?, friend)?.clone();
        if target.state != FriendState::Linked {
            return Err(DaemonError::Conflict(format!(
                "{} has not approved the friendship yet",
                target.name
            )));
        }
        if target.changed_key.is_some() {
            return Err(DaemonError::Unverified(format!(
                "the key of {} changed; compare safety numbers again with `plog friend verify {}` before sharing",
                target.name, target.name
            )));
        }
        if !target.verified && !allow_unverified {
            return Err(DaemonError::Unverified(format!(
                "{} is not verified: compare safety numbers with `plog friend verify {}`, or share anyway with --unverified",
                target.name, target.name
            )));
        }
        for vtype in &vtypes {
            self.live_volume(vtype).await?;
        }
        // The volumes (and the manifest) must be at the relay before a grant can name them.
        self.publish().await?;
        let account = self.account_at(&target.relay).await?;
        let mut grants = Vec::new();
        {
            let _guard = self.store.manifest_turn().await;
            let mut manifest = self.load(&keys).await?;
            let friend = find_friend_mut(&mut manifest, &target.id.to_string())?;
            for vtype in &vtypes {
                let record = self.live_volume(vtype).await?;
                let vek = Self::unwrap_key(&keys, &record)?;
                let (block, tag_key) = seal_block(&account, friend, &record, &vek)?;
                let header = self.store.stored_header(&record).await?;
                let tag = grantee_tag(&tag_key, &header, &record.digest)
                    .map_err(|e| DaemonError::Failed(format!("cannot tag: {e}")))?;
                remember_tag_key(friend, &record, &tag_key);
                if !friend.grants.contains(vtype) {
                    friend.grants.push(vtype.clone());
                }
                grants.push((vtype.clone(), record, block, tag));
            }
            friend.grants.sort();
            self.save(&keys, &manifest).await?;
        }
        self.publish().await?;
        for (vtype, record, block, tag) in grants {
            store_grant(&account, &record, target.user_id, block, tag)
                .await
                .map_err(|e| grant_error(e, &vtype))?;
        }
        self.notify(target.id, MailBody::Shared { vtypes }).await;
        self.share_entry(&target.id.to_string()).await
    }

    async fn share_entry(&self, friend: &str) -> Result<ShareEntry, DaemonError> {
        let keys = self.keys()?;
        let manifest = self.load(&keys).await?;
        let friend = find_friend(&manifest, friend)?;
        Ok(ShareEntry {
            id: friend.id,
            name: friend.name.clone(),
            vtypes: friend.grants.clone(),
        })
    }

    /// `Sharing.Revoke`: `vtypes` empty revokes everything. Also finishes any revocation an
    /// earlier call recorded but could not carry out to the end.
    pub async fn revoke(&self, friend: &str, vtypes: &[String]) -> Result<ShareEntry, DaemonError> {
        let keys = self.keys()?;
        let asked = parse_types(vtypes)?;
        let target = find_friend(&self.load(&keys).await?, friend)?.clone();
        let revoked: Vec<VolumeType> = if asked.is_empty() {
            target.grants.clone()
        } else {
            asked
                .into_iter()
                .filter(|vtype| target.grants.contains(vtype))
                .collect()
        };
        if !revoked.is_empty() {
            // 1. The manifest forgets the grant and records the revocation first, and is
            //    pushed; what follows can then be finished later if it fails now.
            {
                let _guard = self.store.manifest_turn().await;
                let mut manifest = self.load(&keys).await?;
                let mut pending = Vec::new();
                for vtype in &revoked {
                    if let Some(record) = self.store.volume_by_type(vtype).await? {
                        pending.push(ManifestRevocation {
                            relay: target.relay.clone(),
                            user_id: target.user_id,
                            volume_id: record.id,
                            vtype: vtype.clone(),
                            from_epoch: record.key_epoch,
                        });
                    }
                }
                let friend = find_friend_mut(&mut manifest, &target.id.to_string())?;
                friend.grants.retain(|vtype| !revoked.contains(vtype));
                friend
                    .tag_keys
                    .retain(|k| !pending.iter().any(|p| p.volume_id == k.volume_id));
                manifest.revocations.extend(pending);
                self.save(&keys, &manifest).await?;
            }
            self.publish().await?;
        }
        self.finish_revocations(&keys).await?;
        if !revoked.is_empty() {
            self.notify(target.id, MailBody::Revoked { vtypes: revoked })
                .await;
        }
        self.share_entry(&target.id.to_string()).await
    }

    /// Carries out every recorded revocation: 2. the relay stops serving the volume to the
    /// former grantee (its next fetch is a 404); 3. unless the volume already moved past the
    /// epoch they hold, it is re-encrypted under a new one, so what they hold opens nothing
    /// written from now on. Each is forgotten only once done.
    async fn finish_revocations(&self, keys: &Arc<UnlockedKeys>) -> Result<(), DaemonError> {
        let pending = self.load(keys).await?.revocations;
        for revocation in &pending {
            let account = self.account_at(&revocation.relay).await?;
            account
                .client
                .delete_grant(revocation.volume_id, revocation.user_id)
                .await
                .map_err(DaemonError::from)?;
            if let Some(record) = self.store.volume_by_type(&revocation.vtype).await?
                && record.id == revocation.volume_id
                && !record.deleted
                && record.key_epoch <= revocation.from_epoch
            {
                self.rotate_volume(keys, &revocation.vtype).await?;
            }
            let _guard = self.store.manifest_turn().await;
            let mut manifest = self.load(keys).await?;
            manifest.revocations.retain(|r| r != revocation);
            self.save(keys, &manifest).await?;
        }
        if !pending.is_empty() {
            self.publish().await?;
        }
        Ok(())
    }

    /// Re-encrypts `vtype` under a new epoch, gives its remaining grantees key blocks for it,
    /// pushes the new revision and then their grants.
    async fn rotate_volume(
        &self,
        keys: &Arc<UnlockedKeys>,
        vtype: &VolumeType,
    ) -> Result<(), DaemonError> {
        let mut blocks = Vec::new();
        {
            let _guard = self.store.manifest_turn().await;
            let record = crate::volumes::rotate(&self.store, Arc::clone(keys), vtype).await?;
            let vek = Self::unwrap_key(keys, &record)?;
            let header = self.store.stored_header(&record).await?;
            let mut manifest = self.load(keys).await?;
            let remaining: Vec<Uuid> = manifest
                .friends
                .iter()
                .filter(|f| f.grants.contains(vtype) && f.state == FriendState::Linked)
                .map(|f| f.id)
                .collect();
            for id in remaining {
                let friend = find_friend_mut(&mut manifest, &id.to_string())?;
                let account = self.account_at(&friend.relay).await?;
                let (block, tag_key) = seal_block(&account, friend, &record, &vek)?;
                let tag = grantee_tag(&tag_key, &header, &record.digest)
                    .map_err(|e| DaemonError::Failed(format!("cannot tag: {e}")))?;
                remember_tag_key(friend, &record, &tag_key);
                blocks.push((account, friend.user_id, block, tag, record.clone()));
            }
            self.save(keys, &manifest).await?;
        }
        // 4. The new revision (with the remaining grantees' tags) and the manifest.
        self.publish().await?;
        // 5. Key blocks for the new epoch.
        for (account, grantee, block, tag, record) in blocks {
            store_grant(&account, &record, grantee, block, tag)
                .await
                .map_err(|e| grant_error(e, vtype))?;
        }
        Ok(())
    }

    /// `Sharing.List`.
    pub async fn shares(&self) -> Result<Vec<ShareEntry>, DaemonError> {
        let keys = self.keys()?;
        let manifest = self.load(&keys).await?;
        Ok(manifest
            .friends
            .iter()
            .filter(|f| !f.grants.is_empty())
            .map(|f| ShareEntry {
                id: f.id,
                name: f.name.clone(),
                vtypes: f.grants.clone(),
            })
            .collect())
    }

    /// What the relays list as shared with us, with the origin of each relay.
    pub(super) async fn grantee_entries(&self) -> Result<Vec<(String, VolumeEntry)>, DaemonError> {
        let mut shared = Vec::new();
        for account in self.accounts().await? {
            for entry in account
                .client
                .list_volumes()
                .await
                .map_err(DaemonError::from)?
            {
                if entry.role == VolumeRole::Grantee {
                    shared.push((account.record.origin.clone(), entry));
                }
            }
        }
        Ok(shared)
    }

    /// `Sharing.Incoming`.
    pub async fn incoming(&self, system: &str) -> Result<Vec<IncomingShare>, DaemonError> {
        let keys = self.keys()?;
        self.take_mail().await?;
        let manifest = self.load(&keys).await?;
        let only = if system.is_empty() {
            None
        } else {
            Some(find_friend(&manifest, system)?.id)
        };
        let mut shares = Vec::new();
        for (origin, entry) in self.grantee_entries().await? {
            let Some(friend) = manifest
                .friends
                .iter()
                .find(|f| f.relay == origin && f.user_id == entry.owner_id)
            else {
                continue;
            };
            if only.is_some_and(|id| id != friend.id) {
                continue;
            }
            shares.push(IncomingShare {
                id: entry.volume_id,
                name: entry.vtype,
                system_id: friend.id,
                system: friend.name.clone(),
                revision: entry.revision,
                updated_at: entry.updated_at,
            });
        }
        shares.sort_by(|a, b| (&a.system, &a.name).cmp(&(&b.system, &b.name)));
        Ok(shares)
    }

    /// `Sharing.View`: fetches the current revision of `system`'s `vtype` into memory, checks
    /// our tag, decrypts and writes the plaintext to `out`.
    pub async fn view(
        &self,
        system: &str,
        vtype: &str,
        out: File,
    ) -> Result<SharedView, DaemonError> {
        let keys = self.keys()?;
        let vtype = VolumeType::parse(vtype)
            .map_err(|e| DaemonError::InvalidArgument(format!("{vtype:?}: {e}")))?;
        let manifest = self.load(&keys).await?;
        let friend = find_friend(&manifest, system)?.clone();
        let account = self.account_at(&friend.relay).await?;
        let not_shared = || {
            DaemonError::NotFound(format!(
                "{} does not share {vtype} with you (or no longer does)",
                friend.name
            ))
        };
        let entry = account
            .client
            .list_volumes()
            .await
            .map_err(DaemonError::from)?
            .into_iter()
            .find(|e| {
                e.role == VolumeRole::Grantee && e.owner_id == friend.user_id && e.vtype == vtype
            })
            .ok_or_else(not_shared)?;
        let (meta, sealed) = account
            .client
            .get_volume_to_vec(entry.volume_id, MAX_VIEW_BYTES)
            .await
            .map_err(DaemonError::from)?
            .ok_or_else(not_shared)?;
        let ReaderMaterial::Grantee {
            grantee_tag: tag,
            key_block,
        } = &meta.headers.reader
        else {
            return Err(DaemonError::Failed(
                "the relay served the volume without our key block".to_owned(),
            ));
        };
        let refused = |why: &str| {
            DaemonError::PermissionDenied(format!(
                "{}'s {vtype} was refused: {why}; it may have been tampered with",
                friend.name
            ))
        };
        let header_bytes =
            crate::store::header_bytes(&sealed).ok_or_else(|| refused("no header"))?;
        let (header, _) = VolumeHeader::parse(header_bytes).map_err(|_| refused("bad header"))?;
        let expected_header = header.clone();
        if header.volume_id != *entry.volume_id.as_bytes()
            || header.vtype.as_str() != vtype.as_str()
            || header.revision != meta.headers.revision
            || header.key_epoch != meta.headers.key_epoch
        {
            return Err(refused(
                "its header does not match what the relay announced",
            ));
        }
        let (vek, tag_key) = keyblock::open(
            key_block.as_bytes(),
            &account.identity,
            &identity_key(&friend.public_key),
            &KeyBlockContext {
                relay_origin: &account.record.identity_origin,
                owner_id: *friend.user_id.as_bytes(),
                grantee_id: *account.user_id.as_bytes(),
                volume_id: header.volume_id,
                epoch: header.key_epoch,
            },
        )
        .map_err(|_| refused("our key block does not open with the owner's pinned key"))?;
        // Decrypted in memory only; released to the descriptor only after our tag verifies
        // over the digest computed while decrypting.
        let (plaintext, digest) = open_to_vec(&vek, expected_header, &sealed)
            .map_err(|_| refused("it does not decrypt"))?;
        verify_grantee_tag(&tag_key, header_bytes, &digest, tag.as_bytes())
            .map_err(|_| refused("it carries no valid tag from the owner for us"))?;
        drop(sealed);
        let size = plaintext.len() as u64;
        fdio::blocking(move || fdio::write_and_close(out, &plaintext, "shared volume")).await?;
        Ok(SharedView {
            id: entry.volume_id,
            vtype,
            system_id: friend.id,
            system: friend.name,
            revision: meta.headers.revision,
            size,
            sensitive: true,
        })
    }
}

/// Grantee tags for the revision `record` of a volume at `relay`, from the manifest.
pub(crate) fn grantee_tags_for(
    manifest: &Manifest,
    relay: &str,
    record: &VolumeRecord,
    header: &[u8],
) -> Vec<(Uuid, [u8; 32])> {
    manifest
        .friends
        .iter()
        .filter(|f| f.relay == relay && f.grants.contains(&record.vtype))
        .filter_map(|f| {
            let key = f
                .tag_keys
                .iter()
                .find(|k| k.volume_id == record.id && k.key_epoch == record.key_epoch)?;
            let tag = grantee_tag(
                &GranteeTagKey::from_bytes(*key.key.as_bytes()),
                header,
                &record.digest,
            )
            .ok()?;
            Some((f.user_id, tag))
        })
        .collect()
}
