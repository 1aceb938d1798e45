//! The Relays methods that talk to a relay: first contact (`Probe`), pinning (`Add`, `Trust`,
//! `Move`), the account there (`Register`, `SetHandle`, `ReleaseHandle`, `DeleteAccount`) and
//! the goodbye of `Remove` (the session ends at the relay).
//!
//! Arguments arrive checked by the interface (caller admitted, pin, kind and handle parsed,
//! relay resolved, keys unlocked where the method needs them). A relay's answers are trusted
//! only as far as the TLS pin proves: `/v1/info` contributes the name shown to people and the
//! announced next pin, nothing else.
//!
//! # Adopting an existing account
//!
//! A restored identity derives the same key for a relay, so the relay already has its account.
//! `Add` (which needs unlocked keys for that reason) and `Register` first look for the account
//! of the derived key and adopt it instead of registering. The relay does not say which kind an
//! account is or which handle it holds: an adopted account is taken for a system if it owns
//! volumes there or nothing at all, for a friend if it only reads volumes shared with it, and
//! its handle is unknown until `SetHandle`.

use std::sync::Arc;

use plog_crypto::identity::IdentityKeyPair;
use plog_ipc_schema::dbus::DaemonError;
use plog_ipc_schema::dbus::relays::RelayAccount;
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::http::accounts::AccountKind;
use plog_ipc_schema::http::info::RelayInfo;
use plog_ipc_schema::http::volumes::{VolumeEntry, VolumeRole};
use plog_ipc_schema::{CertPin, Handle};
use uuid::Uuid;

use crate::custody::UnlockedKeys;
use crate::relay_client::{RelayClient, RelayError};
use crate::service::{DaemonState, to_json};
use crate::store::{NewRelay, RelayRecord, RelayUpdate};

/// The session label relays show for this daemon (the same as the shared clients use).
const DEVICE_LABEL: &str = "plogd";

/// The longest relay name kept; the rest is cut.
const MAX_NAME_CHARS: usize = 64;

/// How long `Remove` waits for the relay to end the session before giving up on it.
const LOGOUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Ends the session `client` holds at the relay of `origin`, if any, for `Remove`: a relay the
/// daemon no longer uses should not keep a live session for it. Best effort: the relay is
/// already removed here, and a relay that cannot be reached lets the session expire.
pub async fn end_session(origin: &str, client: &RelayClient) {
    if client.session().is_none() {
        return;
    }
    match tokio::time::timeout(LOGOUT_TIMEOUT, client.logout()).await {
        Ok(Ok(())) => tracing::info!(%origin, "ended the session at a removed relay"),
        Ok(Err(error)) => {
            tracing::warn!(%origin, %error, "could not end the session at a removed relay");
        }
        Err(_) => tracing::warn!(%origin, "a removed relay did not answer the logout in time"),
    }
}

/// Connects to `url` without trusting it and returns JSON `RelayProbe`, with the stored pin
/// if that origin is configured.
///
/// # Errors
/// `InvalidArgument` for anything but an `https://` origin, `Network` if no TLS connection
/// could be made.
pub async fn probe(state: &DaemonState, url: &str) -> Result<String, DaemonError> {
    let report = crate::relay_client::probe(url).await?;
    let pinned = state.store.relay(&report.origin).await?.map(|r| r.pin);
    to_json(&report.to_relay_probe(pinned))
}

/// Adds the relay at `url` pinned to `pin`, adopting the existing account of the derived key
/// (identity origin = this origin, generation 0); returns JSON `RelayEntry`.
///
/// # Errors
/// `Conflict` if the origin is configured (or another relay still uses its identity),
/// `PinMismatch` naming both pins, `Network`, and the relay's refusals.
pub async fn add(
    state: &DaemonState,
    keys: Arc<UnlockedKeys>,
    url: &str,
    pin: CertPin,
) -> Result<String, DaemonError> {
    let client = RelayClient::builder(url, pin)
        .device_label(DEVICE_LABEL)
        .build()?;
    let origin = client.origin().to_owned();
    refuse_taken_origin(state, &origin, None).await?;
    let info = client.info().await?;
    let identity = relay_identity(&keys, &origin, 0)?;
    let account = match client.find_account(&identity).await? {
        Some(session) => {
            let kind = adopted_kind(&client).await;
            tracing::info!(
                relay = %origin,
                user_id = %session.user_id(),
                kind = kind.as_str(),
                "adopted the existing account of this identity"
            );
            Some(RelayAccount {
                user_id: session.user_id(),
                kind,
                handle: None,
            })
        }
        None => None,
    };
    let mut record = state
        .store
        .add_relay(NewRelay {
            origin: origin.clone(),
            pin,
            name: shown_name(&info),
            account,
        })
        .await?;
    if let Some(next) = announced_next_pin(&info, pin) {
        record = state
            .store
            .update_relay(
                &origin,
                RelayUpdate {
                    next_pin: Some(Some(next)),
                    ..RelayUpdate::default()
                },
            )
            .await?;
    }
    // A client left from an earlier relay at this origin must not be reused.
    state.sync.links().forget(&origin);
    to_json(&record.entry())
}

