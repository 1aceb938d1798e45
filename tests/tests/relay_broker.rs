//! The relay's NATS JetStream layer against a real `nats-server` (Debian's 2.9 or a current
//! release through `PLOG_TEST_NATS_SERVER`).
//!
//! Each test starts its own server on a free port with a temporary store; without
//! `nats-server` the tests print a skip message (and fail under `CI=true`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use plog_ipc_schema::nats::{KvBucket, Names};
use plog_relay::broker::{
    Broker, BrokerError, BrokerOptions, EmbeddedNats, NatsSettings, ObjectReader,
};
use plog_tests::nats::NatsServer;
use sha2::Digest;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use uuid::Uuid;

const CHALLENGE_TTL: Duration = Duration::from_secs(60);
const SESSION_TTL: Duration = Duration::from_secs(3600);
const MIB: usize = 1024 * 1024;

fn settings(server: &NatsServer) -> NatsSettings {
    NatsSettings::with_url(server.url())
}

/// Short timeouts, so that failures show quickly.
const OPTIONS: BrokerOptions = BrokerOptions {
    request_timeout: Duration::from_secs(2),
    replicas: 1,
};

async fn connect(server: &NatsServer) -> Broker {
    Broker::connect_with(&settings(server), CHALLENGE_TTL, SESSION_TTL, &OPTIONS)
        .await
        .expect("connect the broker")
}

/// Deterministic test bytes.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}

async fn read_all(mut reader: ObjectReader) -> Vec<u8> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).await.expect("read object");
    bytes
}

async fn put(broker: &Broker, key: &str, bytes: &[u8]) -> u64 {
    put_result(broker, key, bytes).await.expect("put object")
}

async fn put_result(broker: &Broker, key: &str, bytes: &[u8]) -> Result<u64, BrokerError> {
    let mut body = bytes;
    broker.put_object(key, &mut body).await
}

/// Messages in the stream behind the volume bucket (chunks and descriptions).
async fn volume_stream_messages(server: &NatsServer) -> u64 {
    let client = async_nats::connect(server.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let bucket = Names::default().volumes_bucket();
    js.get_stream(format!("OBJ_{bucket}"))
        .await
        .expect("object stream")
        .cached_info()
        .state
        .messages
}

/// A key as the relay names uploads: volume id, revision, upload id.
fn fresh_key() -> String {
    format!("{}/1/{}", Uuid::new_v4(), Uuid::new_v4().simple())
}

/// Damages the store behind the relay's back: purges the chunks of object `key` and keeps its
/// description. Returns the chunk id.
async fn lose_chunks(server: &NatsServer, key: &str) -> String {
    let client = async_nats::connect(server.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let bucket = Names::default().volumes_bucket();
    let store = js.get_object_store(&bucket).await.expect("store");
    let nuid = store.info(key).await.expect("info").nuid;
    js.get_stream(format!("OBJ_{bucket}"))
        .await
        .expect("stream")
        .purge()
        .filter(format!("$O.{bucket}.C.{nuid}"))
        .await
        .expect("purge the chunks");
    nuid
}

/// A body that yields `len` bytes, then fails.
struct FailingBody {
    data: Vec<u8>,
    at: usize,
}

impl AsyncRead for FailingBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at == self.data.len() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "client went away",
            )));
        }
        // Small, uneven reads, like an HTTP body.
        let n = buf.remaining().min(7000).min(self.data.len() - self.at);
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

#[test]
fn object_reader_is_a_plain_async_read() {
    fn check<T: AsyncRead + Send + Unpin + 'static>() {}
    check::<ObjectReader>();
}

