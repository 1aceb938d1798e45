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
    self, SealedVolume, answer, challenge, delete_as, endpoint, error_of, get_as, get_json,
    get_json_as, json_as, login, prove, put_volume, refusal, register, seal_volume, send,
};
use plog_tests::nats::NatsServer;
use plog_tests::relay::{Database, RelayOptions, TestRelay};
use plog_tests::relay_setup::sqlite_relay_or_skip;
use reqwest::Method;
use uuid::Uuid;

fn code(body: &plog_ipc_schema::error::ErrorBody) -> ErrorCode {
    body.code
}

plog_tests::on_sqlite_and_postgres!(story => story_on_sqlite, story_on_postgres);

async fn story(nats: &NatsServer, database: Database) {
    let mut options = RelayOptions::new(nats.url(), database);
    options
        .overrides
        .push(("limits.max_volume_bytes".into(), "300000".into()));
    let relay = TestRelay::start(options).await;
    let (http, base, origin) = endpoint(&relay);

    // Health, readiness, info, OpenAPI.
    for probe in ["/healthz", "/readyz"] {
        assert_eq!(
            send(http.get(relay.url(probe))).await.status(),
            200,
            "{probe}"
        );
    }
    let info: serde_json::Value = get_json(&relay, "/v1/info").await;
    assert_eq!(info["version"], plog_relay::VERSION);
    assert_eq!(info["limits"]["max_volume_bytes"], 300000);
    let openapi: serde_json::Value = get_json(&relay, "/v1/openapi.json").await;
    assert!(openapi["paths"]["/v1/volumes/{volume_id}"]["put"].is_object());

    // Register, log in; a second registration of the same key is refused.
    let alice = register(&relay, AccountKind::System).await;
    let again = http
        .post(relay.url("/v1/accounts"))
        .json(&serde_json::json!({"kind": "system", "public_key": PublicKeyB64::new(*alice.identity.public_key().as_bytes())}))
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(again).await, (409, ErrorCode::AccountExists));

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
        let relay = &relay;
        async move { get_as(relay, &token, &format!("/v1/handles/{handle}")).await }
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
    let journal = |revision, epoch, plaintext: &[u8]| {
        seal_volume(&alice, volume_id, "journals", revision, epoch, plaintext)
    };
    let put_journal =
        async |volume: &SealedVolume| put_volume(http, base, &alice.token, volume_id, volume).await;
    let v1 = journal(1, 0, b"PLOG-MARKER-journal-one");
    let created = put_journal(&v1).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["etag"], "\"1\"");
    let volume_path = format!("/v1/volumes/{volume_id}");
    let got = get_as(&relay, &alice.token, &volume_path).await;
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
    let head = send(http.head(relay.url(&volume_path)).bearer_auth(&alice.token)).await;
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], v1.bytes.len().to_string());
    let listing: VolumeListing = get_json_as(&relay, &alice.token, "/v1/volumes").await;
    assert_eq!(listing.volumes.len(), 1);
    assert_eq!(listing.volumes[0].revision, 1);
    let v2 = journal(2, 0, b"PLOG-MARKER-journal-two");
    assert_eq!(put_journal(&v2).await.status(), 200);

    // Stale If-Match → 409; header revision that is not If-Match + 1 → 400.
    assert_eq!(
        refusal(put_journal(&v2).await).await,
        (409, ErrorCode::RevisionConflict)
    );
    let mut wrong = journal(5, 0, b"x");
    wrong.headers.precondition = Precondition::Replace { revision: 2 };
    let (status, body) = error_of(put_journal(&wrong).await).await;
    assert_eq!(
        (status, code(&body)),
        (400, ErrorCode::BadRequest),
        "{}",
        body.message
    );

    // A new epoch fences the old one.
    let v3 = journal(3, 1, b"PLOG-MARKER-journal-three");
    assert_eq!(put_journal(&v3).await.status(), 200);
    let stale_epoch = journal(4, 0, b"x");
    assert_eq!(
        refusal(put_journal(&stale_epoch).await).await,
        (409, ErrorCode::EpochFenced)
    );

    // Another account can neither read, overwrite nor delete it, nor learn that it exists.
    let (status, _) = error_of(get_as(&relay, &bob_token, &volume_path).await).await;
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
    let (status, _) = error_of(delete_as(&relay, &bob_token, &volume_path).await).await;
    assert_eq!(status, 404);
    let bob_listing: VolumeListing = get_json_as(&relay, &bob_token, "/v1/volumes").await;
    assert!(bob_listing.volumes.is_empty());

    // Too large: refused by Content-Length, and by counting when the body is streamed.
    let big_id = Uuid::new_v4();
    let big = seal_volume(&alice, big_id, "journals", 1, 0, &vec![7u8; 400_000]);
    assert_eq!(
        refusal(put_volume(http, base, &alice.token, big_id, &big).await).await,
        (413, ErrorCode::TooLarge)
    );
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
    assert_eq!(
        refusal(send(streamed).await).await,
        (413, ErrorCode::TooLarge)
    );
    let (status, _) =
        error_of(get_as(&relay, &alice.token, &format!("/v1/volumes/{big_id}")).await).await;
    assert_eq!(status, 404, "a refused upload leaves no volume");

    // Bad input: JSON, base64, handle, volume type.
    let bad_json = send(http.post(relay.url("/v1/accounts")).body("{not json")).await;
    assert_eq!(refusal(bad_json).await, (400, ErrorCode::BadRequest));
    let bad_b64 = serde_json::json!({"kind": "system", "public_key": "not+base64url"});
    let bad_b64 = send(http.post(relay.url("/v1/accounts")).json(&bad_b64)).await;
    assert_eq!(refusal(bad_b64).await, (400, ErrorCode::BadRequest));
    let set_handle = async |token: &str, handle: &str| {
        let body = serde_json::json!({ "handle": handle });
        json_as(&relay, Method::PUT, token, "/v1/me/handle", &body).await
    };
    let bad_handle = set_handle(&alice.token, "no spaces").await;
    assert_eq!(refusal(bad_handle).await, (400, ErrorCode::InvalidHandle));
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
    assert_eq!(
        refusal(send(bad_type).await).await,
        (400, ErrorCode::BadRequest)
    );

    // Handles are unique.
    assert_eq!(set_handle(&alice.token, "alice").await.status(), 204);
    let taken = set_handle(&bob_token, "ALICE").await;
    assert_eq!(refusal(taken).await, (409, ErrorCode::HandleTaken));

    // Wrong proof, replayed challenge.
    let c = challenge(http, base, ChallengeRequest::UserId(alice.user_id)).await;
    let mut proof = prove(&alice.identity, origin, &c);
    let mut raw = *proof.as_bytes();
    raw[0] ^= 1;
    proof = plog_ipc_schema::encoding::Bytes32::new(raw);
    assert_eq!(
        refusal(answer(http, base, c.challenge_id, proof).await).await,
        (401, ErrorCode::ChallengeFailed)
    );
    let right = prove(&alice.identity, origin, &c);
    assert_eq!(
        refusal(answer(http, base, c.challenge_id, right).await).await,
        (401, ErrorCode::ChallengeExpired),
        "a challenge gets one answer"
    );
    // A proof bound to another origin fails.
    let c = challenge(http, base, ChallengeRequest::UserId(alice.user_id)).await;
    let elsewhere = prove(&alice.identity, "https://other.example", &c);
    assert_eq!(
        refusal(answer(http, base, c.challenge_id, elsewhere).await).await,
        (401, ErrorCode::ChallengeFailed)
    );

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
    let unanswerable = prove(&stranger, origin, &c1);
    assert_eq!(
        refusal(answer(http, base, c1.challenge_id, unanswerable).await).await,
        (401, ErrorCode::ChallengeFailed)
    );
    let ghost = challenge(http, base, ChallengeRequest::UserId(Uuid::new_v4())).await;
    let ghost_proof = prove(&stranger, origin, &ghost);
    let (status, _) = error_of(answer(http, base, ghost.challenge_id, ghost_proof).await).await;
    assert_eq!(status, 401);

    // Logout ends exactly that session.
    let out = delete_as(&relay, &restored_token, "/v1/auth/session").await;
    assert_eq!(out.status(), 204);
    assert_eq!(
        refusal(get_as(&relay, &restored_token, "/v1/volumes").await).await,
        (401, ErrorCode::Unauthorized)
    );
    assert_eq!(
        get_as(&relay, &alice.token, "/v1/volumes").await.status(),
        200
    );

    // Delete the volume: gone for its owner, and its objects are purged.
    assert_eq!(
        delete_as(&relay, &alice.token, &volume_path).await.status(),
        204
    );
    assert_eq!(
        get_as(&relay, &alice.token, &volume_path).await.status(),
        404
    );

    // Deleting the account needs a fresh session, then removes everything of it.
    let gone = delete_as(&relay, &bob_token, "/v1/me").await;
    assert_eq!(gone.status(), 204);
    assert_eq!(
        get_as(&relay, &bob_token, "/v1/volumes").await.status(),
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
    let lifetimes = [
        ("auth.challenge_ttl_secs", "1"),
        // Lifetimes are whole seconds counted from the second of creation, so a session of
        // 5 s lasts between 4 and 5 s.
        ("auth.session_ttl_secs", "5"),
        ("auth.fresh_session_secs", "1"),
    ];
    let Some((_nats, relay)) = sqlite_relay_or_skip(&lifetimes).await else {
        return;
    };
    let (http, base, origin) = endpoint(&relay);
    let user = register(&relay, AccountKind::System).await;
    let c = challenge(http, base, ChallengeRequest::UserId(user.user_id)).await;
    // Waiting out a lifetime is the point of this test, not a synchronisation.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let proof = prove(&user.identity, origin, &c);
    assert_eq!(
        refusal(answer(http, base, c.challenge_id, proof).await).await,
        (401, ErrorCode::ChallengeExpired)
    );
    // The session still works, but is too old to delete the account with.
    let still = get_as(&relay, &user.token, "/v1/volumes").await;
    assert_eq!(still.status(), 200, "{:?}", still.text().await);
    assert_eq!(
        refusal(delete_as(&relay, &user.token, "/v1/me").await).await,
        (401, ErrorCode::FreshSessionRequired)
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        refusal(get_as(&relay, &user.token, "/v1/volumes").await).await,
        (401, ErrorCode::Unauthorized)
    );
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidating_the_relay_epoch_ends_every_session() {
    let Some((_nats, relay)) = sqlite_relay_or_skip(&[]).await else {
        return;
    };
    let (http, base, origin) = endpoint(&relay);
    let a = register(&relay, AccountKind::System).await;
    let b = register(&relay, AccountKind::Friend).await;
    let db = plog_relay::db::Db::connect(&format!(
        "sqlite:{}",
        relay.data_dir().join("relay.db").display()
    ))
    .await
    .unwrap();
    db.bump_relay_session_epoch().await.unwrap();
    for token in [&a.token, &b.token] {
        let (status, _) = error_of(get_as(&relay, token, "/v1/volumes").await).await;
        assert_eq!(status, 401);
    }
    // Logging in again works, and a per-account bump ends only that account's sessions.
    let log_in_again = async |user: &client::TestUser| {
        let by_id = ChallengeRequest::UserId(user.user_id);
        login(http, base, origin, &user.identity, by_id)
            .await
            .unwrap()
    };
    let a_token = log_in_again(&a).await;
    let b_token = log_in_again(&b).await;
    db.bump_user_session_epoch(a.user_id).await.unwrap();
    assert_eq!(get_as(&relay, &a_token, "/v1/volumes").await.status(), 401);
    assert_eq!(get_as(&relay, &b_token, "/v1/volumes").await.status(), 200);
    relay.stop().await;
}
