//! Faults during an upload, with a real `nats-server` and a real relay: NATS dies mid-body
//! (the relay reports it and recovers by itself once NATS is back), and the relay process is
//! SIGKILLed mid-body (a new process on the same data directory and NATS carries on). In both
//! cases no partial volume is ever visible, the retry succeeds byte-exact, and every committed
//! row points at an existing object.
//!
//! The kill always lands mid-body by construction: the test holds the rest of the body back
//! until after the kill, and it waits until the relay has stored the first half as object
//! chunks (watched on the chunk subjects in NATS) before killing anything.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plog_ipc_schema::error::{ErrorBody, ErrorCode};
use plog_ipc_schema::http::accounts::AccountKind;
use plog_ipc_schema::http::auth::ChallengeRequest;
use plog_ipc_schema::http::volumes::VolumeListing;
use plog_ipc_schema::nats::Names;
use plog_relay::broker::{Broker, NatsSettings};
use plog_relay::config::AuthConfig;
use plog_relay::db::Db;
use plog_tests::client::{
    SealedVolume, error_of, login, put_volume, register_and_login, seal_volume,
};
use plog_tests::held::{ChunkWatch, DEADLINE, HeldUpload, Outcome};
use plog_tests::nats::NatsServer;
use plog_tests::relay::{Database, RelayOptions, TestRelay, client_trusting};
use plog_tests::relay_process::RelayProcess;
use uuid::Uuid;

/// Object chunk size the relays under test use, so that half a body is a known number of
/// chunks.
const CHUNK: usize = 256 * 1024;

/// Chunks in the first half of a body: sent, and stored by the relay, before the kill.
const HALF_CHUNKS: usize = 8;

/// Bytes of the first half.
const HALF: usize = CHUNK * HALF_CHUNKS;

/// Plaintext of the large volume: a few MiB.
const PLAINTEXT_LEN: usize = 4 * 1024 * 1024 + 12345;

/// A public origin shared by the relay processes of one test (each listens on a new port).
const ORIGIN: &str = "https://relay.plog.test";

/// Polls `GET {base}/readyz` until it answers `want`; the time it took.
async fn wait_ready(client: &reqwest::Client, base: &str, want: u16) -> Duration {
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < DEADLINE {
        match client.get(format!("{base}/readyz")).send().await {
            Ok(response) if response.status() == want => return start.elapsed(),
            Ok(response) => last = Some(format!("{}", response.status())),
            Err(error) => last = Some(format!("{error}")),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/readyz did not answer {want} within {DEADLINE:?}; last: {last:?}");
}

/// The large volume, sealed.
fn large_volume(owner: &plog_tests::client::TestUser, volume_id: Uuid) -> SealedVolume {
    let plaintext: Vec<u8> = (0..PLAINTEXT_LEN)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 9)) as u8)
        .collect();
    let volume = seal_volume(owner, volume_id, "journals", 1, 0, &plaintext);
    assert!(
        volume.bytes.len() > 2 * HALF,
        "the body is larger than twice its first half"
    );
    volume
}

