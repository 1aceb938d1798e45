//! Registration and the challenge login of DESIGN §5 (`docs/PROTOCOL.md` §7, §11.3).

use plog_crypto::challenge::{self, ChallengeContext};
use plog_crypto::identity::IdentityKeyPair;
use plog_ipc_schema::encoding::{Bytes32, PublicKeyB64};
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::handle::Handle;
use plog_ipc_schema::http::accounts::{AccountKind, RegisterRequest, RegisterResponse};
use plog_ipc_schema::http::auth::{
    ChallengeRequest, ChallengeResponse, ProofRequest, SessionResponse,
};
use plog_ipc_schema::http::paths;
use reqwest::header::AUTHORIZATION;
use uuid::Uuid;

use super::client::RelayClient;
use super::error::RelayError;
use super::session::Session;

impl RelayClient {
    /// Registers `identity`'s public key as an account of `kind`, asking for `handle`, and
    /// activates it by answering its first challenge. The client is then logged in.
    ///
    /// # Errors
    /// [`RelayError::Conflict`] with `account_exists` if the key is registered already (use
    /// [`RelayClient::find_account`]), [`RelayError::Rejected`] with `registration_closed`,
    /// and the errors of [`RelayClient::login`].
    pub async fn register(
        &self,
        identity: &IdentityKeyPair,
        kind: AccountKind,
        handle: Option<&Handle>,
    ) -> Result<Session, RelayError> {
        let request = RegisterRequest {
            kind,
            public_key: public_key_of(identity),
            handle: handle.cloned(),
        };
        let response = self
            .execute(
                self.inner
                    .http
                    .post(self.url(paths::ACCOUNTS))
                    .json(&request),
            )
            .await?;
        let RegisterResponse { user_id } = self.json(response, "POST /v1/accounts").await?;
        self.login(identity, user_id).await
    }

    /// Logs in to the account `user_id` with its identity key; the session becomes the
    /// client's.
    ///
    /// # Errors
    /// [`RelayError::Unauthorized`] with `challenge_failed` if the key is not that account's,
    /// [`RelayError::Protocol`] if the relay challenges another account than asked.
    pub async fn login(
        &self,
        identity: &IdentityKeyPair,
        user_id: Uuid,
    ) -> Result<Session, RelayError> {
        let issued = self.challenge(ChallengeRequest::UserId(user_id)).await?;
        if issued.user_id != user_id {
            return Err(self.protocol(format!(
                "asked to challenge account {user_id}, the relay challenged {}",
                issued.user_id
            )));
        }
        self.answer(identity, &issued).await
    }

    /// Finds the account registered with `identity`'s key by answering a challenge asked by
    /// public key: the restore path, so that `plog relay add` adopts an existing account.
    /// `Some(session)` (and the client is logged in) if there is one, `None` if the relay has
    /// no such account. An unactivated account is activated by this.
    ///
    /// A relay that binds logins to another origin than the one connected to (its configured
    /// public origin differs from this address) fails every proof, so its accounts are not
    /// found either; registering the key then fails with `account_exists`.
    ///
    /// # Errors
    /// [`RelayError`] for failures other than "no such account".
    pub async fn find_account(
        &self,
        identity: &IdentityKeyPair,
    ) -> Result<Option<Session>, RelayError> {
        let issued = self
            .challenge(ChallengeRequest::PublicKey(public_key_of(identity)))
            .await?;
        // An unknown key gets a challenge to a relay-derived pseudo-key, which no proof answers.
        match self.answer(identity, &issued).await {
            Ok(session) => Ok(Some(session)),
            Err(RelayError::Unauthorized {
                code: Some(ErrorCode::ChallengeFailed),
                ..
            }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Ends the current session at the relay (`DELETE /v1/auth/session`). A session the relay
    /// no longer knows counts as ended. The client forgets the session either way.
    ///
    /// # Errors
    /// [`RelayError`] if the relay could not be told.
    pub async fn logout(&self) -> Result<(), RelayError> {
        let Some(session) = self.session() else {
            return Ok(());
        };
        self.clear_session();
        let request = self
            .inner
            .http
            .delete(self.url(paths::AUTH_SESSION))
            .header(AUTHORIZATION, session.authorization());
        match self.execute(request).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_session_expired() => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn challenge(&self, request: ChallengeRequest) -> Result<ChallengeResponse, RelayError> {
        let response = self
            .execute(
                self.inner
                    .http
                    .post(self.url(paths::AUTH_CHALLENGE))
                    .json(&request),
            )
            .await?;
        self.json(response, "POST /v1/auth/challenge").await
    }

    /// Proves possession of the key for `issued` and stores the session.
    async fn answer(
        &self,
        identity: &IdentityKeyPair,
        issued: &ChallengeResponse,
    ) -> Result<Session, RelayError> {
        // The origin is the one this client connected to (and pinned), never one the relay
        // names: a proof is then useless at any other relay.
        let context = ChallengeContext {
            relay_origin: self.origin(),
            user_id: *issued.user_id.as_bytes(),
            challenge_id: *issued.challenge_id.as_bytes(),
        };
        let proof = challenge::prove(identity, issued.enc.as_bytes(), &context)?;
        let request = ProofRequest {
            challenge_id: issued.challenge_id,
            proof: Bytes32::new(*proof.expose()),
            device_label: self.inner.device_label.clone(),
        };
        let response = self
            .execute(
                self.inner
                    .http
                    .post(self.url(paths::AUTH_RESPONSE))
                    .json(&request),
            )
            .await?;
        let SessionResponse {
            session_token,
            expires_at,
        } = self.json(response, "POST /v1/auth/response").await?;
        let session = Session::new(issued.user_id, session_token, expires_at);
        self.set_session(session.clone());
        Ok(session)
    }
}

fn public_key_of(identity: &IdentityKeyPair) -> PublicKeyB64 {
    PublicKeyB64::new(*identity.public_key().as_bytes())
}
