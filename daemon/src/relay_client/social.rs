//! Sharing calls: invites, the mailbox, link tokens, mail settings and grants
//! (`docs/PROTOCOL.md` §11, `plog_ipc_schema::http::{invites, mailbox, links, grants}`).
//!
//! Every call here needs a session and logs in again by itself as the other calls do. Nothing
//! here opens or checks an envelope or a key block: they are opaque bytes to this layer, and
//! the caller authenticates them.

use std::future::ready;

use plog_ipc_schema::encoding::{B64Bytes, Bytes32};
use plog_ipc_schema::http::grants::{GrantEntry, GrantListing, GrantRequest};
use plog_ipc_schema::http::invites::{
    InviteCreateRequest, InviteCreated, InviteEntry, InviteListing, InviteLookup,
    InviteRedeemRequest, Locator, invite_id_of,
};
use plog_ipc_schema::http::links::LinkRequest;
use plog_ipc_schema::http::mailbox::{
    MailListing, MailMessage, MailPostRequest, MailRoute, MailSettings,
};
use plog_ipc_schema::http::paths;
use uuid::Uuid;

use super::client::RelayClient;
use super::error::RelayError;

/// How many pages [`RelayClient::all_mail`] reads at most in one call, so that a mailbox that
/// keeps filling (or a relay that never ends a listing) cannot keep it busy forever.
pub const MAIL_PAGES_PER_CALL: usize = 10;

/// `Ok(true)` for a success, `Ok(false)` for `404`, else the error.
fn found<T>(result: Result<T, RelayError>) -> Result<bool, RelayError> {
    match result {
        Ok(_) => Ok(true),
        Err(RelayError::NotFound { .. }) => Ok(false),
        Err(err) => Err(err),
    }
}

impl RelayClient {
    /// `POST /v1/invites`: registers an invite by the hash of its locator (the secret half of
    /// the code never leaves this device). The relay may shorten `expires_at`; the answer says
    /// what it stored.
    ///
    /// # Errors
    /// [`RelayError::Rejected`] (`bad_request`) for a past expiry or a number of uses the relay
    /// does not allow, [`RelayError::Conflict`] if an invite with this locator hash exists
    /// already (make a new code), [`RelayError::Protocol`] if the relay reports an invite id
    /// other than the one the locator hash names ([`invite_id_of`]), and the other
    /// [`RelayError`]s.
    pub async fn create_invite(
        &self,
        locator_hash: [u8; 32],
        expires_at: u64,
        uses: u32,
    ) -> Result<InviteCreated, RelayError> {
        let url = self.url(paths::INVITES);
        let body = InviteCreateRequest {
            locator_hash: Bytes32::new(locator_hash),
            expires_at,
            uses,
        };
        let response = self
            .execute_authed(true, |_| ready(Ok(self.inner.http.post(&url).json(&body))))
            .await?;
        let created: InviteCreated = self.json(response, "POST /v1/invites").await?;
        let expected = invite_id_of(&body.locator_hash);
        if created.invite_id != expected {
            return Err(self.protocol(format!(
                "registered invite {expected}, the relay reports invite {}",
                created.invite_id
            )));
        }
        Ok(created)
    }

    /// `GET /v1/invites`: this account's invites that are neither expired nor used up, oldest
    /// first.
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn list_invites(&self) -> Result<Vec<InviteEntry>, RelayError> {
        let url = self.url(paths::INVITES);
        let response = self
            .execute_authed(true, |_| ready(Ok(self.inner.http.get(&url))))
            .await?;
        let listing: InviteListing = self.json(response, "GET /v1/invites").await?;
        Ok(listing.invites)
    }

    /// `DELETE /v1/invites/{invite_id}`: withdraws one of this account's invites. `false` if
    /// there was none by that id (already withdrawn, expired or used up).
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn delete_invite(&self, invite_id: Uuid) -> Result<bool, RelayError> {
        let url = self.url(&paths::invite_by_id(invite_id));
        found(
            self.execute_authed(true, |_| ready(Ok(self.inner.http.delete(&url))))
                .await,
        )
    }

