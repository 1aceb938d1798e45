//! Mail between two accounts: what the sealed envelopes carry, how they are sealed, and how
//! the mailbox is taken in.
//!
//! An envelope's body is one JSON object, `{"kind": …}` (`docs/PROTOCOL.md` §6.1):
//! - purpose `friend-request`: `{"kind":"friend_request","link_token":B64,"handle":H?}`;
//! - purpose `friend-approval`: `{"kind":"friend_approval","link_token":B64}`;
//! - purpose `notice`: `{"kind":"shared","vtypes":[…]}`, `{"kind":"revoked","vtypes":[…]}`
//!   or `{"kind":"removed"}`.
//!
//! Mail that does not open, comes from nobody we know, repeats or regresses a counter, or
//! does not fit its route is dropped (and deleted at the relay), never shown.

use plog_crypto::envelope::{self, EnvelopeContext, Message, Purpose, check_counter};
use plog_crypto::identity::IdentityPublicKey;
use plog_crypto::invite::InviteCode;
use plog_ipc_schema::dbus::friends::{FriendState, RequestVia};
use plog_ipc_schema::encoding::{Bytes16, Bytes32};
use plog_ipc_schema::http::mailbox::{MailMessage, MailSource};
use plog_ipc_schema::{Handle, PublicKeyB64, VolumeType};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{Account, Social, SocialSignal, now_secs};
use crate::manifest::{Manifest, ManifestRequest};
use plog_ipc_schema::dbus::DaemonError;

/// The body of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum MailBody {
    /// Asking for friendship; `link_token` is the token the requester accepts mail under.
    FriendRequest {
        link_token: Bytes32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        handle: Option<Handle>,
    },
    /// Approval; `link_token` is the token the approver accepts mail under.
    FriendApproval { link_token: Bytes32 },
    /// The sender now shares these types with the recipient.
    Shared { vtypes: Vec<VolumeType> },
    /// The sender stopped sharing these types with the recipient.
    Revoked { vtypes: Vec<VolumeType> },
    /// The sender ended the friendship.
    Removed {},
}

impl MailBody {
    fn purpose(&self) -> Purpose {
        match self {
            Self::FriendRequest { .. } => Purpose::FriendRequest,
            Self::FriendApproval { .. } => Purpose::FriendApproval,
            _ => Purpose::Notice,
        }
    }
}

/// Seals `body` from `account` to `recipient` (`recipient_key`), with the invite's PSK when
/// `invite` is given.
pub(crate) fn seal(
    account: &Account,
    recipient: Uuid,
    recipient_key: &IdentityPublicKey,
    counter: u64,
    body: &MailBody,
    invite: Option<&InviteCode>,
) -> Result<Vec<u8>, DaemonError> {
    let failed = |e: String| DaemonError::Failed(format!("cannot seal the message: {e}"));
    let encoded = Zeroizing::new(serde_json::to_vec(body).map_err(|e| failed(e.to_string()))?);
    let message = Message {
        // 122 random bits from the system's generator: enough to tell messages apart.
        message_id: *Uuid::new_v4().as_bytes(),
        counter,
        timestamp_ms: now_secs().saturating_mul(1000),
        body: encoded,
    };
    let psk = invite
        .map(InviteCode::psk)
        .transpose()
        .map_err(|e| failed(e.to_string()))?;
    envelope::seal(
        body.purpose(),
        &EnvelopeContext {
            relay_origin: &account.record.identity_origin,
            sender_id: *account.user_id.as_bytes(),
            recipient_id: *recipient.as_bytes(),
        },
        &account.identity,
        recipient_key,
        psk.as_ref(),
        &message,
    )
    .map_err(|e| failed(e.to_string()))
}

/// A key in the form the manifest keeps.
pub(crate) fn key_b64(key: &IdentityPublicKey) -> PublicKeyB64 {
    PublicKeyB64::new(*key.as_bytes())
}

/// A pinned key back as a crypto key.
pub(crate) fn identity_key(key: &PublicKeyB64) -> IdentityPublicKey {
    IdentityPublicKey::from_bytes(*key.as_bytes())
}

/// A short printable form of a key, for accounts without a handle.
pub(crate) fn short_key(key: &IdentityPublicKey) -> String {
    let text = key.to_base64();
    format!("key-{}", &text[..text.len().min(8)])
}

/// What becomes of one message.
enum Disposition {
    /// Taken in: delete it at the relay.
    Taken(Taken),
    /// Refused (does not open, replayed, malformed): delete it at the relay.
    Dropped,
    /// Not for this device yet (from a friend or under an invite another device of this
    /// identity recorded and this one has not pulled): leave it at the relay, where the
    /// other device, or this one after a sync, takes it in; the relay's retention ends it
    /// otherwise.
    Kept,
}

