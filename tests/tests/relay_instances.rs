//! Two relay instances of one deployment side by side: one `nats-server`, one PostgreSQL
//! database, one data directory (so one certificate) and one configured public origin. What
//! one instance issues or stores, the other honours: accounts, challenges (once), sessions,
//! volumes, revisions, and the certificate they serve.
//!
//! Skips without PostgreSQL (printing why), except under `CI=true`, where that fails.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::http::accounts::AccountKind;
use plog_ipc_schema::http::auth::ChallengeRequest;
use plog_ipc_schema::http::volumes::VolumeListing;
use plog_relay::broker::{Broker, NatsSettings};
use plog_relay::config::AuthConfig;
use plog_relay::db::Db;
use plog_tests::client::{
    SealedVolume, TestUser, answer, challenge, error_of, login, prove, put_volume,
    register_and_login, seal_volume,
};
use plog_tests::held::{ChunkWatch, HeldUpload};
use plog_tests::nats::NatsServer;
use plog_tests::postgres;
use plog_tests::relay::{Database, RelayOptions, TestRelay};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use uuid::Uuid;

/// The origin both instances are configured with: neither instance's own address, so a
/// login that works proves the instance binds the configured origin.
const ORIGIN: &str = "https://relay.plog.test";

/// Object chunk size of both instances.
const CHUNK: usize = 64 * 1024;

/// Chunks of each racing upload sent before the race is released.
const HALF_CHUNKS: usize = 4;

/// The pin of the certificate the server at `addr` presents in a TLS handshake that trusts
/// only the deployment's certificate.
fn served_pin(addr: SocketAddr, data_dir: &Path) -> String {
    let (cert_path, _) = plog_relay::tls::generated_paths(data_dir);
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&cert_path).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut tls =
        rustls::ClientConnection::new(Arc::new(config), ServerName::IpAddress(addr.ip().into()))
            .unwrap();
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while tls.is_handshaking() {
        tls.complete_io(&mut socket).unwrap();
    }
    let leaf = tls.peer_certificates().unwrap().first().unwrap().clone();
    plog_relay::tls::pin_of_certificate(&leaf).unwrap()
}

fn options(nats_url: &str, database_url: &str, data_dir: &Path) -> RelayOptions {
    let mut options = RelayOptions::new(
        nats_url.to_owned(),
        Database::Postgres(database_url.to_owned()),
    );
    options.data_dir = Some(data_dir.to_path_buf());
    options.public_origin = Some(ORIGIN.to_owned());
    options
        .overrides
        .push(("nats.object_chunk_size".into(), CHUNK.to_string()));
    options
}