    /// `GET /v1/invites/{locator}`: the owner of an invite, `None` if the invite is unknown,
    /// expired or used up. The key is what the relay claims: the caller must check it against
    /// the fingerprint the code's secret carries before trusting it.
    ///
    /// # Errors
    /// [`RelayError::RateLimited`] (lookups are rate limited) and the other [`RelayError`]s.
    pub async fn lookup_invite(
        &self,
        locator: &[u8; 16],
    ) -> Result<Option<InviteLookup>, RelayError> {
        let url = self.url(&paths::invite_by_locator(&Locator::new(*locator)));
        match self
            .execute_authed(true, |_| ready(Ok(self.inner.http.get(&url))))
            .await
        {
            Ok(response) => self
                .json(response, "GET /v1/invites/{locator}")
                .await
                .map(Some),
            Err(RelayError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `POST /v1/invites/redeem`: delivers `envelope` (a friend request sealed to the invite's
    /// owner) to the owner's mailbox and spends one use of the invite.
    ///
    /// # Errors
    /// [`RelayError::InviteUnavailable`] if the invite is unknown, expired or used up;
    /// [`RelayError::Rejected`] (`bad_request`) for one's own invite or an empty envelope;
    /// [`RelayError::TooLarge`] for an oversized envelope; [`RelayError::RateLimited`] while
    /// the owner's mailbox is full; the other [`RelayError`]s.
    pub async fn redeem_invite(
        &self,
        locator: &[u8; 16],
        envelope: Vec<u8>,
    ) -> Result<(), RelayError> {
        let url = self.url(paths::INVITES_REDEEM);
        let body = InviteRedeemRequest {
            locator: Locator::new(*locator),
            envelope: B64Bytes::new(envelope),
        };
        match self
            .execute_authed(true, |_| ready(Ok(self.inner.http.post(&url).json(&body))))
            .await
        {
            Ok(_) => Ok(()),
            Err(RelayError::NotFound { .. }) => Err(RelayError::InviteUnavailable),
            Err(err) => Err(err),
        }
    }

    /// `POST /v1/mailbox/{recipient}`: posts a sealed envelope to another account, by a link
    /// token the recipient registered or as a request by handle. The relay answers the same
    /// whatever the state of the recipient's mailbox.
    ///
    /// # Errors
    /// [`RelayError::Rejected`] with `forbidden` (status 403) when the route is refused (an
    /// unregistered link token, or a recipient who switched requests by handle off),
    /// [`RelayError::NotFound`] for an unknown recipient, [`RelayError::RateLimited`] (too
    /// many requests by handle, or the recipient's mailbox is full; see
    /// [`RelayError::retry_after`]), [`RelayError::TooLarge`], and the other [`RelayError`]s.
    pub async fn post_mail(
        &self,
        recipient: Uuid,
        envelope: Vec<u8>,
        route: MailRoute,
    ) -> Result<(), RelayError> {
        let url = self.url(&paths::mailbox_of(recipient));
        // Serialised per attempt by `json`; the link token stays in `body`, which wipes it on
        // drop.
        let body = MailPostRequest {
            envelope: B64Bytes::new(envelope),
            route,
        };
        self.execute_authed(true, |_| ready(Ok(self.inner.http.post(&url).json(&body))))
            .await
            .map(drop)
    }

    /// `GET /v1/mailbox?after=&limit=`: one page of this account's mail, oldest first: only
    /// messages after sequence number `after`, at most `limit` (the relay caps it).
    ///
    /// # Errors
    /// [`RelayError::Protocol`] if the relay lists a message at or before `after`, or out of
    /// order; the other [`RelayError`]s.
    pub async fn list_mail(
        &self,
        after: Option<u64>,
        limit: Option<u32>,
    ) -> Result<Vec<MailMessage>, RelayError> {
        // Built by hand: both values are integers, so nothing needs escaping.
        let mut query = Vec::new();
        if let Some(after) = after {
            query.push(format!("after={after}"));
        }
        if let Some(limit) = limit {
            query.push(format!("limit={limit}"));
        }
        let url = if query.is_empty() {
            self.url(paths::MAILBOX)
        } else {
            format!("{}?{}", self.url(paths::MAILBOX), query.join("&"))
        };
        let response = self
            .execute_authed(true, |_| ready(Ok(self.inner.http.get(&url))))
            .await?;
        let listing: MailListing = self.json(response, "GET /v1/mailbox").await?;
        let mut previous = after;
        for message in &listing.messages {
            if previous.is_some_and(|p| message.seq <= p) {
                return Err(self.protocol(format!(
                    "the mailbox listing after {after:?} holds message {} out of order",
                    message.seq
                )));
            }
            previous = Some(message.seq);
        }
        Ok(listing.messages)
    }

    /// Every message after `after`, reading page after page until a page comes back empty, but
    /// at most [`MAIL_PAGES_PER_CALL`] pages: if the result may be incomplete, call again with
    /// the last sequence number returned.
    ///
    /// # Errors
    /// As [`RelayClient::list_mail`]; messages of pages read before a failure are lost to the
    /// caller (they stay in the mailbox).
    pub async fn all_mail(&self, after: Option<u64>) -> Result<Vec<MailMessage>, RelayError> {
        let mut messages: Vec<MailMessage> = Vec::new();
        let mut cursor = after;
        for _ in 0..MAIL_PAGES_PER_CALL {
            let page = self.list_mail(cursor, None).await?;
            let Some(last) = page.last() else {
                break;
            };
            cursor = Some(last.seq);
            messages.extend(page);
        }
        Ok(messages)
    }

    /// `DELETE /v1/mailbox/{seq}`: drops one of this account's messages (after it was
    /// handled). `false` if there was none by that number.
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn delete_mail(&self, seq: u64) -> Result<bool, RelayError> {
        let url = self.url(&paths::mailbox_message(seq));
        found(
            self.execute_authed(true, |_| ready(Ok(self.inner.http.delete(&url))))
                .await,
        )
    }

    /// `POST /v1/links`: registers the hash of a link token under which this account accepts
    /// mail from one friend. Registering the same hash again is harmless.
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn add_link(&self, token_hash: [u8; 32]) -> Result<(), RelayError> {
        let url = self.url(paths::LINKS);
        let body = LinkRequest {
            token_hash: Bytes32::new(token_hash),
        };
        self.execute_authed(true, |_| ready(Ok(self.inner.http.post(&url).json(&body))))
            .await
            .map(drop)
    }

    /// `DELETE /v1/links/{token_hash}`: stops accepting mail under a link token. `false` if
    /// the hash was not registered.
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn delete_link(&self, token_hash: [u8; 32]) -> Result<bool, RelayError> {
        let url = self.url(&paths::link(&Bytes32::new(token_hash)));
        found(
            self.execute_authed(true, |_| ready(Ok(self.inner.http.delete(&url))))
                .await,
        )
    }

    /// `GET /v1/me/mail-settings`: whether strangers may send friend requests by handle.
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn mail_settings(&self) -> Result<MailSettings, RelayError> {
        let url = self.url(paths::ME_MAIL_SETTINGS);
        let response = self
            .execute_authed(true, |_| ready(Ok(self.inner.http.get(&url))))
            .await?;
        self.json(response, "GET /v1/me/mail-settings").await
    }

    /// `PUT /v1/me/mail-settings`.
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn set_mail_settings(&self, settings: MailSettings) -> Result<(), RelayError> {
        let url = self.url(paths::ME_MAIL_SETTINGS);
        self.execute_authed(true, |_| {
            ready(Ok(self.inner.http.put(&url).json(&settings)))
        })
        .await
        .map(drop)
    }

    /// `PUT /v1/volumes/{volume_id}/grants/{grantee}`: stores (or replaces) a grantee's key
    /// block for the volume's current epoch and adds its tag to the current revision. Owner
    /// only.
    ///
    /// # Errors
    /// [`RelayError::Conflict`] whose [`RelayError::code`] tells the two refusals apart:
    /// [`ErrorCode::RevisionConflict`](plog_ipc_schema::error::ErrorCode::RevisionConflict)
    /// when `request.revision` is no longer current (tag the new revision and retry),
    /// [`ErrorCode::EpochFenced`](plog_ipc_schema::error::ErrorCode::EpochFenced) when
    /// `request.key_epoch` is older than the volume's. [`RelayError::NotFound`] if the volume
    /// is not this account's, and the other [`RelayError`]s.
    pub async fn put_grant(
        &self,
        volume_id: Uuid,
        grantee: Uuid,
        request: &GrantRequest,
    ) -> Result<(), RelayError> {
        let url = self.url(&paths::grant(volume_id, grantee));
        self.execute_authed(true, |_| ready(Ok(self.inner.http.put(&url).json(request))))
            .await
            .map(drop)
    }

    /// `DELETE /v1/volumes/{volume_id}/grants/{grantee}`: removes a grant and its key block.
    /// `false` if there was no such grant (or the volume is not this account's).
    ///
    /// # Errors
    /// [`RelayError`].
    pub async fn delete_grant(&self, volume_id: Uuid, grantee: Uuid) -> Result<bool, RelayError> {
        let url = self.url(&paths::grant(volume_id, grantee));
        found(
            self.execute_authed(true, |_| ready(Ok(self.inner.http.delete(&url))))
                .await,
        )
    }

    /// `GET /v1/volumes/{volume_id}/grants`: the volume's grants, as the relay has them. Only
    /// informative: who should hold a key comes from the manifest, never from this list.
    ///
    /// # Errors
    /// [`RelayError::NotFound`] if the volume is not this account's; the other
    /// [`RelayError`]s.
    pub async fn list_grants(&self, volume_id: Uuid) -> Result<Vec<GrantEntry>, RelayError> {
        let url = self.url(&paths::grants(volume_id));
        let response = self
            .execute_authed(true, |_| ready(Ok(self.inner.http.get(&url))))
            .await?;
        let listing: GrantListing = self.json(response, "GET /v1/volumes/{id}/grants").await?;
        Ok(listing.grants)
    }
}
