//! Link tokens: `POST /v1/links` registers the hash of a token under which the caller accepts
//! mail, `DELETE /v1/links/{token_hash}` drops it. See `docs/PROTOCOL.md` §11.7.
//!
//! The relay keeps only the hash and no owner: whoever holds the token may post to the
//! account the sender names, and the envelope itself binds sender and recipient. Deleting
//! needs the hash, which only the two sides of the link know.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use plog_ipc_schema::encoding::Bytes32;
use plog_ipc_schema::http::links::LinkRequest;

use super::error::ApiError;
use super::json::JsonBody;
use super::session::Session;
use crate::state::{SharedState, now_secs};

/// `POST /v1/links`: registers a token hash; `204`, also when it was registered already.
pub(crate) async fn add(
    State(state): State<SharedState>,
    _session: Session,
    JsonBody(request): JsonBody<LinkRequest>,
) -> Result<StatusCode, ApiError> {
    let now = i64::try_from(now_secs()).unwrap_or(i64::MAX);
    state.db.add_link(request.token_hash.as_ref(), now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/links/{token_hash}`: drops a token hash; `404` if it is not registered.
pub(crate) async fn delete(
    State(state): State<SharedState>,
    _session: Session,
    Path(segment): Path<String>,
) -> Result<StatusCode, ApiError> {
    let hash: Bytes32 = segment.parse().map_err(|_| {
        ApiError::bad_request("DELETE /v1/links/{token_hash} takes a 32-byte base64url hash")
    })?;
    if state.db.delete_link(hash.as_ref()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}