/// Re-pins `relay` to `pin` once the relay proves it presents that key; returns JSON
/// `RelayEntry`.
///
/// # Errors
/// `PinMismatch` naming the given and the presented pin (the stored pin stays), `Network`.
pub async fn trust(
    state: &DaemonState,
    relay: RelayRecord,
    pin: CertPin,
) -> Result<String, DaemonError> {
    let client = RelayClient::builder(&relay.origin, pin)
        .device_label(DEVICE_LABEL)
        .build()?;
    let info = client.info().await.map_err(|error| match error {
        RelayError::PinMismatch { presented, .. } => DaemonError::PinMismatch(format!(
            "relay {} presents the certificate key {presented}, not {pin}; it stays pinned to \
             {}. Check the new pin with the relay's operator (`plog-relay fingerprint`)",
            relay.origin, relay.pin
        )),
        other => other.into(),
    })?;
    let updated = state
        .store
        .update_relay(
            &relay.origin,
            RelayUpdate {
                pin: Some(pin),
                next_pin: Some(announced_next_pin(&info, pin)),
                name: Some(shown_name(&info)),
                ..RelayUpdate::default()
            },
        )
        .await?;
    state.sync.links().forget(&relay.origin);
    if updated.pin != relay.pin {
        tracing::info!(relay = %relay.origin, old = %relay.pin, new = %pin, "relay re-pinned");
    }
    to_json(&updated.entry())
}

/// Re-points `relay` to the origin `new` after checking that the relay there presents the
/// stored pin (or the announced next one); returns JSON `RelayEntry`. The identity origin,
/// and so the key and the account, stay.
///
/// # Errors
/// `InvalidArgument` if `new` is not an `https://` origin or is the current one, `Conflict`
/// if `new` is configured (or another relay uses its identity), `PinMismatch` if the relay
/// there presents another key (a new key is approved only through `Trust`), `Network`.
pub async fn move_relay(
    state: &DaemonState,
    relay: RelayRecord,
    new: &str,
) -> Result<String, DaemonError> {
    let client = RelayClient::builder(new, relay.pin)
        .next_pin(relay.next_pin)
        .device_label(DEVICE_LABEL)
        .build()?;
    let new_origin = client.origin().to_owned();
    if new_origin == relay.origin {
        return Err(DaemonError::InvalidArgument(format!(
            "relay {} is at {new_origin} already",
            relay.origin
        )));
    }
    refuse_taken_origin(state, &new_origin, Some(&relay.origin)).await?;
    let info = client.info().await.map_err(|error| match error {
        RelayError::PinMismatch { presented, .. } => DaemonError::PinMismatch(format!(
            "the relay at {new_origin} presents the certificate key {presented}, not {} pinned \
             for {}; nothing was moved. If it is the same relay with a new key, re-pin it first \
             with `plog relay trust {}` while it is reachable there",
            relay.pin, relay.origin, relay.origin
        )),
        other => other.into(),
    })?;
    // The relay may have rolled over to the key it announced: that key is the pin from now on.
    let pin = match client.presented_pin() {
        Some(presented) if Some(presented) == relay.next_pin => presented,
        _ => relay.pin,
    };
    state.store.move_relay(&relay.origin, &new_origin).await?;
    let updated = state
        .store
        .update_relay(
            &new_origin,
            RelayUpdate {
                pin: Some(pin),
                next_pin: Some(announced_next_pin(&info, pin)),
                name: Some(shown_name(&info)),
                ..RelayUpdate::default()
            },
        )
        .await?;
    let links = state.sync.links();
    links.forget(&relay.origin);
    links.forget(&new_origin);
    tracing::info!(old = %relay.origin, new = %new_origin, identity_origin = %updated.identity_origin, "relay moved");
    to_json(&updated.entry())
}

