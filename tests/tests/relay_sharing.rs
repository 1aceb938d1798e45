//! Invites and grants end to end: a real `nats-server`, the relay serving HTTPS, SQLite and
//! PostgreSQL, and clients using the real cryptography (invite codes, key blocks, grantee
//! tags). Live events are watched on the relay's NATS subjects, as every relay instance's
//! `GET /v1/events` stream sees them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures_util::StreamExt;
use plog_crypto::invite::InviteCode;
use plog_crypto::keyblock::{self, KEY_BLOCK_LEN, KeyBlockContext};
use plog_crypto::volume::{
    GranteeTagKey, VolumeHeader, VolumeKey, VolumeType, grantee_tag, open_to_vec,
    verify_grantee_tag,
};
use plog_ipc_schema::encoding::{B64Bytes, Bytes32};
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::http::accounts::AccountKind;
use plog_ipc_schema::http::events::{Event, GrantRevoked, NewMail, VolumeUpdated};
use plog_ipc_schema::http::grants::{GrantListing, GrantRequest};
use plog_ipc_schema::http::invites::{
    InviteCreateRequest, InviteCreated, InviteListing, InviteLookup, InviteRedeemRequest, Locator,
    invite_id_of,
};
use plog_ipc_schema::http::mailbox::{MailListing, MailSource};
use plog_ipc_schema::http::paths;
use plog_ipc_schema::http::volumes::{VolumeListing, VolumeRole};
use plog_ipc_schema::nats::Names;
use plog_tests::client::{
    SealedVolume, TestUser, delete_as, get_as, get_json, get_json_as, json_as, json_of, put_volume,
    read_as, refusal, register, seal_volume_with, send, unix_now, volume_header_len,
};
use plog_tests::nats::NatsServer;
use plog_tests::relay::{Database, RelayOptions, TestRelay};
use plog_tests::relay_setup::sqlite_relay_or_skip;
use reqwest::Method;
use uuid::Uuid;

/// The longest a test waits for an event that must come; only a failure bound.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

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

plog_tests::on_sqlite_and_postgres!(invites => invites_on_sqlite, invites_on_postgres);

async fn create_invite(
    relay: &TestRelay,
    token: &str,
    request: &InviteCreateRequest,
) -> reqwest::Response {
    json_as(relay, Method::POST, token, paths::INVITES, request).await
}

/// Registers an invite of `owner`'s, asking for `uses` uses until `expires_at`; its code and
/// what the relay made of the request.
async fn new_invite(
    relay: &TestRelay,
    owner: &TestUser,
    expires_at: u64,
    uses: u32,
) -> (InviteCode, InviteCreated) {
    let code = InviteCode::generate(&owner.identity.public_key()).unwrap();
    let request = InviteCreateRequest {
        locator_hash: Bytes32::new(code.locator_hash()),
        expires_at,
        uses,
    };
    let created = json_of(create_invite(relay, &owner.token, &request).await).await;
    (code, created)
}

async fn list_invites(relay: &TestRelay, token: &str) -> InviteListing {
    read_as(relay, token, paths::INVITES).await
}

async fn redeem(
    relay: &TestRelay,
    token: &str,
    locator: &[u8; 16],
    envelope: &[u8],
) -> reqwest::Response {
    let request = InviteRedeemRequest {
        locator: Locator::new(*locator),
        envelope: B64Bytes::new(envelope.to_vec()),
    };
    json_as(relay, Method::POST, token, paths::INVITES_REDEEM, &request).await
}

async fn lookup(relay: &TestRelay, token: &str, segment: &str) -> reqwest::Response {
    get_as(relay, token, &format!("/v1/invites/{segment}")).await
}

async fn withdraw(relay: &TestRelay, token: &str, segment: &str) -> reqwest::Response {
    delete_as(relay, token, &format!("/v1/invites/{segment}")).await
}

async fn mail(relay: &TestRelay, token: &str) -> MailListing {
    read_as(relay, token, paths::MAILBOX).await
}

