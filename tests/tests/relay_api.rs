//! The relay's API end to end: a real `nats-server`, the relay serving HTTPS on a free port,
//! SQLite and PostgreSQL, and a client using the real cryptography. The same story runs on
//! both databases.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use plog_ipc_schema::encoding::PublicKeyB64;
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::http::accounts::AccountKind;
use plog_ipc_schema::http::auth::ChallengeRequest;
use plog_ipc_schema::http::headers::Precondition;
use plog_ipc_schema::http::volumes::VolumeListing;
use plog_tests::client::{
    self, answer, challenge, error_of, login, prove, put_volume, register_and_login, seal_volume,
};
use plog_tests::nats::NatsServer;
use plog_tests::postgres;
use plog_tests::relay::{Database, RelayOptions, TestRelay};
use uuid::Uuid;

fn code(body: &plog_ipc_schema::error::ErrorBody) -> ErrorCode {
    body.code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_sqlite() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    story(&nats, Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn story_on_postgres() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let Some(db) = postgres::test_database_or_skip().await else {
        return;
    };
    story(&nats, Database::Postgres(db.url().to_owned())).await;
    db.cleanup().await.unwrap();
}

async fn story(nats: &NatsServer, database: Database) {
    let mut options = RelayOptions::new(nats.url(), database);
    options
        .overrides
        .push(("limits.max_volume_bytes".into(), "300000".into()));
    let relay = TestRelay::start(options).await;
    let http = &relay.client;
    let base = relay.base_url.as_str();
    let origin = relay.started.public_origin.as_str();

    // Health, readiness, info, OpenAPI.
    assert_eq!(
        http.get(relay.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(relay.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let info: serde_json::Value = http
        .get(relay.url("/v1/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["version"], plog_relay::VERSION);
    assert_eq!(info["limits"]["max_volume_bytes"], 300000);
    let openapi: serde_json::Value = http
        .get(relay.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"]["/v1/volumes/{volume_id}"]["put"].is_object());

    // Register, log in; a second registration of the same key is refused.
    let alice = register_and_login(http, base, origin, AccountKind::System).await;
    let again = http
        .post(relay.url("/v1/accounts"))
        .json(&serde_json::json!({"kind": "system", "public_key": PublicKeyB64::new(*alice.identity.public_key().as_bytes())}))
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(again).await;
    assert_eq!((status, code(&body)), (409, ErrorCode::AccountExists));

    // A requested handle is held only once the account proves its key.
    let bob_master = plog_crypto::master::MasterSecret::generate().unwrap();
    let bob_identity = bob_master.relay_identity(origin, 0).unwrap();
    let registered: serde_json::Value = http
        .post(relay.url("/v1/accounts"))
        .json(&serde_json::json!({"kind": "friend", "public_key": PublicKeyB64::new(*bob_identity.public_key().as_bytes()), "handle": "Bob-The-Friend"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bob_id: Uuid = registered["user_id"].as_str().unwrap().parse().unwrap();
    let lookup = |handle: &'static str, token: String| {
        let request = http
            .get(relay.url(&format!("/v1/handles/{handle}")))
            .bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(
        lookup("bob-the-friend", alice.token.clone()).await.status(),
        404
    );
    let bob_token = login(
        http,
        base,
        origin,
        &bob_identity,
        ChallengeRequest::UserId(bob_id),
    )
    .await
    .unwrap();
    let found: serde_json::Value = lookup("BOB-the-friend", alice.token.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["user_id"], bob_id.to_string());
    assert_eq!(
        http.get(relay.url("/v1/handles/bob-the-friend"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // Create, read back byte-exact, list, replace.
    let volume_id = Uuid::new_v4();
    let v1 = seal_volume(
        &alice,
        volume_id,
        "journals",
        1,
        0,
        b"PLOG-MARKER-journal-one",
    );
    let created = put_volume(http, base, &alice.token, volume_id, &v1).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["etag"], "\"1\"");
    let got = http
        .get(relay.url(&format!("/v1/volumes/{volume_id}")))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.headers()["x-plog-owner-key"],
        v1.headers.owner_key.to_b64()
    );
    assert_eq!(
        got.headers()["x-plog-owner-tag"],
        v1.headers.owner_tag.to_b64()
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), v1.bytes.as_slice());
    let head = http
        .head(relay.url(&format!("/v1/volumes/{volume_id}")))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], v1.bytes.len().to_string());
    let listing: VolumeListing = http
        .get(relay.url("/v1/volumes"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing.volumes.len(), 1);
    assert_eq!(listing.volumes[0].revision, 1);
    let v2 = seal_volume(
        &alice,
        volume_id,
        "journals",
        2,
        0,
        b"PLOG-MARKER-journal-two",
    );
    assert_eq!(
        put_volume(http, base, &alice.token, volume_id, &v2)
            .await
            .status(),
        200
    );

    // Stale If-Match → 409; header revision that is not If-Match + 1 → 400.
    let (status, body) = error_of(put_volume(http, base, &alice.token, volume_id, &v2).await).await;
    assert_eq!((status, code(&body)), (409, ErrorCode::RevisionConflict));
    let mut wrong = seal_volume(&alice, volume_id, "journals", 5, 0, b"x");
    wrong.headers.precondition = Precondition::Replace { revision: 2 };
    let (status, body) =
        error_of(put_volume(http, base, &alice.token, volume_id, &wrong).await).await;
    assert_eq!(
        (status, code(&body)),
        (400, ErrorCode::BadRequest),
        "{}",
        body.message
    );

    // A new epoch fences the old one.
    let v3 = seal_volume(
        &alice,
        volume_id,
        "journals",
        3,
        1,
        b"PLOG-MARKER-journal-three",
    );
    assert_eq!(
        put_volume(http, base, &alice.token, volume_id, &v3)
            .await
            .status(),
        200
    );
    let stale_epoch = seal_volume(&alice, volume_id, "journals", 4, 0, b"x");
    let (status, body) =
        error_of(put_volume(http, base, &alice.token, volume_id, &stale_epoch).await).await;
    assert_eq!((status, code(&body)), (409, ErrorCode::EpochFenced));

    // Another account can neither read, overwrite nor delete it, nor learn that it exists.
    let url = relay.url(&format!("/v1/volumes/{volume_id}"));
    let (status, _) = error_of(http.get(&url).bearer_auth(&bob_token).send().await.unwrap()).await;
    assert_eq!(status, 404);
    let bob = client::TestUser {
        master: bob_master,
        identity: bob_identity,
        user_id: bob_id,
        token: bob_token.clone(),
    };
    let hijack = seal_volume(&bob, volume_id, "journals", 4, 1, b"x");
    let (status, _) = error_of(put_volume(http, base, &bob_token, volume_id, &hijack).await).await;
    assert_eq!(status, 404);
    let (status, _) = error_of(
        http.delete(&url)
            .bearer_auth(&bob_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let bob_listing: VolumeListing = http
        .get(relay.url("/v1/volumes"))
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(bob_listing.volumes.is_empty());

    // Too large: refused by Content-Length, and by counting when the body is streamed.
    let big_id = Uuid::new_v4();
    let big = seal_volume(&alice, big_id, "journals", 1, 0, &vec![7u8; 400_000]);
    let (status, body) = error_of(put_volume(http, base, &alice.token, big_id, &big).await).await;
    assert_eq!((status, code(&body)), (413, ErrorCode::TooLarge));
    let mut streamed = http
        .put(relay.url(&format!("/v1/volumes/{big_id}")))
        .bearer_auth(&alice.token)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            big.bytes
                .chunks(50_000)
                .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
                .collect::<Vec<_>>(),
        )));
    for (name, value) in big.headers.to_pairs() {
        streamed = streamed.header(name, value);
    }
    let (status, body) = error_of(streamed.send().await.unwrap()).await;
    assert_eq!((status, code(&body)), (413, ErrorCode::TooLarge));
    let (status, _) = error_of(
        http.get(relay.url(&format!("/v1/volumes/{big_id}")))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404, "a refused upload leaves no volume");

    // Bad input: JSON, base64, handle, volume type.
    let bad_json = http
        .post(relay.url("/v1/accounts"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(bad_json).await;
    assert_eq!((status, code(&body)), (400, ErrorCode::BadRequest));
    let bad_b64 = http
        .post(relay.url("/v1/accounts"))
        .json(&serde_json::json!({"kind": "system", "public_key": "not+base64url"}))
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(bad_b64).await;
    assert_eq!((status, code(&body)), (400, ErrorCode::BadRequest));
    let bad_handle = http
        .put(relay.url("/v1/me/handle"))
        .bearer_auth(&alice.token)
        .json(&serde_json::json!({"handle": "no spaces"}))
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(bad_handle).await;
    assert_eq!((status, code(&body)), (400, ErrorCode::InvalidHandle));
    let mut bad_type = http
        .put(relay.url(&format!("/v1/volumes/{}", Uuid::new_v4())))
        .bearer_auth(&alice.token)
        .body(vec![0u8; 10]);
    for (name, value) in v1.headers.to_pairs() {
        bad_type = bad_type.header(
            name,
            if name == "x-plog-volume-type" {
                "Not A Type".to_owned()
            } else {
                value
            },
        );
    }
    let (status, body) = error_of(bad_type.send().await.unwrap()).await;
    assert_eq!((status, code(&body)), (400, ErrorCode::BadRequest));

    // Handles are unique.
    assert_eq!(
        http.put(relay.url("/v1/me/handle"))
            .bearer_auth(&alice.token)
            .json(&serde_json::json!({"handle": "alice"}))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let taken = http
        .put(relay.url("/v1/me/handle"))
        .bearer_auth(&bob_token)
        .json(&serde_json::json!({"handle": "ALICE"}))
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(taken).await;
    assert_eq!((status, code(&body)), (409, ErrorCode::HandleTaken));

    // Wrong proof, replayed challenge.
    let c = challenge(http, base, ChallengeRequest::UserId(alice.user_id)).await;
    let mut proof = prove(&alice.identity, origin, &c);
    let mut raw = *proof.as_bytes();
    raw[0] ^= 1;
    proof = plog_ipc_schema::encoding::Bytes32::new(raw);
    let (status, body) = error_of(answer(http, base, c.challenge_id, proof).await).await;
    assert_eq!((status, code(&body)), (401, ErrorCode::ChallengeFailed));
    let right = prove(&alice.identity, origin, &c);
    let (status, body) = error_of(answer(http, base, c.challenge_id, right).await).await;
    assert_eq!(
        (status, code(&body)),
        (401, ErrorCode::ChallengeExpired),
        "a challenge gets one answer"
    );
    // A proof bound to another origin fails.
    let c = challenge(http, base, ChallengeRequest::UserId(alice.user_id)).await;
    let elsewhere = prove(&alice.identity, "https://other.example", &c);
    let (status, body) = error_of(answer(http, base, c.challenge_id, elsewhere).await).await;
    assert_eq!((status, code(&body)), (401, ErrorCode::ChallengeFailed));

    // Restore: a challenge by public key finds the account.
    let restored = alice.master.relay_identity(origin, 0).unwrap();
    let by_key = ChallengeRequest::PublicKey(PublicKeyB64::new(*restored.public_key().as_bytes()));
    let c = challenge(http, base, by_key).await;
    assert_eq!(c.user_id, alice.user_id);
    let restored_token = login(http, base, origin, &restored, by_key).await.unwrap();
    // An unknown key gets a stable pseudo id and a challenge nobody can answer.
    let stranger = plog_crypto::identity::IdentityKeyPair::generate().unwrap();
    let unknown = ChallengeRequest::PublicKey(PublicKeyB64::new(*stranger.public_key().as_bytes()));
    let c1 = challenge(http, base, unknown).await;
    let c2 = challenge(http, base, unknown).await;
    assert_eq!(c1.user_id, c2.user_id);
    assert_ne!(c1.enc, c2.enc);
    let (status, body) =
        error_of(answer(http, base, c1.challenge_id, prove(&stranger, origin, &c1)).await).await;
    assert_eq!((status, code(&body)), (401, ErrorCode::ChallengeFailed));
    let ghost = challenge(http, base, ChallengeRequest::UserId(Uuid::new_v4())).await;
    let (status, _) = error_of(
        answer(
            http,
            base,
            ghost.challenge_id,
            prove(&stranger, origin, &ghost),
        )
        .await,
    )
    .await;
    assert_eq!(status, 401);

    // Logout ends exactly that session.
    let out = http
        .delete(relay.url("/v1/auth/session"))
        .bearer_auth(&restored_token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let (status, body) = error_of(
        http.get(relay.url("/v1/volumes"))
            .bearer_auth(&restored_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code(&body)), (401, ErrorCode::Unauthorized));
    assert_eq!(
        http.get(relay.url("/v1/volumes"))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Delete the volume: gone for its owner, and its objects are purged.
    assert_eq!(
        http.delete(&url)
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        http.get(&url)
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Deleting the account needs a fresh session, then removes everything of it.
    let gone = http
        .delete(relay.url("/v1/me"))
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    assert_eq!(
        http.get(relay.url("/v1/volumes"))
            .bearer_auth(&bob_token)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        lookup("bob-the-friend", alice.token.clone()).await.status(),
        404
    );

    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_challenges_and_sessions_are_refused() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let mut options = RelayOptions::new(nats.url(), Database::Sqlite);
    options
        .overrides
        .push(("auth.challenge_ttl_secs".into(), "1".into()));
    // Lifetimes are whole seconds counted from the second of creation, so a session of 5 s
    // lasts between 4 and 5 s.
    options
        .overrides
        .push(("auth.session_ttl_secs".into(), "5".into()));
    options
        .overrides
        .push(("auth.fresh_session_secs".into(), "1".into()));
    let relay = TestRelay::start(options).await;
    let (http, base, origin) = (
        &relay.client,
        relay.base_url.as_str(),
        relay.started.public_origin.as_str(),
    );
    let user = register_and_login(http, base, origin, AccountKind::System).await;
    let c = challenge(http, base, ChallengeRequest::UserId(user.user_id)).await;
    // Waiting out a lifetime is the point of this test, not a synchronisation.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = error_of(
        answer(
            http,
            base,
            c.challenge_id,
            prove(&user.identity, origin, &c),
        )
        .await,
    )
    .await;
    assert_eq!((status, code(&body)), (401, ErrorCode::ChallengeExpired));
    // The session still works, but is too old to delete the account with.
    let still = http
        .get(relay.url("/v1/volumes"))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200, "{:?}", still.text().await);
    let (status, body) = error_of(
        http.delete(relay.url("/v1/me"))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (401, ErrorCode::FreshSessionRequired)
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (status, body) = error_of(
        http.get(relay.url("/v1/volumes"))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code(&body)), (401, ErrorCode::Unauthorized));
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidating_the_relay_epoch_ends_every_session() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let relay = TestRelay::start(RelayOptions::new(nats.url(), Database::Sqlite)).await;
    let (http, base, origin) = (
        &relay.client,
        relay.base_url.as_str(),
        relay.started.public_origin.as_str(),
    );
    let a = register_and_login(http, base, origin, AccountKind::System).await;
    let b = register_and_login(http, base, origin, AccountKind::Friend).await;
    let db = plog_relay::db::Db::connect(&format!(
        "sqlite:{}",
        relay.data_dir().join("relay.db").display()
    ))
    .await
    .unwrap();
    db.bump_relay_session_epoch().await.unwrap();
    for token in [&a.token, &b.token] {
        let (status, _) = error_of(
            http.get(relay.url("/v1/volumes"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 401);
    }
    // Logging in again works, and a per-account bump ends only that account's sessions.
    let a_token = login(
        http,
        base,
        origin,
        &a.identity,
        ChallengeRequest::UserId(a.user_id),
    )
    .await
    .unwrap();
    let b_token = login(
        http,
        base,
        origin,
        &b.identity,
        ChallengeRequest::UserId(b.user_id),
    )
    .await
    .unwrap();
    db.bump_user_session_epoch(a.user_id).await.unwrap();
    assert_eq!(
        http.get(relay.url("/v1/volumes"))
            .bearer_auth(&a_token)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(relay.url("/v1/volumes"))
            .bearer_auth(&b_token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    relay.stop().await;
}
