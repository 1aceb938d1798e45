//! The mailbox, links, mail settings and live events end to end: a real `nats-server`, the
//! relay serving HTTPS, SQLite (and PostgreSQL where available), and clients speaking the wire
//! types of `plog-ipc-schema`.
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

/// The client side of one relay for the calls of this file.
struct Api<'a> {
    relay: &'a TestRelay,
}

impl Api<'_> {
    async fn post(&self, from: &TestUser, to: Uuid, body: &MailPostRequest) -> reqwest::Response {
        self.relay
            .client
            .post(self.relay.url(&paths::mailbox_of(to)))
            .bearer_auth(&from.token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn list(&self, user: &TestUser, query: &str) -> MailListing {
        let response = self
            .relay
            .client
            .get(self.relay.url(&format!("{}{query}", paths::MAILBOX)))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "listing {query}");
        response.json().await.unwrap()
    }

    async fn delete_mail(&self, user: &TestUser, seq: u64) -> u16 {
        self.relay
            .client
            .delete(self.relay.url(&paths::mailbox_message(seq)))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn add_link(&self, user: &TestUser, token: &LinkToken) -> u16 {
        self.relay
            .client
            .post(self.relay.url(paths::LINKS))
            .bearer_auth(&user.token)
            .json(&LinkRequest {
                token_hash: token_hash(token),
            })
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn delete_link(&self, user: &TestUser, token: &LinkToken) -> u16 {
        self.relay
            .client
            .delete(self.relay.url(&paths::link(&token_hash(token))))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn settings(&self, user: &TestUser) -> MailSettings {
        let response = self
            .relay
            .client
            .get(self.relay.url(paths::ME_MAIL_SETTINGS))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn set_settings(&self, user: &TestUser, handle_requests: bool) {
        let response = self
            .relay
            .client
            .put(self.relay.url(paths::ME_MAIL_SETTINGS))
            .bearer_auth(&user.token)
            .json(&MailSettings { handle_requests })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }

    async fn set_handle(&self, user: &TestUser, handle: &str) {
        let response = self
            .relay
            .client
            .put(self.relay.url(paths::ME_HANDLE))
            .bearer_auth(&user.token)
            .json(&SetHandleRequest {
                handle: plog_ipc_schema::handle::Handle::parse(handle).unwrap(),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "set handle");
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

/// Asserts an error response's status and code.
async fn refused(
    response: reqwest::Response,
    status: u16,
    code: ErrorCode,
) -> reqwest::header::HeaderMap {
    let headers = response.headers().clone();
    let (got, body) = error_of(response).await;
    assert_eq!((got, body.code), (status, code), "{}", body.message);
    headers
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

    // Links: registering is idempotent; only a registered token opens alice's mailbox.
    let token = random_token();
    assert_eq!(api.add_link(&alice, &token).await, 204);
    assert_eq!(api.add_link(&alice, &token).await, 204);
    let unregistered = random_token();
    refused(
        api.post(
            &bob,
            alice.user_id,
            &by_link(&unregistered, envelope(10, 1)),
        )
        .await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    let before = now();
    let first = envelope(MAX_ENVELOPE, 2);
    assert_eq!(
        api.post(&bob, alice.user_id, &by_link(&token, first.clone()))
            .await
            .status(),
        202,
        "an envelope of exactly the limit"
    );

    // Refusals: too large, unknown or unactivated recipient, oneself, no session, bad path.
    refused(
        api.post(
            &bob,
            alice.user_id,
            &by_link(&token, envelope(MAX_ENVELOPE + 1, 3)),
        )
        .await,
        413,
        ErrorCode::TooLarge,
    )
    .await;
    refused(
        api.post(&bob, Uuid::new_v4(), &by_link(&token, envelope(10, 4)))
            .await,
        404,
        ErrorCode::NotFound,
    )
    .await;
    let unactivated = register_only(&relay).await;
    refused(
        api.post(&bob, unactivated, &by_link(&token, envelope(10, 4)))
            .await,
        404,
        ErrorCode::NotFound,
    )
    .await;
    refused(
        api.post(&alice, alice.user_id, &by_link(&token, envelope(10, 5)))
            .await,
        400,
        ErrorCode::BadRequest,
    )
    .await;
    let anonymous = relay
        .client
        .post(relay.url(&paths::mailbox_of(alice.user_id)))
        .json(&by_link(&token, envelope(10, 6)))
        .send()
        .await
        .unwrap();
    refused(anonymous, 401, ErrorCode::Unauthorized).await;
    let bad_path = relay
        .client
        .post(relay.url("/v1/mailbox/not-a-user"))
        .bearer_auth(&bob.token)
        .json(&by_link(&token, envelope(10, 6)))
        .send()
        .await
        .unwrap();
    refused(bad_path, 400, ErrorCode::BadRequest).await;

    // Two more by link: alice's mailbox holds three, oldest first, with what the relay saw.
    for seed in [7, 8] {
        assert_eq!(
            api.post(&carol, alice.user_id, &by_link(&token, envelope(100, seed)))
                .await
                .status(),
            202
        );
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
    let rest = api.list(&alice, &format!("?after={}", seqs[0])).await;
    assert_eq!(
        rest.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        seqs[1..]
    );
    let one = api.list(&alice, "?limit=1").await;
    assert_eq!(one.messages.len(), 1);
    assert_eq!(one.messages[0].seq, seqs[0]);
    let page = api
        .list(&alice, &format!("?after={}&limit=1", seqs[0]))
        .await;
    assert_eq!(page.messages[0].seq, seqs[1]);
    assert!(
        api.list(&alice, &format!("?after={}", seqs[2]))
            .await
            .messages
            .is_empty()
    );
    let bad_query = relay
        .client
        .get(relay.url("/v1/mailbox?after=soon"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    refused(bad_query, 400, ErrorCode::BadRequest).await;
    // Mailboxes are separate.
    assert!(api.list(&bob, "").await.messages.is_empty());

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
        stored
            .headers
            .get(SENDER_HEADER)
            .map(|v| v.as_str().to_owned()),
        Some(bob.user_id.to_string())
    );
    assert_eq!(
        stored
            .headers
            .get(SOURCE_HEADER)
            .map(|v| v.as_str().to_owned()),
        Some("link".to_owned())
    );
    assert_eq!(
        stored
            .headers
            .get(RECEIVED_AT_HEADER)
            .map(|v| v.as_str().to_owned()),
        Some(oldest.received_at.to_string())
    );

    // Retention per recipient: the fourth message fills the mailbox, the fifth is refused and
    // nothing older is dropped.
    assert_eq!(
        api.post(&bob, alice.user_id, &by_link(&token, envelope(10, 9)))
            .await
            .status(),
        202
    );
    let full = refused(
        api.post(&bob, alice.user_id, &by_link(&token, envelope(10, 10)))
            .await,
        429,
        ErrorCode::RateLimited,
    )
    .await;
    assert!(full.contains_key("retry-after"));
    let kept = api.list(&alice, "").await;
    assert_eq!(kept.messages.len(), MAX_PER_RECIPIENT as usize);
    assert_eq!(kept.messages[0].seq, seqs[0], "the oldest is kept");

    // Deleting: someone else's seq is not found; my own goes, once.
    assert_eq!(api.delete_mail(&bob, seqs[0]).await, 404);
    assert_eq!(api.delete_mail(&alice, seqs[0]).await, 204);
    assert_eq!(api.delete_mail(&alice, seqs[0]).await, 404);
    assert_eq!(api.delete_mail(&alice, u64::MAX).await, 404);
    let bad_seq = relay
        .client
        .delete(relay.url("/v1/mailbox/first"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    refused(bad_seq, 400, ErrorCode::BadRequest).await;
    let after_delete = api.list(&alice, "").await;
    assert_eq!(after_delete.messages.len(), MAX_PER_RECIPIENT as usize - 1);
    assert_eq!(after_delete.messages[0].seq, seqs[1]);
    // Room again.
    assert_eq!(
        api.post(&bob, alice.user_id, &by_link(&token, envelope(10, 11)))
            .await
            .status(),
        202
    );

    // Dropping the link closes that way in.
    assert_eq!(api.delete_link(&alice, &token).await, 204);
    assert_eq!(api.delete_link(&alice, &token).await, 404);
    refused(
        api.post(&bob, alice.user_id, &by_link(&token, envelope(10, 12)))
            .await,
        403,
        ErrorCode::Forbidden,
    )
    .await;

    // By handle: refused without a handle, accepted with one, refused when switched off.
    refused(
        api.post(&bob, carol.user_id, &by_handle(envelope(10, 13)))
            .await,
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
    assert_eq!(
        api.settings(&carol).await,
        MailSettings {
            handle_requests: false
        }
    );
    refused(
        api.post(&bob, carol.user_id, &by_handle(envelope(10, 14)))
            .await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    // Link mail is not affected by the setting.
    let carol_token = random_token();
    assert_eq!(api.add_link(&carol, &carol_token).await, 204);
    assert_eq!(
        api.post(
            &bob,
            carol.user_id,
            &by_link(&carol_token, envelope(10, 15))
        )
        .await
        .status(),
        202
    );
    api.set_settings(&carol, true).await;

    // Rate limit per sender: the burst passes (refusals above took nothing), then 429.
    for seed in 0..HANDLE_BURST {
        assert_eq!(
            api.post(
                &bob,
                carol.user_id,
                &by_handle(envelope(10, 20 + seed as u8))
            )
            .await
            .status(),
            202,
            "request {seed} of the burst"
        );
    }
    let limited = refused(
        api.post(&bob, carol.user_id, &by_handle(envelope(10, 30)))
            .await,
        429,
        ErrorCode::RateLimited,
    )
    .await;
    let retry: u64 = limited["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 3600, "Retry-After {retry}");
    // Another sender has its own bucket.
    assert_eq!(
        api.post(&alice, carol.user_id, &by_handle(envelope(10, 31)))
            .await
            .status(),
        202
    );
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
    let deleted = relay
        .client
        .delete(relay.url(paths::ME))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
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

/// Registers an account without ever logging in (so it stays unactivated).
async fn register_only(relay: &TestRelay) -> Uuid {
    let master = plog_crypto::master::MasterSecret::generate().unwrap();
    let identity = master
        .relay_identity(&relay.started.public_origin, 0)
        .unwrap();
    let response = relay
        .client
        .post(relay.url(paths::ACCOUNTS))
        .json(&RegisterRequest {
            kind: AccountKind::Friend,
            public_key: PublicKeyB64::new(*identity.public_key().as_bytes()),
            handle: None,
        })
        .send()
        .await
        .unwrap();
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
    let response = relay
        .client
        .get(relay.url(paths::EVENTS))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
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
    let alice = on_a.user().await;
    let bob = on_a.user().await;
    let token = random_token();
    assert_eq!(on_a.add_link(&alice, &token).await, 204);

    // No session, no stream.
    let anonymous = b.client.get(b.url(paths::EVENTS)).send().await.unwrap();
    refused(anonymous, 401, ErrorCode::Unauthorized).await;

    let mut events = open_events(&b, &alice).await;
    let mut bobs = open_events(&a, &bob).await;
    assert_eq!(
        on_a.post(&bob, alice.user_id, &by_link(&token, envelope(50, 1)))
            .await
            .status(),
        202
    );
    let seq = Api { relay: &b }.list(&alice, "").await.messages[0].seq;
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
    let logout = a
        .client
        .delete(a.url(paths::AUTH_SESSION))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
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
        assert_eq!(
            api.post(&bob, alice.user_id, &by_link(&token, envelope(16, seed)))
                .await
                .status(),
            202
        );
    }
    let first = api.list(&alice, "?limit=1000").await;
    assert_eq!(first.messages.len(), 100);
    assert_eq!(api.list(&alice, "").await, first, "the default is the cap");
    let last_seen = first.messages[99].seq;
    let rest = api.list(&alice, &format!("?after={last_seen}")).await;
    assert_eq!(rest.messages.len(), 1);
    assert_eq!(rest.messages[0].envelope, envelope(16, 100));
}
