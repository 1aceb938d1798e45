//! The mailbox: `POST /v1/mailbox/{user_id}` (send), `GET /v1/mailbox` (my mail, oldest
//! first), `DELETE /v1/mailbox/{seq}` (drop one of mine). See `docs/PROTOCOL.md` §11.7.
//!
//! A post is accepted only with a reason: a registered link token (`via: link`), or a friend
//! request to someone with a handle who accepts those (`via: handle`, rate limited per
//! sender). Invite redemptions arrive through `POST /v1/invites/redeem`.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plog_crypto::link::link_token_hash;
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::http::events::{Event, NewMail};
use plog_ipc_schema::http::mailbox::{
    MailListing, MailPostRequest, MailQuery, MailRoute, MailSource,
};
use uuid::Uuid;

use super::error::ApiError;
use super::session::Session;
use crate::broker::BrokerError;
use crate::state::SharedState;

/// Most messages one `GET /v1/mailbox` returns (also the default).
pub(crate) const MAX_LISTING: u32 = 100;

/// `Retry-After` for a full mailbox: it empties only as its owner deletes mail or mail
/// expires, so retrying soon is pointless.
const FULL_RETRY_AFTER_SECS: u64 = 3600;

/// Bytes of JSON around the base64 envelope in a post.
const JSON_ALLOWANCE: usize = 1024;

/// A refusal with a `Retry-After` header.
fn retry_after(error: ApiError, secs: u64) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

/// `POST /v1/mailbox/{user_id}`: stores a sealed envelope for the recipient and tells its
/// event streams (`new_mail`). `202` with no body.
pub(crate) async fn post(
    State(state): State<SharedState>,
    session: Session,
    Path(item): Path<String>,
    body: Body,
) -> Result<StatusCode, Response> {
    let recipient = Uuid::try_parse(&item)
        .ok()
        .filter(|_| item.len() == 36)
        .ok_or_else(|| {
            ApiError::bad_request("POST /v1/mailbox/{user_id} takes a hyphenated user id")
                .into_response()
        })?;
    let max_envelope = state.config.mailbox.max_envelope_bytes;
    let request: MailPostRequest = read_json(body, body_limit(&state, max_envelope))
        .await
        .map_err(IntoResponse::into_response)?;
    let envelope = request.envelope.as_bytes();
    if envelope.len() > max_envelope {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("the envelope is larger than {max_envelope} bytes"),
        )
        .into_response());
    }
    if envelope.is_empty() {
        return Err(ApiError::bad_request("the envelope is empty").into_response());
    }
    let sender = session.account.user_id;
    if recipient == sender {
        return Err(ApiError::bad_request("you cannot send mail to yourself").into_response());
    }
    let account = state
        .db
        .account(recipient)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .filter(|account| account.activated)
        .ok_or_else(|| ApiError::not_found().into_response())?;

    let source = match &request.route {
        MailRoute::Link { token } => {
            let hash = link_token_hash(token.expose_bytes());
            let registered = state
                .db
                .link_exists(hash.as_ref())
                .await
                .map_err(|e| ApiError::from(e).into_response())?;
            if !registered {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "this link token is not registered at the relay",
                )
                .into_response());
            }
            MailSource::Link
        }
        MailRoute::Handle {} => {
            if account.handle.is_none() || !account.handle_requests {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "this user does not accept friend requests by handle",
                )
                .into_response());
            }
            if let Err(wait) = state.handle_requests.check(sender) {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                return Err(retry_after(
                    ApiError::new(
                        ErrorCode::RateLimited,
                        format!("too many friend requests by handle; retry in {secs} s"),
                    ),
                    secs,
                ));
            }
            MailSource::Handle
        }
    };

    let seq = match state
        .broker
        .post_mail(recipient, sender, source, envelope)
        .await
    {
        Ok(seq) => seq,
        Err(BrokerError::MailboxFull) => {
            return Err(retry_after(
                ApiError::from(BrokerError::MailboxFull),
                FULL_RETRY_AFTER_SECS,
            ));
        }
        Err(error) => return Err(ApiError::from(error).into_response()),
    };
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

/// The body limit of a post: the envelope in base64 plus room for the rest of the JSON, or
/// the general JSON limit if that is larger.
fn body_limit(state: &SharedState, max_envelope: usize) -> usize {
    let encoded = max_envelope.div_ceil(3) * 4;
    state
        .config
        .limits
        .max_json_bytes
        .max(encoded + JSON_ALLOWANCE)
}

/// Reads a JSON body of at most `limit` bytes (`413 too_large` beyond).
async fn read_json<T: serde::de::DeserializeOwned>(
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            ErrorCode::TooLarge,
            format!("request body is larger than {limit} bytes"),
        )
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|error| ApiError::bad_request(format!("invalid JSON body: {error}")))
}