async fn download(relay: &TestRelay, token: &str, volume_id: Uuid) -> (String, Vec<u8>) {
    let got = relay
        .client
        .get(relay.url(&format!("/v1/volumes/{volume_id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200, "download from {}", relay.base_url);
    let etag = got.headers()["etag"].to_str().unwrap().to_owned();
    (etag, got.bytes().await.unwrap().to_vec())
}

fn sealed(owner: &TestUser, volume_id: Uuid, revision: u64, len: usize, seed: u8) -> SealedVolume {
    let plaintext: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(seed) ^ seed)
        .collect();
    seal_volume(owner, volume_id, "journals", revision, 0, &plaintext)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_are_one_deployment() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let Some(database) = postgres::test_database_or_skip().await else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let data_dir: PathBuf = temp.path().join("deployment");
    std::fs::create_dir_all(&data_dir).unwrap();
    let a = TestRelay::start(options(&nats.url(), database.url(), &data_dir)).await;
    let b = TestRelay::start(options(&nats.url(), database.url(), &data_dir)).await;
    assert_ne!(a.base_url, b.base_url, "two listeners");

    // One origin, one certificate: both report it, and both serve it.
    assert_eq!(a.started.public_origin, ORIGIN);
    assert_eq!(b.started.public_origin, ORIGIN);
    assert_eq!(a.started.pin, b.started.pin);
    let (listen_a, listen_b, dir) = (a.started.listen, b.started.listen, data_dir.clone());
    let (served_a, served_b) = tokio::task::spawn_blocking(move || {
        (served_pin(listen_a, &dir), served_pin(listen_b, &dir))
    })
    .await
    .unwrap();
    assert_eq!(served_a, a.started.pin);
    assert_eq!(served_b, a.started.pin);

    // An account registered at A logs in at B, with proofs bound to the shared origin…
    let alice = register_and_login(&a.client, &a.base_url, ORIGIN, AccountKind::System).await;
    let at_b = login(
        &b.client,
        &b.base_url,
        ORIGIN,
        &alice.identity,
        ChallengeRequest::UserId(alice.user_id),
    )
    .await;
    let token_b = at_b.unwrap();
    // …and not to B's own address.
    let c = challenge(
        &b.client,
        &b.base_url,
        ChallengeRequest::UserId(alice.user_id),
    )
    .await;
    let own_address = prove(&alice.identity, &b.base_url, &c);
    let (status, body) =
        error_of(answer(&b.client, &b.base_url, c.challenge_id, own_address).await).await;
    assert_eq!(
        (status, body.code),
        (401, ErrorCode::ChallengeFailed),
        "{}",
        body.message
    );

    // A challenge issued by A is answered at B, once: the replay at A fails.
    let c = challenge(
        &a.client,
        &a.base_url,
        ChallengeRequest::UserId(alice.user_id),
    )
    .await;
    let proof = prove(&alice.identity, ORIGIN, &c);
    let answered = answer(&b.client, &b.base_url, c.challenge_id, proof).await;
    assert_eq!(answered.status(), 200, "answer at B to a challenge from A");
    let (status, body) =
        error_of(answer(&a.client, &a.base_url, c.challenge_id, proof).await).await;
    assert_eq!(
        (status, body.code),
        (401, ErrorCode::ChallengeExpired),
        "{}",
        body.message
    );
    let (status, body) =
        error_of(answer(&b.client, &b.base_url, c.challenge_id, proof).await).await;
    assert_eq!(
        (status, body.code),
        (401, ErrorCode::ChallengeExpired),
        "{}",
        body.message
    );

    // Sessions are the deployment's: created at A, valid at B (and the reverse); ended at B,
    // gone at A.
    for (relay, token) in [(&b, &alice.token), (&a, &token_b)] {
        let listing = relay
            .client
            .get(relay.url("/v1/volumes"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(listing.status(), 200, "session valid at {}", relay.base_url);
    }
    let short = login(
        &a.client,
        &a.base_url,
        ORIGIN,
        &alice.identity,
        ChallengeRequest::UserId(alice.user_id),
    )
    .await
    .unwrap();
    let out = b
        .client
        .delete(b.url("/v1/auth/session"))
        .bearer_auth(&short)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let (status, body) = error_of(
        a.client
            .get(a.url("/v1/volumes"))
            .bearer_auth(&short)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body.code), (401, ErrorCode::Unauthorized));

    // A volume uploaded at A downloads byte-exact from B.
    let volume_id = Uuid::new_v4();
    let v1 = sealed(&alice, volume_id, 1, 300_000, 3);
    assert_eq!(
        put_volume(&a.client, &a.base_url, &alice.token, volume_id, &v1)
            .await
            .status(),
        201
    );
    assert_eq!(
        download(&b, &token_b, volume_id).await,
        ("\"1\"".to_owned(), v1.bytes.clone())
    );
    let listing: VolumeListing = b
        .client
        .get(b.url("/v1/volumes"))
        .bearer_auth(&token_b)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listing
            .volumes
            .iter()
            .map(|v| (v.volume_id, v.revision))
            .collect::<Vec<_>>(),
        [(volume_id, 1)]
    );

    // After a commit at A, an upload at B with the old If-Match is stale.
    let v2 = sealed(&alice, volume_id, 2, 300_000, 5);
    assert_eq!(
        put_volume(&a.client, &a.base_url, &alice.token, volume_id, &v2)
            .await
            .status(),
        200
    );
    let stale = sealed(&alice, volume_id, 2, 1000, 7);
    let (status, body) =
        error_of(put_volume(&b.client, &b.base_url, &token_b, volume_id, &stale).await).await;
    assert_eq!(
        (status, body.code),
        (409, ErrorCode::RevisionConflict),
        "{}",
        body.message
    );
    assert_eq!(
        download(&b, &token_b, volume_id).await,
        ("\"2\"".to_owned(), v2.bytes.clone())
    );

    // Racing uploads of the same revision at A and B: exactly one wins. Both are held until
    // each has streamed chunks into NATS, i.e. both passed the relay's early revision check,
    // so the database's compare-and-swap decides.
    let mut winners = Vec::new();
    for revision in 3..=5 {
        let at_a = sealed(&alice, volume_id, revision, 600_000, 11);
        let at_b = sealed(&alice, volume_id, revision, 600_000, 13);
        let half = CHUNK * HALF_CHUNKS;
        let mut watch = ChunkWatch::start(&nats.url()).await;
        let upload_a = HeldUpload::start(&a.client, &a.base_url, &alice.token, volume_id, &at_a);
        let upload_b = HeldUpload::start(&b.client, &b.base_url, &token_b, volume_id, &at_b);
        tokio::join!(
            upload_a.send(&at_a.bytes[..half]),
            upload_b.send(&at_b.bytes[..half])
        );
        watch.wait_for(2, HALF_CHUNKS).await;
        // Release the rest in turns, A first on odd revisions and B first on even ones, so
        // that either instance can win.
        if revision % 2 == 1 {
            upload_a.send(&at_a.bytes[half..]).await;
            upload_b.send(&at_b.bytes[half..]).await;
        } else {
            upload_b.send(&at_b.bytes[half..]).await;
            upload_a.send(&at_a.bytes[half..]).await;
        }
        let (outcome_a, outcome_b) = tokio::join!(upload_a.finish(), upload_b.finish());
        let (outcome_a, outcome_b) = (outcome_a.response(), outcome_b.response());
        let statuses = (outcome_a.0, outcome_b.0);
        let (winner, loser) = match statuses {
            (200, 409) => (&at_a, &outcome_b),
            (409, 200) => (&at_b, &outcome_a),
            _ => panic!(
                "revision {revision}: expected one 200 and one 409, got A {outcome_a:?}, B {outcome_b:?}"
            ),
        };
        let loser: plog_ipc_schema::error::ErrorBody = serde_json::from_str(loser.1).unwrap();
        assert_eq!(loser.code, ErrorCode::RevisionConflict, "{}", loser.message);
        winners.push(if statuses.0 == 200 { 'A' } else { 'B' });
        let etag = format!("\"{revision}\"");
        assert_eq!(
            download(&a, &alice.token, volume_id).await,
            (etag.clone(), winner.bytes.clone())
        );
        assert_eq!(
            download(&b, &token_b, volume_id).await,
            (etag, winner.bytes.clone())
        );
    }
    eprintln!("race winners by revision 3..=5: {winners:?}");

    // Every committed row points at an existing object.
    let auth = AuthConfig::default();
    let broker = Broker::connect(
        &NatsSettings::with_url(nats.url()),
        Duration::from_secs(auth.challenge_ttl_secs),
        Duration::from_secs(auth.session_ttl_secs),
    )
    .await
    .unwrap();
    let objects: HashSet<String> = broker.object_keys().await.unwrap().into_iter().collect();
    let db = Db::connect(database.url()).await.unwrap();
    let referenced = db.referenced_object_keys().await.unwrap();
    db.close().await;
    assert_eq!(referenced.len(), 1);
    assert!(
        referenced.is_subset(&objects),
        "rows {referenced:?}, objects {objects:?}"
    );
    // The losers' objects were discarded: at most the winner's object of a revision is left
    // (replaced revisions are purged in the background, so they may still be there).
    for revision in 1..=5 {
        let prefix = format!("{volume_id}/{revision}/");
        let left = objects
            .iter()
            .filter(|key| key.starts_with(&prefix))
            .count();
        assert!(
            left <= 1,
            "revision {revision}: {left} objects left: {objects:?}"
        );
    }

    a.stop().await;
    b.stop().await;
    database.cleanup().await.unwrap();
}
