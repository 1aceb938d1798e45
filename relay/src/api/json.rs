//! Reading JSON request bodies; every failure is an [`ApiError`] in the API's one shape.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use plog_ipc_schema::error::ErrorCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::state::SharedState;

/// Bytes of JSON allowed around the base64url envelope of a mail post or a redemption.
const ENVELOPE_JSON_ALLOWANCE: usize = 1024;

/// A JSON request body of at most `limits.max_json_bytes`.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<SharedState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &SharedState) -> Result<Self, ApiError> {
        read_json(request.into_body(), state.config.limits.max_json_bytes)
            .await
            .map(JsonBody)
    }
}

/// Reads a JSON body of at most `limit` bytes: `413 too_large` beyond, `400 bad_request` if
/// it does not parse as `T`.
pub(crate) async fn read_json<T: DeserializeOwned>(
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

/// The body limit of a request that carries one envelope (a mail post, a redemption): the
/// largest envelope (`mailbox.max_envelope_bytes`) in base64url plus room for the rest of the
/// JSON, or the general JSON limit if that is larger. The envelope's own size is checked
/// after decoding; this only bounds what is read.
pub(crate) fn envelope_body_limit(state: &SharedState) -> usize {
    let encoded = state.config.mailbox.max_envelope_bytes.div_ceil(3) * 4;
    state
        .config
        .limits
        .max_json_bytes
        .max(encoded + ENVELOPE_JSON_ALLOWANCE)
}
