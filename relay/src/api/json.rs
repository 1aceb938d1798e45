//! A JSON body extractor whose every failure is an [`ApiError`] in the API's one shape.

use axum::extract::{FromRequest, Request};
use plog_ipc_schema::error::ErrorCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::state::SharedState;

/// A JSON request body of at most `limits.max_json_bytes`.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<SharedState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &SharedState) -> Result<Self, ApiError> {
        let limit = state.config.limits.max_json_bytes;
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::TooLarge,
                    format!("request body is larger than {limit} bytes"),
                )
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| ApiError::bad_request(format!("invalid JSON body: {error}")))
    }
}
