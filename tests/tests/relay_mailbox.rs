//! The mailbox, links, mail settings, per-account limits and live events end to end: a real
//! `nats-server`, the relay serving HTTPS, SQLite (and PostgreSQL where available), and clients
//! speaking the wire types of `plog-ipc-schema`.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream;
use plog_crypto::link::link_token_hash;
use plog_ipc_schema::encoding::{B64Bytes, Bytes32, PublicKeyB64};
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::http::accounts::{AccountKind, RegisterRequest, RegisterResponse};
use plog_ipc_schema::http::events::{Event, NewMail};
use plog_ipc_schema::http::handles::SetHandleRequest;
use plog_ipc_schema::http::invites::{InviteRedeemRequest, Locator};
use plog_ipc_schema::http::links::LinkRequest;
use plog_ipc_schema::http::mailbox::{
    MailListing, MailPostRequest, MailRoute, MailSettings, MailSource,
};
use plog_ipc_schema::http::paths;
use plog_ipc_schema::token::LinkToken;
use plog_relay::broker::{RECEIVED_AT_HEADER, SENDER_HEADER, SOURCE_HEADER};
use plog_tests::client::{TestUser, error_of, register_and_login};
use plog_tests::nats::NatsServer;
use plog_tests::postgres;
use plog_tests::relay::{Database, RelayOptions, TestRelay};
use reqwest::{Method, RequestBuilder, Response};
use uuid::Uuid;

/// Envelope limit of the story's relay.
const MAX_ENVELOPE: usize = 2048;

/// Mailbox size of the story's relay.
const MAX_PER_RECIPIENT: u32 = 4;

/// Friend requests by handle a sender may send at once on the story's relay.
const HANDLE_BURST: u32 = 2;

/// Upper bound on waiting for an event stream; only reached when the test fails.
const STREAM_BOUND: Duration = Duration::from_secs(20);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn envelope(len: usize, seed: u8) -> B64Bytes {
    B64Bytes::new((0..len).map(|i| (i as u8) ^ seed).collect())
}

fn by_link(token: &LinkToken, envelope: B64Bytes) -> MailPostRequest {
    MailPostRequest {
        envelope,
        route: MailRoute::Link {
            token: LinkToken::from_bytes(*token.expose_bytes()),
        },
    }
}

fn by_handle(envelope: B64Bytes) -> MailPostRequest {
    MailPostRequest {
        envelope,
        route: MailRoute::Handle {},
    }
}

fn random_token() -> LinkToken {
    let secret = plog_crypto::link::generate_link_token().unwrap();
    LinkToken::from_bytes(*secret.expose())
}

fn token_hash(token: &LinkToken) -> Bytes32 {
    Bytes32::new(link_token_hash(token.expose_bytes()))
}

async fn send(request: RequestBuilder) -> Response {
    request.send().await.unwrap()
}

async fn status(request: RequestBuilder) -> u16 {
    send(request).await.status().as_u16()
}

/// Asserts an error response's status and code; returns its headers.
async fn refused(response: Response, status: u16, code: ErrorCode) -> reqwest::header::HeaderMap {
    let headers = response.headers().clone();
    let (got, body) = error_of(response).await;
    assert_eq!((got, body.code), (status, code), "{}", body.message);
    headers
}

/// The `Retry-After` of a response's headers, in seconds.
fn retry_after(headers: &reqwest::header::HeaderMap) -> u64 {
    headers["retry-after"].to_str().unwrap().parse().unwrap()
}

/// The client side of one relay for the calls of this file.
struct Api<'a> {
    relay: &'a TestRelay,
}