async fn invites(nats: &NatsServer, database: Database) {
    let relay = TestRelay::start(RelayOptions::new(nats.url(), database)).await;
    let alice = register(&relay, AccountKind::System).await;
    let bob = register(&relay, AccountKind::Friend).await;
    let carol = register(&relay, AccountKind::Friend).await;
    let handle = serde_json::json!({"handle": "alice-sys"});
    assert_eq!(
        json_as(&relay, Method::PUT, &alice.token, paths::ME_HANDLE, &handle)
            .await
            .status(),
        204
    );

    // Register: the id is the locator hash's first half; the relay keeps what was asked when
    // it is within its cap.
    let code = InviteCode::generate(&alice.identity.public_key()).unwrap();
    let locator_hash = Bytes32::new(code.locator_hash());
    let request = InviteCreateRequest {
        locator_hash,
        expires_at: unix_now() + 3600,
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
        (unix_now() - 1, 1, "an expiry in the past"),
        (unix_now() + 60, 0, "no uses"),
        (unix_now() + 60, 101, "more than 100 uses"),
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
    let unauthenticated = send(relay.client.post(relay.url(paths::INVITES)).json(&request)).await;
    assert_eq!(unauthenticated.status(), 401);
    // Asking for more than the cap (30 days by default) is shortened to it.
    let long = InviteCreateRequest {
        locator_hash: fresh(),
        expires_at: unix_now() + 90 * 24 * 3600,
        uses: 100,
    };
    let before = unix_now();
    let long_created: InviteCreated =
        json_of(create_invite(&relay, &alice.token, &long).await).await;
    let cap = 30 * 24 * 3600;
    assert!(
        (before + cap..=unix_now() + cap).contains(&long_created.expires_at),
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
    let unauthenticated_lookup = relay.url(&format!("/v1/invites/{locator_text}"));
    assert_eq!(
        send(relay.client.get(unauthenticated_lookup))
            .await
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
    let openapi: serde_json::Value = get_json(&relay, "/v1/openapi.json").await;
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
    let lifetime = [("limits.max_invite_lifetime_secs", "2")];
    let Some((_nats, relay)) = sqlite_relay_or_skip(&lifetime).await else {
        return;
    };
    let alice = register(&relay, AccountKind::System).await;
    let bob = register(&relay, AccountKind::Friend).await;
    let (code, created) = new_invite(&relay, &alice, unix_now() + 3600, 1).await;
    assert!(created.expires_at <= unix_now() + 2, "shortened to the cap");
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
    let Some((_nats, relay)) = sqlite_relay_or_skip(&[("mailbox.max_per_recipient", "1")]).await
    else {
        return;
    };
    let alice = register(&relay, AccountKind::System).await;
    let bob = register(&relay, AccountKind::Friend).await;
    let carol = register(&relay, AccountKind::Friend).await;
    let (code, created) = new_invite(&relay, &alice, unix_now() + 600, 3).await;
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

plog_tests::on_sqlite_and_postgres!(grants => grants_on_sqlite, grants_on_postgres);

/// One revision sealed by its owner, with what the owner knows about it.
struct Revision {
    sealed: SealedVolume,
    vtype_name: &'static str,
    digest: [u8; 32],
}

impl Revision {
    /// The grantee's tag on this revision.
    fn tag_for(&self, key: &GranteeTagKey) -> Bytes32 {
        let header = &self.sealed.bytes[..volume_header_len(self.vtype_name)];
        Bytes32::new(grantee_tag(key, header, &self.digest).unwrap())
    }
}

/// One owner's volume at one relay, which the owner writes revisions of.
struct OwnedVolume<'a> {
    relay: &'a TestRelay,
    owner: &'a TestUser,
    volume_id: Uuid,
    vtype_name: &'static str,
}

impl OwnedVolume<'_> {
    /// Seals `plaintext` as `(revision, epoch)` under `vek`, tagged for the owner and for each
    /// grantee whose tag key is given.
    fn seal(
        &self,
        revision_and_epoch: (u64, u64),
        vek: &VolumeKey,
        plaintext: &[u8],
        grantees: &[(Uuid, &GranteeTagKey)],
    ) -> Revision {
        let (sealed, digest) = seal_volume_with(
            self.owner,
            self.volume_id,
            self.vtype_name,
            revision_and_epoch,
            vek,
            plaintext,
            grantees,
        );
        Revision {
            sealed,
            vtype_name: self.vtype_name,
            digest,
        }
    }

    /// Uploads `revision`; the response as received.
    async fn put(&self, revision: &Revision) -> reqwest::Response {
        let (http, base) = (&self.relay.client, self.relay.base_url.as_str());
        put_volume(
            http,
            base,
            &self.owner.token,
            self.volume_id,
            &revision.sealed,
        )
        .await
    }

    /// Seals and uploads a revision (see [`Self::seal`]), which must answer `status`.
    async fn commit(
        &self,
        revision_and_epoch: (u64, u64),
        vek: &VolumeKey,
        plaintext: &[u8],
        grantees: &[(Uuid, &GranteeTagKey)],
        status: u16,
    ) -> Revision {
        let revision = self.seal(revision_and_epoch, vek, plaintext, grantees);
        assert_eq!(self.put(&revision).await.status(), status);
        revision
    }

    /// Grants `request` on this volume to `grantee_id` as its owner; the response as received.
    async fn grant(&self, grantee_id: Uuid, request: &GrantRequest) -> reqwest::Response {
        put_grant(
            self.relay,
            &self.owner.token,
            self.volume_id,
            grantee_id,
            request,
        )
        .await
    }

    /// The event that tells of `(revision, epoch)` of this volume.
    fn updated(&self, (revision, key_epoch): (u64, u64)) -> Event {
        Event::VolumeUpdated(VolumeUpdated {
            volume_id: self.volume_id,
            owner_id: self.owner.user_id,
            revision,
            key_epoch,
        })
    }
}

async fn put_grant(
    relay: &TestRelay,
    token: &str,
    volume_id: Uuid,
    grantee_id: Uuid,
    request: &GrantRequest,
) -> reqwest::Response {
    let path = paths::grant(volume_id, grantee_id);
    json_as(relay, Method::PUT, token, &path, request).await
}

async fn delete_grant(
    relay: &TestRelay,
    token: &str,
    volume_id: Uuid,
    grantee_id: Uuid,
) -> reqwest::Response {
    delete_as(relay, token, &paths::grant(volume_id, grantee_id)).await
}

async fn get_volume(relay: &TestRelay, token: &str, volume_id: Uuid) -> reqwest::Response {
    get_as(relay, token, &paths::volume(volume_id)).await
}

/// What a key block from `owner` to `grantee` for `volume_id` at `epoch` is bound to.
fn key_block_context<'a>(
    relay: &'a TestRelay,
    owner: &TestUser,
    grantee: &TestUser,
    volume_id: Uuid,
    epoch: u64,
) -> KeyBlockContext<'a> {
    KeyBlockContext {
        relay_origin: relay.started.public_origin.as_str(),
        owner_id: *owner.user_id.as_bytes(),
        grantee_id: *grantee.user_id.as_bytes(),
        volume_id: *volume_id.as_bytes(),
        epoch,
    }
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
    let ctx = key_block_context(relay, owner, grantee, volume_id, epoch);
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
    let header_len = volume_header_len("journals");
    verify_grantee_tag(&tag_key, &bytes[..header_len], &digest, tag.as_bytes())
        .expect("the grantee's own tag verifies");
    plaintext.to_vec()
}

