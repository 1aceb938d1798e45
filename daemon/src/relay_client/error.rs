//! What can go wrong talking to a relay, classified for the D-Bus layer and for the sync
//! engine's retries.

use std::time::Duration;

use plog_crypto::CryptoError;
use plog_ipc_schema::dbus::DaemonError;
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::pin::CertPin;
use serde::Deserialize;

/// The longest relay message kept in an error; the rest is cut.
const MAX_MESSAGE_CHARS: usize = 300;

/// A failed relay call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The address is not an `https://` relay origin.
    #[error("{url:?} is not a relay address: {reason}")]
    InvalidUrl {
        /// What was given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The caller asked for something the protocol cannot express (e.g. replacing revision 0).
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What is wrong.
        reason: String,
    },
    /// The relay could not be reached, timed out, broke the connection or answered with a
    /// server error (`5xx`). Worth retrying later.
    #[error("relay {origin} is unreachable: {reason}")]
    Network {
        /// The relay.
        origin: String,
        /// The HTTP status, when the relay answered with a server error.
        status: Option<u16>,
        /// `Retry-After` of a `503`, if sent.
        retry_after: Option<Duration>,
        /// The cause, as text (the transport's chain of causes, or the relay's message).
        reason: String,
    },
    /// The relay presented a key other than the pinned one (or the announced next one).
    #[error(
        "relay {origin} presented a certificate key that does not match its pin: expected \
         {expected}, presented {presented}. If the operator changed the relay's key, confirm \
         the new pin with them and run `plog relay trust`"
    )]
    PinMismatch {
        /// The relay.
        origin: String,
        /// The stored pin.
        expected: CertPin,
        /// The pin of the certificate the relay presented.
        presented: CertPin,
    },
    /// The pin matched, but the certificate is not self-signed and does not verify against the
    /// system roots for this host, or could not be read.
    #[error("relay {origin} is not trusted: {reason}")]
    Certificate {
        /// The relay.
        origin: String,
        /// Why.
        reason: String,
    },
    /// `409` or `412`: a revision conflict, a fenced epoch, a handle or key already taken.
    #[error("conflict at the relay: {message}")]
    Conflict {
        /// The relay's code (`revision_conflict`, `epoch_fenced`, `handle_taken`,
        /// `account_exists`), if it sent a known one.
        code: Option<ErrorCode>,
        /// The relay's message.
        message: String,
    },
    /// `404`: no such thing, or nothing the caller may see.
    #[error("not found at the relay: {message}")]
    NotFound {
        /// The relay's message.
        message: String,
    },
    /// `401`: no valid session, or a failed or expired challenge.
    #[error("the relay refused the login or session: {message}")]
    Unauthorized {
        /// `unauthorized`, `challenge_failed`, `challenge_expired`, `fresh_session_required`.
        code: Option<ErrorCode>,
        /// The relay's message.
        message: String,
    },
    /// The call needs a session, there is none and none could be made (no identity to log in
    /// with, e.g. because the daemon is locked, or no account known).
    #[error("not logged in at relay {origin}")]
    NoSession {
        /// The relay.
        origin: String,
    },
    /// `413`: larger than the relay accepts, or over the account's quota.
    #[error("the relay refused the size: {message}")]
    TooLarge {
        /// `too_large` or `quota_exceeded`.
        code: Option<ErrorCode>,
        /// The relay's message.
        message: String,
    },
    /// `429`: slow down.
    #[error("the relay is rate limiting: {message}")]
    RateLimited {
        /// When to try again, if the relay said.
        retry_after: Option<Duration>,
        /// The relay's message.
        message: String,
    },
    /// Any other `4xx`.
    #[error("the relay refused the request ({status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The relay's code, if it sent a known one.
        code: Option<ErrorCode>,
        /// The relay's message.
        message: String,
    },
    /// `404` to an invite lookup or redemption: the relay does not tell an unknown invite
    /// from an expired or used-up one, and neither does this error.
    #[error("the invite is unknown, expired or used up")]
    InviteUnavailable,
    /// An answer larger than the caller allowed (e.g. a volume read into memory); nothing of
    /// it is kept.
    #[error("{what} is larger than the {limit} bytes allowed")]
    AnswerTooLarge {
        /// What was being read.
        what: String,
        /// The caller's limit, in bytes.
        limit: u64,
    },
    /// An answer that does not follow the protocol.
    #[error("relay {origin} answered outside the protocol: {what}")]
    Protocol {
        /// The relay.
        origin: String,
        /// What was wrong.
        what: String,
    },
    /// A local file or stream failed (the upload source or the download sink).
    #[error("cannot {action}: {source}")]
    Io {
        /// What was attempted.
        action: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The login proof could not be computed.
    #[error("login proof failed: {0}")]
    Crypto(#[from] CryptoError),
    /// The HTTPS client could not be set up.
    #[error("cannot set up the HTTPS client: {reason}")]
    Setup {
        /// Why.
        reason: String,
    },
}

impl RelayError {
    /// Whether trying the same call again later may succeed without anyone changing
    /// anything: network failures, timeouts, server errors and rate limiting. Conflicts, pin
    /// mismatches, refusals and local failures are not retryable.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Network { .. } | Self::RateLimited { .. })
    }

    /// How long the relay asked the caller to wait (`Retry-After`), if it said.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Network { retry_after, .. } | Self::RateLimited { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The relay's error code, when the error is an answer that carried a known one.
    #[must_use]
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Conflict { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::TooLarge { code, .. }
            | Self::Rejected { code, .. } => *code,
            Self::NotFound { .. } | Self::InviteUnavailable => Some(ErrorCode::NotFound),
            Self::RateLimited { .. } => Some(ErrorCode::RateLimited),
            _ => None,
        }
    }

    /// Whether this is the relay saying the session is gone (expired, logged out,
    /// invalidated): a new login may fix it.
    pub(crate) fn is_session_expired(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized {
                code: Some(ErrorCode::Unauthorized),
                ..
            }
        )
    }

    /// The error for a non-success answer: `status`, `Retry-After` and the body.
    pub(crate) fn from_answer(
        origin: &str,
        status: u16,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Self {
        let (code, message) = read_error_body(status, body);
        match status {
            401 => Self::Unauthorized { code, message },
            404 => Self::NotFound { message },
            409 | 412 => Self::Conflict { code, message },
            413 => Self::TooLarge { code, message },
            429 => Self::RateLimited {
                retry_after,
                message,
            },
            400..=499 => Self::Rejected {
                status,
                code,
                message,
            },
            500..=599 => Self::Network {
                origin: origin.to_owned(),
                status: Some(status),
                retry_after,
                reason: format!("server error {status}: {message}"),
            },
            _ => Self::Protocol {
                origin: origin.to_owned(),
                what: format!("unexpected HTTP status {status}"),
            },
        }
    }
}

