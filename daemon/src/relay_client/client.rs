//! [`RelayClient`]: one pinned relay, its session, and the request plumbing every call shares
//! (typed errors, bounded answers, one automatic re-login).

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use plog_crypto::identity::normalize_origin;
use plog_ipc_schema::http::info::RelayInfo;
use plog_ipc_schema::http::paths;
use plog_ipc_schema::pin::CertPin;
use reqwest::header::AUTHORIZATION;
use reqwest::{RequestBuilder, Response};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::RelayError;
use super::session::{IdentitySource, Session};
use super::transport::{self, IdleWatch, MAX_ERROR_BYTES, MAX_JSON_BYTES, ReadError, Timeouts};
use super::verifier::{PinnedVerifier, Pins, Refusal, Roots, refusal_in};

/// The canonical `https://` origin of `url`, or why it is not one.
pub(crate) fn https_origin(url: &str) -> Result<String, RelayError> {
    let invalid = |reason: String| RelayError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let origin = normalize_origin(url).map_err(|e| invalid(e.to_string()))?;
    if !origin.starts_with("https://") {
        return Err(invalid(
            "relays are reached over https:// only (TLS with a pinned certificate)".to_owned(),
        ));
    }
    Ok(origin)
}

/// Settings of a [`RelayClient`] beyond its address and pin.
#[must_use]
pub struct RelayClientBuilder {
    url: String,
    pins: Pins,
    timeouts: Timeouts,
    device_label: Option<String>,
    account: Option<Uuid>,
    identity_source: Option<IdentitySource>,
}

impl fmt::Debug for RelayClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayClientBuilder")
            .field("url", &self.url)
            .field("pins", &self.pins)
            .field("timeouts", &self.timeouts)
            .field("device_label", &self.device_label)
            .field("account", &self.account)
            .field("identity_source", &self.identity_source.is_some())
            .finish()
    }
}

impl RelayClientBuilder {
    /// Also accepts the certificate key the relay announced as its next one
    /// (`next_certificate_pin` of `/v1/info`), so a rotation needs no new approval.
    pub fn next_pin(mut self, next: Option<CertPin>) -> Self {
        self.pins.next = next;
        self
    }

    /// Connect and idle timeouts.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The label sessions get at the relay (shown to the user only).
    pub fn device_label(mut self, label: impl Into<String>) -> Self {
        self.device_label = Some(label.into());
        self
    }

    /// The account this installation has at the relay, if known; used to log in again.
    pub fn account(mut self, user_id: Uuid) -> Self {
        self.account = Some(user_id);
        self
    }

    /// Lets the client log in by itself when it has no valid session (see [`IdentitySource`]).
    pub fn identity_source(mut self, source: IdentitySource) -> Self {
        self.identity_source = Some(source);
        self
    }

