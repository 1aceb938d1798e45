//! The records the store reads and writes, and their conversion from SQL rows.

use plog_crypto::volume::{VolumeDigest, WRAPPED_KEY_LEN};
use plog_ipc_schema::dbus::relays::{RelayAccount, RelayEntry};
use plog_ipc_schema::dbus::volumes::{LocalVolume, SyncState};
use plog_ipc_schema::http::accounts::AccountKind;
use plog_ipc_schema::{CertPin, Handle, VolumeType};
use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use super::{StoreError, to_u64};

/// A volume's current local revision (or tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRecord {
    /// The volume id.
    pub id: Uuid,
    /// The type (one volume per type).
    pub vtype: VolumeType,
    /// The local revision.
    pub revision: u64,
    /// Its key epoch.
    pub key_epoch: u64,
    /// Plaintext bytes.
    pub plaintext_size: u64,
    /// Bytes of the sealed volume file.
    pub sealed_len: u64,
    /// BLAKE2b-256 of the sealed volume.
    pub digest: VolumeDigest,
    /// The owner-wrapped volume key of `key_epoch`.
    pub owner_key: [u8; WRAPPED_KEY_LEN],
    /// The owner tag over header and digest.
    pub owner_tag: [u8; 32],
    /// The ciphertext file's name in the volumes directory.
    pub file_name: String,
    /// When this revision was stored, unix seconds.
    pub updated_at: u64,
    /// Removed here; to be deleted at the relays.
    pub deleted: bool,
}

/// A volume with its sync bookkeeping at each relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeStatus {
    /// The volume.
    pub volume: VolumeRecord,
    /// One entry per relay that has a bookkeeping row (every configured relay, normally).
    pub relays: Vec<RelaySync>,
}

impl VolumeStatus {
    /// The overall state shown to people: `conflict` if any relay is in conflict, `pending` if
    /// any relay still needs this revision (or there is no relay to push to), else `synced`.
    #[must_use]
    pub fn overall(&self) -> SyncState {
        if self.relays.iter().any(|r| r.state == SyncState::Conflict) {
            SyncState::Conflict
        } else if self.relays.is_empty() || self.relays.iter().any(|r| r.state != SyncState::Synced)
        {
            SyncState::Pending
        } else {
            SyncState::Synced
        }
    }

    /// The listing entry of `plog volume ls`.
    #[must_use]
    pub fn local_volume(&self) -> LocalVolume {
        LocalVolume {
            id: self.volume.id,
            name: self.volume.vtype.clone(),
            vtype: self.volume.vtype.clone(),
            revision: self.volume.revision,
            key_epoch: self.volume.key_epoch,
            size: self.volume.plaintext_size,
            updated_at: self.volume.updated_at,
            sync: self.overall(),
        }
    }
}

/// Sync bookkeeping of one volume at one relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySync {
    /// The relay's origin.
    pub relay: String,
    /// The last revision known to be at the relay (`None`: not there).
    pub remote_revision: Option<u64>,
    /// The state.
    pub state: SyncState,
    /// The last error worth showing, if any.
    pub last_error: Option<String>,
    /// When this row last changed, unix seconds.
    pub updated_at: u64,
}

/// What a writer stores as a volume's new revision (the file is passed beside it).
#[derive(Debug, Clone)]
pub struct NewRevision {
    /// The volume id (random for a new volume).
    pub id: Uuid,
    /// The type.
    pub vtype: VolumeType,
    /// The new revision.
    pub revision: u64,
    /// Its key epoch.
    pub key_epoch: u64,
    /// Plaintext bytes.
    pub plaintext_size: u64,
    /// BLAKE2b-256 of the sealed volume.
    pub digest: VolumeDigest,
    /// The owner-wrapped volume key.
    pub owner_key: [u8; WRAPPED_KEY_LEN],
    /// The owner tag.
    pub owner_tag: [u8; 32],
}

/// A relay as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayRecord {
    /// The current origin (also the `relay` argument of the D-Bus methods).
    pub origin: String,
    /// The origin the identity key is derived from.
    pub identity_origin: String,
    /// The identity key generation.
    pub generation: u32,
    /// The pinned certificate key.
    pub pin: CertPin,
    /// A next pin the relay announced.
    pub next_pin: Option<CertPin>,
    /// The relay's name from `/v1/info`.
    pub name: Option<String>,
    /// The account there.
    pub account: Option<RelayAccount>,
    /// When it was added, unix seconds.
    pub added_at: u64,
}

impl RelayRecord {
    /// The listing entry of `plog relay ls`.
    #[must_use]
    pub fn entry(&self) -> RelayEntry {
        RelayEntry {
            id: self.origin.clone(),
            name: self.name.clone(),
            identity_origin: self.identity_origin.clone(),
            pin: self.pin,
            next_pin: self.next_pin,
            account: self.account.clone(),
        }
    }
}

