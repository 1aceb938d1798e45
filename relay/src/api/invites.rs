//! Invites: `POST|GET /v1/invites`, `GET|DELETE /v1/invites/{invite}` (a locator to look up,
//! an invite id to withdraw), `POST /v1/invites/redeem`.
//!
//! The relay stores only the hash of an invite's locator; the secret half of the code never
//! reaches it. Unknown, expired and used-up invites all answer `404`, so a lookup tells nothing
//! about invites that no longer work. Lookups and redemptions share one token bucket per
//! account (`limits.invite_lookups_*`), which slows the guessing of locators.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use plog_crypto::invite::locator_hash;
use plog_ipc_schema::encoding::{Bytes32, PublicKeyB64};
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::handle::Handle;
use plog_ipc_schema::http::events::{Event, NewMail};
use plog_ipc_schema::http::invites::{
    InviteCreateRequest, InviteCreated, InviteEntry, InviteListing, InviteLookup,
    InviteRedeemRequest, Locator, invite_id_of,
};
use plog_ipc_schema::http::mailbox::MailSource;
use uuid::Uuid;

use super::error::ApiError;
use super::grants::publish;
use super::json::{JsonBody, envelope_body_limit, read_json};
use super::mailbox::check_envelope;
use super::session::Session;
use crate::db::{DbError, Invite, NewInvite};
use crate::state::{SharedState, now_secs};

/// The most redemptions one invite may allow.
const MAX_INVITE_USES: u32 = 100;

/// Length of a locator in a path: 16 bytes in unpadded base64url.
const LOCATOR_TEXT_LEN: usize = 22;