    /// Builds the client. Nothing is sent yet.
    ///
    /// # Errors
    /// [`RelayError::InvalidUrl`] for anything but an `https://` origin;
    /// [`RelayError::Setup`] if the TLS client cannot be built.
    pub fn build(self) -> Result<RelayClient, RelayError> {
        let origin = https_origin(&self.url)?;
        let provider = transport::provider();
        let verifier = Arc::new(PinnedVerifier::new(
            self.pins,
            Arc::clone(&provider),
            Roots::System,
        ));
        let http = transport::http_client(provider, verifier.clone(), self.timeouts)?;
        Ok(RelayClient {
            inner: Arc::new(Inner {
                origin,
                http,
                timeouts: self.timeouts,
                verifier,
                device_label: self.device_label,
                identity_source: self.identity_source,
                auth: Mutex::new(AuthState {
                    account: self.account,
                    session: None,
                }),
                login_lock: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

/// The client of one pinned relay. Cheap to clone; clones share connections and the session.
#[derive(Clone)]
pub struct RelayClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) origin: String,
    pub(crate) http: reqwest::Client,
    pub(crate) timeouts: Timeouts,
    verifier: Arc<PinnedVerifier>,
    pub(crate) device_label: Option<String>,
    identity_source: Option<IdentitySource>,
    auth: Mutex<AuthState>,
    /// Held while logging in again by itself, so that concurrent calls that all meet an
    /// expired session log in once.
    login_lock: tokio::sync::Mutex<()>,
}

struct AuthState {
    account: Option<Uuid>,
    session: Option<Session>,
}

impl fmt::Debug for RelayClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayClient")
            .field("origin", &self.inner.origin)
            .field("pins", &self.inner.verifier.pins())
            .field("account", &self.account())
            .finish_non_exhaustive()
    }
}

impl RelayClient {
    /// A client for the relay at `url` (normalised to its origin), trusting the certificate
    /// key `pin`. Use [`RelayClient::builder`] for the other settings.
    ///
    /// # Errors
    /// As [`RelayClientBuilder::build`].
    pub fn new(url: &str, pin: CertPin) -> Result<Self, RelayError> {
        Self::builder(url, pin).build()
    }

    /// Starts a client for the relay at `url` trusting `pin`.
    pub fn builder(url: &str, pin: CertPin) -> RelayClientBuilder {
        RelayClientBuilder {
            url: url.to_owned(),
            pins: Pins {
                current: pin,
                next: None,
            },
            timeouts: Timeouts::default(),
            device_label: None,
            account: None,
            identity_source: None,
        }
    }

    /// The relay's canonical origin: what logins are bound to and what the relay is known by.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The pin this client requires.
    #[must_use]
    pub fn pin(&self) -> CertPin {
        self.inner.verifier.pins().current
    }

    /// The next pin this client also accepts, if any.
    #[must_use]
    pub fn next_pin(&self) -> Option<CertPin> {
        self.inner.verifier.pins().next
    }

    /// The pin of the certificate the relay presented last, accepted or not. After a rotation
    /// to the announced next key this is the next pin, which the caller then stores.
    #[must_use]
    pub fn presented_pin(&self) -> Option<CertPin> {
        self.inner.verifier.last_presented()
    }

    /// The account at this relay, once registered, found or configured.
    #[must_use]
    pub fn account(&self) -> Option<Uuid> {
        self.auth_state().account
    }

    /// The current session, if logged in.
    #[must_use]
    pub fn session(&self) -> Option<Session> {
        self.auth_state().session.clone()
    }

    /// `GET /v1/info`: what the relay says about itself. Only `next_certificate_pin` is acted
    /// on (by the caller, through [`RelayClientBuilder::next_pin`]); nothing here is bound into
    /// cryptography.
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn info(&self) -> Result<RelayInfo, RelayError> {
        let response = self
            .execute(self.inner.http.get(self.url(paths::INFO)))
            .await?;
        self.json(response, "GET /v1/info").await
    }

    fn auth_state(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.inner
            .auth
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_session(&self, session: Session) {
        let mut state = self.auth_state();
        state.account = Some(session.user_id());
        state.session = Some(session);
    }

    pub(crate) fn clear_session(&self) {
        self.auth_state().session = None;
    }

    /// Forgets the account and its session (after the account was deleted).
    pub(crate) fn forget_account(&self) {
        let mut state = self.auth_state();
        state.account = None;
        state.session = None;
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.origin)
    }

    /// Sends a request; a non-success answer becomes its typed error.
    pub(crate) async fn execute(&self, request: RequestBuilder) -> Result<Response, RelayError> {
        self.execute_watched(request, &IdleWatch::new()).await
    }

    /// [`Self::execute`] for a request whose body reports its progress to `watch`.
    pub(crate) async fn execute_watched(
        &self,
        request: RequestBuilder,
        watch: &IdleWatch,
    ) -> Result<Response, RelayError> {
        let idle = self.inner.timeouts.idle;
        let mut response = watch
            .run(idle, request.send())
            .await
            .map_err(|idle| self.idle_error(idle))?
            .map_err(|e| self.transport_error(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = transport::retry_after(&response);
        let body = transport::read_limited(&mut response, MAX_ERROR_BYTES, idle)
            .await
            .unwrap_or_default();
        Err(RelayError::from_answer(
            &self.inner.origin,
            status,
            retry_after,
            &body,
        ))
    }

    /// Sends a request built by `build` (given the watch its body reports progress to) with
    /// the session's bearer token. Without a valid session it first logs in through the
    /// identity source. If the relay answers that the session is gone and `replayable` is set,
    /// it logs in again and sends a freshly built request once more.
    pub(crate) async fn execute_authed<F, Fut>(
        &self,
        replayable: bool,
        mut build: F,
    ) -> Result<Response, RelayError>
    where
        F: FnMut(&IdleWatch) -> Fut,
        Fut: Future<Output = Result<RequestBuilder, RelayError>>,
    {
        let session = self.usable_session().await?;
        let watch = IdleWatch::new();
        let request = build(&watch)
            .await?
            .header(AUTHORIZATION, session.authorization());
        match self.execute_watched(request, &watch).await {
            Err(err) if err.is_session_expired() => {
                self.drop_session_if_current(&session);
                if !replayable {
                    return Err(err);
                }
                let Some(fresh) = self.login_again(Some(&session)).await? else {
                    return Err(err);
                };
                let watch = IdleWatch::new();
                let request = build(&watch)
                    .await?
                    .header(AUTHORIZATION, fresh.authorization());
                self.execute_watched(request, &watch).await
            }
            other => other,
        }
    }

    /// The current session if still valid, else a new one from the identity source.
    async fn usable_session(&self) -> Result<Session, RelayError> {
        if let Some(session) = self.session().filter(|s| !s.is_expired()) {
            return Ok(session);
        }
        let stale = self.session();
        self.login_again(stale.as_ref())
            .await?
            .ok_or_else(|| RelayError::NoSession {
                origin: self.inner.origin.clone(),
            })
    }

    fn drop_session_if_current(&self, session: &Session) {
        let mut state = self.auth_state();
        if state.session.as_ref().is_some_and(|s| s.same_as(session)) {
            state.session = None;
        }
    }

    /// Logs in through the identity source, unless another call already replaced `stale`.
    /// `None` when there is no identity to log in with.
    async fn login_again(&self, stale: Option<&Session>) -> Result<Option<Session>, RelayError> {
        let _guard = self.inner.login_lock.lock().await;
        if let Some(current) = self.session()
            && !current.is_expired()
            && stale.is_none_or(|s| !s.same_as(&current))
        {
            return Ok(Some(current));
        }
        let Some(source) = &self.inner.identity_source else {
            return Ok(None);
        };
        let Some(identity) = source() else {
            return Ok(None);
        };
        match self.account() {
            Some(user_id) => self.login(&identity, user_id).await.map(Some),
            None => self.find_account(&identity).await,
        }
    }

    /// Reads a JSON answer of bounded size.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        mut response: Response,
        what: &str,
    ) -> Result<T, RelayError> {
        let body = transport::read_limited(&mut response, MAX_JSON_BYTES, self.inner.timeouts.idle)
            .await
            .map_err(|e| match e {
                ReadError::TooLong => self.protocol(format!(
                    "the answer to {what} is larger than {MAX_JSON_BYTES} bytes"
                )),
                other => self.read_error(other),
            })?;
        serde_json::from_slice(&body)
            .map_err(|e| self.protocol(format!("malformed answer to {what}: {e}")))
    }

    /// A failed read of an answer body.
    pub(crate) fn read_error(&self, error: ReadError) -> RelayError {
        match error {
            ReadError::Transport(e) => self.transport_error(&e),
            ReadError::Idle(idle) => self.idle_error(idle),
            ReadError::TooLong => self.protocol("an answer is larger than expected".to_owned()),
        }
    }

    fn idle_error(&self, idle: std::time::Duration) -> RelayError {
        RelayError::Network {
            origin: self.inner.origin.clone(),
            status: None,
            retry_after: None,
            reason: format!("timed out: no progress for {} s", idle.as_secs_f32()),
        }
    }

    pub(crate) fn protocol(&self, what: String) -> RelayError {
        RelayError::Protocol {
            origin: self.inner.origin.clone(),
            what,
        }
    }

    /// A transport failure as a typed error; a refused certificate is named as such.
    pub(crate) fn transport_error(&self, error: &reqwest::Error) -> RelayError {
        let refusal = refusal_in(error).or_else(|| {
            // A refusal normally travels inside the error; the record is the fallback in case
            // a layer drops the cause.
            if error.is_connect() {
                self.inner.verifier.take_refusal()
            } else {
                None
            }
        });
        let origin = self.inner.origin.clone();
        match refusal {
            Some(Refusal::Pin {
                expected,
                presented,
            }) => RelayError::PinMismatch {
                origin,
                expected,
                presented,
            },
            Some(Refusal::Untrusted { reason }) => RelayError::Certificate { origin, reason },
            None => RelayError::Network {
                origin,
                status: None,
                retry_after: None,
                reason: if error.is_timeout() {
                    format!("timed out ({})", transport::describe_chain(error))
                } else {
                    transport::describe_chain(error)
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_origins() {
        assert_eq!(
            https_origin("https://Relay.Example:443/").ok().as_deref(),
            Some("https://relay.example")
        );
        assert_eq!(
            https_origin("https://[0:0::1]:8443").ok().as_deref(),
            Some("https://[::1]:8443")
        );
        for bad in [
            "http://127.0.0.1:8080",
            "http://relay.example",
            "relay.example",
            "https://relay.example/v1",
            "ftp://relay.example",
        ] {
            let err = https_origin(bad).expect_err(bad);
            assert!(matches!(err, RelayError::InvalidUrl { .. }), "{bad}: {err}");
        }
        let err = https_origin("http://127.0.0.1:8080").expect_err("plain http");
        assert!(err.to_string().contains("https://"), "{err}");
    }

    #[test]
    fn builder_keeps_its_settings() {
        let pin = CertPin::from_digest([1; 32]);
        let next = CertPin::from_digest([2; 32]);
        let user = Uuid::from_u128(5);
        let client = RelayClient::builder("https://relay.example:8443/", pin)
            .next_pin(Some(next))
            .account(user)
            .build()
            .expect("client");
        assert_eq!(client.origin(), "https://relay.example:8443");
        assert_eq!(client.pin(), pin);
        assert_eq!(client.next_pin(), Some(next));
        assert_eq!(client.account(), Some(user));
        assert!(client.session().is_none());
        assert!(client.presented_pin().is_none());
    }

    #[tokio::test]
    async fn calls_without_a_session_or_identity_say_so() {
        let client = RelayClient::new("https://relay.example", CertPin::from_digest([1; 32]))
            .expect("client");
        let err = client.list_volumes().await.expect_err("no session");
        assert!(matches!(err, RelayError::NoSession { .. }), "{err}");
        assert!(!err.is_retryable());
    }
}
