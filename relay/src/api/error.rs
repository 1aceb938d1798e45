//! The one error shape of the API: `{code, message}` with the status of its code.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plog_ipc_schema::error::{ErrorBody, ErrorCode};

use crate::broker::BrokerError;
use crate::db::DbError;

/// A failed request, as the client will see it. Messages never contain secrets or content.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    /// Seconds for the `Retry-After` header, which every `429` carries.
    retry_after: Option<u64>,
}

/// `Retry-After` for a full mailbox: it empties only as its owner deletes mail or mail
/// expires, so retrying soon is pointless.
const FULL_MAILBOX_RETRY_AFTER_SECS: u64 = 3600;

impl ApiError {
    /// An error with a specific code and a message for the client.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 `rate_limited` for a token bucket that is empty for `wait` more: the message
    /// names `what` was limited, and `Retry-After` is `wait` rounded up to whole seconds.
    pub fn rate_limited(what: &str, wait: Duration) -> Self {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self::new(
            ErrorCode::RateLimited,
            format!("too many {what}; retry in {secs} s"),
        )
        .with_retry_after(secs)
    }

    /// The same error with a `Retry-After` header of `secs` seconds (at least 1).
    #[must_use]
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// 400 with the generic `bad_request` code.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 404 that never says whether the thing exists.
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "not found")
    }

    /// 401 for a missing, expired or invalidated session.
    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "no valid session: log in again (answer a new challenge)",
        )
    }

    /// A failure that is the relay's fault; the detail goes to the log, not to the client.
    pub fn internal(context: &str, detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(%detail, "{context}");
        Self::new(
            ErrorCode::Internal,
            format!("internal error while {context}"),
        )
    }

    /// The error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response =
            (status, axum::Json(ErrorBody::new(self.code, self.message))).into_response();
        if self.code == ErrorCode::Unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<BrokerError> for ApiError {
    fn from(error: BrokerError) -> Self {
        if matches!(error, BrokerError::MailboxFull) {
            return Self::new(
                ErrorCode::RateLimited,
                "the recipient's mailbox is full; retry later",
            )
            .with_retry_after(FULL_MAILBOX_RETRY_AFTER_SECS);
        }
        if error.is_unavailable() {
            tracing::warn!(%error, "NATS unavailable");
            Self::new(
                ErrorCode::Unavailable,
                "the relay's message broker is unreachable; retry later",
            )
        } else {
            Self::internal("using the message broker", &error)
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::AccountExists => Self::new(
                ErrorCode::AccountExists,
                "an account with this public key exists; log in with a challenge instead",
            ),
            DbError::HandleTaken => Self::new(ErrorCode::HandleTaken, "this handle is taken"),
            DbError::NotFound => Self::not_found(),
            DbError::RevisionConflict { current } => Self::new(
                ErrorCode::RevisionConflict,
                match current {
                    Some(revision) => {
                        format!("revision conflict: the current revision is {revision}")
                    }
                    None => "revision conflict: the volume does not exist".to_owned(),
                },
            ),
            DbError::EpochFenced { current } => Self::new(
                ErrorCode::EpochFenced,
                format!("the volume's key epoch is now {current}; re-encrypt under it"),
            ),
            DbError::QuotaExceeded { used, quota } => Self::new(
                ErrorCode::QuotaExceeded,
                format!("storage quota exceeded: {used} of {quota} bytes used"),
            ),
            DbError::TypeMismatch { .. } => Self::bad_request("a volume's type cannot change"),
            other if other.is_unavailable() => {
                tracing::warn!(error = %other, "database unavailable");
                Self::new(
                    ErrorCode::Unavailable,
                    "the relay's database is unreachable; retry later",
                )
            }
            other => Self::internal("using the database", &other),
        }
    }
}
