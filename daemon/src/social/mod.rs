//! Friends and sharing (DESIGN §2, §5): invites, friend requests and approval, safety
//! numbers, per-type grants with key blocks, revocation with key rotation, and the friend's
//! in-memory view of what was shared.
//!
//! All social state lives in the owner **manifest** (`crate::manifest`): friends with their
//! pinned keys, link tokens, envelope counters and grantee tag keys; invites we issued; requests
//! waiting for approval. The manifest is an owner-only volume, so this state is encrypted at
//! rest, reaches the identity's other devices, and every change to it is a compare-and-swap at
//! the relay when it is pushed. One change at a time: every read-modify-write of the manifest,
//! here and in sync rounds, holds the store's manifest lock (`Store::manifest_turn`).
//!
//! | module | what |
//! |---|---|
//! | `ledger` | reading and writing the manifest for a change, and pushing it |
//! | `mail` | the envelope bodies, sealing, and taking in the mailbox |
//! | `friends` | invites, requests, approval, verification, removal |
//! | `sharing` | grants, revocation with rotation, the friend's view |
//! | `events` | the live event stream of each relay, turned into mailbox rounds |

pub mod events;
mod friends;
mod ledger;
mod mail;
mod sharing;

pub(crate) use sharing::grantee_tags_for;

use std::sync::Arc;

use plog_crypto::identity::IdentityKeyPair;
use plog_ipc_schema::dbus::DaemonError;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::custody::{Custody, UnlockedKeys};
use crate::manifest::{Manifest, ManifestFriend};
use crate::relay_client::RelayClient;
use crate::store::{RelayRecord, Store};
use crate::sync::coordinator::SyncCoordinator;

/// Something a desktop app should hear about; forwarded as D-Bus signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocialSignal {
    /// A friend request arrived.
    FriendRequest {
        /// The request id.
        id: Uuid,
        /// The requester's name.
        name: String,
    },
    /// A friend shared a volume type with us.
    ShareReceived {
        /// The local friend id.
        friend_id: Uuid,
        /// Its name.
        name: String,
        /// The type.
        vtype: String,
    },
    /// A friend revoked our access to a volume type.
    AccessRevoked {
        /// The local friend id.
        friend_id: Uuid,
        /// Its name.
        name: String,
        /// The type.
        vtype: String,
    },
}

/// The friends-and-sharing service behind the Friends and Sharing interfaces.
#[derive(Debug)]
pub struct Social {
    store: Store,
    custody: Arc<Custody>,
    sync: Arc<SyncCoordinator>,
    signals: broadcast::Sender<SocialSignal>,
    /// Origins whose event stream is connected.
    live: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// One relay account, ready for social work: its record, client, identity key and account.
pub(crate) struct Account {
    pub(crate) record: RelayRecord,
    pub(crate) client: RelayClient,
    pub(crate) identity: IdentityKeyPair,
    pub(crate) user_id: Uuid,
}

impl Social {
    /// The service over the daemon's store, keys and sync coordinator.
    #[must_use]
    pub fn new(store: Store, custody: Arc<Custody>, sync: Arc<SyncCoordinator>) -> Self {
        let (signals, _) = broadcast::channel(64);
        Self {
            store,
            custody,
            sync,
            signals,
            live: std::sync::Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// How many relays' event streams are connected.
    pub fn live_relays(&self) -> u32 {
        let live = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        u32::try_from(live.len()).unwrap_or(u32::MAX)
    }

    fn set_live(&self, origin: &str, live: bool) {
        let mut set = self
            .live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if live {
            set.insert(origin.to_owned());
        } else {
            set.remove(origin);
        }
    }

    /// Signals for D-Bus.
    pub fn subscribe(&self) -> broadcast::Receiver<SocialSignal> {
        self.signals.subscribe()
    }

    fn emit(&self, signals: Vec<SocialSignal>) {
        for signal in signals {
            // Nobody listening is fine.
            let _ = self.signals.send(signal);
        }
    }

    fn keys(&self) -> Result<Arc<UnlockedKeys>, DaemonError> {
        self.custody.keys().map_err(DaemonError::from)
    }

    /// The account at `record`, or why there is none.
    pub(crate) fn account(&self, record: RelayRecord) -> Result<Account, DaemonError> {
        let Some(account) = record.account.clone() else {
            return Err(DaemonError::NotFound(format!(
                "no account at {}; register first with `plog register --system` or `--friend`",
                record.origin
            )));
        };
        let links = self.sync.links();
        let identity = links
            .identity(&record.identity_origin, record.generation)
            .ok_or_else(|| DaemonError::Locked("the daemon is locked; run `plog unlock`".into()))?;
        let client = links.client(&record).map_err(DaemonError::from)?;
        Ok(Account {
            record,
            client,
            identity,
            user_id: account.user_id,
        })
    }

    /// The account at the relay named `relay` (empty: the only relay).
    async fn account_at(&self, relay: &str) -> Result<Account, DaemonError> {
        let record = crate::service::relays::resolve_relay(&self.store, relay).await?;
        self.account(record)
    }

    /// Every relay with an account.
    async fn accounts(&self) -> Result<Vec<Account>, DaemonError> {
        Ok(self
            .store
            .relays()
            .await?
            .into_iter()
            .filter(|record| record.account.is_some())
            .filter_map(|record| self.account(record).ok())
            .collect())
    }
}

/// The friend named by `friend`: its local id or its name.
pub(crate) fn find_friend<'m>(
    manifest: &'m Manifest,
    friend: &str,
) -> Result<&'m ManifestFriend, DaemonError> {
    let by_id = Uuid::parse_str(friend).ok();
    manifest
        .friends
        .iter()
        .find(|f| Some(f.id) == by_id || f.name == friend)
        .ok_or_else(|| no_friend(friend))
}

/// [`find_friend`], mutable.
pub(crate) fn find_friend_mut<'m>(
    manifest: &'m mut Manifest,
    friend: &str,
) -> Result<&'m mut ManifestFriend, DaemonError> {
    let by_id = Uuid::parse_str(friend).ok();
    manifest
        .friends
        .iter_mut()
        .find(|f| Some(f.id) == by_id || f.name == friend)
        .ok_or_else(|| no_friend(friend))
}

fn no_friend(friend: &str) -> DaemonError {
    DaemonError::NotFound(format!(
        "no friend named {friend:?}; `plog friend list` shows them"
    ))
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
