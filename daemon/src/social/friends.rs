//! Invites, friend requests, approval, safety numbers, renaming and removal.
//!
//! A code alone never makes a friendship: a request lands in the owner's list and waits for
//! `approve`. The approval carries the approver's link token; each side registers the hash of
//! the token it accepts mail under, so after approval the relay takes mail between the two
//! only with those tokens.

use std::fs::File;

use plog_crypto::identity::IdentityPublicKey;
use plog_crypto::invite::{InviteCode, parse_locator};
use plog_crypto::link::{generate_link_token, link_token_hash};
use plog_crypto::safety;
use plog_ipc_schema::dbus::DaemonError;
use plog_ipc_schema::dbus::friends::{
    FriendEntry, FriendRequest, FriendState, InviteIssued, SafetyNumber,
};
use plog_ipc_schema::encoding::Bytes32;
use plog_ipc_schema::http::mailbox::{MailRoute, MailSettings};
use plog_ipc_schema::{Handle, LinkToken, VolumeType};
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use super::mail::{MailBody, identity_key, key_b64, seal, short_key};
use super::{Account, Social, find_friend, find_friend_mut, now_secs};
use crate::fdio;
use crate::manifest::{Manifest, ManifestFriend, ManifestInvite};
use crate::relay_client::RelayError;

/// Invite lifetime when the caller asks for none.
const DEFAULT_INVITE_TTL_SECS: u64 = 7 * 24 * 3600;
/// Longest invite code accepted from a descriptor.
const MAX_CODE_LEN: usize = 256;

/// A fresh link token and the form the manifest keeps it in.
fn new_link_token() -> Result<Bytes32, DaemonError> {
    let token = generate_link_token()
        .map_err(|e| DaemonError::Failed(format!("cannot make a link token: {e}")))?;
    Ok(Bytes32::new(*token.expose()))
}

/// A name not yet taken by another friend: `base`, else `base-2`, `base-3`, …
fn unique_name(manifest: &Manifest, base: &str) -> String {
    let taken = |name: &str| manifest.friends.iter().any(|f| f.name == name);
    if !taken(base) {
        return base.to_owned();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|name| !taken(name))
        .unwrap_or_else(|| base.to_owned())
}

impl Social {
    /// `Friends.Invite`.
    pub async fn invite(
        &self,
        relay: &str,
        uses: u32,
        ttl_secs: u64,
        code_out: File,
    ) -> Result<InviteIssued, DaemonError> {
        let keys = self.keys()?;
        let account = self.account_at(relay).await?;
        let code = InviteCode::generate(&account.identity.public_key())
            .map_err(|e| DaemonError::Failed(format!("cannot make an invite code: {e}")))?;
        let ttl = if ttl_secs == 0 {
            DEFAULT_INVITE_TTL_SECS
        } else {
            ttl_secs
        };
        let uses = uses.max(1);
        let created = account
            .client
            .create_invite(code.locator_hash(), now_secs().saturating_add(ttl), uses)
            .await
            .map_err(DaemonError::from)?;
        let text = code.to_code();
        {
            let _guard = self.store.manifest_turn().await;
            let mut manifest = self.load(&keys).await?;
            manifest.invites.retain(|i| i.expires_at > now_secs());
            manifest.invites.push(ManifestInvite {
                id: created.invite_id,
                relay: account.record.origin.clone(),
                code: text.to_string(),
                expires_at: created.expires_at,
                uses: created.uses,
            });
            if let Err(error) = self.save(&keys, &manifest).await {
                // Without the code kept, requests under it could not be opened.
                let _ = account.client.delete_invite(created.invite_id).await;
                return Err(error);
            }
        }
        let line = format!("{}\n", text.as_str());
        fdio::blocking(move || fdio::write_and_close(code_out, line.as_bytes(), "invite code"))
            .await?;
        Ok(InviteIssued {
            id: created.invite_id,
            relay: account.record.origin,
            expires_at: created.expires_at,
            uses: created.uses,
        })
    }

