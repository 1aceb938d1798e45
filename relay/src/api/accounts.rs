//! `POST /v1/accounts`: registration. An account is usable only after it answers its first
//! challenge (proof of possession of the key); until then it holds no handle and expires.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use plog_ipc_schema::encoding::PublicKeyB64;
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::handle::Handle;
use plog_ipc_schema::http::accounts::{AccountKind, RegisterResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::error::ApiError;
use super::json::JsonBody;
use crate::db::NewAccount;
use crate::state::{SharedState, now_secs};

/// The wire form of `RegisterRequest`, with the handle read as text so that a bad handle gets
/// its own error code (`invalid_handle`) instead of a generic JSON error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    kind: AccountKind,
    public_key: PublicKeyB64,
    #[serde(default)]
    handle: Option<String>,
}

pub(crate) async fn register(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<RegisterBody>,
) -> Result<(StatusCode, Json<RegisterResponse>), ApiError> {
    let handle = request
        .handle
        .as_deref()
        .map(Handle::parse)
        .transpose()
        .map_err(|e| ApiError::new(ErrorCode::InvalidHandle, e.to_string()))?;
    if !state.config.registration.open {
        return Err(ApiError::new(
            ErrorCode::RegistrationClosed,
            "this relay does not accept new accounts",
        ));
    }
    let user_id = Uuid::new_v4();
    state
        .db
        .create_account(&NewAccount {
            user_id,
            kind: request.kind,
            public_key: *request.public_key.as_bytes(),
            handle: handle.map(|h| h.as_str().to_owned()),
            now: now_secs() as i64,
        })
        .await?;
    tracing::info!(%user_id, kind = request.kind.as_str(), "account registered, awaiting first login");
    Ok((StatusCode::CREATED, Json(RegisterResponse { user_id })))
}