/// A relay to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelay {
    /// Its origin (normalised by the caller), used as identity origin too.
    pub origin: String,
    /// The approved pin.
    pub pin: CertPin,
    /// Its name, if known.
    pub name: Option<String>,
    /// An existing account found for the derived key, if any.
    pub account: Option<RelayAccount>,
}

/// Changes to a relay; `None` fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayUpdate {
    /// A new pin (after `Trust`).
    pub pin: Option<CertPin>,
    /// A new announced next pin (`Some(None)` clears it).
    pub next_pin: Option<Option<CertPin>>,
    /// A new name.
    pub name: Option<Option<String>>,
    /// A new account (`Some(None)` forgets it).
    pub account: Option<Option<RelayAccount>>,
    /// A new identity generation (key rotation).
    pub generation: Option<u32>,
}

pub(crate) fn sync_state_text(state: SyncState) -> &'static str {
    match state {
        SyncState::Synced => "synced",
        SyncState::Conflict => "conflict",
        _ => "pending",
    }
}

fn sync_state_from(text: &str) -> Result<SyncState, StoreError> {
    match text {
        "synced" => Ok(SyncState::Synced),
        "pending" => Ok(SyncState::Pending),
        "conflict" => Ok(SyncState::Conflict),
        other => Err(StoreError::Corrupt(format!("unknown sync state {other:?}"))),
    }
}

fn uuid_from(text: &str, what: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| StoreError::Corrupt(format!("{what} is not a UUID")))
}

fn array_from<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} has {} bytes, not {N}", bytes.len())))
}

pub(crate) fn volume_from_row(row: &SqliteRow) -> Result<VolumeRecord, StoreError> {
    let vtype_text: String = row.try_get("vtype")?;
    Ok(VolumeRecord {
        id: uuid_from(&row.try_get::<String, _>("id")?, "volume id")?,
        vtype: VolumeType::parse(&vtype_text)
            .map_err(|e| StoreError::Corrupt(format!("volume type {vtype_text:?}: {e}")))?,
        revision: to_u64(row.try_get("revision")?, "revision")?,
        key_epoch: to_u64(row.try_get("key_epoch")?, "key epoch")?,
        plaintext_size: to_u64(row.try_get("plaintext_size")?, "plaintext size")?,
        sealed_len: to_u64(row.try_get("sealed_len")?, "sealed length")?,
        digest: array_from(&row.try_get::<Vec<u8>, _>("digest")?, "digest")?,
        owner_key: array_from(&row.try_get::<Vec<u8>, _>("owner_key")?, "owner key")?,
        owner_tag: array_from(&row.try_get::<Vec<u8>, _>("owner_tag")?, "owner tag")?,
        file_name: row.try_get("file_name")?,
        updated_at: to_u64(row.try_get("updated_at")?, "update time")?,
        deleted: row.try_get::<i64, _>("deleted")? != 0,
    })
}

pub(crate) fn relay_sync_from_row(row: &SqliteRow) -> Result<RelaySync, StoreError> {
    Ok(RelaySync {
        relay: row.try_get("relay")?,
        remote_revision: row
            .try_get::<Option<i64>, _>("remote_revision")?
            .map(|r| to_u64(r, "remote revision"))
            .transpose()?,
        state: sync_state_from(&row.try_get::<String, _>("state")?)?,
        last_error: row.try_get("last_error")?,
        updated_at: to_u64(row.try_get("sync_updated_at")?, "sync update time")?,
    })
}

pub(crate) fn relay_from_row(row: &SqliteRow) -> Result<RelayRecord, StoreError> {
    let pin = |text: &str| {
        CertPin::parse(text).map_err(|e| StoreError::Corrupt(format!("relay pin: {e}")))
    };
    let account = match row.try_get::<Option<String>, _>("account_user_id")? {
        None => None,
        Some(user_id) => {
            let kind = match row.try_get::<Option<String>, _>("account_kind")?.as_deref() {
                Some("system") => AccountKind::System,
                Some("friend") => AccountKind::Friend,
                other => {
                    return Err(StoreError::Corrupt(format!("account kind {other:?}")));
                }
            };
            let handle = row
                .try_get::<Option<String>, _>("account_handle")?
                .map(|h| Handle::parse(&h).map_err(|e| StoreError::Corrupt(format!("handle: {e}"))))
                .transpose()?;
            Some(RelayAccount {
                user_id: uuid_from(&user_id, "account id")?,
                kind,
                handle,
            })
        }
    };
    let generation = row.try_get::<i64, _>("generation")?;
    Ok(RelayRecord {
        origin: row.try_get("origin")?,
        identity_origin: row.try_get("identity_origin")?,
        generation: u32::try_from(generation)
            .map_err(|_| StoreError::Corrupt("relay generation out of range".to_owned()))?,
        pin: pin(&row.try_get::<String, _>("pin")?)?,
        next_pin: row
            .try_get::<Option<String>, _>("next_pin")?
            .map(|p| pin(&p))
            .transpose()?,
        name: row.try_get("name")?,
        account,
        added_at: to_u64(row.try_get("added_at")?, "added time")?,
    })
}