    /// `Friends.Invites`.
    pub async fn invites(&self) -> Result<Vec<InviteIssued>, DaemonError> {
        self.keys()?;
        let mut issued = Vec::new();
        for account in self.accounts().await? {
            for invite in account
                .client
                .list_invites()
                .await
                .map_err(DaemonError::from)?
            {
                issued.push(InviteIssued {
                    id: invite.invite_id,
                    relay: account.record.origin.clone(),
                    expires_at: invite.expires_at,
                    uses: invite.uses,
                });
            }
        }
        Ok(issued)
    }

    /// `Friends.RevokeInvite`.
    pub async fn revoke_invite(&self, id: &str) -> Result<(), DaemonError> {
        let keys = self.keys()?;
        let id = Uuid::parse_str(id)
            .map_err(|_| DaemonError::InvalidArgument(format!("{id:?} is not an invite id")))?;
        let mut found = false;
        for account in self.accounts().await? {
            found |= account
                .client
                .delete_invite(id)
                .await
                .map_err(DaemonError::from)?;
        }
        let _guard = self.store.manifest_turn().await;
        let mut manifest = self.load(&keys).await?;
        let before = manifest.invites.len();
        manifest.invites.retain(|i| i.id != id);
        if manifest.invites.len() != before {
            self.save(&keys, &manifest).await?;
            found = true;
        }
        if found {
            Ok(())
        } else {
            Err(DaemonError::NotFound(format!(
                "no invite {id}; `plog friend invites` lists them"
            )))
        }
    }

    /// `Friends.SetHandleRequests`.
    pub async fn set_handle_requests(&self, relay: &str, accept: bool) -> Result<(), DaemonError> {
        self.keys()?;
        let account = self.account_at(relay).await?;
        account
            .client
            .set_mail_settings(MailSettings {
                handle_requests: accept,
            })
            .await
            .map_err(DaemonError::from)
    }

    /// `Friends.Request`: with an invite code read from `code_in`.
    pub async fn request(&self, code_in: File) -> Result<FriendEntry, DaemonError> {
        let keys = self.keys()?;
        let text =
            fdio::blocking(move || fdio::read_secret_text(code_in, MAX_CODE_LEN, "invite code"))
                .await?;
        let code = InviteCode::parse(text.trim()).map_err(|_| {
            DaemonError::InvalidArgument(
                "that is not an invite code (expected `locator.secret`, as `plog friend invite` prints it)"
                    .to_owned(),
            )
        })?;
        let locator = parse_locator(&code.locator_text())
            .map_err(|e| DaemonError::InvalidArgument(e.to_string()))?;
        // The code does not name its relay: ask each relay we have an account at.
        let mut found = None;
        for account in self.accounts().await? {
            if let Some(owner) = account
                .client
                .lookup_invite(&locator)
                .await
                .map_err(DaemonError::from)?
            {
                found = Some((account, owner));
                break;
            }
        }
        let Some((account, owner)) = found else {
            return Err(DaemonError::NotFound(
                "no relay knows this invite: it is unknown, expired or used up (or it belongs to a relay you have no account at)"
                    .to_owned(),
            ));
        };
        let owner_key = identity_key(&owner.public_key);
        code.verify_owner(&owner_key).map_err(|e| {
            DaemonError::PermissionDenied(format!("{e} (relay {})", account.record.origin))
        })?;
        if owner.user_id == account.user_id {
            return Err(DaemonError::InvalidArgument(
                "this is your own invite".to_owned(),
            ));
        }
        let peer = Peer {
            user_id: owner.user_id,
            key: owner_key,
            handle: owner.handle,
            verified: true,
        };
        let entry = self
            .send_request(&keys, &account, peer, Some(&code), |envelope| async {
                account
                    .client
                    .redeem_invite(&locator, envelope)
                    .await
                    .map_err(|e| match e {
                        RelayError::NotFound { .. } | RelayError::InviteUnavailable => {
                            DaemonError::NotFound(
                                "the invite is unknown, expired or used up".to_owned(),
                            )
                        }
                        other => other.into(),
                    })
            })
            .await?;
        Ok(entry)
    }