/// Registers an account of `kind` at `relay` and activates it by its first login, or adopts
/// the account the relay already has for the derived key; returns JSON `RelayEntry`.
///
/// # Errors
/// `Conflict` if this installation has an account there already or the handle is taken,
/// `PermissionDenied` if the relay does not accept new accounts, `Network`, `PinMismatch`.
pub async fn register(
    state: &DaemonState,
    keys: Arc<UnlockedKeys>,
    relay: RelayRecord,
    kind: AccountKind,
    handle: Option<Handle>,
) -> Result<String, DaemonError> {
    if let Some(account) = &relay.account {
        return Err(DaemonError::Conflict(format!(
            "this identity has the {} account {} at {} already; `plog account delete` deletes it",
            account.kind.as_str(),
            account.user_id,
            relay.origin
        )));
    }
    let identity = relay_identity(&keys, &relay.identity_origin, relay.generation)?;
    let client = state.sync.links().client(&relay)?;
    if let Some(session) = client.find_account(&identity).await? {
        return adopt_at_register(state, &client, &relay, session.user_id(), kind, handle).await;
    }
    let session = client
        .register(&identity, kind, handle.as_ref())
        .await
        .map_err(|error| registration_error(error, &relay.origin, handle.as_ref()))?;
    let user_id = session.user_id();
    tracing::info!(relay = %relay.origin, %user_id, kind = kind.as_str(), "registered");
    // The relay applies a requested handle at activation only if it is still free then.
    let (kept, lost) = match handle {
        Some(handle) if holds_handle(&client, &handle, user_id).await => (Some(handle), None),
        Some(handle) => (None, Some(handle)),
        None => (None, None),
    };
    let updated = store_account(state, &relay.origin, user_id, kind, kept).await?;
    if let Some(handle) = lost {
        return Err(DaemonError::Conflict(format!(
            "registered account {user_id} at {}, but another account took the handle {handle} \
             meanwhile; choose another with `plog handle set`",
            relay.origin
        )));
    }
    to_json(&updated.entry())
}

/// Sets the handle of the account at `relay`; returns JSON `RelayEntry`.
///
/// # Errors
/// `NotFound` without an account there, `Conflict` if another account holds the handle.
pub async fn set_handle(
    state: &DaemonState,
    relay: RelayRecord,
    handle: Handle,
) -> Result<String, DaemonError> {
    let account = known_account(&relay)?;
    let client = state.sync.links().client(&relay)?;
    client
        .set_handle(&handle)
        .await
        .map_err(|error| handle_error(error, &relay.origin, &handle))?;
    let updated = store_account(
        state,
        &relay.origin,
        account.user_id,
        account.kind,
        Some(handle),
    )
    .await?;
    to_json(&updated.entry())
}

/// Gives up the handle of the account at `relay`; returns JSON `RelayEntry`.
///
/// # Errors
/// `NotFound` without an account there, and the relay's refusals.
pub async fn release_handle(
    state: &DaemonState,
    relay: RelayRecord,
) -> Result<String, DaemonError> {
    let account = known_account(&relay)?;
    let client = state.sync.links().client(&relay)?;
    client.release_handle().await?;
    let updated = store_account(state, &relay.origin, account.user_id, account.kind, None).await?;
    to_json(&updated.entry())
}

/// Deletes the account at `relay` (the client logs in afresh, as the relay demands), then
/// forgets it here together with what the sync bookkeeping believed the relay held; the relay
/// stays configured. Returns JSON `RelayEntry` without `account`.
///
/// # Errors
/// `NotFound` without an account there, and the errors of the login and the deletion.
pub async fn delete_account(
    state: &DaemonState,
    keys: Arc<UnlockedKeys>,
    relay: RelayRecord,
) -> Result<String, DaemonError> {
    let account = known_account(&relay)?;
    let identity = relay_identity(&keys, &relay.identity_origin, relay.generation)?;
    let links = state.sync.links();
    let client = links.client(&relay)?;
    client.delete_account(&identity).await?;
    let updated = state.store.forget_relay_account(&relay.origin).await?;
    links.forget(&relay.origin);
    tracing::info!(relay = %relay.origin, user_id = %account.user_id, "account deleted at the relay");
    to_json(&updated.entry())
}