async fn grants(nats: &NatsServer, database: Database) {
    let relay = TestRelay::start(RelayOptions::new(nats.url(), database)).await;
    let alice = register(&relay, AccountKind::System).await;
    let bob = register(&relay, AccountKind::Friend).await;
    let carol = register(&relay, AccountKind::Friend).await;
    let mut alice_events = Events::watch(nats, alice.user_id).await;
    let mut bob_events = Events::watch(nats, bob.user_id).await;

    let volume_id = Uuid::new_v4();
    let journal = OwnedVolume {
        relay: &relay,
        owner: &alice,
        volume_id,
        vtype_name: "journals",
    };
    let vek0 = VolumeKey::generate().unwrap();
    let r1 = journal
        .commit((1, 0), &vek0, b"PLOG-MARKER-shared-journal-one", &[], 201)
        .await;
    // The owner hears of its own commit (its other devices would).
    assert_eq!(alice_events.next().await, journal.updated((1, 0)));

    let block_for = |grantee: &TestUser, epoch: u64, vek: &VolumeKey| {
        let ctx = key_block_context(&relay, &alice, grantee, volume_id, epoch);
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
    let grants_path = paths::grants(volume_id);
    assert_eq!(
        refusal(get_as(&relay, &bob.token, &grants_path).await).await,
        (404, ErrorCode::NotFound)
    );
    // Grants only the owner may make, of a volume that exists, then refusals of the request
    // itself.
    let short_block = GrantRequest {
        key_block: B64Bytes::new(block0[..KEY_BLOCK_LEN - 1].to_vec()),
        ..grant0.clone()
    };
    let stale = GrantRequest {
        revision: 0,
        ..grant0.clone()
    };
    let (alice_id, bob_id) = (alice.user_id, bob.user_id);
    let not_found = (404, ErrorCode::NotFound);
    let bad_request = (400, ErrorCode::BadRequest);
    let conflict = (409, ErrorCode::RevisionConflict);
    // One row a request: spread over eight lines each, the table would not read as one.
    #[rustfmt::skip]
    let refused_grants = [
        (&carol, volume_id, bob_id, &grant0, not_found, "only the owner grants"),
        (&alice, Uuid::new_v4(), bob_id, &grant0, not_found, "an unknown volume"),
        (&alice, volume_id, bob_id, &short_block, bad_request, "a short key block"),
        (&alice, volume_id, alice_id, &grant0, bad_request, "not to oneself"),
        (&alice, volume_id, Uuid::new_v4(), &grant0, not_found, "the grantee must exist"),
        (&alice, volume_id, bob_id, &stale, conflict, "a stale revision"),
    ];
    for (granter, volume, grantee, request, expected, what) in refused_grants {
        assert_eq!(
            refusal(put_grant(&relay, &granter.token, volume, grantee, request).await).await,
            expected,
            "{what}"
        );
    }
    let bad_path = format!("/v1/volumes/{volume_id}/grants/not-a-uuid");
    let bad_path = json_as(&relay, Method::PUT, &alice.token, &bad_path, &grant0).await;
    assert_eq!(refusal(bad_path).await, (400, ErrorCode::BadRequest));

    // The grant: the grantee is told and reads at once, with its own tag and key block.
    assert_eq!(journal.grant(bob.user_id, &grant0).await.status(), 204);
    assert_eq!(bob_events.next().await, journal.updated((1, 0)));
    assert_eq!(
        read_as_grantee(&relay, &bob, &alice, volume_id, (1, 0)).await,
        b"PLOG-MARKER-shared-journal-one"
    );
    let bob_listing: VolumeListing = get_json_as(&relay, &bob.token, paths::VOLUMES).await;
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
    let listing: GrantListing = get_json_as(&relay, &alice.token, &grants_path).await;
    assert_eq!(listing.grants.len(), 1);
    assert_eq!(
        (listing.grants[0].grantee_id, listing.grants[0].key_epoch),
        (bob.user_id, 0)
    );

    // The next revision, tagged for bob by the owner: both hear of it.
    let bob_tag_key = [(bob.user_id, &bob_key0)];
    journal
        .commit(
            (2, 0),
            &vek0,
            b"PLOG-MARKER-shared-journal-two",
            &bob_tag_key,
            200,
        )
        .await;
    let updated_2 = journal.updated((2, 0));
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
    let r3 = journal
        .commit((3, 1), &vek1, b"PLOG-MARKER-shared-journal-three", &[], 200)
        .await;
    let updated_3 = journal.updated((3, 1));
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
    assert_eq!(journal.grant(bob.user_id, &grant1).await.status(), 204);
    assert_eq!(bob_events.next().await, updated_3);
    assert_eq!(
        read_as_grantee(&relay, &bob, &alice, volume_id, (3, 1)).await,
        b"PLOG-MARKER-shared-journal-three"
    );
    // Uploads under the old epoch are fenced too.
    let stale_upload = journal.seal((4, 0), &vek0, b"x", &[]);
    assert_eq!(
        refusal(journal.put(&stale_upload).await).await,
        (409, ErrorCode::EpochFenced)
    );

    // The manifest is never shared; a stranger still only gets 404 for it.
    let manifest_id = Uuid::new_v4();
    let manifest = OwnedVolume {
        relay: &relay,
        owner: &alice,
        volume_id: manifest_id,
        vtype_name: "manifest",
    };
    manifest.commit((1, 0), &vek0, b"{}", &[], 201).await;
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
    let listing: GrantListing = get_json_as(&relay, &alice.token, &grants_path).await;
    assert!(listing.grants.is_empty());

    // Deleting a shared volume tells its grantees.
    assert_eq!(journal.grant(bob.user_id, &grant1).await.status(), 204);
    assert_eq!(bob_events.next().await, updated_3);
    assert_eq!(
        delete_as(&relay, &alice.token, &paths::volume(volume_id))
            .await
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
