//! Link tokens: `POST /v1/links` registers the hash of a token under which the caller accepts
//! mail, `DELETE /v1/links/{token_hash}` drops it. See `docs/PROTOCOL.md` §11.7.
//!
//! A registration records whose mailbox the token opens (the caller's), never who may use it:
//! whoever holds the token may post to that one account, and the envelope itself binds sender
//! and recipient. Only the account that registered a hash can drop it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use plog_ipc_schema::encoding::Bytes32;
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::http::links::LinkRequest;

use super::error::ApiError;
use super::json::JsonBody;
use super::session::Session;
use crate::db::LinkAdded;
use crate::state::{SharedState, now_secs};

/// `POST /v1/links`: registers a token hash for the caller's mailbox; `204`, also when the
/// caller had registered it already; `403` when the caller holds
/// `mailbox.max_links_per_account` links (waiting does not help, dropping some does).
pub(crate) async fn add(
    State(state): State<SharedState>,
    session: Session,
    JsonBody(request): JsonBody<LinkRequest>,
) -> Result<StatusCode, ApiError> {
    let now = i64::try_from(now_secs()).unwrap_or(i64::MAX);
    let max = state.config.mailbox.max_links_per_account;
    let added = state
        .db
        .add_link(
            session.account.user_id,
            request.token_hash.as_ref(),
            u64::from(max),
            now,
        )
        .await?;
    match added {
        LinkAdded::LimitReached => Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "this account holds {max} link tokens, the most this relay allows; drop unused \
                 ones first"
            ),
        )),
        LinkAdded::Added | LinkAdded::Existing => Ok(StatusCode::NO_CONTENT),
    }
}

/// `DELETE /v1/links/{token_hash}`: drops one of the caller's token hashes; `404` if the
/// caller has not registered it (whether another account has is not told).
pub(crate) async fn delete(
    State(state): State<SharedState>,
    session: Session,
    Path(segment): Path<String>,
) -> Result<StatusCode, ApiError> {
    let hash: Bytes32 = segment.parse().map_err(|_| {
        ApiError::bad_request("DELETE /v1/links/{token_hash} takes a 32-byte base64url hash")
    })?;
    if state
        .db
        .delete_link(session.account.user_id, hash.as_ref())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