/// The relay's `{code, message}`, tolerating codes this client does not know and bodies that
/// are not that shape at all (a proxy's error page, say).
fn read_error_body(status: u16, body: &[u8]) -> (Option<ErrorCode>, String) {
    #[derive(Deserialize)]
    struct Loose {
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Loose>(body) {
        Ok(loose) => {
            let message = if loose.message.is_empty() {
                loose.code.clone()
            } else {
                loose.message
            };
            (loose.code.parse().ok(), printable(&message))
        }
        Err(_) => (None, format!("HTTP status {status} without an error body")),
    }
}

/// The relay's text as it may be shown to a person: no control characters, bounded length.
fn printable(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MESSAGE_CHARS)
        .collect();
    if text.chars().count() > MAX_MESSAGE_CHARS {
        out.push('…');
    }
    out
}

impl From<RelayError> for DaemonError {
    fn from(error: RelayError) -> Self {
        let text = error.to_string();
        match error {
            RelayError::InvalidUrl { .. } | RelayError::InvalidRequest { .. } => {
                Self::InvalidArgument(text)
            }
            RelayError::Network { .. }
            | RelayError::RateLimited { .. }
            | RelayError::Certificate { .. } => Self::Network(text),
            RelayError::PinMismatch { .. } => Self::PinMismatch(text),
            RelayError::Conflict { .. } => Self::Conflict(text),
            RelayError::NotFound { .. } | RelayError::InviteUnavailable => Self::NotFound(text),
            RelayError::Unauthorized { .. } | RelayError::NoSession { .. } => {
                Self::PermissionDenied(text)
            }
            RelayError::Rejected {
                code: Some(ErrorCode::InvalidHandle | ErrorCode::BadRequest),
                ..
            } => Self::InvalidArgument(text),
            RelayError::Rejected { status: 403, .. } => Self::PermissionDenied(text),
            RelayError::TooLarge { .. }
            | RelayError::AnswerTooLarge { .. }
            | RelayError::Rejected { .. }
            | RelayError::Protocol { .. }
            | RelayError::Io { .. }
            | RelayError::Crypto(_)
            | RelayError::Setup { .. } => Self::Failed(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "https://relay.example";

    fn answer(status: u16, body: &str) -> RelayError {
        RelayError::from_answer(ORIGIN, status, None, body.as_bytes())
    }

    fn body(code: &str, message: &str) -> String {
        serde_json::json!({"code": code, "message": message}).to_string()
    }

    #[test]
    fn statuses_map_to_variants() {
        assert!(matches!(
            answer(409, &body("revision_conflict", "at 8")),
            RelayError::Conflict {
                code: Some(ErrorCode::RevisionConflict),
                ref message,
            } if message == "at 8"
        ));
        assert!(matches!(
            answer(412, "{}"),
            RelayError::Conflict { code: None, .. }
        ));
        assert!(matches!(
            answer(404, &body("not_found", "no")),
            RelayError::NotFound { .. }
        ));
        assert!(matches!(
            answer(401, &body("unauthorized", "expired")),
            RelayError::Unauthorized {
                code: Some(ErrorCode::Unauthorized),
                ..
            }
        ));
        assert!(matches!(
            answer(413, &body("quota_exceeded", "full")),
            RelayError::TooLarge {
                code: Some(ErrorCode::QuotaExceeded),
                ..
            }
        ));
        assert!(matches!(
            answer(403, &body("registration_closed", "closed")),
            RelayError::Rejected {
                status: 403,
                code: Some(ErrorCode::RegistrationClosed),
                ..
            }
        ));
        assert!(matches!(
            answer(418, &body("teapot", "short and stout")),
            RelayError::Rejected {
                status: 418,
                code: None,
                ref message,
            } if message == "short and stout"
        ));
        assert!(matches!(answer(302, ""), RelayError::Protocol { .. }));
    }

    #[test]
    fn server_errors_and_rate_limits_are_retryable() {
        let unavailable = RelayError::from_answer(
            ORIGIN,
            503,
            Some(Duration::from_secs(3)),
            body("unavailable", "NATS down").as_bytes(),
        );
        assert!(matches!(
            unavailable,
            RelayError::Network {
                status: Some(503),
                ..
            }
        ));
        assert!(unavailable.is_retryable());
        assert_eq!(unavailable.retry_after(), Some(Duration::from_secs(3)));
        assert!(unavailable.to_string().contains("NATS down"));

        let limited = RelayError::from_answer(
            ORIGIN,
            429,
            Some(Duration::from_secs(9)),
            body("rate_limited", "slow").as_bytes(),
        );
        assert!(limited.is_retryable());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(9)));
        assert_eq!(limited.code(), Some(ErrorCode::RateLimited));
        assert_eq!(
            RelayError::InviteUnavailable.code(),
            Some(ErrorCode::NotFound)
        );
        assert!(!RelayError::InviteUnavailable.is_retryable());

        for not in [
            answer(409, &body("revision_conflict", "x")),
            answer(404, &body("not_found", "x")),
            answer(401, &body("unauthorized", "x")),
            answer(413, &body("too_large", "x")),
            answer(400, &body("bad_request", "x")),
            RelayError::PinMismatch {
                origin: ORIGIN.into(),
                expected: CertPin::from_digest([1; 32]),
                presented: CertPin::from_digest([2; 32]),
            },
        ] {
            assert!(!not.is_retryable(), "{not}");
        }
    }

    #[test]
    fn relay_messages_are_made_printable_and_bounded() {
        let long = "x".repeat(1000);
        let RelayError::Rejected { message, .. } =
            answer(400, &body("bad_request", &format!("a\u{1b}[31mb{long}")))
        else {
            panic!("not rejected");
        };
        assert!(message.starts_with("a [31mb"));
        assert!(message.chars().count() <= MAX_MESSAGE_CHARS + 1);
        let RelayError::Rejected { message, .. } = answer(400, "<html>proxy</html>") else {
            panic!("not rejected");
        };
        assert_eq!(message, "HTTP status 400 without an error body");
    }

    #[test]
    fn pin_mismatch_names_both_pins() {
        let expected = CertPin::from_digest([0xaa; 32]);
        let presented = CertPin::from_digest([0xbb; 32]);
        let text = RelayError::PinMismatch {
            origin: ORIGIN.into(),
            expected,
            presented,
        }
        .to_string();
        assert!(text.contains(&expected.to_string()), "{text}");
        assert!(text.contains(&presented.to_string()), "{text}");
    }

    #[test]
    fn daemon_error_mapping() {
        use zbus::DBusError as _;
        let cases: Vec<(RelayError, &str)> = vec![
            (
                RelayError::PinMismatch {
                    origin: ORIGIN.into(),
                    expected: CertPin::from_digest([1; 32]),
                    presented: CertPin::from_digest([2; 32]),
                },
                "PinMismatch",
            ),
            (answer(503, &body("unavailable", "x")), "Network"),
            (answer(429, &body("rate_limited", "x")), "Network"),
            (answer(409, &body("revision_conflict", "x")), "Conflict"),
            (answer(404, &body("not_found", "x")), "NotFound"),
            (answer(401, &body("unauthorized", "x")), "PermissionDenied"),
            (answer(403, &body("forbidden", "x")), "PermissionDenied"),
            (answer(400, &body("invalid_handle", "x")), "InvalidArgument"),
            (answer(413, &body("too_large", "x")), "Failed"),
            (RelayError::InviteUnavailable, "NotFound"),
            (
                RelayError::AnswerTooLarge {
                    what: "volume".into(),
                    limit: 1,
                },
                "Failed",
            ),
            (
                RelayError::InvalidUrl {
                    url: "http://x".into(),
                    reason: "https only".into(),
                },
                "InvalidArgument",
            ),
        ];
        for (error, variant) in cases {
            let text = error.to_string();
            let mapped = DaemonError::from(error);
            assert_eq!(
                mapped.name().to_string(),
                format!("org.plurallog.Error.{variant}")
            );
            assert_eq!(mapped.description(), Some(text.as_str()));
        }
    }
}
