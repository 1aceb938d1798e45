//! A login session at one relay, and where the client gets an identity to log in again.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use plog_crypto::identity::IdentityKeyPair;
use plog_ipc_schema::token::SessionToken;
use reqwest::header::HeaderValue;
use uuid::Uuid;

/// Seconds before the relay's expiry at which a session counts as expired, for clock skew and
/// for the time a request takes.
const EXPIRY_MARGIN_SECS: u64 = 60;

/// Gives the client the identity key for its relay when it must log in again by itself, or
/// `None` when it cannot (the daemon is locked). The client asks for the key each time and
/// drops it right after the login, so a locked daemon leaves no key behind here.
pub type IdentitySource = Arc<dyn Fn() -> Option<IdentityKeyPair> + Send + Sync>;

/// A session at a relay: the account and its bearer token.
///
/// The token is wiped from memory when the last clone is dropped and never printed: `Debug`
/// shows `***`.
#[derive(Clone)]
pub struct Session {
    user_id: Uuid,
    expires_at: u64,
    token: Arc<SessionToken>,
}

impl Session {
    pub(crate) fn new(user_id: Uuid, token: SessionToken, expires_at: u64) -> Self {
        Self {
            user_id,
            expires_at,
            token: Arc::new(token),
        }
    }

    /// The account at the relay.
    #[must_use]
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// When the relay ends the session, unix seconds.
    #[must_use]
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Whether the session is expired, or about to be, by the local clock.
    #[must_use]
    pub fn is_expired(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        now.saturating_add(EXPIRY_MARGIN_SECS) >= self.expires_at
    }

    /// Whether `other` is this very session (not merely one of the same account).
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.token, &other.token)
    }

    /// The `Authorization` header, marked sensitive so that HTTP debugging never prints it.
    pub(crate) fn authorization(&self) -> HeaderValue {
        let text = self.token.to_authorization();
        // base64url and "Bearer " are visible ASCII: always a valid header value.
        let mut value =
            HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""));
        value.set_sensitive(true);
        value
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("token", &"***")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let session = Session::new(Uuid::from_u128(7), SessionToken::from_bytes([0x41; 32]), 9);
        let text = format!("{session:?}");
        assert!(text.contains("***"), "{text}");
        assert!(!text.contains("QUFB"), "{text}");
        assert!(session.authorization().is_sensitive());
        assert!(
            session
                .authorization()
                .to_str()
                .is_ok_and(|v| v.starts_with("Bearer QUFB"))
        );
    }

    #[test]
    fn expiry_uses_a_margin() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let token = || SessionToken::from_bytes([1; 32]);
        assert!(Session::new(Uuid::nil(), token(), now + 10).is_expired());
        assert!(!Session::new(Uuid::nil(), token(), now + 3600).is_expired());
    }

    #[test]
    fn clones_are_the_same_session() {
        let a = Session::new(Uuid::nil(), SessionToken::from_bytes([1; 32]), 1);
        let b = Session::new(Uuid::nil(), SessionToken::from_bytes([1; 32]), 1);
        assert!(a.same_as(&a.clone()));
        assert!(!a.same_as(&b));
    }
}