/// The relay has an account for the derived key already (a restored identity, or an account
/// this installation forgot): take it as the person's, with the kind they asked for, and then
/// the handle they asked for.
async fn adopt_at_register(
    state: &DaemonState,
    client: &RelayClient,
    relay: &RelayRecord,
    user_id: Uuid,
    kind: AccountKind,
    handle: Option<Handle>,
) -> Result<String, DaemonError> {
    tracing::info!(
        relay = %relay.origin,
        %user_id,
        "the relay has an account for this identity already; adopted it instead of registering"
    );
    let mut updated = store_account(state, &relay.origin, user_id, kind, None).await?;
    if let Some(handle) = handle {
        client.set_handle(&handle).await.map_err(|error| {
            let adopted = format!(
                "adopted the existing account {user_id} of this identity at {}, but",
                relay.origin
            );
            match handle_error(error, &relay.origin, &handle) {
                DaemonError::Conflict(message) => {
                    DaemonError::Conflict(format!("{adopted} {message}"))
                }
                other => other,
            }
        })?;
        updated = store_account(state, &relay.origin, user_id, kind, Some(handle)).await?;
    }
    to_json(&updated.entry())
}

/// Refuses `origin` if a relay is configured there, or if another relay (not `moving`) still
/// derives its key from it: two relays would then see the same public key.
async fn refuse_taken_origin(
    state: &DaemonState,
    origin: &str,
    moving: Option<&str>,
) -> Result<(), DaemonError> {
    for relay in state.store.relays().await? {
        if relay.origin == origin {
            return Err(DaemonError::Conflict(format!(
                "relay {origin} is configured already"
            )));
        }
        if relay.identity_origin == origin && Some(relay.origin.as_str()) != moving {
            return Err(DaemonError::Conflict(format!(
                "relay {} was first added as {origin} and still uses the identity key of that \
                 origin; a second relay there would see the same key. Remove {} first",
                relay.origin, relay.origin
            )));
        }
    }
    Ok(())
}

/// The identity key for one relay.
fn relay_identity(
    keys: &UnlockedKeys,
    identity_origin: &str,
    generation: u32,
) -> Result<IdentityKeyPair, DaemonError> {
    keys.master()
        .relay_identity(identity_origin, generation)
        .map_err(|e| DaemonError::Failed(format!("cannot derive the identity key: {e}")))
}

fn known_account(relay: &RelayRecord) -> Result<RelayAccount, DaemonError> {
    relay.account.clone().ok_or_else(|| {
        DaemonError::NotFound(format!(
            "this identity has no account at {} yet; `plog register --system` (or `--friend`) \
             registers one, or adopts the one the relay already has for this identity",
            relay.origin
        ))
    })
}

async fn store_account(
    state: &DaemonState,
    origin: &str,
    user_id: Uuid,
    kind: AccountKind,
    handle: Option<Handle>,
) -> Result<RelayRecord, DaemonError> {
    let record = state
        .store
        .update_relay(
            origin,
            RelayUpdate {
                account: Some(Some(RelayAccount {
                    user_id,
                    kind,
                    handle,
                })),
                ..RelayUpdate::default()
            },
        )
        .await?;
    Ok(record)
}

/// Whether `user_id` holds `handle`. A failed lookup keeps the requested handle: the relay
/// drops it only when another account took it in the moment between registration and login.
async fn holds_handle(client: &RelayClient, handle: &Handle, user_id: Uuid) -> bool {
    match client.lookup_handle(handle).await {
        Ok(found) => found.is_some_and(|holder| holder.user_id == user_id),
        Err(error) => {
            tracing::warn!(%error, %handle, "cannot check the handle after registering; assuming it was applied");
            true
        }
    }
}

/// The kind of an adopted account, from what it does at the relay (the relay does not say).
async fn adopted_kind(client: &RelayClient) -> AccountKind {
    match client.list_volumes().await {
        Ok(volumes) => kind_from_volumes(&volumes),
        Err(error) => {
            tracing::warn!(%error, relay = %client.origin(), "cannot list the adopted account's volumes; taking it for a system account");
            AccountKind::System
        }
    }
}

/// A system owns volumes; an account that only reads shared ones is a friend's. An account with
/// none is most likely a system that has not synced yet.
fn kind_from_volumes(volumes: &[VolumeEntry]) -> AccountKind {
    let owns = volumes.iter().any(|v| v.role == VolumeRole::Owner);
    if !owns && !volumes.is_empty() {
        AccountKind::Friend
    } else {
        AccountKind::System
    }
}

/// The announced next pin, unless it is the pin in use.
fn announced_next_pin(info: &RelayInfo, pin: CertPin) -> Option<CertPin> {
    info.next_certificate_pin.filter(|next| *next != pin)
}