    /// `Friends.RequestByHandle`.
    pub async fn request_by_handle(
        &self,
        relay: &str,
        handle: &str,
    ) -> Result<FriendEntry, DaemonError> {
        let keys = self.keys()?;
        let handle = Handle::parse(handle)
            .map_err(|e| DaemonError::InvalidArgument(format!("{handle:?}: {e}")))?;
        let account = self.account_at(relay).await?;
        let found = account
            .client
            .lookup_handle(&handle)
            .await
            .map_err(DaemonError::from)?
            .ok_or_else(|| {
                DaemonError::NotFound(format!(
                    "nobody holds the handle {handle} at {}",
                    account.record.origin
                ))
            })?;
        if found.user_id == account.user_id {
            return Err(DaemonError::InvalidArgument(
                "that handle is your own".to_owned(),
            ));
        }
        let recipient = found.user_id;
        let peer = Peer {
            user_id: recipient,
            key: identity_key(&found.public_key),
            handle: Some(handle),
            verified: false,
        };
        self.send_request(&keys, &account, peer, None, |envelope| async {
            account
                .client
                .post_mail(recipient, envelope, MailRoute::Handle {})
                .await
                .map_err(DaemonError::from)
        })
        .await
    }

    /// Registers our link token, sends the request with `deliver` and records the pending
    /// friend.
    async fn send_request<F, Fut>(
        &self,
        keys: &std::sync::Arc<crate::custody::UnlockedKeys>,
        account: &Account,
        peer: Peer,
        invite: Option<&InviteCode>,
        deliver: F,
    ) -> Result<FriendEntry, DaemonError>
    where
        F: FnOnce(Vec<u8>) -> Fut,
        Fut: std::future::Future<Output = Result<(), DaemonError>>,
    {
        let _guard = self.store.manifest_turn().await;
        let mut manifest = self.load(keys).await?;
        let origin = account.record.origin.clone();
        if let Some(existing) = manifest
            .friends
            .iter()
            .find(|f| f.relay == origin && f.user_id == peer.user_id)
        {
            return Err(DaemonError::Conflict(format!(
                "{} is already a friend ({})",
                existing.name,
                match existing.state {
                    FriendState::Pending => "waiting for their approval",
                    _ => "linked",
                }
            )));
        }
        let recv_token = new_link_token()?;
        account
            .client
            .add_link(link_token_hash(recv_token.as_bytes()))
            .await
            .map_err(DaemonError::from)?;
        let my_handle = account
            .record
            .account
            .as_ref()
            .and_then(|a| a.handle.clone());
        let envelope = seal(
            account,
            peer.user_id,
            &peer.key,
            1,
            &MailBody::FriendRequest {
                link_token: recv_token,
                handle: my_handle,
            },
            invite,
        )?;
        deliver(envelope).await?;
        let base = peer
            .handle
            .as_ref()
            .map_or_else(|| short_key(&peer.key), ToString::to_string);
        let friend = ManifestFriend {
            relay: origin,
            user_id: peer.user_id,
            public_key: key_b64(&peer.key),
            verified: peer.verified,
            grants: Vec::new(),
            id: Uuid::new_v4(),
            name: unique_name(&manifest, &base),
            handle: peer.handle,
            state: FriendState::Pending,
            changed_key: None,
            send_token: None,
            recv_token: Some(recv_token),
            send_counter: 1,
            recv_counter: 0,
            tag_keys: Vec::new(),
            added_at: now_secs(),
        };
        manifest.friends.push(friend.clone());
        self.save(keys, &manifest).await?;
        Ok(entry(&friend, Vec::new()))
    }

    /// `Friends.Requests`.
    pub async fn requests(&self) -> Result<Vec<FriendRequest>, DaemonError> {
        let keys = self.keys()?;
        self.take_mail().await?;
        let manifest = self.load(&keys).await?;
        Ok(manifest
            .requests
            .iter()
            .map(|r| FriendRequest {
                id: r.id,
                name: r.handle.as_ref().map_or_else(
                    || short_key(&identity_key(&r.public_key)),
                    ToString::to_string,
                ),
                handle: r.handle.clone(),
                relay: r.relay.clone(),
                user_id: r.user_id,
                via: r.via,
                verified: r.verified,
                received_at: r.received_at,
            })
            .collect())
    }

