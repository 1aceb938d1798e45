//! The mailbox: `POST /v1/mailbox/{user_id}` (send), `GET /v1/mailbox` (my mail, oldest
//! first), `DELETE /v1/mailbox/{seq}` (drop one of mine). See `docs/PROTOCOL.md` §11.7.
//!
//! A post is accepted only with a reason: a link token the recipient registered (`via:
//! link`), or a friend request to someone with a handle who accepts those (`via: handle`, rate
//! limited per sender). Invite redemptions arrive through `POST /v1/invites/redeem`.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use plog_crypto::link::link_token_hash;
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::http::events::{Event, NewMail};
use plog_ipc_schema::http::mailbox::{
    MailListing, MailPostRequest, MailQuery, MailRoute, MailSource,
};
use uuid::Uuid;

use super::error::ApiError;
use super::json::{envelope_body_limit, read_json};
use super::session::Session;
use crate::state::SharedState;

/// Most messages one `GET /v1/mailbox` returns (also the default).
pub(crate) const MAX_LISTING: u32 = 100;

/// Checks the size of an envelope to deliver: 1 to `mailbox.max_envelope_bytes` bytes.
pub(crate) fn check_envelope(state: &SharedState, envelope: &[u8]) -> Result<(), ApiError> {
    let max_envelope = state.config.mailbox.max_envelope_bytes;
    if envelope.len() > max_envelope {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("the envelope is larger than {max_envelope} bytes"),
        ));
    }
    if envelope.is_empty() {
        return Err(ApiError::bad_request("the envelope is empty"));
    }
    Ok(())
}

/// `POST /v1/mailbox/{user_id}`: stores a sealed envelope for the recipient and tells its
/// event streams (`new_mail`). `202` with no body.
pub(crate) async fn post(
    State(state): State<SharedState>,
    session: Session,
    Path(item): Path<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let recipient = Uuid::try_parse(&item)
        .ok()
        .filter(|_| item.len() == 36)
        .ok_or_else(|| {
            ApiError::bad_request("POST /v1/mailbox/{user_id} takes a hyphenated user id")
        })?;
    let request: MailPostRequest = read_json(body, envelope_body_limit(&state)).await?;
    let envelope = request.envelope.as_bytes();
    check_envelope(&state, envelope)?;
    let sender = session.account.user_id;
    if recipient == sender {
        return Err(ApiError::bad_request("you cannot send mail to yourself"));
    }
    let account = state
        .db
        .account(recipient)
        .await?
        .filter(|account| account.activated)
        .ok_or_else(ApiError::not_found)?;

    let source = match &request.route {
        MailRoute::Link { token } => {
            // Only a token the recipient registered opens its mailbox: a hash registered by
            // anyone else (the sender included) gets the same answer as an unknown one.
            let hash = link_token_hash(token.expose_bytes());
            if !state.db.link_opens(recipient, hash.as_ref()).await? {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "this link token is not registered by the recipient",
                ));
            }
            MailSource::Link
        }
        MailRoute::Handle {} => {
            if account.handle.is_none() || !account.handle_requests {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "this user does not accept friend requests by handle",
                ));
            }
            state
                .handle_requests
                .check(sender)
                .map_err(|wait| ApiError::rate_limited("friend requests by handle", wait))?;
            MailSource::Handle
        }
    };

    let seq = state
        .broker
        .post_mail(recipient, sender, source, envelope)
        .await?;
    if let Err(error) = state
        .broker
        .publish_event(recipient, &Event::NewMail(NewMail { seq }))
        .await
    {
        tracing::warn!(%error, "could not publish a new_mail event");
    }
    Ok(StatusCode::ACCEPTED)
}

/// `GET /v1/mailbox?after=SEQ&limit=N`: my messages above `after`, oldest first, at most
/// [`MAX_LISTING`].
pub(crate) async fn list(
    State(state): State<SharedState>,
    session: Session,
    query: Result<Query<MailQuery>, QueryRejection>,
) -> Result<Json<MailListing>, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))?;
    let limit = query.limit.unwrap_or(MAX_LISTING).min(MAX_LISTING);
    if limit == 0 {
        return Ok(Json(MailListing::default()));
    }
    let messages = state
        .broker
        .list_mail(
            session.account.user_id,
            query.after.unwrap_or(0),
            limit as usize,
        )
        .await?;
    Ok(Json(MailListing { messages }))
}

/// `DELETE /v1/mailbox/{seq}`: drops one of my messages. `404` if it is not (or no longer)
/// in my mailbox.
pub(crate) async fn delete(
    State(state): State<SharedState>,
    session: Session,
    Path(item): Path<String>,
) -> Result<StatusCode, ApiError> {
    let seq: u64 = item
        .parse()
        .map_err(|_| ApiError::bad_request("DELETE /v1/mailbox/{seq} takes a sequence number"))?;
    if state
        .broker
        .delete_mail(session.account.user_id, seq)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