/// The owner's view of the volume: 404 with `not_found`, and absent from the listing.
async fn assert_invisible(client: &reqwest::Client, base: &str, token: &str, volume_id: Uuid) {
    let got = client
        .get(format!("{base}/v1/volumes/{volume_id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(got).await;
    assert_eq!(
        (status, body.code),
        (404, ErrorCode::NotFound),
        "{}",
        body.message
    );
    let head = client
        .head(format!("{base}/v1/volumes/{volume_id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 404);
    let listing = client
        .get(format!("{base}/v1/volumes"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), 200);
    let listing: VolumeListing = listing.json().await.unwrap();
    assert!(
        listing.volumes.iter().all(|v| v.volume_id != volume_id),
        "the interrupted upload is listed: {listing:?}"
    );
}

/// Uploads `volume` whole (must create it) and reads it back byte-exact.
async fn upload_and_verify(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    volume_id: Uuid,
    volume: &SealedVolume,
) {
    let created = put_volume(client, base, token, volume_id, volume).await;
    assert_eq!(
        created.status(),
        201,
        "the retried upload creates the volume"
    );
    assert_eq!(created.headers()["etag"], "\"1\"");
    let got = client
        .get(format!("{base}/v1/volumes/{volume_id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["etag"], "\"1\"");
    let bytes = got.bytes().await.unwrap();
    assert!(
        bytes.as_ref() == volume.bytes.as_slice(),
        "the download differs from the upload ({} vs {} bytes)",
        bytes.len(),
        volume.bytes.len()
    );
}

/// What the object store holds next to the database after the faults.
#[derive(Debug)]
struct StoreAudit {
    /// Objects no row points at.
    orphan_objects: Vec<String>,
    /// Chunk messages that belong to no visible object (written before a fault, never
    /// described): invisible to `object_keys`, so to any cleanup built on it.
    orphan_chunks: usize,
}

/// Checks that every committed row points at an existing object and counts what is left over.
async fn audit_store(nats_url: &str, database_url: &str) -> StoreAudit {
    let auth = AuthConfig::default();
    let broker = Broker::connect(
        &NatsSettings::with_url(nats_url),
        Duration::from_secs(auth.challenge_ttl_secs),
        Duration::from_secs(auth.session_ttl_secs),
    )
    .await
    .unwrap();
    let objects: HashSet<String> = broker.object_keys().await.unwrap().into_iter().collect();
    let db = Db::connect(database_url).await.unwrap();
    let referenced = db.referenced_object_keys().await.unwrap();
    db.close().await;
    let missing: Vec<_> = referenced.difference(&objects).collect();
    assert!(
        missing.is_empty(),
        "committed rows point at missing objects: {missing:?}"
    );
    assert!(!referenced.is_empty(), "the retried upload is committed");
    let mut orphan_objects: Vec<String> = objects.difference(&referenced).cloned().collect();
    orphan_objects.sort();

    // Chunk subjects of objects that are not described anywhere.
    let client = async_nats::connect(nats_url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let bucket = Names::new("").unwrap().volumes_bucket();
    let store = js.get_object_store(&bucket).await.unwrap();
    let mut live = HashSet::new();
    for key in &objects {
        live.insert(store.info(key).await.unwrap().nuid);
    }
    let stream = js.get_stream(format!("OBJ_{bucket}")).await.unwrap();
    let prefix = format!("$O.{bucket}.C.");
    let mut subjects = stream
        .info_with_subjects(format!("{prefix}>"))
        .await
        .unwrap();
    let mut orphan_chunks = 0;
    while let Some(entry) = subjects.next().await {
        let (subject, count) = entry.unwrap();
        let nuid = subject.strip_prefix(&prefix).unwrap_or(&subject);
        if !live.contains(nuid) {
            orphan_chunks += count;
        }
    }
    StoreAudit {
        orphan_objects,
        orphan_chunks,
    }
}

fn code_of(body: &str) -> ErrorBody {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not {{code, message}}: {e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_dies_mid_upload_and_the_relay_recovers_by_itself() {
    let Some(mut nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let mut options = RelayOptions::new(nats.url(), Database::Sqlite);
    options
        .overrides
        .push(("nats.object_chunk_size".into(), CHUNK.to_string()));
    let relay = TestRelay::start(options).await;
    let (http, base) = (&relay.client, relay.base_url.as_str());
    let origin = relay.started.public_origin.as_str();
    let alice = register_and_login(http, base, origin, AccountKind::System).await;
    let volume_id = Uuid::new_v4();
    let volume = large_volume(&alice, volume_id);

    // Half the body in, and stored by the relay as chunks; then NATS dies.
    let mut watch = ChunkWatch::start(&nats.url()).await;
    let upload = HeldUpload::start(http, base, &alice.token, volume_id, &volume);
    assert_eq!(upload.send(&volume.bytes[..HALF]).await, HALF);
    watch.wait_for(1, HALF_CHUNKS).await;
    drop(watch);
    let killed = Instant::now();
    nats.kill().await;
    let rest_accepted = upload.send(&volume.bytes[HALF..]).await;
    let outcome = upload.finish().await;
    eprintln!(
        "NATS killed mid-upload: {outcome:?} ({:?} after the kill; {rest_accepted} of {} \
         remaining bytes taken by the client)",
        match &outcome {
            Outcome::Response { at, .. } | Outcome::Failed { at, .. } => at.duration_since(killed),
        },
        volume.bytes.len() - HALF
    );
    // The relay answers at once with 503 `unavailable`, without waiting for the rest of the
    // body (it stops reading it: the client could not hand over all of it) or for a broker
    // timeout.
    assert!(rest_accepted < volume.bytes.len() - HALF, "{rest_accepted}");
    let Outcome::Response { status, body, at } = outcome else {
        panic!("expected an HTTP error response, got {outcome:?}");
    };
    let body = code_of(&body.unwrap());
    assert_eq!(
        (status, body.code),
        (503, ErrorCode::Unavailable),
        "{}",
        body.message
    );
    assert!(
        at.duration_since(killed) < Duration::from_secs(4),
        "the relay took {:?} to report the lost broker",
        at.duration_since(killed)
    );

    // While NATS is down: not ready, and authenticated requests say `unavailable`.
    wait_ready(http, base, 503).await;
    let readyz: serde_json::Value = http
        .get(relay.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(readyz["nats"], false, "{readyz}");
    assert_eq!(readyz["database"], true, "{readyz}");
    let listing = http
        .get(relay.url("/v1/volumes"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(listing).await;
    assert_eq!(
        (status, body.code),
        (503, ErrorCode::Unavailable),
        "{}",
        body.message
    );
    assert_eq!(
        http.get(relay.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "alive, only not ready"
    );

    // NATS comes back on the same port and store; the same relay becomes ready again.
    nats.restart().await;
    let recovered = wait_ready(http, base, 200).await;
    eprintln!("/readyz 200 again {recovered:?} after NATS accepted connections");

    // The session survived (it lives in NATS KV); nothing of the interrupted upload shows.
    assert_invisible(http, base, &alice.token, volume_id).await;
    upload_and_verify(http, base, &alice.token, volume_id, &volume).await;

    let database_url = format!("sqlite:{}", relay.data_dir().join("relay.db").display());
    let audit = audit_store(&nats.url(), &database_url).await;
    eprintln!("object store after the NATS fault: {audit:?}");
    assert!(audit.orphan_objects.is_empty(), "{audit:?}");
    assert!(audit.orphan_chunks <= HALF_CHUNKS + 2, "{audit:?}");
    relay.stop().await;
}

/// Environment of a relay process using `nats_url`, with a public origin shared across
/// restarts and an admin port of its own.
fn process_env(nats_url: &str) -> Vec<(&'static str, String)> {
    let admin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin_port = admin.local_addr().unwrap().port();
    vec![
        ("PLOG_RELAY_NATS__URL", nats_url.to_owned()),
        ("PLOG_RELAY_PUBLIC_ORIGIN", ORIGIN.to_owned()),
        ("PLOG_RELAY_NATS__OBJECT_CHUNK_SIZE", CHUNK.to_string()),
        ("PLOG_RELAY_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}")),
    ]
}

async fn start_process(data_dir: &Path, nats_url: &str) -> RelayProcess {
    let relay = RelayProcess::start(data_dir, &process_env(nats_url)).await;
    assert_eq!(relay.public_origin, ORIGIN);
    relay
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_mid_upload_and_a_new_process_carries_on() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("relay");
    let first = start_process(&data_dir, &nats.url()).await;
    let http = client_trusting(&data_dir);
    let alice = register_and_login(&http, &first.base_url, ORIGIN, AccountKind::System).await;
    let volume_id = Uuid::new_v4();
    let volume = large_volume(&alice, volume_id);

    // Half the body in and stored as chunks; then SIGKILL.
    let mut watch = ChunkWatch::start(&nats.url()).await;
    let upload = HeldUpload::start(&http, &first.base_url, &alice.token, volume_id, &volume);
    assert_eq!(upload.send(&volume.bytes[..HALF]).await, HALF);
    watch.wait_for(1, HALF_CHUNKS).await;
    let pin = first.pin.clone();
    let killed = Instant::now();
    first.kill().await;
    let outcome = upload.finish().await;
    eprintln!("relay killed mid-upload: {outcome:?}");
    // No response can come from a dead process: the request fails as a connection error,
    // promptly (not by the client's timeout).
    let Outcome::Failed {
        error,
        request,
        timeout,
        at,
    } = outcome
    else {
        panic!("a killed relay cannot answer, yet the client got {outcome:?}");
    };
    assert!(request && !timeout, "{error}");
    assert!(
        at.duration_since(killed) < Duration::from_secs(5),
        "the client noticed the dead relay only after {:?}",
        at.duration_since(killed)
    );

    // A new process on the same data directory and NATS.
    let second = start_process(&data_dir, &nats.url()).await;
    assert_eq!(second.pin, pin, "same data directory, same certificate");
    let base = second.base_url.as_str();
    // The old session still works on the new process (sessions live in NATS KV)…
    assert_invisible(&http, base, &alice.token, volume_id).await;
    // …and logging in again works too.
    let token = login(
        &http,
        base,
        ORIGIN,
        &alice.identity,
        ChallengeRequest::UserId(alice.user_id),
    )
    .await
    .unwrap();
    upload_and_verify(&http, base, &token, volume_id, &volume).await;

    let database_url = format!("sqlite:{}", data_dir.join("relay.db").display());
    let audit = audit_store(&nats.url(), &database_url).await;
    eprintln!("object store after the relay was killed: {audit:?}");
    // At most orphans of the interrupted upload remain.
    assert!(
        audit
            .orphan_objects
            .iter()
            .all(|key| key.starts_with(&format!("{volume_id}/1/"))),
        "{audit:?}"
    );
    assert!(audit.orphan_chunks <= HALF_CHUNKS + 2, "{audit:?}");
    second.terminate().await;
}