/// Most requests waiting for approval; beyond it the oldest request by handle goes first.
const MAX_PENDING_REQUESTS: usize = 100;
/// How far before the start of a friendship an envelope's timestamp may lie (clock skew):
/// older mail from that account belongs to an earlier friendship and may be a replay.
const FRIENDSHIP_SKEW_SECS: u64 = 600;

/// What opening one message gave.
struct Taken {
    signals: Vec<SocialSignal>,
    /// Link token hashes to drop at the relay (a friendship ended).
    unlink: Vec<[u8; 32]>,
}

impl Social {
    /// Fetches and takes in the mailbox at every relay with an account. Mail is deleted at the
    /// relay only after the manifest recording its effect was stored.
    pub(crate) async fn take_mail(&self) -> Result<(), DaemonError> {
        for account in self.accounts().await? {
            self.take_mail_at(&account).await?;
        }
        Ok(())
    }

    /// [`Social::take_mail`] at one relay.
    pub(crate) async fn take_mail_at(&self, account: &Account) -> Result<(), DaemonError> {
        let keys = self.keys()?;
        let messages = account
            .client
            .all_mail(None)
            .await
            .map_err(DaemonError::from)?;
        if messages.is_empty() {
            return Ok(());
        }
        let guard = self.store.manifest_turn().await;
        let mut manifest = self.load(&keys).await?;
        let before = manifest.clone();
        let mut signals = Vec::new();
        let mut unlink = Vec::new();
        let mut settled = Vec::new();
        for message in &messages {
            match take_one(&mut manifest, account, message) {
                Disposition::Taken(taken) => {
                    signals.extend(taken.signals);
                    unlink.extend(taken.unlink);
                    settled.push(message.seq);
                }
                Disposition::Dropped => {
                    tracing::debug!(seq = message.seq, "dropped a mailbox message");
                    settled.push(message.seq);
                }
                Disposition::Kept => {}
            }
        }
        if manifest != before {
            self.save(&keys, &manifest).await?;
        }
        drop(guard);
        for seq in settled {
            if let Err(error) = account.client.delete_mail(seq).await {
                tracing::debug!(%error, "cannot delete a mailbox message");
            }
        }
        for hash in unlink {
            if let Err(error) = account.client.delete_link(hash).await {
                tracing::debug!(%error, "cannot drop a link token");
            }
        }
        self.emit(signals);
        Ok(())
    }
}

/// Takes one message into `manifest`.
fn take_one(manifest: &mut Manifest, account: &Account, message: &MailMessage) -> Disposition {
    let sealed = message.envelope.as_bytes();
    let context = EnvelopeContext {
        relay_origin: &account.record.identity_origin,
        sender_id: *message.sender_id.as_bytes(),
        recipient_id: *account.user_id.as_bytes(),
    };
    let taken = match message.source {
        MailSource::Invite => {
            let now = now_secs();
            let opened = manifest
                .invites
                .iter()
                .filter(|invite| invite.relay == account.record.origin && invite.expires_at > now)
                .filter_map(|invite| InviteCode::parse(&invite.code).ok())
                .find_map(|code| {
                    let psk = code.psk().ok()?;
                    envelope::open(
                        sealed,
                        Purpose::FriendRequest,
                        &context,
                        &account.identity,
                        None,
                        Some(&psk),
                    )
                    .ok()
                });
            let Some(opened) = opened else {
                return Disposition::Kept;
            };
            if !opened.with_invite_secret {
                return Disposition::Dropped;
            }
            take_request(manifest, account, message, &opened, RequestVia::Invite)
        }
        MailSource::Handle => envelope::open(
            sealed,
            Purpose::FriendRequest,
            &context,
            &account.identity,
            None,
            None,
        )
        .ok()
        .and_then(|opened| take_request(manifest, account, message, &opened, RequestVia::Handle)),
        MailSource::Link => {
            if !manifest
                .friends
                .iter()
                .any(|f| f.relay == account.record.origin && f.user_id == message.sender_id)
            {
                return Disposition::Kept;
            }
            take_from_friend(manifest, account, message, &context)
        }
    };
    taken.map_or(Disposition::Dropped, Disposition::Taken)
}

