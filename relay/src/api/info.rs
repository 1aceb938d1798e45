//! `GET /v1/info`, `GET /healthz`, `GET /readyz`, `GET /v1/openapi.json`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use plog_ipc_schema::http::info::{Limits, RegistrationPolicy, RelayInfo};
use serde_json::json;

use crate::state::SharedState;

/// The OpenAPI description of this API, also kept as `docs/openapi.json`.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

pub(crate) async fn info(State(state): State<SharedState>) -> Json<RelayInfo> {
    let config = &state.config;
    Json(RelayInfo {
        name: config.name.clone(),
        version: crate::VERSION.to_owned(),
        limits: Limits {
            max_volume_bytes: config.limits.max_volume_bytes,
            quota_bytes: config.limits.quota_bytes,
        },
        registration: if config.registration.open {
            RegistrationPolicy::Open
        } else {
            RegistrationPolicy::Closed
        },
        ip_retention_days: 0,
        next_certificate_pin: None,
    })
}

pub(crate) async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready when both the database and NATS answer.
pub(crate) async fn readyz(State(state): State<SharedState>) -> impl IntoResponse {
    let database = state.db.ping().await.is_ok();
    let nats = state.broker.ping().await.is_ok();
    let status = if database && nats {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({ "status": if status == StatusCode::OK { "ready" } else { "unavailable" },
                     "database": database, "nats": nats }),
        ),
    )
}

pub(crate) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
