//! One [`RelayClient`] per configured relay, shared by the D-Bus methods and the sync engine so
//! that a session obtained by one is used by the other (a login is a challenge round trip and
//! an X25519 operation on both sides; there is no reason to repeat it for every call).
//!
//! A client is keyed by everything it was built from (origin, identity origin, generation,
//! pins, account): when the person re-pins, moves or registers, the next call gets a fresh
//! client. Clients ask for the relay identity only when they must log in, through the custody,
//! so a locked daemon cannot log in however the client was obtained.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use plog_crypto::identity::IdentityKeyPair;
use plog_ipc_schema::CertPin;
use uuid::Uuid;

use crate::custody::Custody;
use crate::relay_client::{IdentitySource, RelayClient, RelayError};
use crate::store::RelayRecord;

/// What a cached client was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientKey {
    identity_origin: String,
    generation: u32,
    pin: CertPin,
    next_pin: Option<CertPin>,
    account: Option<Uuid>,
}

impl ClientKey {
    fn of(record: &RelayRecord) -> Self {
        Self {
            identity_origin: record.identity_origin.clone(),
            generation: record.generation,
            pin: record.pin,
            next_pin: record.next_pin,
            account: record.account.as_ref().map(|account| account.user_id),
        }
    }
}

/// The clients of the configured relays.
pub struct RelayLinks {
    custody: Arc<Custody>,
    clients: Mutex<HashMap<String, (ClientKey, RelayClient)>>,
}

impl std::fmt::Debug for RelayLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayLinks").finish_non_exhaustive()
    }
}

impl RelayLinks {
    /// No clients yet; identities come from `custody` when a client logs in.
    #[must_use]
    pub fn new(custody: Arc<Custody>) -> Self {
        Self {
            custody,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The identity key for `identity_origin` and `generation`, if the daemon is unlocked.
    #[must_use]
    pub fn identity(&self, identity_origin: &str, generation: u32) -> Option<IdentityKeyPair> {
        identity_from(&self.custody, identity_origin, generation)
    }

    /// The client for `record`, reused while the record is unchanged.
    ///
    /// # Errors
    /// [`RelayError`] if the client cannot be built (for example an invalid origin).
    pub fn client(&self, record: &RelayRecord) -> Result<RelayClient, RelayError> {
        let key = ClientKey::of(record);
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((cached_key, client)) = clients.get(&record.origin)
            && *cached_key == key
        {
            return Ok(client.clone());
        }
        let custody = Arc::clone(&self.custody);
        let identity_origin = record.identity_origin.clone();
        let generation = record.generation;
        let source: IdentitySource =
            Arc::new(move || identity_from(&custody, &identity_origin, generation));
        let mut builder = RelayClient::builder(&record.origin, record.pin)
            .next_pin(record.next_pin)
            .device_label("plogd")
            .identity_source(source);
        if let Some(account) = &record.account {
            builder = builder.account(account.user_id);
        }
        let client = builder.build()?;
        clients.insert(record.origin.clone(), (key, client.clone()));
        Ok(client)
    }

    /// Forgets the client of `origin` (after the relay was removed or moved).
    pub fn forget(&self, origin: &str) {
        drop(self.take(origin));
    }

    /// Forgets the client of `origin` and hands it over, with its session if it has one.
    pub fn take(&self, origin: &str) -> Option<RelayClient> {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(origin)
            .map(|(_, client)| client)
    }

    /// Forgets every client and with them their sessions (on lock: a locked daemon keeps no
    /// bearer tokens in memory either).
    pub fn forget_all(&self) {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

fn identity_from(
    custody: &Custody,
    identity_origin: &str,
    generation: u32,
) -> Option<IdentityKeyPair> {
    let keys = custody.keys().ok()?;
    keys.master()
        .relay_identity(identity_origin, generation)
        .ok()
}