fn take_request(
    manifest: &mut Manifest,
    account: &Account,
    message: &MailMessage,
    opened: &envelope::Opened,
    via: RequestVia,
) -> Option<Taken> {
    let MailBody::FriendRequest { link_token, handle } =
        serde_json::from_slice(&opened.message.body).ok()?
    else {
        return None;
    };
    let origin = &account.record.origin;
    let message_id = Bytes16::new(opened.message.message_id);
    if manifest
        .requests
        .iter()
        .any(|r| r.relay == *origin && r.message_id == message_id)
    {
        return None;
    }
    let key = key_b64(&opened.sender);
    if let Some(friend) = manifest
        .friends
        .iter_mut()
        .find(|f| f.relay == *origin && f.user_id == message.sender_id)
    {
        // Someone we already know asks again: a changed key is recorded (sharing stops until
        // re-verified); the same key changes nothing. Only a request from someone we asked
        // ourselves (both sides asked) is listed, for approval.
        if friend.public_key != key {
            friend.changed_key = Some(key);
            return None;
        }
        if friend.state != FriendState::Pending {
            return None;
        }
    }
    // A newer request from the same account replaces the older one.
    manifest
        .requests
        .retain(|r| !(r.relay == *origin && r.user_id == message.sender_id));
    if manifest.requests.len() >= MAX_PENDING_REQUESTS {
        let oldest = manifest
            .requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.via == RequestVia::Handle)
            .min_by_key(|(_, r)| r.received_at)
            .or_else(|| {
                manifest
                    .requests
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, r)| r.received_at)
            })
            .map(|(index, _)| index);
        if let Some(index) = oldest {
            manifest.requests.remove(index);
        }
    }
    let id = Uuid::new_v4();
    let name = handle
        .as_ref()
        .map_or_else(|| short_key(&opened.sender), ToString::to_string);
    manifest.requests.push(ManifestRequest {
        id,
        relay: origin.clone(),
        user_id: message.sender_id,
        public_key: key,
        handle,
        via,
        verified: via == RequestVia::Invite,
        received_at: message.received_at,
        link_token,
        message_id,
        counter: opened.message.counter,
    });
    Some(Taken {
        signals: vec![SocialSignal::FriendRequest { id, name }],
        unlink: Vec::new(),
    })
}

fn take_from_friend(
    manifest: &mut Manifest,
    account: &Account,
    message: &MailMessage,
    context: &EnvelopeContext<'_>,
) -> Option<Taken> {
    let origin = &account.record.origin;
    let position = manifest
        .friends
        .iter()
        .position(|f| f.relay == *origin && f.user_id == message.sender_id)?;
    let friend = &mut manifest.friends[position];
    let pinned = identity_key(&friend.public_key);
    let sealed = message.envelope.as_bytes();
    if let Ok(sender) = envelope::sender_key(sealed)
        && sender.as_bytes() != pinned.as_bytes()
    {
        // Only an envelope that opens under the new key says the key changed (anyone can
        // write a different key into the clear header).
        let proven = [Purpose::FriendApproval, Purpose::Notice]
            .into_iter()
            .any(|purpose| {
                envelope::open(sealed, purpose, context, &account.identity, None, None).is_ok()
            });
        if proven {
            friend.changed_key = Some(key_b64(&sender));
        }
        return None;
    }
    let (purpose, opened) = [Purpose::FriendApproval, Purpose::Notice]
        .into_iter()
        .find_map(|purpose| {
            envelope::open(
                sealed,
                purpose,
                context,
                &account.identity,
                Some(&pinned),
                None,
            )
            .ok()
            .map(|opened| (purpose, opened))
        })?;
    check_counter(Some(friend.recv_counter), opened.message.counter).ok()?;
    // Mail from an earlier friendship with the same account (a replay) is older than this one.
    if opened.message.timestamp_ms / 1000 + FRIENDSHIP_SKEW_SECS < friend.added_at {
        return None;
    }
    let body: MailBody = serde_json::from_slice(&opened.message.body).ok()?;
    if body.purpose() != purpose {
        return None;
    }
    friend.recv_counter = opened.message.counter;
    let (friend_id, name) = (friend.id, friend.name.clone());
    let signal_each = |vtypes: &[VolumeType], make: fn(Uuid, String, String) -> SocialSignal| {
        vtypes
            .iter()
            .map(|vtype| make(friend_id, name.clone(), vtype.to_string()))
            .collect::<Vec<_>>()
    };
    let mut taken = Taken {
        signals: Vec::new(),
        unlink: Vec::new(),
    };
    match body {
        MailBody::FriendApproval { link_token } if friend.state == FriendState::Pending => {
            friend.state = FriendState::Linked;
            friend.send_token = Some(link_token);
        }
        MailBody::Shared { vtypes } => {
            taken.signals = signal_each(&vtypes, |friend_id, name, vtype| {
                SocialSignal::ShareReceived {
                    friend_id,
                    name,
                    vtype,
                }
            });
        }
        MailBody::Revoked { vtypes } => {
            taken.signals = signal_each(&vtypes, |friend_id, name, vtype| {
                SocialSignal::AccessRevoked {
                    friend_id,
                    name,
                    vtype,
                }
            });
        }
        MailBody::Removed {} => {
            let removed = manifest.friends.remove(position);
            if let Some(token) = removed.recv_token {
                taken
                    .unlink
                    .push(plog_crypto::link::link_token_hash(token.as_bytes()));
            }
            taken.signals.push(SocialSignal::AccessRevoked {
                friend_id,
                name,
                vtype: "*".to_owned(),
            });
        }
        _ => return None,
    }
    Some(taken)
}
