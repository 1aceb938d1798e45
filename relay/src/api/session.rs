//! Sessions: 256-bit random bearer tokens; the relay keeps only their SHA-256 in the sessions
//! bucket, with the account, expiry, device label and the relay and account epochs current at
//! login. Bumping either epoch ends the session everywhere at once.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use plog_ipc_schema::token::SessionToken;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ApiError;
use crate::db::Account;
use crate::state::{SharedState, now_secs};

/// What the sessions bucket holds for one token.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub(crate) user_id: Uuid,
    pub(crate) relay_epoch: u64,
    pub(crate) user_epoch: u64,
    pub(crate) created_at: u64,
    pub(crate) expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) device_label: Option<String>,
}

/// The bucket key of a token: hex SHA-256, so the token itself is never stored.
pub(crate) fn session_key(token: &SessionToken) -> String {
    hex::encode(Sha256::digest(token.expose_bytes()))
}

/// An authenticated request: the caller's account and session.
#[derive(Debug)]
pub(crate) struct Session {
    /// The caller's account.
    pub(crate) account: Account,
    /// When the session was created (for actions that need a fresh login).
    pub(crate) created_at: u64,
    pub(crate) key: String,
}

impl FromRequestParts<SharedState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(ApiError::unauthorized)?
            .to_str()
            .map_err(|_| ApiError::unauthorized())?;
        let token =
            SessionToken::from_authorization(header).map_err(|_| ApiError::unauthorized())?;
        let key = session_key(&token);
        let bytes = state
            .broker
            .get_session(&key)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        let record: SessionRecord = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::internal("reading a session", &e))?;
        if record.expires_at <= now_secs() {
            return Err(ApiError::unauthorized());
        }
        let (account, relay_epoch) = state.db.account_and_relay_epoch(record.user_id).await?;
        if record.relay_epoch != relay_epoch {
            return Err(ApiError::unauthorized());
        }
        let account = account.ok_or_else(ApiError::unauthorized)?;
        if account.session_epoch != record.user_epoch {
            return Err(ApiError::unauthorized());
        }
        Ok(Session {
            account,
            created_at: record.created_at,
            key,
        })
    }
}
