//! Invites and grants end to end: a real `nats-server`, the relay serving HTTPS, SQLite and
//! PostgreSQL, and clients using the real cryptography (invite codes, key blocks, grantee
//! tags). Live events are watched on the relay's NATS subjects, as every relay instance's
//! `GET /v1/events` stream sees them.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use plog_crypto::invite::InviteCode;
use plog_crypto::keyblock::{self, KEY_BLOCK_LEN, KeyBlockContext};
use plog_crypto::volume::{
    GranteeTagKey, OwnerKeys, VolumeHeader, VolumeKey, VolumeType, grantee_tag, open_to_vec,
    owner_tag, seal_to_vec, verify_grantee_tag,
};
use plog_ipc_schema::encoding::{B64Bytes, Bytes32};
use plog_ipc_schema::error::{ErrorBody, ErrorCode};
use plog_ipc_schema::http::accounts::AccountKind;
use plog_ipc_schema::http::events::{Event, GrantRevoked, NewMail, VolumeUpdated};
use plog_ipc_schema::http::grants::{GrantListing, GrantRequest};
use plog_ipc_schema::http::headers::{GranteeTags, Precondition, UploadHeaders};
use plog_ipc_schema::http::invites::{
    InviteCreateRequest, InviteCreated, InviteListing, InviteLookup, InviteRedeemRequest, Locator,
    invite_id_of,
};
use plog_ipc_schema::http::mailbox::{MailListing, MailSource};
use plog_ipc_schema::http::paths;
use plog_ipc_schema::http::volumes::{VolumeListing, VolumeRole};
use plog_ipc_schema::nats::Names;
use plog_ipc_schema::vtype;
use plog_tests::client::{SealedVolume, TestUser, error_of, put_volume, register_and_login};
use plog_tests::nats::NatsServer;
use plog_tests::postgres;
use plog_tests::relay::{Database, RelayOptions, TestRelay};
use uuid::Uuid;

/// The longest a test waits for an event that must come; only a failure bound.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn refusal(response: reqwest::Response) -> (u16, ErrorCode) {
    let (status, ErrorBody { code, .. }) = error_of(response).await;
    (status, code)
}

/// A subscription to one account's live events on NATS.
struct Events {
    subscriber: async_nats::Subscriber,
}

impl Events {
    /// Subscribes; the server knows of the subscription when this returns (the flush is its
    /// readiness signal), so every event published afterwards arrives.
    async fn watch(nats: &NatsServer, user_id: Uuid) -> Self {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let subscriber = client
            .subscribe(Names::default().events_subject(user_id))
            .await
            .unwrap();
        client.flush().await.unwrap();
        Self { subscriber }
    }

    /// The next event; fails after [`EVENT_TIMEOUT`].
    async fn next(&mut self) -> Event {
        let message = tokio::time::timeout(EVENT_TIMEOUT, self.subscriber.next())
            .await
            .expect("an event arrives")
            .expect("subscription open");
        serde_json::from_slice(&message.payload).expect("an event as JSON")
    }
}

// ---------------------------------------------------------------------------------------------
// Invites

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_on_sqlite() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    invites(&nats, Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_on_postgres() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let Some(db) = postgres::test_database_or_skip().await else {
        return;
    };
    invites(&nats, Database::Postgres(db.url().to_owned())).await;
    db.cleanup().await.unwrap();
}

async fn create_invite(
    relay: &TestRelay,
    token: &str,
    request: &InviteCreateRequest,
) -> reqwest::Response {
    relay
        .client
        .post(relay.url(paths::INVITES))
        .bearer_auth(token)
        .json(request)
        .send()
        .await
        .unwrap()
}