impl Api<'_> {
    /// A request to `path`, with `user`'s session if there is one.
    fn request(&self, method: Method, path: &str, user: Option<&TestUser>) -> RequestBuilder {
        let request = self.relay.client.request(method, self.relay.url(path));
        match user {
            Some(user) => request.bearer_auth(&user.token),
            None => request,
        }
    }

    async fn post(&self, from: &TestUser, to: Uuid, body: &MailPostRequest) -> Response {
        send(
            self.request(Method::POST, &paths::mailbox_of(to), Some(from))
                .json(body),
        )
        .await
    }

    /// Posts and expects the relay to take the message.
    async fn accepted(&self, from: &TestUser, to: Uuid, body: &MailPostRequest) {
        assert_eq!(
            self.post(from, to, body).await.status(),
            202,
            "post to {to}"
        );
    }

    /// Posts and expects a refusal with `status` and `code`; returns its headers.
    async fn refuse(
        &self,
        from: &TestUser,
        to: Uuid,
        body: &MailPostRequest,
        status: u16,
        code: ErrorCode,
    ) -> reqwest::header::HeaderMap {
        refused(self.post(from, to, body).await, status, code).await
    }

    async fn list(&self, user: &TestUser, query: &str) -> MailListing {
        let path = format!("{}{query}", paths::MAILBOX);
        let response = send(self.request(Method::GET, &path, Some(user))).await;
        assert_eq!(response.status(), 200, "listing {query}");
        response.json().await.unwrap()
    }

    /// The seqs of a listing.
    async fn seqs(&self, user: &TestUser, query: &str) -> Vec<u64> {
        let listing = self.list(user, query).await;
        listing.messages.iter().map(|m| m.seq).collect()
    }

    async fn delete_mail(&self, user: &TestUser, seq: u64) -> u16 {
        status(self.request(Method::DELETE, &paths::mailbox_message(seq), Some(user))).await
    }

    async fn link(&self, user: &TestUser, token: &LinkToken) -> Response {
        let body = LinkRequest {
            token_hash: token_hash(token),
        };
        send(
            self.request(Method::POST, paths::LINKS, Some(user))
                .json(&body),
        )
        .await
    }

    async fn add_link(&self, user: &TestUser, token: &LinkToken) -> u16 {
        self.link(user, token).await.status().as_u16()
    }

    async fn delete_link(&self, user: &TestUser, token: &LinkToken) -> u16 {
        let path = paths::link(&token_hash(token));
        status(self.request(Method::DELETE, &path, Some(user))).await
    }

    async fn settings(&self, user: &TestUser) -> MailSettings {
        let response = send(self.request(Method::GET, paths::ME_MAIL_SETTINGS, Some(user))).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn set_settings(&self, user: &TestUser, handle_requests: bool) {
        let request = self
            .request(Method::PUT, paths::ME_MAIL_SETTINGS, Some(user))
            .json(&MailSettings { handle_requests });
        assert_eq!(status(request).await, 204);
        assert_eq!(self.settings(user).await, MailSettings { handle_requests });
    }

    async fn set_handle(&self, user: &TestUser, handle: &str) {
        let request = self
            .request(Method::PUT, paths::ME_HANDLE, Some(user))
            .json(&SetHandleRequest {
                handle: plog_ipc_schema::handle::Handle::parse(handle).unwrap(),
            });
        assert_eq!(status(request).await, 204, "set handle");
    }

    async fn lookup_invite(&self, user: &TestUser, locator: &Locator) -> Response {
        send(self.request(Method::GET, &paths::invite_by_locator(locator), Some(user))).await
    }

    async fn redeem(&self, user: &TestUser, locator: &Locator) -> Response {
        let body = InviteRedeemRequest {
            locator: *locator,
            envelope: envelope(10, 0),
        };
        send(
            self.request(Method::POST, paths::INVITES_REDEEM, Some(user))
                .json(&body),
        )
        .await
    }

    async fn user(&self) -> TestUser {
        register_and_login(
            &self.relay.client,
            &self.relay.base_url,
            &self.relay.started.public_origin,
            AccountKind::Friend,
        )
        .await
    }
}

