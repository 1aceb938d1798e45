//! `GET` / `PUT /v1/me/mail-settings`: whether the caller accepts friend requests by handle.
//! See `docs/PROTOCOL.md` §11.7.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use plog_ipc_schema::http::mailbox::MailSettings;

use super::error::ApiError;
use super::json::JsonBody;
use super::session::Session;
use crate::state::SharedState;

/// `GET /v1/me/mail-settings`.
pub(crate) async fn get(session: Session) -> Json<MailSettings> {
    Json(MailSettings {
        handle_requests: session.account.handle_requests,
    })
}

/// `PUT /v1/me/mail-settings`: `204`.
pub(crate) async fn put(
    State(state): State<SharedState>,
    session: Session,
    JsonBody(settings): JsonBody<MailSettings>,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .set_handle_requests(session.account.user_id, settings.handle_requests)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