/// `POST /v1/invites`.
pub(crate) async fn create(
    State(state): State<SharedState>,
    session: Session,
    JsonBody(request): JsonBody<InviteCreateRequest>,
) -> Result<Response, ApiError> {
    if !(1..=MAX_INVITE_USES).contains(&request.uses) {
        return Err(ApiError::bad_request(format!(
            "uses must be from 1 to {MAX_INVITE_USES}"
        )));
    }
    let now = now_secs();
    if request.expires_at <= now {
        return Err(ApiError::bad_request("expires_at must be in the future"));
    }
    let latest = now.saturating_add(state.config.limits.max_invite_lifetime_secs);
    let expires_at = request.expires_at.min(latest);
    let stored_expiry = i64::try_from(expires_at)
        .map_err(|_| ApiError::bad_request("expires_at is out of range"))?;
    let created = state
        .db
        .create_invite(&NewInvite {
            locator_hash: request.locator_hash.as_bytes().to_vec(),
            owner_id: session.account.user_id,
            expires_at: stored_expiry,
            uses: u64::from(request.uses),
            now: unix_i64(now),
        })
        .await;
    match created {
        Ok(()) => {}
        // The locator is the client's random choice: a second registration of it is a
        // create-if-absent that found something, as for volumes.
        Err(DbError::InviteExists) => {
            return Err(ApiError::new(
                ErrorCode::RevisionConflict,
                "an invite with this locator is registered already; make a new code",
            ));
        }
        Err(error) => return Err(error.into()),
    }
    let body = InviteCreated {
        invite_id: invite_id_of(&request.locator_hash),
        expires_at,
        uses: request.uses,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /v1/invites`.
pub(crate) async fn list(
    State(state): State<SharedState>,
    session: Session,
) -> Result<Json<InviteListing>, ApiError> {
    let invites = state
        .db
        .live_invites_of(session.account.user_id, unix_i64(now_secs()))
        .await?
        .iter()
        .map(entry)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(InviteListing { invites }))
}

fn entry(invite: &Invite) -> Result<InviteEntry, ApiError> {
    let hash: [u8; 32] = invite
        .locator_hash
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::internal("listing invites", &"stored locator hash length"))?;
    Ok(InviteEntry {
        invite_id: invite_id_of(&Bytes32::new(hash)),
        expires_at: u64::try_from(invite.expires_at).unwrap_or(0),
        uses: u32::try_from(invite.uses_left).unwrap_or(u32::MAX),
        created_at: u64::try_from(invite.created_at).unwrap_or(0),
    })
}

/// Takes a token from the caller's bucket of invite lookups and redemptions.
fn take_lookup(state: &SharedState, session: &Session) -> Result<(), ApiError> {
    state
        .invite_lookups
        .check(session.account.user_id)
        .map_err(|wait| ApiError::rate_limited("invite lookups and redemptions", wait))
}

/// `GET /v1/invites/{locator}`: the owner of a live invite.
pub(crate) async fn lookup(
    State(state): State<SharedState>,
    session: Session,
    Path(segment): Path<String>,
) -> Result<Json<InviteLookup>, ApiError> {
    take_lookup(&state, &session)?;
    let locator = parse_locator(&segment)?;
    let hash = locator_hash(locator.as_bytes());
    let invite = state
        .db
        .invite(&hash, unix_i64(now_secs()))
        .await?
        .ok_or_else(ApiError::not_found)?;
    let owner = state
        .db
        .account(invite.owner_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let handle = owner
        .handle
        .as_deref()
        .map(Handle::parse)
        .transpose()
        .map_err(|e| ApiError::internal("reading a stored handle", &e))?;
    Ok(Json(InviteLookup {
        user_id: owner.user_id,
        public_key: PublicKeyB64::new(owner.public_key),
        handle,
    }))
}

/// `DELETE /v1/invites/{invite_id}`: withdraws one of the caller's live invites.
pub(crate) async fn withdraw(
    State(state): State<SharedState>,
    session: Session,
    Path(segment): Path<String>,
) -> Result<StatusCode, ApiError> {
    let invite_id = Uuid::try_parse(&segment)
        .ok()
        .filter(|_| segment.len() == 36)
        .ok_or_else(|| {
            ApiError::bad_request("DELETE /v1/invites/{invite_id} takes a hyphenated invite id")
        })?;
    state
        .db
        .delete_live_invite(invite_id, session.account.user_id, unix_i64(now_secs()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/invites/redeem`: spends one use of the invite and puts the sealed friend request
/// in the owner's mailbox. `202` with no body.
pub(crate) async fn redeem(
    State(state): State<SharedState>,
    session: Session,
    body: Body,
) -> Result<StatusCode, ApiError> {
    take_lookup(&state, &session)?;
    let (owner, seq) = deliver(&state, &session, body).await?;
    publish(&state, &[owner], &Event::NewMail(NewMail { seq })).await;
    Ok(StatusCode::ACCEPTED)
}

/// The work of [`redeem`]: the owner and the sequence number of the delivered request.
async fn deliver(
    state: &SharedState,
    session: &Session,
    body: Body,
) -> Result<(Uuid, u64), ApiError> {
    let request: InviteRedeemRequest = read_json(body, envelope_body_limit(state)).await?;
    let envelope = request.envelope.as_bytes();
    check_envelope(state, envelope)?;
    let hash = locator_hash(request.locator.as_bytes());
    let now = unix_i64(now_secs());
    let sender = session.account.user_id;
    // Read first (spending nothing) so that an owner redeeming its own code keeps the use.
    let invite = state
        .db
        .invite(&hash, now)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if invite.owner_id == sender {
        return Err(ApiError::bad_request("you cannot redeem your own invite"));
    }
    let owner = state.db.consume_invite(&hash, now).await?.owner_id;
    match state
        .broker
        .post_mail(owner, sender, MailSource::Invite, envelope)
        .await
    {
        Ok(seq) => Ok((owner, seq)),
        Err(error) => {
            // Undelivered: give the use back so the friend can try again.
            if let Err(refund) = state.db.restore_invite_use(&hash).await {
                tracing::warn!(error = %refund, "could not give back an invite use");
            }
            Err(error.into())
        }
    }
}

/// A locator as a path segment: exactly 22 characters of base64url.
fn parse_locator(segment: &str) -> Result<Locator, ApiError> {
    if segment.len() != LOCATOR_TEXT_LEN {
        return Err(ApiError::bad_request(
            "GET /v1/invites/{locator} takes the 22-character base64url locator",
        ));
    }
    Locator::from_b64(segment).map_err(|e| ApiError::bad_request(format!("locator: {e}")))
}

/// Unix seconds as the database stores them.
fn unix_i64(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}