/// The relay's name as it may be shown to people: printable and bounded, `None` if empty.
fn shown_name(info: &RelayInfo) -> Option<String> {
    let name: String = info
        .name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

fn handle_error(error: RelayError, origin: &str, handle: &Handle) -> DaemonError {
    match error {
        RelayError::Conflict {
            code: Some(ErrorCode::HandleTaken),
            ..
        } => DaemonError::Conflict(format!(
            "the handle {handle} is taken at {origin}; choose another"
        )),
        other => other.into(),
    }
}

fn registration_error(error: RelayError, origin: &str, handle: Option<&Handle>) -> DaemonError {
    match (error, handle) {
        (
            RelayError::Conflict {
                code: Some(ErrorCode::AccountExists),
                ..
            },
            _,
        ) => DaemonError::Conflict(format!(
            "relay {origin} has an account for this identity already but does not accept its \
             login; the relay may be configured with another public origin than {origin}"
        )),
        (error, Some(handle)) => handle_error(error, origin, handle),
        (error, None) => error.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plog_ipc_schema::VolumeType;
    use plog_ipc_schema::http::info::{Limits, RegistrationPolicy};

    fn info(name: &str, next: Option<CertPin>) -> RelayInfo {
        RelayInfo {
            name: name.to_owned(),
            version: "0.1.0".to_owned(),
            limits: Limits {
                max_volume_bytes: 1,
                quota_bytes: 1,
            },
            registration: RegistrationPolicy::Open,
            ip_retention_days: 7,
            next_certificate_pin: next,
        }
    }

    fn volume(role: VolumeRole) -> VolumeEntry {
        VolumeEntry {
            volume_id: Uuid::from_u128(1),
            owner_id: Uuid::from_u128(2),
            vtype: VolumeType::parse("front").expect("type"),
            revision: 1,
            key_epoch: 1,
            padded_size: 4096,
            updated_at: 0,
            role,
            own_tag: None,
            has_key_block: false,
        }
    }

    #[test]
    fn adopted_kind_follows_what_the_account_does() {
        assert_eq!(kind_from_volumes(&[]), AccountKind::System);
        assert_eq!(
            kind_from_volumes(&[volume(VolumeRole::Grantee), volume(VolumeRole::Owner)]),
            AccountKind::System
        );
        assert_eq!(
            kind_from_volumes(&[volume(VolumeRole::Grantee)]),
            AccountKind::Friend
        );
    }

    #[test]
    fn next_pin_is_kept_only_when_it_differs() {
        let pin = CertPin::from_digest([1; 32]);
        let next = CertPin::from_digest([2; 32]);
        assert_eq!(announced_next_pin(&info("r", None), pin), None);
        assert_eq!(announced_next_pin(&info("r", Some(pin)), pin), None);
        assert_eq!(announced_next_pin(&info("r", Some(next)), pin), Some(next));
    }

    #[test]
    fn relay_names_are_made_printable_and_bounded() {
        assert_eq!(shown_name(&info("home", None)).as_deref(), Some("home"));
        assert_eq!(
            shown_name(&info(" \u{1b}[31mred\n", None)).as_deref(),
            Some("[31mred")
        );
        assert_eq!(shown_name(&info(" \t", None)), None);
        let long = "x".repeat(500);
        assert_eq!(
            shown_name(&info(&long, None)).map(|n| n.chars().count()),
            Some(MAX_NAME_CHARS)
        );
    }

    #[test]
    fn a_taken_handle_is_a_readable_conflict() {
        let handle = Handle::parse("alice").expect("handle");
        let taken = RelayError::Conflict {
            code: Some(ErrorCode::HandleTaken),
            message: "taken".to_owned(),
        };
        match handle_error(taken, "https://relay.example", &handle) {
            DaemonError::Conflict(message) => assert_eq!(
                message,
                "the handle alice is taken at https://relay.example; choose another"
            ),
            other => panic!("{other:?}"),
        }
        let exists = RelayError::Conflict {
            code: Some(ErrorCode::AccountExists),
            message: "exists".to_owned(),
        };
        match registration_error(exists, "https://relay.example", Some(&handle)) {
            DaemonError::Conflict(message) => {
                assert!(message.contains("public origin"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let closed = RelayError::Rejected {
            status: 403,
            code: Some(ErrorCode::RegistrationClosed),
            message: "closed".to_owned(),
        };
        assert!(matches!(
            registration_error(closed, "https://relay.example", None),
            DaemonError::PermissionDenied(_)
        ));
    }
}