async fn list_invites(relay: &TestRelay, token: &str) -> InviteListing {
    let response = relay
        .client
        .get(relay.url(paths::INVITES))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn redeem(
    relay: &TestRelay,
    token: &str,
    locator: &[u8; 16],
    envelope: &[u8],
) -> reqwest::Response {
    relay
        .client
        .post(relay.url(paths::INVITES_REDEEM))
        .bearer_auth(token)
        .json(&InviteRedeemRequest {
            locator: Locator::new(*locator),
            envelope: B64Bytes::new(envelope.to_vec()),
        })
        .send()
        .await
        .unwrap()
}

async fn lookup(relay: &TestRelay, token: &str, segment: &str) -> reqwest::Response {
    relay
        .client
        .get(relay.url(&format!("/v1/invites/{segment}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn withdraw(relay: &TestRelay, token: &str, segment: &str) -> reqwest::Response {
    relay
        .client
        .delete(relay.url(&format!("/v1/invites/{segment}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn mail(relay: &TestRelay, token: &str) -> MailListing {
    let response = relay
        .client
        .get(relay.url(paths::MAILBOX))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET /v1/mailbox");
    response.json().await.unwrap()
}

async fn invites(nats: &NatsServer, database: Database) {
    let relay = TestRelay::start(RelayOptions::new(nats.url(), database)).await;
    let (http, base, origin) = (
        &relay.client,
        relay.base_url.as_str(),
        relay.started.public_origin.as_str(),
    );
    let alice = register_and_login(http, base, origin, AccountKind::System).await;
    let bob = register_and_login(http, base, origin, AccountKind::Friend).await;
    let carol = register_and_login(http, base, origin, AccountKind::Friend).await;
    assert_eq!(
        http.put(relay.url(paths::ME_HANDLE))
            .bearer_auth(&alice.token)
            .json(&serde_json::json!({"handle": "alice-sys"}))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );

    // Register: the id is the locator hash's first half; the relay keeps what was asked when
    // it is within its cap.
    let code = InviteCode::generate(&alice.identity.public_key()).unwrap();
    let locator_hash = Bytes32::new(code.locator_hash());
    let request = InviteCreateRequest {
        locator_hash,
        expires_at: now() + 3600,
        uses: 2,
    };
    let created = create_invite(&relay, &alice.token, &request).await;
    assert_eq!(created.status(), 201);
    let created: InviteCreated = created.json().await.unwrap();
    assert_eq!(
        created,
        InviteCreated {
            invite_id: invite_id_of(&locator_hash),
            expires_at: request.expires_at,
            uses: 2,
        }
    );
    // The same locator again, from anyone, is a conflict.
    for token in [&alice.token, &bob.token] {
        assert_eq!(
            refusal(create_invite(&relay, token, &request).await).await,
            (409, ErrorCode::RevisionConflict)
        );
    }
    // Bad expiries and use counts.
    let fresh = || {
        Bytes32::new(
            InviteCode::generate(&alice.identity.public_key())
                .unwrap()
                .locator_hash(),
        )
    };
    for (expires_at, uses, what) in [
        (now() - 1, 1, "an expiry in the past"),
        (now() + 60, 0, "no uses"),
        (now() + 60, 101, "more than 100 uses"),
    ] {
        let bad = InviteCreateRequest {
            locator_hash: fresh(),
            expires_at,
            uses,
        };
        assert_eq!(
            refusal(create_invite(&relay, &alice.token, &bad).await).await,
            (400, ErrorCode::BadRequest),
            "{what}"
        );
    }
    let unauthenticated = http
        .post(relay.url(paths::INVITES))
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    // Asking for more than the cap (30 days by default) is shortened to it.
    let long = InviteCreateRequest {
        locator_hash: fresh(),
        expires_at: now() + 90 * 24 * 3600,
        uses: 100,
    };
    let before = now();
    let long_created: InviteCreated = create_invite(&relay, &alice.token, &long)
        .await
        .json()
        .await
        .unwrap();
    let cap = 30 * 24 * 3600;
    assert!(
        (before + cap..=now() + cap).contains(&long_created.expires_at),
        "{} is not capped to 30 days",
        long_created.expires_at
    );

    // Listing: the caller's live invites only.
    let listed = list_invites(&relay, &alice.token).await;
    let mut ids: Vec<Uuid> = listed.invites.iter().map(|i| i.invite_id).collect();
    ids.sort();
    let mut expected = vec![created.invite_id, long_created.invite_id];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(list_invites(&relay, &bob.token).await.invites.is_empty());

    // Lookup by locator: the owner's key, which the friend checks against the code.
    let locator_text = Locator::new(*code.locator()).to_b64();
    let found = lookup(&relay, &bob.token, &locator_text).await;
    assert_eq!(found.status(), 200);
    let found: InviteLookup = found.json().await.unwrap();
    assert_eq!(found.user_id, alice.user_id);
    assert_eq!(found.handle.as_ref().map(|h| h.as_str()), Some("alice-sys"));
    code.verify_owner(&plog_crypto::identity::IdentityPublicKey::from_bytes(
        *found.public_key.as_bytes(),
    ))
    .expect("the relay returned the key the code names");
    assert_eq!(
        refusal(lookup(&relay, &bob.token, &Locator::new([9; 16]).to_b64()).await).await,
        (404, ErrorCode::NotFound)
    );
    for malformed in [
        "abc",
        "AAAAAAAAAAAAAAAAAAAAA*",
        &created.invite_id.to_string(),
    ] {
        assert_eq!(
            refusal(lookup(&relay, &bob.token, malformed).await).await,
            (400, ErrorCode::BadRequest),
            "{malformed}"
        );
    }
    assert_eq!(
        http.get(relay.url(&format!("/v1/invites/{locator_text}")))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // Redeeming: not one's own invite; too large an envelope is refused without spending a use.
    let mut alice_events = Events::watch(nats, alice.user_id).await;
    let locator = *code.locator();
    assert_eq!(
        refusal(redeem(&relay, &alice.token, &locator, b"self").await).await,
        (400, ErrorCode::BadRequest)
    );
    let oversized = vec![7u8; 70 * 1024 + 1];
    assert_eq!(
        refusal(redeem(&relay, &bob.token, &locator, &oversized).await).await,
        (413, ErrorCode::TooLarge)
    );
    let uses_of = |listing: &InviteListing, id: Uuid| {
        listing
            .invites
            .iter()
            .find(|i| i.invite_id == id)
            .map(|i| i.uses)
    };
    assert_eq!(
        uses_of(&list_invites(&relay, &alice.token).await, created.invite_id),
        Some(2)
    );

    // A redemption delivers the request to the owner's mailbox, tells the owner, spends a use.
    let request_from_bob = b"PLOG-MARKER-sealed-friend-request-from-bob".to_vec();
    let redeemed = redeem(&relay, &bob.token, &locator, &request_from_bob).await;
    assert_eq!(redeemed.status(), 202);
    let Event::NewMail(NewMail { seq }) = alice_events.next().await else {
        panic!("the owner is told about new mail");
    };
    let inbox = mail(&relay, &alice.token).await;
    let message = inbox
        .messages
        .iter()
        .find(|m| m.seq == seq)
        .expect("the request is in the owner's mailbox");
    assert_eq!(message.sender_id, bob.user_id);
    assert_eq!(message.source, MailSource::Invite);
    assert_eq!(message.envelope.as_bytes(), request_from_bob.as_slice());
    assert_eq!(
        uses_of(&list_invites(&relay, &alice.token).await, created.invite_id),
        Some(1)
    );

    // The last use: then the invite is gone for lookups, redemptions, listings and withdrawal.
    assert_eq!(
        redeem(&relay, &carol.token, &locator, b"from carol")
            .await
            .status(),
        202
    );
    assert!(matches!(alice_events.next().await, Event::NewMail(_)));
    assert_eq!(
        refusal(redeem(&relay, &bob.token, &locator, b"again").await).await,
        (404, ErrorCode::NotFound)
    );
    assert_eq!(
        refusal(lookup(&relay, &bob.token, &locator_text).await).await,
        (404, ErrorCode::NotFound)
    );
    assert_eq!(
        uses_of(&list_invites(&relay, &alice.token).await, created.invite_id),
        None
    );
    assert_eq!(
        refusal(withdraw(&relay, &alice.token, &created.invite_id.to_string()).await).await,
        (404, ErrorCode::NotFound)
    );
    assert_eq!(
        refusal(redeem(&relay, &bob.token, &[3; 16], b"nobody").await).await,
        (404, ErrorCode::NotFound)
    );

    // Withdrawal: by the owner only, once, by id.
    let long_id = long_created.invite_id.to_string();
    assert_eq!(
        refusal(withdraw(&relay, &bob.token, &long_id).await).await,
        (404, ErrorCode::NotFound)
    );
    assert_eq!(
        refusal(withdraw(&relay, &alice.token, "not-an-id").await).await,
        (400, ErrorCode::BadRequest)
    );
    assert_eq!(withdraw(&relay, &alice.token, &long_id).await.status(), 204);
    assert_eq!(
        refusal(withdraw(&relay, &alice.token, &long_id).await).await,
        (404, ErrorCode::NotFound)
    );
    assert!(list_invites(&relay, &alice.token).await.invites.is_empty());

    // The API description lists these routes.
    let openapi: serde_json::Value = http
        .get(relay.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, verbs) in [
        (paths::INVITES, &["get", "post"][..]),
        ("/v1/invites/{invite}", &["get", "delete"][..]),
        (paths::INVITES_REDEEM, &["post"][..]),
        (paths::GRANTS_ROUTE, &["get"][..]),
        (paths::GRANT_ROUTE, &["put", "delete"][..]),
    ] {
        for verb in verbs {
            assert!(
                openapi["paths"][path][verb].is_object(),
                "openapi.json lacks {verb} {path}"
            );
        }
    }
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_expire_at_the_relays_cap() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let mut options = RelayOptions::new(nats.url(), Database::Sqlite);
    options
        .overrides
        .push(("limits.max_invite_lifetime_secs".into(), "2".into()));
    let relay = TestRelay::start(options).await;
    let (http, base, origin) = (
        &relay.client,
        relay.base_url.as_str(),
        relay.started.public_origin.as_str(),
    );
    let alice = register_and_login(http, base, origin, AccountKind::System).await;
    let bob = register_and_login(http, base, origin, AccountKind::Friend).await;
    let code = InviteCode::generate(&alice.identity.public_key()).unwrap();
    let asked = now() + 3600;
    let created: InviteCreated = create_invite(
        &relay,
        &alice.token,
        &InviteCreateRequest {
            locator_hash: Bytes32::new(code.locator_hash()),
            expires_at: asked,
            uses: 1,
        },
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(created.expires_at <= now() + 2, "shortened to the cap");
    let locator_text = Locator::new(*code.locator()).to_b64();
    assert_eq!(
        lookup(&relay, &bob.token, &locator_text).await.status(),
        200
    );
    // Waiting out the lifetime is the point of this test, not a synchronisation.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        refusal(lookup(&relay, &bob.token, &locator_text).await).await,
        (404, ErrorCode::NotFound)
    );
    assert_eq!(
        refusal(redeem(&relay, &bob.token, code.locator(), b"late").await).await,
        (404, ErrorCode::NotFound)
    );
    assert!(list_invites(&relay, &alice.token).await.invites.is_empty());
    assert_eq!(
        refusal(withdraw(&relay, &alice.token, &created.invite_id.to_string()).await).await,
        (404, ErrorCode::NotFound)
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_the_mailbox_refuses_spends_no_use() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let mut options = RelayOptions::new(nats.url(), Database::Sqlite);
    options
        .overrides
        .push(("mailbox.max_per_recipient".into(), "1".into()));
    let relay = TestRelay::start(options).await;
    let (http, base, origin) = (
        &relay.client,
        relay.base_url.as_str(),
        relay.started.public_origin.as_str(),
    );
    let alice = register_and_login(http, base, origin, AccountKind::System).await;
    let bob = register_and_login(http, base, origin, AccountKind::Friend).await;
    let carol = register_and_login(http, base, origin, AccountKind::Friend).await;
    let code = InviteCode::generate(&alice.identity.public_key()).unwrap();
    let created: InviteCreated = create_invite(
        &relay,
        &alice.token,
        &InviteCreateRequest {
            locator_hash: Bytes32::new(code.locator_hash()),
            expires_at: now() + 600,
            uses: 3,
        },
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        redeem(&relay, &bob.token, code.locator(), b"first")
            .await
            .status(),
        202
    );
    // The owner's mailbox holds all it may: the next request is refused, and its use kept.
    let refused = redeem(&relay, &carol.token, code.locator(), b"second").await;
    assert!(refused.headers().get("retry-after").is_some());
    assert_eq!(refusal(refused).await, (429, ErrorCode::RateLimited));
    let listed = list_invites(&relay, &alice.token).await;
    assert_eq!(listed.invites.len(), 1);
    assert_eq!(
        (listed.invites[0].invite_id, listed.invites[0].uses),
        (created.invite_id, 2)
    );
    assert_eq!(mail(&relay, &alice.token).await.messages.len(), 1);
    relay.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Grants

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_on_sqlite() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    grants(&nats, Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_on_postgres() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let Some(db) = postgres::test_database_or_skip().await else {
        return;
    };
    grants(&nats, Database::Postgres(db.url().to_owned())).await;
    db.cleanup().await.unwrap();
}

/// One revision sealed by its owner, with what the owner knows about it.
struct Revision {
    sealed: SealedVolume,
    header_len: usize,
    digest: [u8; 32],
}

/// Seals `plaintext` as `revision` of `volume_id` under `vek`, tagged for the owner and for
/// each grantee whose tag key is given.
fn seal(
    owner: &TestUser,
    volume_id: Uuid,
    vtype_name: &str,
    (revision, epoch): (u64, u64),
    vek: &VolumeKey,
    plaintext: &[u8],
    grantees: &[(Uuid, &GranteeTagKey)],
) -> Revision {
    let header = VolumeHeader {
        volume_id: *volume_id.as_bytes(),
        vtype: VolumeType::new(vtype_name).unwrap(),
        revision,
        key_epoch: epoch,
    };
    let (bytes, digest) = seal_to_vec(vek, &header, plaintext).unwrap();
    // magic 8, version 1, id 16, type length 1, type, revision 8, epoch 8, nonce 24
    let header_len = 8 + 1 + 16 + 1 + vtype_name.len() + 8 + 8 + 24;
    let keys = OwnerKeys::derive(&owner.master).unwrap();
    let owner_tag = owner_tag(keys.tag_key(), &bytes[..header_len], &digest).unwrap();
    let wrapped = keys.wrap(volume_id.as_bytes(), epoch, vek).unwrap();
    let grantee_tags: GranteeTags = grantees
        .iter()
        .map(|(id, key)| {
            let tag = grantee_tag(key, &bytes[..header_len], &digest).unwrap();
            (*id, Bytes32::new(tag))
        })
        .collect();
    Revision {
        sealed: SealedVolume {
            bytes,
            headers: UploadHeaders {
                vtype: vtype::VolumeType::parse(vtype_name).unwrap(),
                key_epoch: epoch,
                owner_tag: Bytes32::new(owner_tag),
                owner_key: B64Bytes::new(wrapped.to_vec()),
                grantee_tags,
                precondition: if revision == 1 {
                    Precondition::Create
                } else {
                    Precondition::Replace {
                        revision: revision - 1,
                    }
                },
            },
        },
        header_len,
        digest,
    }
}

impl Revision {
    /// The grantee's tag on this revision.
    fn tag_for(&self, key: &GranteeTagKey) -> Bytes32 {
        Bytes32::new(grantee_tag(key, &self.sealed.bytes[..self.header_len], &self.digest).unwrap())
    }
}

async fn put_grant(
    relay: &TestRelay,
    token: &str,
    volume_id: Uuid,
    grantee_id: Uuid,
    request: &GrantRequest,
) -> reqwest::Response {
    relay
        .client
        .put(relay.url(&paths::grant(volume_id, grantee_id)))
        .bearer_auth(token)
        .json(request)
        .send()
        .await
        .unwrap()
}

async fn delete_grant(
    relay: &TestRelay,
    token: &str,
    volume_id: Uuid,
    grantee_id: Uuid,
) -> reqwest::Response {
    relay
        .client
        .delete(relay.url(&paths::grant(volume_id, grantee_id)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn get_volume(relay: &TestRelay, token: &str, volume_id: Uuid) -> reqwest::Response {
    relay
        .client
        .get(relay.url(&paths::volume(volume_id)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// What a grantee does with a download: open its key block, check its own tag, decrypt.
async fn read_as_grantee(
    relay: &TestRelay,
    grantee: &TestUser,
    owner: &TestUser,
    volume_id: Uuid,
    (revision, epoch): (u64, u64),
) -> Vec<u8> {
    let response = get_volume(relay, &grantee.token, volume_id).await;
    assert_eq!(response.status(), 200, "the grantee reads");
    let headers = response.headers().clone();
    assert!(headers.get("x-plog-owner-tag").is_none());
    assert!(headers.get("x-plog-owner-key").is_none());
    assert_eq!(headers["etag"], format!("\"{revision}\""));
    assert_eq!(headers["x-plog-key-epoch"], epoch.to_string());
    assert_eq!(headers["x-plog-owner-id"], owner.user_id.to_string());
    let block = B64Bytes::from_b64(headers["x-plog-key-block"].to_str().unwrap()).unwrap();
    let tag = Bytes32::from_b64(headers["x-plog-grantee-tag"].to_str().unwrap()).unwrap();
    let bytes = response.bytes().await.unwrap();
    let ctx = KeyBlockContext {
        relay_origin: relay.started.public_origin.as_str(),
        owner_id: *owner.user_id.as_bytes(),
        grantee_id: *grantee.user_id.as_bytes(),
        volume_id: *volume_id.as_bytes(),
        epoch,
    };
    let (vek, tag_key) = keyblock::open(
        block.as_bytes(),
        &grantee.identity,
        &owner.identity.public_key(),
        &ctx,
    )
    .expect("the key block opens");
    let expected = VolumeHeader {
        volume_id: *volume_id.as_bytes(),
        vtype: VolumeType::new("journals").unwrap(),
        revision,
        key_epoch: epoch,
    };
    let (plaintext, digest) = open_to_vec(&vek, expected, &bytes).expect("the volume opens");
    let header_len = 8 + 1 + 16 + 1 + "journals".len() + 8 + 8 + 24;
    verify_grantee_tag(&tag_key, &bytes[..header_len], &digest, tag.as_bytes())
        .expect("the grantee's own tag verifies");
    plaintext.to_vec()
}

async fn grants(nats: &NatsServer, database: Database) {
    let relay = TestRelay::start(RelayOptions::new(nats.url(), database)).await;
    let (http, base, origin) = (
        &relay.client,
        relay.base_url.as_str(),
        relay.started.public_origin.as_str(),
    );
    let alice = register_and_login(http, base, origin, AccountKind::System).await;
    let bob = register_and_login(http, base, origin, AccountKind::Friend).await;
    let carol = register_and_login(http, base, origin, AccountKind::Friend).await;
    let mut alice_events = Events::watch(nats, alice.user_id).await;
    let mut bob_events = Events::watch(nats, bob.user_id).await;

    let volume_id = Uuid::new_v4();
    let vek0 = VolumeKey::generate().unwrap();
    let r1 = seal(
        &alice,
        volume_id,
        "journals",
        (1, 0),
        &vek0,
        b"PLOG-MARKER-shared-journal-one",
        &[],
    );
    assert_eq!(
        put_volume(http, base, &alice.token, volume_id, &r1.sealed)
            .await
            .status(),
        201
    );
    // The owner hears of its own commit (its other devices would).
    assert_eq!(
        alice_events.next().await,
        Event::VolumeUpdated(VolumeUpdated {
            volume_id,
            owner_id: alice.user_id,
            revision: 1,
            key_epoch: 0,
        })
    );

    let block_for = |grantee: &TestUser, epoch: u64, vek: &VolumeKey| {
        let ctx = KeyBlockContext {
            relay_origin: origin,
            owner_id: *alice.user_id.as_bytes(),
            grantee_id: *grantee.user_id.as_bytes(),
            volume_id: *volume_id.as_bytes(),
            epoch,
        };
        keyblock::seal(&alice.identity, &grantee.identity.public_key(), &ctx, vek).unwrap()
    };
    let (block0, bob_key0) = block_for(&bob, 0, &vek0);
    assert_eq!(block0.len(), KEY_BLOCK_LEN);
    let grant0 = GrantRequest {
        key_epoch: 0,
        key_block: B64Bytes::new(block0.clone()),
        revision: 1,
        tag: r1.tag_for(&bob_key0),
    };

    // Before the grant nobody but the owner learns the volume exists.
    assert_eq!(
        refusal(get_volume(&relay, &bob.token, volume_id).await).await,
        (404, ErrorCode::NotFound)
    );
    let grants_url = relay.url(&paths::grants(volume_id));
    assert_eq!(
        refusal(
            http.get(&grants_url)
                .bearer_auth(&bob.token)
                .send()
                .await
                .unwrap()
        )
        .await,
        (404, ErrorCode::NotFound)
    );
    assert_eq!(
        refusal(put_grant(&relay, &carol.token, volume_id, bob.user_id, &grant0).await).await,
        (404, ErrorCode::NotFound),
        "only the owner grants"
    );
    assert_eq!(
        refusal(put_grant(&relay, &alice.token, Uuid::new_v4(), bob.user_id, &grant0).await).await,
        (404, ErrorCode::NotFound)
    );

    // Refusals of the request itself.
    let short_block = GrantRequest {
        key_block: B64Bytes::new(block0[..KEY_BLOCK_LEN - 1].to_vec()),
        ..grant0.clone()
    };
    assert_eq!(
        refusal(put_grant(&relay, &alice.token, volume_id, bob.user_id, &short_block).await).await,
        (400, ErrorCode::BadRequest)
    );
    assert_eq!(
        refusal(put_grant(&relay, &alice.token, volume_id, alice.user_id, &grant0).await).await,
        (400, ErrorCode::BadRequest),
        "not to oneself"
    );
    assert_eq!(
        refusal(put_grant(&relay, &alice.token, volume_id, Uuid::new_v4(), &grant0).await).await,
        (404, ErrorCode::NotFound),
        "the grantee must exist"
    );
    let stale = GrantRequest {
        revision: 0,
        ..grant0.clone()
    };
    assert_eq!(
        refusal(put_grant(&relay, &alice.token, volume_id, bob.user_id, &stale).await).await,
        (409, ErrorCode::RevisionConflict)
    );
    let bad_path = http
        .put(relay.url(&format!("/v1/volumes/{volume_id}/grants/not-a-uuid")))
        .bearer_auth(&alice.token)
        .json(&grant0)
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(bad_path).await, (400, ErrorCode::BadRequest));

    // The grant: the grantee is told and reads at once, with its own tag and key block.
    assert_eq!(
        put_grant(&relay, &alice.token, volume_id, bob.user_id, &grant0)
            .await
            .status(),
        204
    );
    assert_eq!(
        bob_events.next().await,
        Event::VolumeUpdated(VolumeUpdated {
            volume_id,
            owner_id: alice.user_id,
            revision: 1,
            key_epoch: 0,
        })
    );
    assert_eq!(
        read_as_grantee(&relay, &bob, &alice, volume_id, (1, 0)).await,
        b"PLOG-MARKER-shared-journal-one"
    );
    let bob_listing: VolumeListing = http
        .get(relay.url(paths::VOLUMES))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bob_listing.volumes.len(), 1);
    let entry = &bob_listing.volumes[0];
    assert_eq!(
        (
            entry.volume_id,
            entry.role,
            entry.own_tag,
            entry.has_key_block
        ),
        (volume_id, VolumeRole::Grantee, Some(grant0.tag), true)
    );
    // Someone without a grant still learns nothing.
    assert_eq!(
        refusal(get_volume(&relay, &carol.token, volume_id).await).await,
        (404, ErrorCode::NotFound)
    );
    let listing: GrantListing = http
        .get(&grants_url)
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing.grants.len(), 1);
    assert_eq!(
        (listing.grants[0].grantee_id, listing.grants[0].key_epoch),
        (bob.user_id, 0)
    );

    // The next revision, tagged for bob by the owner: both hear of it.
    let r2 = seal(
        &alice,
        volume_id,
        "journals",
        (2, 0),
        &vek0,
        b"PLOG-MARKER-shared-journal-two",
        &[(bob.user_id, &bob_key0)],
    );
    assert_eq!(
        put_volume(http, base, &alice.token, volume_id, &r2.sealed)
            .await
            .status(),
        200
    );
    let updated_2 = Event::VolumeUpdated(VolumeUpdated {
        volume_id,
        owner_id: alice.user_id,
        revision: 2,
        key_epoch: 0,
    });
    assert_eq!(bob_events.next().await, updated_2);
    assert_eq!(alice_events.next().await, updated_2);
    assert_eq!(
        read_as_grantee(&relay, &bob, &alice, volume_id, (2, 0)).await,
        b"PLOG-MARKER-shared-journal-two"
    );
    // A grant naming the old revision is stale now.
    assert_eq!(
        refusal(put_grant(&relay, &alice.token, volume_id, bob.user_id, &grant0).await).await,
        (409, ErrorCode::RevisionConflict)
    );

    // A new epoch (as after revoking someone): the old key block no longer opens the volume,
    // a key block for the old epoch is fenced, one for the new epoch restores access.
    let vek1 = VolumeKey::generate().unwrap();
    let r3 = seal(
        &alice,
        volume_id,
        "journals",
        (3, 1),
        &vek1,
        b"PLOG-MARKER-shared-journal-three",
        &[],
    );
    assert_eq!(
        put_volume(http, base, &alice.token, volume_id, &r3.sealed)
            .await
            .status(),
        200
    );
    let updated_3 = Event::VolumeUpdated(VolumeUpdated {
        volume_id,
        owner_id: alice.user_id,
        revision: 3,
        key_epoch: 1,
    });
    assert_eq!(bob_events.next().await, updated_3);
    assert_eq!(alice_events.next().await, updated_3);
    assert_eq!(
        refusal(get_volume(&relay, &bob.token, volume_id).await).await,
        (404, ErrorCode::NotFound),
        "no key block for the current epoch"
    );
    let old_epoch = GrantRequest {
        revision: 3,
        tag: r3.tag_for(&bob_key0),
        ..grant0.clone()
    };
    assert_eq!(
        refusal(put_grant(&relay, &alice.token, volume_id, bob.user_id, &old_epoch).await).await,
        (409, ErrorCode::EpochFenced)
    );
    let (block1, bob_key1) = block_for(&bob, 1, &vek1);
    let grant1 = GrantRequest {
        key_epoch: 1,
        key_block: B64Bytes::new(block1),
        revision: 3,
        tag: r3.tag_for(&bob_key1),
    };
    assert_eq!(
        put_grant(&relay, &alice.token, volume_id, bob.user_id, &grant1)
            .await
            .status(),
        204
    );
    assert_eq!(bob_events.next().await, updated_3);
    assert_eq!(
        read_as_grantee(&relay, &bob, &alice, volume_id, (3, 1)).await,
        b"PLOG-MARKER-shared-journal-three"
    );
    // Uploads under the old epoch are fenced too.
    let stale_upload = seal(&alice, volume_id, "journals", (4, 0), &vek0, b"x", &[]);
    assert_eq!(
        refusal(put_volume(http, base, &alice.token, volume_id, &stale_upload.sealed).await).await,
        (409, ErrorCode::EpochFenced)
    );

    // The manifest is never shared; a stranger still only gets 404 for it.
    let manifest_id = Uuid::new_v4();
    let manifest = seal(&alice, manifest_id, "manifest", (1, 0), &vek0, b"{}", &[]);
    assert_eq!(
        put_volume(http, base, &alice.token, manifest_id, &manifest.sealed)
            .await
            .status(),
        201
    );
    let to_manifest = GrantRequest {
        revision: 1,
        ..grant0.clone()
    };
    assert_eq!(
        refusal(put_grant(&relay, &alice.token, manifest_id, bob.user_id, &to_manifest).await)
            .await,
        (400, ErrorCode::BadRequest)
    );
    assert_eq!(
        refusal(put_grant(&relay, &carol.token, manifest_id, bob.user_id, &to_manifest).await)
            .await,
        (404, ErrorCode::NotFound)
    );
    // Drain the owner's own commit event of the manifest.
    assert!(matches!(alice_events.next().await, Event::VolumeUpdated(_)));

    // Revocation: only by the owner; the grantee is told and loses access at once.
    assert_eq!(
        refusal(delete_grant(&relay, &carol.token, volume_id, bob.user_id).await).await,
        (404, ErrorCode::NotFound)
    );
    assert_eq!(
        delete_grant(&relay, &alice.token, volume_id, bob.user_id)
            .await
            .status(),
        204
    );
    assert_eq!(
        bob_events.next().await,
        Event::GrantRevoked(GrantRevoked {
            volume_id,
            owner_id: alice.user_id,
        })
    );
    assert_eq!(
        refusal(get_volume(&relay, &bob.token, volume_id).await).await,
        (404, ErrorCode::NotFound)
    );
    assert_eq!(
        refusal(delete_grant(&relay, &alice.token, volume_id, bob.user_id).await).await,
        (404, ErrorCode::NotFound)
    );
    let listing: GrantListing = http
        .get(&grants_url)
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listing.grants.is_empty());

    // Deleting a shared volume tells its grantees.
    assert_eq!(
        put_grant(&relay, &alice.token, volume_id, bob.user_id, &grant1)
            .await
            .status(),
        204
    );
    assert_eq!(bob_events.next().await, updated_3);
    assert_eq!(
        http.delete(relay.url(&paths::volume(volume_id)))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(bob_events.next().await, updated_3);
    assert_eq!(
        refusal(get_volume(&relay, &bob.token, volume_id).await).await,
        (404, ErrorCode::NotFound)
    );
    relay.stop().await;
}