    /// `Friends.Approve`.
    pub async fn approve(&self, id: &str) -> Result<FriendEntry, DaemonError> {
        let keys = self.keys()?;
        let id = parse_request_id(id)?;
        let _guard = self.store.manifest_turn().await;
        let mut manifest = self.load(&keys).await?;
        let request = manifest
            .requests
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| no_request(id))?;
        let account = self.account_at(&request.relay).await?;
        // We may have asked them too (both sides sent a request): then our pending entry
        // becomes the friendship, and our link token, which they already hold, stays.
        let existing = manifest
            .friends
            .iter()
            .position(|f| f.relay == request.relay && f.user_id == request.user_id);
        let kept_token = existing.and_then(|i| manifest.friends[i].recv_token);
        let recv_token = match kept_token {
            Some(token) => token,
            None => {
                let token = new_link_token()?;
                account
                    .client
                    .add_link(link_token_hash(token.as_bytes()))
                    .await
                    .map_err(DaemonError::from)?;
                token
            }
        };
        let peer_key = identity_key(&request.public_key);
        let counter = existing.map_or(1, |i| manifest.friends[i].send_counter + 1);
        let envelope = seal(
            &account,
            request.user_id,
            &peer_key,
            counter,
            &MailBody::FriendApproval {
                link_token: recv_token,
            },
            None,
        )?;
        account
            .client
            .post_mail(
                request.user_id,
                envelope,
                MailRoute::Link {
                    token: LinkToken::from_bytes(*request.link_token.as_bytes()),
                },
            )
            .await
            .map_err(DaemonError::from)?;
        manifest.requests.retain(|r| r.id != id);
        let friend = if let Some(index) = existing {
            let friend = &mut manifest.friends[index];
            friend.state = FriendState::Linked;
            friend.send_token = Some(request.link_token);
            friend.send_counter = counter;
            friend.recv_counter = friend.recv_counter.max(request.counter);
            friend.verified |= request.verified;
            friend.clone()
        } else {
            let base = request
                .handle
                .as_ref()
                .map_or_else(|| short_key(&peer_key), ToString::to_string);
            let friend = ManifestFriend {
                relay: request.relay.clone(),
                user_id: request.user_id,
                public_key: request.public_key,
                verified: request.verified,
                grants: Vec::new(),
                id: Uuid::new_v4(),
                name: unique_name(&manifest, &base),
                handle: request.handle.clone(),
                state: FriendState::Linked,
                changed_key: None,
                send_token: Some(request.link_token),
                recv_token: Some(recv_token),
                send_counter: counter,
                recv_counter: request.counter,
                tag_keys: Vec::new(),
                added_at: now_secs(),
            };
            manifest.friends.push(friend.clone());
            friend
        };
        self.save(&keys, &manifest).await?;
        Ok(entry(&friend, Vec::new()))
    }

    /// `Friends.Deny`: the request is dropped; the requester is not told.
    pub async fn deny(&self, id: &str) -> Result<(), DaemonError> {
        let keys = self.keys()?;
        let id = parse_request_id(id)?;
        let _guard = self.store.manifest_turn().await;
        let mut manifest = self.load(&keys).await?;
        let before = manifest.requests.len();
        manifest.requests.retain(|r| r.id != id);
        if manifest.requests.len() == before {
            return Err(no_request(id));
        }
        self.save(&keys, &manifest).await
    }

    /// `Friends.List`.
    pub async fn list(&self) -> Result<Vec<FriendEntry>, DaemonError> {
        let keys = self.keys()?;
        self.take_mail().await?;
        let manifest = self.load(&keys).await?;
        let incoming = self.grantee_entries().await?;
        Ok(manifest
            .friends
            .iter()
            .map(|friend| {
                let shared = incoming
                    .iter()
                    .filter(|(relay, e)| *relay == friend.relay && e.owner_id == friend.user_id)
                    .map(|(_, e)| e.vtype.clone())
                    .collect();
                entry(friend, shared)
            })
            .collect())
    }

    /// `Friends.Verify`.
    pub async fn verify(&self, friend: &str) -> Result<SafetyNumber, DaemonError> {
        let keys = self.keys()?;
        let manifest = self.load(&keys).await?;
        let friend = find_friend(&manifest, friend)?;
        let number = self.safety_number(friend).await?;
        Ok(SafetyNumber {
            id: friend.id,
            name: friend.name.clone(),
            safety_number: safety::display(&number),
            verified: friend.verified && friend.changed_key.is_none(),
        })
    }

    async fn safety_number(&self, friend: &ManifestFriend) -> Result<String, DaemonError> {
        let account = self.account_at(&friend.relay).await?;
        // After a key change the number is computed with the new key: that is the one the
        // person must check.
        let peer = identity_key(friend.changed_key.as_ref().unwrap_or(&friend.public_key));
        safety::safety_number(
            (&account.identity.public_key(), account.user_id.as_bytes()),
            (&peer, friend.user_id.as_bytes()),
        )
        .map_err(|e| DaemonError::Failed(format!("cannot compute the safety number: {e}")))
    }

    /// `Friends.ConfirmVerified`.
    pub async fn confirm_verified(
        &self,
        friend: &str,
        number: &str,
    ) -> Result<FriendEntry, DaemonError> {
        let keys = self.keys()?;
        let _guard = self.store.manifest_turn().await;
        let mut manifest = self.load(&keys).await?;
        let current = find_friend(&manifest, friend)?.clone();
        let expected = self.safety_number(&current).await?;
        let given: String = number.chars().filter(char::is_ascii_digit).collect();
        if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(DaemonError::Conflict(format!(
                "that is not the current safety number of {}: the key may have changed; run `plog friend verify {}` again",
                current.name, current.name
            )));
        }
        let friend = find_friend_mut(&mut manifest, friend)?;
        if let Some(changed) = friend.changed_key.take() {
            friend.public_key = changed;
        }
        friend.verified = true;
        let updated = friend.clone();
        self.save(&keys, &manifest).await?;
        Ok(entry(&updated, Vec::new()))
    }

    /// `Friends.Rename`.
    pub async fn rename(&self, friend: &str, name: &str) -> Result<FriendEntry, DaemonError> {
        let keys = self.keys()?;
        let name = name.trim();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(DaemonError::InvalidArgument(
                "a name is 1 to 64 printable characters".to_owned(),
            ));
        }
        if Uuid::parse_str(name).is_ok() {
            return Err(DaemonError::InvalidArgument(
                "a name must not look like a friend id".to_owned(),
            ));
        }
        let _guard = self.store.manifest_turn().await;
        let mut manifest = self.load(&keys).await?;
        let id = find_friend(&manifest, friend)?.id;
        if manifest
            .friends
            .iter()
            .any(|f| f.name == name && f.id != id)
        {
            return Err(DaemonError::Conflict(format!(
                "another friend is named {name:?}"
            )));
        }
        let friend = find_friend_mut(&mut manifest, friend)?;
        friend.name = name.to_owned();
        let updated = friend.clone();
        self.save(&keys, &manifest).await?;
        Ok(entry(&updated, Vec::new()))
    }

    /// `Friends.Remove`: revokes everything shared with the friend (with key rotation), tells
    /// them, drops our link token and forgets them.
    pub async fn remove(&self, friend: &str) -> Result<(), DaemonError> {
        let keys = self.keys()?;
        let current = find_friend(&self.load(&keys).await?, friend)?.clone();
        // Revokes every grant, and finishes any revocation left half done.
        self.revoke(&current.id.to_string(), &[]).await?;
        let _guard = self.store.manifest_turn().await;
        let mut manifest = self.load(&keys).await?;
        let Some(position) = manifest.friends.iter().position(|f| f.id == current.id) else {
            return Ok(());
        };
        let removed = manifest.friends.remove(position);
        let account = self.account_at(&removed.relay).await?;
        if removed.state == FriendState::Linked
            && let Some(token) = &removed.send_token
        {
            let counter = removed.send_counter + 1;
            match seal(
                &account,
                removed.user_id,
                &identity_key(&removed.public_key),
                counter,
                &MailBody::Removed {},
                None,
            ) {
                Ok(envelope) => {
                    if let Err(error) = account
                        .client
                        .post_mail(
                            removed.user_id,
                            envelope,
                            MailRoute::Link {
                                token: LinkToken::from_bytes(*token.as_bytes()),
                            },
                        )
                        .await
                    {
                        tracing::info!(%error, "the removal notice could not be delivered");
                    }
                }
                Err(error) => tracing::info!(%error, "cannot seal the removal notice"),
            }
        }
        self.save(&keys, &manifest).await?;
        if let Some(token) = removed.recv_token {
            let _ = account
                .client
                .delete_link(link_token_hash(token.as_bytes()))
                .await;
        }
        Ok(())
    }

    /// Sends `body` to a linked friend over its link token (best effort: logged, not failed).
    pub(super) async fn notify(&self, friend_id: Uuid, body: MailBody) {
        let Ok(keys) = self.keys() else { return };
        let guard = self.store.manifest_turn().await;
        let Ok(mut manifest) = self.load(&keys).await else {
            return;
        };
        let Some(friend) = manifest.friends.iter_mut().find(|f| f.id == friend_id) else {
            return;
        };
        let Some(token) = friend.send_token else {
            return;
        };
        friend.send_counter += 1;
        let friend = friend.clone();
        if self.save(&keys, &manifest).await.is_err() {
            return;
        }
        drop(guard);
        let Ok(account) = self.account_at(&friend.relay).await else {
            return;
        };
        let sealed = seal(
            &account,
            friend.user_id,
            &identity_key(&friend.public_key),
            friend.send_counter,
            &body,
            None,
        );
        match sealed {
            Ok(envelope) => {
                if let Err(error) = account
                    .client
                    .post_mail(
                        friend.user_id,
                        envelope,
                        MailRoute::Link {
                            token: LinkToken::from_bytes(*token.as_bytes()),
                        },
                    )
                    .await
                {
                    tracing::info!(%error, "a notice could not be delivered");
                }
            }
            Err(error) => tracing::info!(%error, "cannot seal a notice"),
        }
    }
}