/// A header of a stored NATS message, as text.
fn nats_header(
    message: &async_nats::jetstream::message::StreamMessage,
    name: &str,
) -> Option<String> {
    message.headers.get(name).map(|v| v.as_str().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_on_sqlite() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    mailbox_story(&nats, Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_on_postgres() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let Some(db) = postgres::test_database_or_skip().await else {
        return;
    };
    mailbox_story(&nats, Database::Postgres(db.url().to_owned())).await;
    db.cleanup().await.unwrap();
}

async fn mailbox_story(nats: &NatsServer, database: Database) {
    let mut options = RelayOptions::new(nats.url(), database);
    for (key, value) in [
        ("mailbox.max_envelope_bytes", MAX_ENVELOPE.to_string()),
        ("mailbox.max_per_recipient", MAX_PER_RECIPIENT.to_string()),
        ("mailbox.handle_requests_burst", HANDLE_BURST.to_string()),
        ("mailbox.handle_requests_per_hour", "1".to_owned()),
    ] {
        options.overrides.push((key.to_owned(), value));
    }
    let relay = TestRelay::start(options).await;
    let api = Api { relay: &relay };
    let alice = api.user().await;
    let bob = api.user().await;
    let carol = api.user().await;

    // Links: registering is idempotent; only a token alice registered opens her mailbox.
    let token = random_token();
    assert_eq!(api.add_link(&alice, &token).await, 204);
    assert_eq!(api.add_link(&alice, &token).await, 204);
    let unregistered = random_token();
    api.refuse(
        &bob,
        alice.user_id,
        &by_link(&unregistered, envelope(10, 1)),
        403,
        ErrorCode::Forbidden,
    )
    .await;
    // A token registered by another account (here the sender itself, or a third one) opens
    // that account's mailbox, not alice's: the same answer as an unknown token.
    let bobs = random_token();
    assert_eq!(api.add_link(&bob, &bobs).await, 204);
    for sender in [&bob, &carol] {
        api.refuse(
            sender,
            alice.user_id,
            &by_link(&bobs, envelope(10, 1)),
            403,
            ErrorCode::Forbidden,
        )
        .await;
    }
    api.accepted(&carol, bob.user_id, &by_link(&bobs, envelope(10, 1)))
        .await;
    let before = now();
    let first = envelope(MAX_ENVELOPE, 2);
    api.accepted(&bob, alice.user_id, &by_link(&token, first.clone()))
        .await;

    // Refusals: too large, unknown or unactivated recipient, oneself, no session, bad path.
    api.refuse(
        &bob,
        alice.user_id,
        &by_link(&token, envelope(MAX_ENVELOPE + 1, 3)),
        413,
        ErrorCode::TooLarge,
    )
    .await;
    let unactivated = register_only(&relay).await;
    for nobody in [Uuid::new_v4(), unactivated] {
        api.refuse(
            &bob,
            nobody,
            &by_link(&token, envelope(10, 4)),
            404,
            ErrorCode::NotFound,
        )
        .await;
    }
    api.refuse(
        &alice,
        alice.user_id,
        &by_link(&token, envelope(10, 5)),
        400,
        ErrorCode::BadRequest,
    )
    .await;
    let post_to = |path: &str, user| {
        api.request(Method::POST, path, user)
            .json(&by_link(&token, envelope(10, 6)))
    };
    refused(
        send(post_to(&paths::mailbox_of(alice.user_id), None)).await,
        401,
        ErrorCode::Unauthorized,
    )
    .await;
    refused(
        send(post_to("/v1/mailbox/not-a-user", Some(&bob))).await,
        400,
        ErrorCode::BadRequest,
    )
    .await;

    // Two more by link: alice's mailbox holds three, oldest first, with what the relay saw.
    for seed in [7, 8] {
        api.accepted(&carol, alice.user_id, &by_link(&token, envelope(100, seed)))
            .await;
    }
    let listing = api.list(&alice, "").await;
    assert_eq!(listing.messages.len(), 3);
    let seqs: Vec<u64> = listing.messages.iter().map(|m| m.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {seqs:?}"
    );
    let oldest = &listing.messages[0];
    assert_eq!(oldest.sender_id, bob.user_id);
    assert_eq!(oldest.source, MailSource::Link);
    assert_eq!(oldest.envelope, first);
    assert!(oldest.received_at >= before && oldest.received_at <= now() + 1);
    assert_eq!(listing.messages[1].sender_id, carol.user_id);
    assert_eq!(listing.messages[2].envelope, envelope(100, 8));

    // after and limit.
    assert_eq!(
        api.seqs(&alice, &format!("?after={}", seqs[0])).await,
        seqs[1..]
    );
    assert_eq!(api.seqs(&alice, "?limit=1").await, seqs[..1]);
    assert_eq!(
        api.seqs(&alice, &format!("?after={}&limit=1", seqs[0]))
            .await,
        seqs[1..2]
    );
    assert!(
        api.seqs(&alice, &format!("?after={}", seqs[2]))
            .await
            .is_empty()
    );
    refused(
        send(api.request(Method::GET, "/v1/mailbox?after=soon", Some(&alice))).await,
        400,
        ErrorCode::BadRequest,
    )
    .await;
    // Mailboxes are separate (bob holds only carol's message by his own link).
    let bobs_mail = api.list(&bob, "").await.messages;
    assert_eq!(bobs_mail.len(), 1);
    assert_eq!(bobs_mail[0].sender_id, carol.user_id);

    // The NATS message: envelope as payload, the relay's facts in documented headers.
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let stream = js.get_stream("PLOG_MAILBOX").await.unwrap();
    let stored = stream.get_raw_message(seqs[0]).await.unwrap();
    assert_eq!(
        stored.subject.as_str(),
        format!("plog.mailbox.{}", alice.user_id)
    );
    assert_eq!(stored.payload.as_ref(), first.as_bytes());
    assert_eq!(
        nats_header(&stored, SENDER_HEADER),
        Some(bob.user_id.to_string())
    );
    assert_eq!(nats_header(&stored, SOURCE_HEADER), Some("link".to_owned()));
    assert_eq!(
        nats_header(&stored, RECEIVED_AT_HEADER),
        Some(oldest.received_at.to_string())
    );

    // Retention per recipient: the fourth message fills the mailbox, the fifth is refused and
    // nothing older is dropped.
    api.accepted(&bob, alice.user_id, &by_link(&token, envelope(10, 9)))
        .await;
    let full = api
        .refuse(
            &bob,
            alice.user_id,
            &by_link(&token, envelope(10, 10)),
            429,
            ErrorCode::RateLimited,
        )
        .await;
    assert_eq!(retry_after(&full), 3600);
    let kept = api.list(&alice, "").await;
    assert_eq!(kept.messages.len(), MAX_PER_RECIPIENT as usize);
    assert_eq!(kept.messages[0].seq, seqs[0], "the oldest is kept");

    // Deleting: someone else's seq is not found; my own goes, once.
    assert_eq!(api.delete_mail(&bob, seqs[0]).await, 404);
    assert_eq!(api.delete_mail(&alice, seqs[0]).await, 204);
    assert_eq!(api.delete_mail(&alice, seqs[0]).await, 404);
    assert_eq!(api.delete_mail(&alice, u64::MAX).await, 404);
    refused(
        send(api.request(Method::DELETE, "/v1/mailbox/first", Some(&alice))).await,
        400,
        ErrorCode::BadRequest,
    )
    .await;
    let after_delete = api.list(&alice, "").await;
    assert_eq!(after_delete.messages.len(), MAX_PER_RECIPIENT as usize - 1);
    assert_eq!(after_delete.messages[0].seq, seqs[1]);
    // Room again.
    api.accepted(&bob, alice.user_id, &by_link(&token, envelope(10, 11)))
        .await;

    // Only the account that registered a link drops it: bob, who knows alice's token, gets
    // the answer of an unknown hash, and the link still works.
    assert_eq!(api.delete_link(&bob, &token).await, 404);
    assert_eq!(api.delete_link(&alice, &bobs).await, 404);
    assert_eq!(api.delete_mail(&alice, seqs[1]).await, 204);
    api.accepted(&carol, alice.user_id, &by_link(&token, envelope(10, 12)))
        .await;
    // Dropping the link closes that way in.
    assert_eq!(api.delete_link(&alice, &token).await, 204);
    assert_eq!(api.delete_link(&alice, &token).await, 404);
    api.refuse(
        &bob,
        alice.user_id,
        &by_link(&token, envelope(10, 12)),
        403,
        ErrorCode::Forbidden,
    )
    .await;
    assert_eq!(api.delete_link(&bob, &bobs).await, 204);

    // By handle: refused without a handle, accepted with one, refused when switched off.
    api.refuse(
        &bob,
        carol.user_id,
        &by_handle(envelope(10, 13)),
        403,
        ErrorCode::Forbidden,
    )
    .await;
    api.set_handle(
        &carol,
        &format!("carol-{}", &carol.user_id.simple().to_string()[..8]),
    )
    .await;
    assert_eq!(
        api.settings(&carol).await,
        MailSettings {
            handle_requests: true
        }
    );
    api.set_settings(&carol, false).await;
    api.refuse(
        &bob,
        carol.user_id,
        &by_handle(envelope(10, 14)),
        403,
        ErrorCode::Forbidden,
    )
    .await;
    // Link mail is not affected by the setting.
    let carol_token = random_token();
    assert_eq!(api.add_link(&carol, &carol_token).await, 204);
    api.accepted(
        &bob,
        carol.user_id,
        &by_link(&carol_token, envelope(10, 15)),
    )
    .await;
    api.set_settings(&carol, true).await;

    // Rate limit per sender: the burst passes (refusals above took nothing), then 429.
    for seed in 0..HANDLE_BURST {
        api.accepted(
            &bob,
            carol.user_id,
            &by_handle(envelope(10, 20 + seed as u8)),
        )
        .await;
    }
    let limited = api
        .refuse(
            &bob,
            carol.user_id,
            &by_handle(envelope(10, 30)),
            429,
            ErrorCode::RateLimited,
        )
        .await;
    let retry = retry_after(&limited);
    assert!(retry > 0 && retry <= 3600, "Retry-After {retry}");
    // Another sender has its own bucket.
    api.accepted(&alice, carol.user_id, &by_handle(envelope(10, 31)))
        .await;
    let sources: Vec<MailSource> = api
        .list(&carol, "")
        .await
        .messages
        .iter()
        .map(|m| m.source)
        .collect();
    assert_eq!(
        sources,
        [
            MailSource::Link,
            MailSource::Handle,
            MailSource::Handle,
            MailSource::Handle
        ]
    );

    // Deleting the account empties its mailbox.
    assert_eq!(
        status(api.request(Method::DELETE, paths::ME, Some(&alice))).await,
        204
    );
    let left = stream
        .get_last_raw_message_by_subject(&format!("plog.mailbox.{}", alice.user_id))
        .await;
    assert!(left.is_err(), "alice's mail is gone");
    assert!(
        stream
            .get_last_raw_message_by_subject(&format!("plog.mailbox.{}", carol.user_id))
            .await
            .is_ok(),
        "carol's mail stays"
    );
}

/// Per-account limits: the links an account holds are capped; invite lookups and
/// redemptions share one rate-limited bucket per account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_account_limits() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let mut options = RelayOptions::new(nats.url(), Database::Sqlite);
    for (key, value) in [
        ("mailbox.max_links_per_account", "2"),
        ("limits.invite_lookups_burst", "2"),
        ("limits.invite_lookups_per_minute", "1"),
    ] {
        options.overrides.push((key.to_owned(), value.to_owned()));
    }
    let relay = TestRelay::start(options).await;
    let api = Api { relay: &relay };
    let alice = api.user().await;
    let bob = api.user().await;

    // Two links per account here: the third is refused (403: waiting would not help) and
    // not stored; one already held is still accepted at the cap.
    let tokens: Vec<LinkToken> = (0..3).map(|_| random_token()).collect();
    assert_eq!(api.add_link(&alice, &tokens[0]).await, 204);
    assert_eq!(api.add_link(&alice, &tokens[1]).await, 204);
    refused(
        api.link(&alice, &tokens[2]).await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    assert_eq!(api.add_link(&alice, &tokens[0]).await, 204);
    api.refuse(
        &bob,
        alice.user_id,
        &by_link(&tokens[2], envelope(10, 1)),
        403,
        ErrorCode::Forbidden,
    )
    .await;
    // Bob's allowance is his own; dropping one of alice's makes room for hers.
    assert_eq!(api.add_link(&bob, &tokens[2]).await, 204);
    assert_eq!(api.delete_link(&alice, &tokens[1]).await, 204);
    assert_eq!(api.add_link(&alice, &tokens[2]).await, 204);
    api.accepted(&bob, alice.user_id, &by_link(&tokens[2], envelope(10, 2)))
        .await;

    // Invite lookups: a burst of two, then 429 with the wait for the next token (one a
    // minute here).
    let unknown = Locator::new([7; 16]);
    for _ in 0..2 {
        refused(
            api.lookup_invite(&bob, &unknown).await,
            404,
            ErrorCode::NotFound,
        )
        .await;
    }
    let limited = refused(
        api.lookup_invite(&bob, &unknown).await,
        429,
        ErrorCode::RateLimited,
    )
    .await;
    let retry = retry_after(&limited);
    assert!(retry > 0 && retry <= 60, "Retry-After {retry}");
    // Redemptions draw on the same bucket; another account has its own.
    refused(
        api.redeem(&bob, &unknown).await,
        429,
        ErrorCode::RateLimited,
    )
    .await;
    refused(
        api.lookup_invite(&alice, &unknown).await,
        404,
        ErrorCode::NotFound,
    )
    .await;
    refused(api.redeem(&alice, &unknown).await, 404, ErrorCode::NotFound).await;
}

/// Registers an account without ever logging in (so it stays unactivated).
async fn register_only(relay: &TestRelay) -> Uuid {
    let master = plog_crypto::master::MasterSecret::generate().unwrap();
    let identity = master
        .relay_identity(&relay.started.public_origin, 0)
        .unwrap();
    let response = send(
        Api { relay }
            .request(Method::POST, paths::ACCOUNTS, None)
            .json(&RegisterRequest {
                kind: AccountKind::Friend,
                public_key: PublicKeyB64::new(*identity.public_key().as_bytes()),
                handle: None,
            }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let RegisterResponse { user_id } = response.json().await.unwrap();
    user_id
}

/// Reads a `text/event-stream` response one block (up to a blank line) at a time.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

/// One block of an event stream.
#[derive(Debug, PartialEq, Eq)]
enum Block {
    /// `: <text>`
    Comment(String),
    /// `event:` and `data:`.
    Event(Event),
}

impl SseReader {
    /// The next block, or `None` once the server ended the stream. Panics after
    /// [`STREAM_BOUND`] without one.
    async fn next(&mut self) -> Option<Block> {
        tokio::time::timeout(STREAM_BOUND, self.next_unbounded())
            .await
            .expect("the event stream sent nothing in time")
    }

    async fn next_unbounded(&mut self) -> Option<Block> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse_block(block.trim_end()));
            }
            let chunk = self.response.chunk().await.expect("event stream read")?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

fn parse_block(block: &str) -> Block {
    if let Some(comment) = block.strip_prefix(": ") {
        assert!(!comment.contains('\n'), "one comment per block: {block:?}");
        return Block::Comment(comment.to_owned());
    }
    let mut name = None;
    let mut data = None;
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("event: ") {
            name = Some(value);
        } else if let Some(value) = line.strip_prefix("data: ") {
            data = Some(value);
        } else {
            panic!("unexpected line {line:?} in {block:?}");
        }
    }
    Block::Event(Event::from_sse(name.unwrap(), data.unwrap()).unwrap())
}

async fn open_events(relay: &TestRelay, user: &TestUser) -> SseReader {
    let response = send(Api { relay }.request(Method::GET, paths::EVENTS, Some(user))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut reader = SseReader {
        response,
        buffer: String::new(),
    };
    assert_eq!(
        reader.next().await,
        Some(Block::Comment("ready".to_owned())),
        "the stream starts with `: ready`"
    );
    reader
}

fn instance(nats: &NatsServer, data_dir: &Path) -> RelayOptions {
    let mut options = RelayOptions::new(nats.url(), Database::Sqlite);
    options.data_dir = Some(data_dir.to_path_buf());
    options.public_origin = Some("https://relay.plog.test".to_owned());
    options
        .overrides
        .push(("events.keep_alive_secs".into(), "1".into()));
    options
}

/// Two instances sharing NATS, the SQLite file and the data directory: mail posted on one
/// reaches an event stream held by the other; logging out ends the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_instances() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let a = TestRelay::start(instance(&nats, temp.path())).await;
    let b = TestRelay::start(instance(&nats, temp.path())).await;
    let on_a = Api { relay: &a };
    let on_b = Api { relay: &b };
    let alice = on_a.user().await;
    let bob = on_a.user().await;
    let token = random_token();
    assert_eq!(on_a.add_link(&alice, &token).await, 204);

    // No session, no stream.
    refused(
        send(on_b.request(Method::GET, paths::EVENTS, None)).await,
        401,
        ErrorCode::Unauthorized,
    )
    .await;

    let mut events = open_events(&b, &alice).await;
    let mut bobs = open_events(&a, &bob).await;
    on_a.accepted(&bob, alice.user_id, &by_link(&token, envelope(50, 1)))
        .await;
    let seq = on_b.list(&alice, "").await.messages[0].seq;
    let expected = Block::Event(Event::NewMail(NewMail { seq }));
    let arrived = loop {
        match events.next().await {
            Some(Block::Comment(text)) if text == "keep-alive" => {}
            other => break other,
        }
    };
    assert_eq!(
        arrived,
        Some(expected),
        "new_mail reached the other instance"
    );

    // Logging out on one instance ends the stream held by the other (at its next
    // keep-alive); bob's stream, on the same relays, goes on.
    assert_eq!(
        status(on_a.request(Method::DELETE, paths::AUTH_SESSION, Some(&alice))).await,
        204
    );
    loop {
        match events.next().await {
            None => break,
            Some(Block::Comment(text)) if text == "keep-alive" => {}
            Some(other) => panic!("unexpected {other:?} after logout"),
        }
    }
    assert_eq!(
        bobs.next().await,
        Some(Block::Comment("keep-alive".to_owned()))
    );

    // Shutting the instance down ends the streams it holds instead of waiting out the
    // graceful shutdown's 10 s.
    let stopping = Instant::now();
    a.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "stopped after {:?}",
        stopping.elapsed()
    );
    loop {
        match bobs.next().await {
            None => break,
            Some(Block::Comment(text)) if text == "keep-alive" => {}
            Some(other) => panic!("unexpected {other:?} at shutdown"),
        }
    }
}

/// A listing returns at most 100 messages, whatever the limit asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_is_capped() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let relay = TestRelay::start(RelayOptions::new(nats.url(), Database::Sqlite)).await;
    let api = Api { relay: &relay };
    let alice = api.user().await;
    let bob = api.user().await;
    let token = random_token();
    assert_eq!(api.add_link(&alice, &token).await, 204);
    for seed in 0..=100u8 {
        api.accepted(&bob, alice.user_id, &by_link(&token, envelope(16, seed)))
            .await;
    }
    let first = api.list(&alice, "?limit=1000").await;
    assert_eq!(first.messages.len(), 100);
    assert_eq!(api.list(&alice, "").await, first, "the default is the cap");
    let last_seen = first.messages[99].seq;
    let rest = api.list(&alice, &format!("?after={last_seen}")).await;
    assert_eq!(rest.messages.len(), 1);
    assert_eq!(rest.messages[0].envelope, envelope(16, 100));
}