#[tokio::test]
async fn declaring_the_buckets_is_idempotent_and_follows_the_ttl() {
    let Some(server) = NatsServer::start_or_skip().await else {
        return;
    };
    let first = connect(&server).await;
    let second = connect(&server).await;
    first.ping().await.expect("ping");
    second.ping().await.expect("ping");
    assert_eq!(
        first.object_chunk_size(),
        MIB - 1024,
        "1 MiB capped below the default max_payload"
    );

    // What the first one stores, the second one sees: they share the buckets.
    put(&first, "shared/1", b"hello").await;
    let reader = second
        .get_object("shared/1")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(read_all(reader).await, b"hello");

    let client = async_nats::connect(server.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    let names = Names::default();
    let challenges = js
        .get_stream(names.kv_stream(KvBucket::Challenges))
        .await
        .expect("challenge stream");
    let config = &challenges.cached_info().config;
    assert_eq!(config.max_age, CHALLENGE_TTL);
    assert_eq!(config.max_messages_per_subject, 1);
    assert_eq!(
        config.subjects,
        [names.kv_stream_subjects(KvBucket::Challenges)]
    );

    // A relay restarted with another challenge lifetime brings the bucket in line.
    Broker::connect(&settings(&server), Duration::from_secs(90), SESSION_TTL)
        .await
        .expect("reconnect with another TTL");
    let challenges = js
        .get_stream(names.kv_stream(KvBucket::Challenges))
        .await
        .expect("challenge stream");
    assert_eq!(
        challenges.cached_info().config.max_age,
        Duration::from_secs(90)
    );
    // Shorter than before (and than the duplicate window the server chose for 90 s).
    Broker::connect(&settings(&server), Duration::from_secs(5), SESSION_TTL)
        .await
        .expect("reconnect with a shorter TTL");
    let challenges = js
        .get_stream(names.kv_stream(KvBucket::Challenges))
        .await
        .expect("challenge stream");
    assert_eq!(
        challenges.cached_info().config.max_age,
        Duration::from_secs(5)
    );
    let sessions = js
        .get_stream(names.kv_stream(KvBucket::Sessions))
        .await
        .expect("session stream");
    assert_eq!(sessions.cached_info().config.max_age, SESSION_TTL);

    // A prefix gives a separate set of buckets.
    let prefixed = Broker::connect(
        &NatsSettings {
            prefix: "acme".to_owned(),
            ..settings(&server)
        },
        CHALLENGE_TTL,
        SESSION_TTL,
    )
    .await
    .expect("connect with a prefix");
    assert!(
        prefixed
            .get_object("shared/1")
            .await
            .expect("get")
            .is_none()
    );
    js.get_stream("OBJ_acme-plog-volumes")
        .await
        .expect("prefixed object stream");
}

#[tokio::test]
async fn objects_round_trip_byte_exact() {
    let Some(server) = NatsServer::start_or_skip().await else {
        return;
    };
    let broker = connect(&server).await;
    let chunk = broker.object_chunk_size();
    let volume = Uuid::new_v4();
    let cases = [
        (Names::volume_object(volume, 1), Vec::new()),
        (Names::volume_object(volume, 2), vec![0x5a]),
        // Five chunks and a short one.
        (Names::volume_object(volume, 3), pattern(5 * MIB + 3, 7)),
        // Exactly one chunk, and two (read with direct gets instead of a consumer).
        (Names::volume_object(volume, 4), pattern(chunk, 4)),
        (Names::volume_object(volume, 5), pattern(chunk + 1, 5)),
    ];
    for (key, bytes) in &cases {
        assert_eq!(put(&broker, key, bytes).await, bytes.len() as u64, "{key}");
    }
    for (key, bytes) in &cases {
        let reader = broker
            .get_object(key)
            .await
            .expect("get")
            .unwrap_or_else(|| panic!("{key} missing"));
        assert_eq!(reader.size(), bytes.len() as u64, "{key}");
        let got = read_all(reader).await;
        assert_eq!(got.len(), bytes.len(), "{key}");
        assert!(got == *bytes, "{key}: content differs");
    }

    let mut keys = broker.object_keys().await.expect("keys");
    keys.sort();
    let mut expected: Vec<String> = cases.iter().map(|(key, _)| key.clone()).collect();
    expected.sort();
    assert_eq!(keys, expected);

    // Replacing an object serves the new bytes and drops the old chunks.
    let key = &cases[2].0;
    let before = volume_stream_messages(&server).await;
    let replacement = pattern(2 * MIB, 99);
    put(&broker, key, &replacement).await;
    let reader = broker.get_object(key).await.expect("get").expect("present");
    assert_eq!(reader.size(), replacement.len() as u64);
    assert!(read_all(reader).await == replacement);
    // 6 old chunks go, 3 new ones come; the description is rolled up.
    assert_eq!(volume_stream_messages(&server).await, before - 6 + 3);

    assert!(broker.get_object("no/such").await.expect("get").is_none());
    assert!(matches!(
        broker.get_object("bad key*").await,
        Err(BrokerError::InvalidKey { .. })
    ));
}

#[tokio::test]
async fn a_failing_body_leaves_no_object() {
    let Some(server) = NatsServer::start_or_skip().await else {
        return;
    };
    let broker = connect(&server).await;

    let mut body = FailingBody {
        data: pattern(2 * MIB + MIB / 2, 3),
        at: 0,
    };
    let err = broker
        .put_object("vol/1", &mut body)
        .await
        .expect_err("the body fails");
    match &err {
        BrokerError::Body(io) => assert_eq!(io.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("expected a body error, got {other:?}"),
    }
    assert!(broker.get_object("vol/1").await.expect("get").is_none());
    assert!(broker.object_keys().await.expect("keys").is_empty());
    assert_eq!(
        volume_stream_messages(&server).await,
        0,
        "the chunks already sent are purged"
    );

    // A failed replacement leaves the previous object intact.
    let original = pattern(MIB + 5, 1);
    put(&broker, "vol/2", &original).await;
    let mut body = FailingBody {
        data: pattern(3 * MIB, 2),
        at: 0,
    };
    broker
        .put_object("vol/2", &mut body)
        .await
        .expect_err("the body fails");
    let reader = broker
        .get_object("vol/2")
        .await
        .expect("get")
        .expect("previous object");
    assert!(read_all(reader).await == original);
}

#[tokio::test]
async fn deleting_is_idempotent() {
    let Some(server) = NatsServer::start_or_skip().await else {
        return;
    };
    let broker = connect(&server).await;
    put(&broker, "vol/3", &pattern(MIB * 2, 0)).await;
    broker.delete_object("vol/3").await.expect("delete");
    assert!(broker.get_object("vol/3").await.expect("get").is_none());
    broker.delete_object("vol/3").await.expect("delete again");
    broker
        .delete_object("never/stored")
        .await
        .expect("delete a missing object");
    assert!(broker.object_keys().await.expect("keys").is_empty());
    // Only the deletion marker remains.
    assert_eq!(volume_stream_messages(&server).await, 1);

    // The name can be used again.
    put(&broker, "vol/3", b"again").await;
    let reader = broker
        .get_object("vol/3")
        .await
        .expect("get")
        .expect("present");
    assert_eq!(read_all(reader).await, b"again");
}

#[tokio::test]
async fn fresh_objects_are_deleted_without_a_trace() {
    let Some(server) = NatsServer::start_or_skip().await else {
        return;
    };
    let broker = connect(&server).await;
    let key = fresh_key();
    let bytes = pattern(2 * MIB + 17, 9);
    let mut body = &bytes[..];
    let stored = broker
        .put_fresh_object(&key, &mut body)
        .await
        .expect("put a fresh object");
    assert_eq!(stored.size, bytes.len() as u64);
    let sha256: [u8; 32] = sha2::Sha256::digest(&bytes).into();
    assert_eq!(
        stored.sha256, sha256,
        "the digest is the object store's SHA-256"
    );
    let reader = broker
        .get_object(&key)
        .await
        .expect("get")
        .expect("present");
    assert!(read_all(reader).await == bytes);
    assert!(volume_stream_messages(&server).await > 1);

    broker
        .delete_fresh_object(&key)
        .await
        .expect("delete a fresh object");
    assert!(broker.get_object(&key).await.expect("get").is_none());
    assert!(broker.object_keys().await.expect("keys").is_empty());
    assert_eq!(
        volume_stream_messages(&server).await,
        0,
        "description and chunks are purged, no deletion marker is left"
    );
    broker
        .delete_fresh_object(&key)
        .await
        .expect("deleting again succeeds");
    broker
        .delete_fresh_object("never/stored")
        .await
        .expect("deleting a missing object succeeds");
}

#[tokio::test]
async fn an_object_whose_chunks_are_lost_fails_to_open_without_hanging() {
    let Some(server) = NatsServer::start_or_skip().await else {
        return;
    };
    let broker = connect(&server).await;
    let key = fresh_key();
    let bytes = pattern(1000, 3);
    let mut body = &bytes[..];
    broker
        .put_fresh_object(&key, &mut body)
        .await
        .expect("put a fresh object");
    let nuid = lose_chunks(&server, &key).await;
    let opened = tokio::time::timeout(Duration::from_secs(10), broker.get_object(&key))
        .await
        .expect("opening a damaged object must not hang");
    match opened {
        Err(BrokerError::Object(message)) => {
            assert!(message.contains("chunks are missing"), "{message}");
        }
        other => panic!("expected an object error for chunks {nuid}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_reader_waiting_for_lost_chunks_gives_up_after_the_request_timeout() {
    let Some(server) = NatsServer::start_or_skip().await else {
        return;
    };
    let broker = connect(&server).await;
    let key = fresh_key();
    // Three chunks: read through a consumer, not with direct gets.
    let bytes = pattern(2 * broker.object_chunk_size() + 10, 8);
    let mut body = &bytes[..];
    broker
        .put_fresh_object(&key, &mut body)
        .await
        .expect("put a fresh object");
    let reader = broker
        .get_object(&key)
        .await
        .expect("get")
        .expect("present");
    // The chunks go while the reader is open.
    lose_chunks(&server, &key).await;
    let mut reader = reader;
    let mut got = Vec::new();
    let read = tokio::time::timeout(OPTIONS.request_timeout * 5, reader.read_to_end(&mut got))
        .await
        .expect("the reader gives up instead of waiting forever");
    let err = read.expect_err("the chunks are gone");
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::InvalidData
        ),
        "{err}"
    );
    assert!(got.len() < bytes.len());
}

#[tokio::test]
async fn a_challenge_is_consumed_exactly_once() {
    let Some(server) = NatsServer::start_or_skip().await else {
        return;
    };
    // Two connections, as two relay instances would have.
    let one = connect(&server).await;
    let two = connect(&server).await;

    let id = Uuid::new_v4();
    one.create_challenge(&id, b"proof-hash")
        .await
        .expect("create");
    assert!(matches!(
        two.create_challenge(&id, b"other").await,
        Err(BrokerError::Conflict)
    ));
    assert_eq!(
        two.consume_challenge(&id).await.expect("consume"),
        Some(b"proof-hash".to_vec())
    );
    assert_eq!(one.consume_challenge(&id).await.expect("consume"), None);
    assert_eq!(
        one.consume_challenge(&Uuid::new_v4())
            .await
            .expect("consume unknown"),
        None
    );

    for round in 0..50 {
        let id = Uuid::new_v4();
        let value = format!("value-{round}").into_bytes();
        one.create_challenge(&id, &value).await.expect("create");
        let (a, b) = (one.clone(), two.clone());
        let first = tokio::spawn(async move { a.consume_challenge(&id).await });
        let second = tokio::spawn(async move { b.consume_challenge(&id).await });
        let first = first.await.expect("task").expect("consume");
        let second = second.await.expect("task").expect("consume");
        let winners: Vec<_> = [first, second].into_iter().flatten().collect();
        assert_eq!(winners, [value], "round {round}: exactly one consumer wins");
    }
}

#[tokio::test]
async fn an_expired_challenge_cannot_be_consumed() {
    let Some(server) = NatsServer::start_or_skip().await else {
        return;
    };
    let ttl = Duration::from_secs(1);
    let broker = Broker::connect(&settings(&server), ttl, SESSION_TTL)
        .await
        .expect("connect");
    let id = Uuid::new_v4();
    let created = Instant::now();
    broker.create_challenge(&id, b"v").await.expect("create");

    // Watch the entry from outside until the server expires it.
    let client = async_nats::connect(server.url()).await.expect("connect");
    let kv = async_nats::jetstream::new(client)
        .get_key_value(Names::default().kv_bucket(KvBucket::Challenges))
        .await
        .expect("challenge bucket");
    let key = Names::challenge_key(id);
    let deadline = created + ttl + Duration::from_secs(10);
    while kv.get(key.as_str()).await.expect("get").is_some() {
        assert!(Instant::now() < deadline, "the challenge never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(created.elapsed() >= ttl - Duration::from_millis(100));
    assert_eq!(broker.consume_challenge(&id).await.expect("consume"), None);
}

#[tokio::test]
async fn sessions_put_get_delete_and_count() {
    let Some(server) = NatsServer::start_or_skip().await else {
        return;
    };
    let broker = connect(&server).await;
    let keys = [
        "__________________________________________8",
        "abc-DEF_123",
        "00ff",
    ];
    for (i, key) in keys.iter().enumerate() {
        broker
            .put_session(key, format!("session {i}").as_bytes())
            .await
            .expect("put");
    }
    assert_eq!(broker.session_count().await.expect("count"), 3);
    assert_eq!(
        broker.get_session(keys[1]).await.expect("get"),
        Some(b"session 1".to_vec())
    );
    broker.put_session(keys[1], b"updated").await.expect("put");
    assert_eq!(
        broker.get_session(keys[1]).await.expect("get"),
        Some(b"updated".to_vec())
    );
    assert_eq!(broker.session_count().await.expect("count"), 3);

    broker.delete_session(keys[1]).await.expect("delete");
    broker.delete_session(keys[1]).await.expect("delete again");
    assert_eq!(broker.get_session(keys[1]).await.expect("get"), None);
    assert_eq!(broker.session_count().await.expect("count"), 2);
    assert_eq!(broker.get_session("unknown").await.expect("get"), None);

    for bad in ["", "a.b", "a*", "a>", "a b", "a/b"] {
        assert!(
            matches!(
                broker.put_session(bad, b"x").await,
                Err(BrokerError::InvalidKey { .. })
            ),
            "{bad:?}"
        );
    }

    assert_eq!(broker.purge_sessions().await.expect("purge"), 2);
    assert_eq!(broker.session_count().await.expect("count"), 0);
    assert_eq!(broker.get_session(keys[0]).await.expect("get"), None);
}

#[tokio::test]
async fn a_dead_broker_is_reported_quickly_and_recovery_is_automatic() {
    let Some(mut server) = NatsServer::start_or_skip().await else {
        return;
    };
    let broker = connect(&server).await;
    let body = pattern(MIB + 1, 4);
    put(&broker, "vol/kept", &body).await;
    broker.put_session("s1", b"one").await.expect("put session");
    broker.ping().await.expect("ping");

    server.kill().await;
    // The client notices the closed connection almost at once; operations fail from then on.
    let started = Instant::now();
    loop {
        match broker.ping().await {
            Err(err) => {
                assert!(err.is_unavailable(), "{err:?}");
                break;
            }
            Ok(()) => {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "ping kept succeeding"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let started = Instant::now();
    let id = Uuid::new_v4();
    let results = [
        broker.ping().await.map(|_| ()),
        broker.get_object("vol/kept").await.map(|_| ()),
        put_result(&broker, "vol/new", b"x").await.map(|_| ()),
        broker.delete_object("vol/kept").await,
        broker.object_keys().await.map(|_| ()),
        broker.create_challenge(&id, b"x").await,
        broker.consume_challenge(&id).await.map(|_| ()),
        broker.put_session("s2", b"two").await,
        broker.get_session("s1").await.map(|_| ()),
        broker.delete_session("s1").await,
        broker.session_count().await.map(|_| ()),
    ];
    for (i, result) in results.iter().enumerate() {
        match result {
            Err(err) => {
                assert!(err.is_unavailable(), "operation {i}: {err:?}");
                assert!(err.to_string().contains("unavailable"), "{err}");
            }
            Ok(()) => panic!("operation {i} succeeded without a server"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "failing took {:?}",
        started.elapsed()
    );

    server.restart().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Err(err) = broker.ping().await {
        assert!(Instant::now() < deadline, "no recovery: {err}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The file store kept everything.
    let reader = broker
        .get_object("vol/kept")
        .await
        .expect("get after restart")
        .expect("object survived");
    assert!(read_all(reader).await == body);
    assert_eq!(
        broker.get_session("s1").await.expect("get session"),
        Some(b"one".to_vec())
    );
    put(&broker, "vol/after", b"after").await;
    let id = Uuid::new_v4();
    broker.create_challenge(&id, b"c").await.expect("create");
    assert_eq!(
        broker.consume_challenge(&id).await.expect("consume"),
        Some(b"c".to_vec())
    );
}

#[tokio::test]
async fn connecting_to_nothing_is_unavailable() {
    // A port nobody listens on: bind one, then close it.
    let port = {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let started = Instant::now();
    let err = Broker::connect_with(
        &NatsSettings::with_url(format!("nats://127.0.0.1:{port}")),
        CHALLENGE_TTL,
        SESSION_TTL,
        &BrokerOptions {
            request_timeout: Duration::from_secs(1),
            replicas: 1,
        },
    )
    .await
    .expect_err("nothing listens");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn embedded_nats_starts_serves_and_stops() {
    if NatsServer::start_or_skip().await.is_none() {
        return;
    }
    let data = tempfile::tempdir().expect("data dir");
    let embedded = EmbeddedNats::start(data.path()).await.expect("start");
    let address = embedded.address().to_owned();
    assert!(address.starts_with("nats://127.0.0.1:"), "{address}");
    assert!(embedded.url().ends_with(&address["nats://".len()..]));
    assert!(data.path().join("nats").is_dir());

    // The server wants its token.
    let anonymous = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(1))
        .connect(embedded.address())
        .await;
    assert!(anonymous.is_err(), "connected without the token");
    assert!(!format!("{embedded:?}").contains(&embedded.url()[7..20]));

    let broker = Broker::connect(&embedded.settings(), CHALLENGE_TTL, SESSION_TTL)
        .await
        .expect("connect to the embedded server");
    put(&broker, "vol/1", b"persisted").await;
    assert!(data.path().join("nats").join("jetstream").is_dir());
    embedded.stop().await;
    let stopped = Instant::now();
    let down = broker.ping().await.expect_err("ping after stop");
    assert!(down.is_unavailable(), "{down:?}");
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "noticing took {:?}",
        stopped.elapsed()
    );

    // Same data directory, new process: the data is still there.
    let again = EmbeddedNats::start(data.path()).await.expect("start again");
    let broker = Broker::connect(&again.settings(), CHALLENGE_TTL, SESSION_TTL)
        .await
        .expect("connect again");
    let reader = broker
        .get_object("vol/1")
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(read_all(reader).await, b"persisted");

    // A relay killed without cleanup leaves its server running; the next start stops it.
    let orphan_pid = again.pid().expect("running");
    std::mem::forget(again);
    let third = EmbeddedNats::start(data.path())
        .await
        .expect("start over an orphan");
    let stat = std::fs::read_to_string(format!("/proc/{orphan_pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.trim_start().chars().next());
    assert!(
        matches!(state, None | Some(Some('Z' | 'X'))),
        "orphan {orphan_pid} still runs: {stat}"
    );
    third.stop().await;
}
