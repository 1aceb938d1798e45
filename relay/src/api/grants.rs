//! Grants: `PUT|DELETE /v1/volumes/{volume_id}/grants/{user_id}`,
//! `GET /v1/volumes/{volume_id}/grants`; and the live events that tell readers a volume
//! changed.
//!
//! Only the owner may see or change a volume's grants; everyone else gets `404`, the answer
//! for a volume that does not exist. A grant stores the grantee's key block and, atomically
//! with it, the grantee's tag on the current revision, so the grantee can read at once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use plog_crypto::keyblock::KEY_BLOCK_LEN;
use plog_ipc_schema::http::events::{Event, GrantRevoked, VolumeUpdated};
use plog_ipc_schema::http::grants::{GrantEntry, GrantListing, GrantRequest};
use uuid::Uuid;

use super::error::ApiError;
use super::json::JsonBody;
use super::session::Session;
use crate::db::{DbError, NewGrant};
use crate::state::{SharedState, now_secs};

/// `PUT /v1/volumes/{volume_id}/grants/{user_id}`.
pub(crate) async fn put(
    State(state): State<SharedState>,
    session: Session,
    Path((volume, grantee)): Path<(String, String)>,
    JsonBody(request): JsonBody<GrantRequest>,
) -> Result<StatusCode, ApiError> {
    let (volume_id, grantee_id) = (parse_id(&volume)?, parse_id(&grantee)?);
    let owner_id = session.account.user_id;
    if request.key_block.len() != KEY_BLOCK_LEN {
        return Err(ApiError::bad_request(format!(
            "key_block must be a {KEY_BLOCK_LEN}-byte key block"
        )));
    }
    if grantee_id == owner_id {
        return Err(ApiError::bad_request("an owner cannot grant to itself"));
    }
    let grant = NewGrant {
        volume_id,
        owner_id,
        grantee_id,
        key_block: request.key_block.as_bytes().to_vec(),
        key_epoch: request.key_epoch,
        now: i64::try_from(now_secs()).unwrap_or(i64::MAX),
    };
    let key_epoch = state
        .db
        .put_grant_with_tag(&grant, request.revision, request.tag.as_bytes())
        .await
        .map_err(refusal)?;
    tracing::info!(%volume_id, "grant stored");
    let event = Event::VolumeUpdated(VolumeUpdated {
        volume_id,
        owner_id,
        revision: request.revision,
        key_epoch,
    });
    publish(&state, &[grantee_id], &event).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/volumes/{volume_id}/grants/{user_id}`.
pub(crate) async fn delete(
    State(state): State<SharedState>,
    session: Session,
    Path((volume, grantee)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (volume_id, grantee_id) = (parse_id(&volume)?, parse_id(&grantee)?);
    let owner_id = session.account.user_id;
    state
        .db
        .delete_grant(volume_id, owner_id, grantee_id)
        .await
        .map_err(refusal)?;
    tracing::info!(%volume_id, "grant revoked");
    let event = Event::GrantRevoked(GrantRevoked {
        volume_id,
        owner_id,
    });
    publish(&state, &[grantee_id], &event).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/volumes/{volume_id}/grants`.
pub(crate) async fn list(
    State(state): State<SharedState>,
    session: Session,
    Path(volume): Path<String>,
) -> Result<Json<GrantListing>, ApiError> {
    let volume_id = parse_id(&volume)?;
    let grants = state
        .db
        .grants(volume_id, session.account.user_id)
        .await?
        .into_iter()
        .map(|grant| GrantEntry {
            grantee_id: grant.grantee_id,
            key_epoch: grant.key_epoch,
            created_at: u64::try_from(grant.created_at).unwrap_or(0),
        })
        .collect();
    Ok(Json(GrantListing { grants }))
}

/// A path id: a hyphenated UUID, the one spelling the API uses.
fn parse_id(segment: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(segment)
        .ok()
        .filter(|_| segment.len() == 36)
        .ok_or_else(|| ApiError::bad_request("ids in paths are hyphenated UUIDs"))
}

/// The store's refusals that are the caller's input, as `400`; the rest as usual.
fn refusal(error: DbError) -> ApiError {
    match error {
        DbError::InvalidInput(message) => ApiError::bad_request(message),
        other => other.into(),
    }
}

/// Publishes `event` to each of `recipients`, best effort: a lost event only delays a client
/// until its next poll, so a failure is logged (without whom it was for) and the request
/// carries on.
pub(crate) async fn publish(state: &SharedState, recipients: &[Uuid], event: &Event) {
    for recipient in recipients {
        if let Err(error) = state.broker.publish_event(*recipient, event).await {
            tracing::warn!(%error, kind = event.kind().as_str(), "could not publish an event");
        }
    }
}

/// Who to tell that a volume changed: its owner and every grantee.
#[derive(Debug)]
pub(crate) struct Readers {
    event: VolumeUpdated,
    grantees: Vec<Uuid>,
}

/// Reads the grantees of a volume the caller owns, before an operation that removes its
/// grants (a deletion), for [`announce`]. `None` if it is not the caller's or cannot be read:
/// the operation itself then decides the answer.
pub(crate) async fn readers_before_delete(
    state: &SharedState,
    volume_id: Uuid,
    owner_id: Uuid,
) -> Option<Readers> {
    let volume = match state.db.volume(volume_id).await {
        Ok(Some(volume)) if volume.owner_id == owner_id => volume,
        Ok(_) => return None,
        Err(error) => {
            tracing::debug!(%error, "could not read a volume's readers before deleting it");
            return None;
        }
    };
    let grantees = match state.db.grantee_ids(volume_id).await {
        Ok(grantees) => grantees,
        Err(error) => {
            tracing::debug!(%error, "could not read a volume's grantees before deleting it");
            Vec::new()
        }
    };
    Some(Readers {
        event: VolumeUpdated {
            volume_id,
            owner_id,
            revision: volume.revision,
            key_epoch: volume.key_epoch,
        },
        grantees,
    })
}

/// Tells the owner and every grantee of a volume that it changed (a commit, a deletion), in
/// the background so that the answer to the request does not wait for it. `grantees` are read
/// from the grants now when `None`.
pub(crate) fn announce(state: &SharedState, event: VolumeUpdated, grantees: Option<Vec<Uuid>>) {
    let state = state.clone();
    tokio::spawn(async move {
        let grantees = match grantees {
            Some(grantees) => grantees,
            None => match state.db.grantee_ids(event.volume_id).await {
                Ok(grantees) => grantees,
                Err(error) => {
                    tracing::debug!(%error, "could not read a volume's grantees to notify them");
                    Vec::new()
                }
            },
        };
        let mut recipients = Vec::with_capacity(grantees.len() + 1);
        recipients.push(event.owner_id);
        recipients.extend(grantees);
        publish(&state, &recipients, &Event::VolumeUpdated(event)).await;
    });
}

/// [`announce`] for what [`readers_before_delete`] found.
pub(crate) fn announce_deleted(state: &SharedState, readers: Option<Readers>) {
    if let Some(Readers { event, grantees }) = readers {
        announce(state, event, Some(grantees));
    }
}
