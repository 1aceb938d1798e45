//! Login by challenge (`POST /v1/auth/challenge`, `POST /v1/auth/response`) and logout
//! (`DELETE /v1/auth/session`). See `docs/PROTOCOL.md` §7.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use plog_crypto::SecretBytes;
use plog_crypto::challenge::{self, ChallengeContext, IssuedChallenge};
use plog_crypto::identity::IdentityPublicKey;
use plog_ipc_schema::encoding::Bytes32;
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::http::auth::{
    ChallengeRequest, ChallengeResponse, ProofRequest, SessionResponse,
};
use plog_ipc_schema::token::SessionToken;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ApiError;
use super::json::JsonBody;
use super::session::{Session, SessionRecord, session_key};
use crate::state::{SharedState, now_secs};

/// Longest device label kept with a session.
const MAX_DEVICE_LABEL: usize = 64;

/// What the challenges bucket holds: never the proof, only its hash.
#[derive(Debug, Serialize, Deserialize)]
struct ChallengeRecord {
    user_id: Uuid,
    proof_hash: String,
    expires_at: u64,
    /// False for a challenge to a pseudo-key (no such account): it always fails.
    known: bool,
}

pub(crate) async fn challenge(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<ChallengeRequest>,
) -> Result<Json<ChallengeResponse>, ApiError> {
    let (user_id, account) = match request {
        ChallengeRequest::UserId(user_id) => (user_id, state.db.account(user_id).await?),
        ChallengeRequest::PublicKey(key) => {
            match state.db.account_by_public_key(key.as_bytes()).await? {
                Some(account) => (account.user_id, Some(account)),
                None => {
                    let pseudo = challenge::pseudo_user_id(
                        &state.relay_secret,
                        &IdentityPublicKey::from_bytes(*key.as_bytes()),
                    )
                    .map_err(|e| ApiError::internal("deriving a pseudo account", &e))?;
                    (Uuid::from_bytes(pseudo), None)
                }
            }
        }
    };
    let challenge_id = Uuid::new_v4();
    let ctx = ChallengeContext {
        relay_origin: &state.origin,
        user_id: *user_id.as_bytes(),
        challenge_id: *challenge_id.as_bytes(),
    };
    let account_key = account
        .as_ref()
        .map(|a| IdentityPublicKey::from_bytes(a.public_key));
    let IssuedChallenge { enc, proof_hash } =
        challenge::issue_for(account_key.as_ref(), &state.relay_secret, &ctx)
            .map_err(|e| ApiError::internal("issuing a challenge", &e))?;
    let expires_at = now_secs() + state.config.auth.challenge_ttl_secs;
    let record = ChallengeRecord {
        user_id,
        proof_hash: hex::encode(proof_hash),
        expires_at,
        known: account.is_some(),
    };
    let bytes =
        serde_json::to_vec(&record).map_err(|e| ApiError::internal("storing a challenge", &e))?;
    state.broker.create_challenge(&challenge_id, &bytes).await?;
    Ok(Json(ChallengeResponse {
        challenge_id,
        user_id,
        enc: Bytes32::new(enc),
        expires_at,
    }))
}

pub(crate) async fn response(
    State(state): State<SharedState>,
    JsonBody(request): JsonBody<ProofRequest>,
) -> Result<Json<SessionResponse>, ApiError> {
    // Consumed before the proof is checked: every challenge gets exactly one answer, on
    // whichever instance it arrives, right or wrong.
    let bytes = state
        .broker
        .consume_challenge(&request.challenge_id)
        .await?
        .ok_or_else(expired)?;
    let record: ChallengeRecord = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::internal("reading a challenge", &e))?;
    let now = now_secs();
    if record.expires_at <= now {
        return Err(expired());
    }
    let stored = IssuedChallenge {
        enc: [0; 32],
        proof_hash: hex::decode(&record.proof_hash)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| ApiError::internal("reading a challenge", &"bad proof hash"))?,
    };
    let proof_ok = challenge::verify(&stored, request.proof.as_ref());
    if !proof_ok || !record.known {
        tracing::info!(user_id = %record.user_id, "challenge failed");
        return Err(ApiError::new(
            ErrorCode::ChallengeFailed,
            "the proof does not answer the challenge",
        ));
    }
    let mut account = state.db.account(record.user_id).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::ChallengeFailed,
            "the proof does not answer the challenge",
        )
    })?;
    if !account.activated {
        account = state.db.activate(account.user_id, now as i64).await?;
        tracing::info!(user_id = %account.user_id, "account activated");
    }
    let device_label = request.device_label.map(|label| {
        label
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_DEVICE_LABEL)
            .collect()
    });
    let secret =
        SecretBytes::<32>::random().map_err(|e| ApiError::internal("creating a session", &e))?;
    let token = SessionToken::from_bytes(*secret.expose());
    let expires_at = now + state.config.auth.session_ttl_secs;
    let session = SessionRecord {
        user_id: account.user_id,
        relay_epoch: state.db.relay_session_epoch().await?,
        user_epoch: account.session_epoch,
        created_at: now,
        expires_at,
        device_label,
    };
    let bytes =
        serde_json::to_vec(&session).map_err(|e| ApiError::internal("storing a session", &e))?;
    state
        .broker
        .put_session(&session_key(&token), &bytes)
        .await?;
    state.db.touch(account.user_id, now as i64).await?;
    tracing::info!(user_id = %account.user_id, "logged in");
    Ok(Json(SessionResponse {
        session_token: token,
        expires_at,
    }))
}

fn expired() -> ApiError {
    ApiError::new(
        ErrorCode::ChallengeExpired,
        "unknown, used or expired challenge: ask for a new one",
    )
}

pub(crate) async fn logout(
    State(state): State<SharedState>,
    session: Session,
) -> Result<StatusCode, ApiError> {
    state.broker.delete_session(&session.key).await?;
    Ok(StatusCode::NO_CONTENT)
}
