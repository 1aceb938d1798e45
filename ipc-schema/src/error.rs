//! The relay's one error shape: every failed request answers JSON `{"code", "message"}` with
//! the HTTP status of its [`ErrorCode`].
//!
//! `code` is the machine-readable class (snake_case, stable, listed below); `message` is for
//! people, names the problem and the way out, and never contains key material. A `429` also
//! carries a `Retry-After` header (seconds). Parsing rejects an unknown `code`: a client that
//! meets one falls back to the HTTP status.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Every failure class the relay reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Malformed input: bad JSON, bad base64url, bad UUID, missing or bad header (400).
    BadRequest,
    /// A handle that breaks the handle rules (400).
    InvalidHandle,
    /// No session, or an expired or invalidated one (401).
    Unauthorized,
    /// The challenge is unknown, used or past its lifetime (401).
    ChallengeExpired,
    /// The proof does not match the challenge (401).
    ChallengeFailed,
    /// The action (e.g. deleting the account) needs a session younger than a few minutes:
    /// answer a fresh challenge and retry (401).
    FreshSessionRequired,
    /// Authenticated, but not allowed (403).
    Forbidden,
    /// The account has not yet answered its first challenge (403).
    NotActivated,
    /// The relay does not accept new accounts (403).
    RegistrationClosed,
    /// No such resource, or none the caller may see; never a hint that it exists (404).
    NotFound,
    /// `If-Match` / `If-None-Match` does not match the current revision (409).
    RevisionConflict,
    /// The upload is under a key epoch older than the volume's current one (409).
    EpochFenced,
    /// The handle belongs to another account (409).
    HandleTaken,
    /// An account with this public key exists already (409).
    AccountExists,
    /// The body is larger than the relay accepts for this request (413).
    TooLarge,
    /// Storing this would exceed the account's storage quota (413).
    QuotaExceeded,
    /// Too many requests of this class; retry after `Retry-After` seconds (429).
    RateLimited,
    /// A dependency (NATS, database) is unreachable; retry later (503).
    Unavailable,
    /// A bug or unexpected state on the relay (500).
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [Self; 19] = [
        Self::BadRequest,
        Self::InvalidHandle,
        Self::Unauthorized,
        Self::ChallengeExpired,
        Self::ChallengeFailed,
        Self::FreshSessionRequired,
        Self::Forbidden,
        Self::NotActivated,
        Self::RegistrationClosed,
        Self::NotFound,
        Self::RevisionConflict,
        Self::EpochFenced,
        Self::HandleTaken,
        Self::AccountExists,
        Self::TooLarge,
        Self::QuotaExceeded,
        Self::RateLimited,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The HTTP status this code is sent with.
    #[must_use]
    pub const fn http_status(self) -> u16 {
        match self {
            Self::BadRequest | Self::InvalidHandle => 400,
            Self::Unauthorized
            | Self::ChallengeExpired
            | Self::ChallengeFailed
            | Self::FreshSessionRequired => 401,
            Self::Forbidden | Self::NotActivated | Self::RegistrationClosed => 403,
            Self::NotFound => 404,
            Self::RevisionConflict
            | Self::EpochFenced
            | Self::HandleTaken
            | Self::AccountExists => 409,
            Self::TooLarge | Self::QuotaExceeded => 413,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    /// The wire string, e.g. `"revision_conflict"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidHandle => "invalid_handle",
            Self::Unauthorized => "unauthorized",
            Self::ChallengeExpired => "challenge_expired",
            Self::ChallengeFailed => "challenge_failed",
            Self::FreshSessionRequired => "fresh_session_required",
            Self::Forbidden => "forbidden",
            Self::NotActivated => "not_activated",
            Self::RegistrationClosed => "registration_closed",
            Self::NotFound => "not_found",
            Self::RevisionConflict => "revision_conflict",
            Self::EpochFenced => "epoch_fenced",
            Self::HandleTaken => "handle_taken",
            Self::AccountExists => "account_exists",
            Self::TooLarge => "too_large",
            Self::QuotaExceeded => "quota_exceeded",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown relay error code")]
pub struct UnknownErrorCode;

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or(UnknownErrorCode)
    }
}

/// The JSON body of every relay error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The failure class.
    pub code: ErrorCode,
    /// A human-readable explanation; never key material.
    pub message: String,
}

impl ErrorBody {
    /// Builds an error body.
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status to send it with.
    #[must_use]
    pub const fn http_status(&self) -> u16 {
        self.code.http_status()
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ErrorBody {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_exact() {
        let body = ErrorBody::new(ErrorCode::RevisionConflict, "volume is at revision 8");
        assert_eq!(
            serde_json::to_string(&body).expect("serialize"),
            r#"{"code":"revision_conflict","message":"volume is at revision 8"}"#
        );
        let back: ErrorBody =
            serde_json::from_str(r#"{"message":"slow down","code":"rate_limited"}"#)
                .expect("deserialize");
        assert_eq!(back, ErrorBody::new(ErrorCode::RateLimited, "slow down"));
        assert_eq!(back.http_status(), 429);
    }

    #[test]
    fn serde_name_display_and_from_str_agree() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).expect("serialize");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(code.to_string(), code.as_str());
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            assert_eq!(
                serde_json::from_str::<ErrorCode>(&json).expect("deserialize"),
                code
            );
        }
    }

    #[test]
    fn statuses() {
        let expected = [
            (ErrorCode::BadRequest, 400),
            (ErrorCode::InvalidHandle, 400),
            (ErrorCode::Unauthorized, 401),
            (ErrorCode::ChallengeExpired, 401),
            (ErrorCode::ChallengeFailed, 401),
            (ErrorCode::FreshSessionRequired, 401),
            (ErrorCode::Forbidden, 403),
            (ErrorCode::NotActivated, 403),
            (ErrorCode::RegistrationClosed, 403),
            (ErrorCode::NotFound, 404),
            (ErrorCode::RevisionConflict, 409),
            (ErrorCode::EpochFenced, 409),
            (ErrorCode::HandleTaken, 409),
            (ErrorCode::AccountExists, 409),
            (ErrorCode::TooLarge, 413),
            (ErrorCode::QuotaExceeded, 413),
            (ErrorCode::RateLimited, 429),
            (ErrorCode::Unavailable, 503),
            (ErrorCode::Internal, 500),
        ];
        assert_eq!(expected.len(), ErrorCode::ALL.len());
        for (code, status) in expected {
            assert_eq!(code.http_status(), status, "{code}");
        }
    }

    #[test]
    fn rejects_unknown_codes() {
        assert_eq!("teapot".parse::<ErrorCode>(), Err(UnknownErrorCode));
        assert_eq!("BadRequest".parse::<ErrorCode>(), Err(UnknownErrorCode));
        assert!(serde_json::from_str::<ErrorBody>(r#"{"code":"teapot","message":"x"}"#).is_err());
        assert!(serde_json::from_str::<ErrorBody>(r#"{"code":"bad_request"}"#).is_err());
    }
}