/// The account a request goes to, as found at the relay.
struct Peer {
    user_id: Uuid,
    key: IdentityPublicKey,
    handle: Option<Handle>,
    /// Whether `key` was checked against an invite code's fingerprint.
    verified: bool,
}

fn parse_request_id(id: &str) -> Result<Uuid, DaemonError> {
    Uuid::parse_str(id).map_err(|_| {
        DaemonError::InvalidArgument(format!(
            "{id:?} is not a request id; `plog friend requests` lists them"
        ))
    })
}

fn no_request(id: Uuid) -> DaemonError {
    DaemonError::NotFound(format!(
        "no friend request {id}; `plog friend requests` lists them"
    ))
}

/// The listing entry of a friend.
pub(crate) fn entry(friend: &ManifestFriend, shared_with_me: Vec<VolumeType>) -> FriendEntry {
    FriendEntry {
        id: friend.id,
        name: friend.name.clone(),
        handle: friend.handle.clone(),
        relay: friend.relay.clone(),
        user_id: friend.user_id,
        state: friend.state,
        verified: friend.verified && friend.changed_key.is_none(),
        key_changed: friend.changed_key.is_some(),
        shared_by_me: friend.grants.clone(),
        shared_with_me,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_unique() {
        let mut manifest = Manifest::decode(
            br#"{"format":1,"counter":1,"written_at":0,"volumes":[],"friends":[],"tombstones":[]}"#,
        )
        .expect("manifest");
        assert_eq!(unique_name(&manifest, "kit"), "kit");
        manifest.friends.push(ManifestFriend {
            relay: "https://r.example".to_owned(),
            user_id: Uuid::from_u128(1),
            public_key: plog_ipc_schema::PublicKeyB64::new([1; 32]),
            verified: true,
            grants: Vec::new(),
            id: Uuid::from_u128(2),
            name: "kit".to_owned(),
            handle: None,
            state: FriendState::Linked,
            changed_key: None,
            send_token: None,
            recv_token: None,
            send_counter: 0,
            recv_counter: 0,
            tag_keys: Vec::new(),
            added_at: 0,
        });
        assert_eq!(unique_name(&manifest, "kit"), "kit-2");
    }
}
