//! The caller's account: handle lookup, taking and releasing a handle, deleting the account
//! (`docs/PROTOCOL.md` §11.4).

use std::future::ready;

use plog_crypto::identity::IdentityKeyPair;
use plog_ipc_schema::handle::Handle;
use plog_ipc_schema::http::handles::{HandleLookup, SetHandleRequest};
use plog_ipc_schema::http::paths;
use reqwest::header::AUTHORIZATION;

use super::client::RelayClient;
use super::error::RelayError;

impl RelayClient {
    /// `GET /v1/handles/{handle}`: the account holding `handle`, `None` if nobody does. The key
    /// is unverified: a handle is not a friend until safety numbers match.
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn lookup_handle(&self, handle: &Handle) -> Result<Option<HandleLookup>, RelayError> {
        let url = self.url(&paths::handle(handle));
        match self
            .execute_authed(true, |_| ready(Ok(self.inner.http.get(&url))))
            .await
        {
            Ok(response) => self.json(response, "GET /v1/handles").await.map(Some),
            Err(RelayError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `PUT /v1/me/handle`: takes `handle` for this account (replacing any other).
    ///
    /// # Errors
    /// [`RelayError::Conflict`] with `handle_taken` if another account holds it.
    pub async fn set_handle(&self, handle: &Handle) -> Result<(), RelayError> {
        let url = self.url(paths::ME_HANDLE);
        let body = SetHandleRequest {
            handle: handle.clone(),
        };
        self.execute_authed(true, |_| ready(Ok(self.inner.http.put(&url).json(&body))))
            .await
            .map(drop)
    }

    /// `DELETE /v1/me/handle`: gives up this account's handle (none held is fine).
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn release_handle(&self) -> Result<(), RelayError> {
        let url = self.url(paths::ME_HANDLE);
        self.execute_authed(true, |_| ready(Ok(self.inner.http.delete(&url))))
            .await
            .map(drop)
    }

    /// `DELETE /v1/me`: deletes this account and everything of it at the relay. The relay
    /// demands a fresh session, so this logs in anew with `identity` first (by the known
    /// account, or by key). The client then forgets account and session.
    ///
    /// # Errors
    /// [`RelayError::NotFound`] if the relay has no account for `identity`, and the errors of
    /// the login and the deletion.
    pub async fn delete_account(&self, identity: &IdentityKeyPair) -> Result<(), RelayError> {
        let session = match self.account() {
            Some(user_id) => self.login(identity, user_id).await?,
            None => self
                .find_account(identity)
                .await?
                .ok_or_else(|| RelayError::NotFound {
                    message: format!("no account for this identity at {}", self.origin()),
                })?,
        };
        let request = self
            .inner
            .http
            .delete(self.url(paths::ME))
            .header(AUTHORIZATION, session.authorization());
        self.execute(request).await?;
        self.forget_account();
        Ok(())
    }
}
