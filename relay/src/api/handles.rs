//! Handles and the caller's own account: `GET /v1/handles/{handle}`, `PUT|DELETE
//! /v1/me/handle`, `DELETE /v1/me`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use plog_ipc_schema::encoding::PublicKeyB64;
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::handle::Handle;
use plog_ipc_schema::http::handles::HandleLookup;
use serde::Deserialize;

use super::error::ApiError;
use super::json::JsonBody;
use super::session::Session;
use crate::state::{SharedState, now_secs};

fn parse_handle(text: &str) -> Result<Handle, ApiError> {
    Handle::parse(text).map_err(|e| ApiError::new(ErrorCode::InvalidHandle, e.to_string()))
}

pub(crate) async fn lookup(
    State(state): State<SharedState>,
    _session: Session,
    Path(handle): Path<String>,
) -> Result<Json<HandleLookup>, ApiError> {
    let handle = parse_handle(&handle)?;
    let account = state
        .db
        .account_by_handle(handle.as_str())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(HandleLookup {
        user_id: account.user_id,
        public_key: PublicKeyB64::new(account.public_key),
    }))
}

/// The wire form of `SetHandleRequest`, read as text for the `invalid_handle` code.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetHandleBody {
    handle: String,
}

pub(crate) async fn set(
    State(state): State<SharedState>,
    session: Session,
    JsonBody(request): JsonBody<SetHandleBody>,
) -> Result<StatusCode, ApiError> {
    let handle = parse_handle(&request.handle)?;
    state
        .db
        .set_handle(session.account.user_id, Some(handle.as_str()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn release(
    State(state): State<SharedState>,
    session: Session,
) -> Result<StatusCode, ApiError> {
    state.db.set_handle(session.account.user_id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the caller's account and everything of it. Needs a session younger than
/// `auth.fresh_session_secs`, so a stolen old token cannot do it.
pub(crate) async fn delete_me(
    State(state): State<SharedState>,
    session: Session,
) -> Result<StatusCode, ApiError> {
    let now = now_secs();
    if session.created_at + state.config.auth.fresh_session_secs < now {
        return Err(ApiError::new(
            ErrorCode::FreshSessionRequired,
            "deleting the account needs a fresh login: answer a new challenge and retry",
        ));
    }
    let user_id = session.account.user_id;
    state.db.delete_account(user_id, now as i64).await?;
    // Best effort: the account is gone either way, and what stays behind expires with the
    // mailbox retention.
    if let Err(error) = state.broker.purge_mailbox(user_id).await {
        tracing::warn!(%error, "could not purge the mailbox of a deleted account");
    }
    state.broker.delete_session(&session.key).await?;
    state.purge.notify_one();
    tracing::info!(%user_id, "account deleted by its owner");
    Ok(StatusCode::NO_CONTENT)
}
