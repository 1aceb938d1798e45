//! The daemon's relay client against a real relay (real `nats-server`, SQLite, HTTPS on a free
//! port, the relay's generated self-signed certificate): probing and pinning, registration and
//! challenge login, finding an account by key, handles, streamed volume transfers, conflicts,
//! automatic re-login and account deletion.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plog_crypto::identity::IdentityKeyPair;
use plog_crypto::master::MasterSecret;
use plog_daemon::relay_client::{
    CertPin, IdentitySource, RelayClient, RelayError, Timeouts, VolumeBody, probe, probe_with,
};
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::handle::Handle;
use plog_ipc_schema::http::accounts::AccountKind;
use plog_ipc_schema::http::headers::{Precondition, ReaderMaterial};
use plog_ipc_schema::http::volumes::VolumeRole;
use plog_tests::client::{SealedVolume, TestUser, seal_volume};
use plog_tests::nats::NatsServer;
use plog_tests::relay::{Database, RelayOptions, TestRelay};
use uuid::Uuid;

async fn start_relay(nats: &NatsServer) -> TestRelay {
    TestRelay::start(RelayOptions::new(nats.url(), Database::Sqlite)).await
}

fn relay_pin(relay: &TestRelay) -> CertPin {
    CertPin::parse(&relay.started.pin).unwrap()
}

/// A fresh identity for the relay: its master secret (for sealing) and its key pair.
fn new_identity(relay: &TestRelay) -> (MasterSecret, IdentityKeyPair) {
    let master = MasterSecret::generate().unwrap();
    let identity = master
        .relay_identity(&relay.started.public_origin, 0)
        .unwrap();
    (master, identity)
}

/// Seals `plaintext` as `revision` of `volume_id` with `master`'s owner keys.
fn seal(
    relay: &TestRelay,
    master: &MasterSecret,
    volume_id: Uuid,
    revision: u64,
    plaintext: &[u8],
) -> SealedVolume {
    let owner = TestUser {
        master: MasterSecret::from_bytes(*master.expose()),
        identity: master
            .relay_identity(&relay.started.public_origin, 0)
            .unwrap(),
        user_id: Uuid::nil(),
        token: String::new(),
    };
    seal_volume(&owner, volume_id, "journals", revision, 1, plaintext)
}

fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_shows_the_relay_pin_and_pinning_is_enforced() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let relay = start_relay(&nats).await;
    let pin = relay_pin(&relay);

    // First contact: the probe connects without trusting and shows the relay's own pin.
    let report = probe(&relay.base_url).await.unwrap();
    assert_eq!(report.pin, pin);
    assert_eq!(report.origin, relay.started.public_origin);
    assert!(report.self_signed);
    assert!(
        !report.ca_verified,
        "a generated certificate is in no root store"
    );
    assert!(report.ca_error.is_some());
    let info = report.info.clone().expect("relay info");
    assert_eq!(info.version, plog_relay::VERSION);
    assert_eq!(report.to_relay_probe(None).pin, pin);

    // With the right pin the relay is reached; the presented pin is recorded.
    let client = RelayClient::new(&relay.base_url, pin).unwrap();
    assert_eq!(client.info().await.unwrap(), info);
    assert_eq!(client.presented_pin(), Some(pin));

    // With a wrong pin every call fails, naming both pins, and is not retryable.
    let wrong = CertPin::from_digest([0x11; 32]);
    let mistrusting = RelayClient::new(&relay.base_url, wrong).unwrap();
    let (_, identity) = new_identity(&relay);
    for attempt in 0..2 {
        let err = if attempt == 0 {
            mistrusting.info().await.unwrap_err()
        } else {
            mistrusting
                .register(&identity, AccountKind::System, None)
                .await
                .unwrap_err()
        };
        match &err {
            RelayError::PinMismatch {
                expected,
                presented,
                ..
            } => {
                assert_eq!(*expected, wrong);
                assert_eq!(*presented, pin);
            }
            other => panic!("expected a pin mismatch, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains(&wrong.to_string()) && text.contains(&pin.to_string()));
        assert!(!err.is_retryable());
    }

    // The announced next pin is accepted beside a stale current one (rotation).
    let rolling = RelayClient::builder(&relay.base_url, wrong)
        .next_pin(Some(pin))
        .build()
        .unwrap();
    assert!(rolling.info().await.is_ok());
    assert_eq!(rolling.presented_pin(), Some(pin));

    // Plain HTTP is refused before anything is sent.
    let plain = relay.base_url.replace("https://", "http://");
    assert!(matches!(
        probe(&plain).await,
        Err(RelayError::InvalidUrl { .. })
    ));
    assert!(matches!(
        RelayClient::new(&plain, pin),
        Err(RelayError::InvalidUrl { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_silent_relays_are_retryable_network_errors() {
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = probe(&format!("https://127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(matches!(err, RelayError::Network { .. }), "{err:?}");
    assert!(err.is_retryable());

    // A server that accepts connections and never answers: the timeout ends the wait.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        idle: Duration::from_secs(1),
    };
    let client = RelayClient::builder(&format!("https://{address}"), CertPin::from_digest([0; 32]))
        .timeouts(timeouts)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.info().await.unwrap_err();
    assert!(matches!(err, RelayError::Network { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(matches!(
        probe_with(&format!("https://{address}"), timeouts).await,
        Err(RelayError::Network { .. })
    ));
    holder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_and_volume_round_trip() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let relay = start_relay(&nats).await;
    let pin = relay_pin(&relay);
    let (master, identity) = new_identity(&relay);
    let client = RelayClient::builder(&relay.base_url, pin)
        .device_label("test device")
        .build()
        .unwrap();

    // Register (activated by the first challenge) and log in again.
    let handle = Handle::parse("alice").unwrap();
    let registered = client
        .register(&identity, AccountKind::System, Some(&handle))
        .await
        .unwrap();
    let user_id = registered.user_id();
    assert_eq!(client.account(), Some(user_id));
    assert!(!format!("{registered:?}").contains(&relay.base_url));
    let again = client.login(&identity, user_id).await.unwrap();
    assert_eq!(again.user_id(), user_id);
    assert!(!again.is_expired());
    // A second registration of the same key is a conflict.
    let err = client
        .register(&identity, AccountKind::System, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::AccountExists), "{err:?}");
    assert!(matches!(err, RelayError::Conflict { .. }));

    // Create from a file (streamed), list, download byte-exact.
    let volume_id = Uuid::new_v4();
    let plaintext = patterned(2 * 1024 * 1024 + 123);
    let first = seal(&relay, &master, volume_id, 1, &plaintext);
    let dir = tempfile::tempdir().unwrap();
    let upload_path = dir.path().join("upload.vol");
    std::fs::write(&upload_path, &first.bytes).unwrap();
    let created = client
        .put_volume(
            volume_id,
            &first.headers,
            VolumeBody::File(upload_path.clone()),
        )
        .await
        .unwrap();
    assert_eq!((created.volume_id, created.revision), (volume_id, 1));

    let listed = client.list_volumes().await.unwrap();
    assert_eq!(listed.len(), 1);
    let entry = &listed[0];
    assert_eq!(
        (entry.volume_id, entry.owner_id, entry.revision, entry.role),
        (volume_id, user_id, 1, VolumeRole::Owner)
    );
    assert_eq!(entry.padded_size, first.bytes.len() as u64);
    assert_eq!(entry.own_tag, Some(first.headers.owner_tag));

    let download_path = dir.path().join("download.vol");
    let mut file = tokio::fs::File::create(&download_path).await.unwrap();
    let meta = client.get_volume(volume_id, &mut file).await.unwrap();
    drop(file);
    assert_eq!(std::fs::read(&download_path).unwrap(), first.bytes);
    assert_eq!(meta.length, Some(first.bytes.len() as u64));
    assert_eq!(meta.headers.revision, 1);
    assert_eq!(meta.headers.owner_id, user_id);
    assert_eq!(meta.headers.vtype, first.headers.vtype);
    assert_eq!(
        meta.headers.reader,
        ReaderMaterial::Owner {
            owner_tag: first.headers.owner_tag,
            owner_key: first.headers.owner_key.clone(),
        }
    );
    let head = client.head_volume(volume_id).await.unwrap().unwrap();
    assert_eq!(head.headers, meta.headers);
    assert_eq!(head.length, Some(first.bytes.len() as u64));

    // Replace from a stream of known length; then a stale If-Match is a conflict.
    let second = seal(&relay, &master, volume_id, 2, b"second revision");
    let reader = std::io::Cursor::new(second.bytes.clone());
    let replaced = client
        .put_volume(
            volume_id,
            &second.headers,
            VolumeBody::Reader {
                reader: Box::new(reader),
                length: Some(second.bytes.len() as u64),
            },
        )
        .await
        .unwrap();
    assert_eq!(replaced.revision, 2);
    let mut memory = Vec::new();
    client.get_volume(volume_id, &mut memory).await.unwrap();
    assert_eq!(memory, second.bytes);

    let stale = seal(
        &relay,
        &master,
        volume_id,
        2,
        b"written from an old revision",
    );
    assert_eq!(
        stale.headers.precondition,
        Precondition::Replace { revision: 1 }
    );
    let err = client
        .put_volume(
            volume_id,
            &stale.headers,
            VolumeBody::Bytes(stale.bytes.clone().into()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RelayError::Conflict {
                code: Some(ErrorCode::RevisionConflict),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let recreate = seal(&relay, &master, volume_id, 1, b"create again");
    let err = client
        .put_volume(
            volume_id,
            &recreate.headers,
            VolumeBody::Bytes(recreate.bytes.clone().into()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RelayError::Conflict { .. }), "{err:?}");

    // A missing upload file is a local error, not a network one.
    let err = client
        .put_volume(
            Uuid::new_v4(),
            &first.headers,
            VolumeBody::File(dir.path().join("missing.vol")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RelayError::Io { .. }), "{err:?}");

    // Delete: a stale If-Match is refused, the current one deletes, then nothing is there.
    let err = client.delete_volume(volume_id, Some(1)).await.unwrap_err();
    assert!(matches!(err, RelayError::Conflict { .. }), "{err:?}");
    client.delete_volume(volume_id, Some(2)).await.unwrap();
    assert!(client.head_volume(volume_id).await.unwrap().is_none());
    let mut nothing = Vec::new();
    let err = client
        .get_volume(volume_id, &mut nothing)
        .await
        .unwrap_err();
    assert!(matches!(err, RelayError::NotFound { .. }), "{err:?}");
    assert!(nothing.is_empty());
    assert!(client.list_volumes().await.unwrap().is_empty());

    // After logout the client has no session and no way to make one.
    client.logout().await.unwrap();
    assert!(client.session().is_none());
    let err = client.list_volumes().await.unwrap_err();
    assert!(matches!(err, RelayError::NoSession { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_account_handles_and_account_deletion() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let relay = start_relay(&nats).await;
    let pin = relay_pin(&relay);

    let (_, alice_key) = new_identity(&relay);
    let alice = RelayClient::new(&relay.base_url, pin).unwrap();
    let alice_id = alice
        .register(&alice_key, AccountKind::System, None)
        .await
        .unwrap()
        .user_id();

    // A restored installation knows only its key: the challenge by key finds the account.
    let restored = RelayClient::new(&relay.base_url, pin).unwrap();
    assert_eq!(restored.account(), None);
    let found = restored.find_account(&alice_key).await.unwrap().unwrap();
    assert_eq!(found.user_id(), alice_id);
    assert_eq!(restored.account(), Some(alice_id));
    assert!(restored.list_volumes().await.unwrap().is_empty());

    // An unknown key finds nothing and leaves the client logged out.
    let (_, stranger_key) = new_identity(&relay);
    let fresh = RelayClient::new(&relay.base_url, pin).unwrap();
    assert!(fresh.find_account(&stranger_key).await.unwrap().is_none());
    assert!(fresh.session().is_none());
    assert_eq!(fresh.account(), None);
    // Logging in to another account with the wrong key is refused.
    let err = fresh.login(&stranger_key, alice_id).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ChallengeFailed), "{err:?}");

    // Handles: taken, looked up by another account, conflicting, released.
    let (_, bob_key) = new_identity(&relay);
    let bob = RelayClient::new(&relay.base_url, pin).unwrap();
    bob.register(&bob_key, AccountKind::Friend, None)
        .await
        .unwrap();
    let handle = Handle::parse("alice-system").unwrap();
    alice.set_handle(&handle).await.unwrap();
    let looked_up = bob.lookup_handle(&handle).await.unwrap().unwrap();
    assert_eq!(looked_up.user_id, alice_id);
    assert_eq!(
        looked_up.public_key.as_bytes(),
        alice_key.public_key().as_bytes()
    );
    let err = bob.set_handle(&handle).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::HandleTaken), "{err:?}");
    alice.release_handle().await.unwrap();
    assert!(bob.lookup_handle(&handle).await.unwrap().is_none());

    // Deleting the account logs in afresh, deletes, and forgets the account.
    alice.delete_account(&alice_key).await.unwrap();
    assert_eq!(alice.account(), None);
    assert!(alice.session().is_none());
    let err = restored.list_volumes().await.unwrap_err();
    assert!(matches!(err, RelayError::Unauthorized { .. }), "{err:?}");
    let after = RelayClient::new(&relay.base_url, pin).unwrap();
    assert!(after.find_account(&alice_key).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidated_session_is_replaced_by_a_new_login() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let relay = start_relay(&nats).await;
    let pin = relay_pin(&relay);
    let (master, identity) = new_identity(&relay);
    let user_id = RelayClient::new(&relay.base_url, pin)
        .unwrap()
        .register(&identity, AccountKind::System, None)
        .await
        .unwrap()
        .user_id();

    // The client asks for the key only when it must log in, and counts as locked otherwise.
    let logins = Arc::new(AtomicUsize::new(0));
    let unlocked = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let source: IdentitySource = {
        let (logins, unlocked) = (Arc::clone(&logins), Arc::clone(&unlocked));
        let master = MasterSecret::from_bytes(*master.expose());
        let origin = relay.started.public_origin.clone();
        Arc::new(move || {
            if !unlocked.load(Ordering::SeqCst) {
                return None;
            }
            logins.fetch_add(1, Ordering::SeqCst);
            master.relay_identity(&origin, 0).ok()
        })
    };
    let client = RelayClient::builder(&relay.base_url, pin)
        .account(user_id)
        .identity_source(source)
        .build()
        .unwrap();

    // No session yet: the first call logs in by itself.
    assert!(client.list_volumes().await.unwrap().is_empty());
    assert_eq!(logins.load(Ordering::SeqCst), 1);
    assert!(client.list_volumes().await.unwrap().is_empty());
    assert_eq!(logins.load(Ordering::SeqCst), 1, "the session is reused");

    // The relay ends every session of the account ("log out everywhere").
    let db = plog_relay::db::Db::connect(&format!(
        "sqlite:{}",
        relay.data_dir().join("relay.db").display()
    ))
    .await
    .unwrap();
    db.bump_user_session_epoch(user_id).await.unwrap();

    // A replayable upload meets 401, logs in again once and succeeds.
    let volume_id = Uuid::new_v4();
    let sealed = seal(&relay, &master, volume_id, 1, b"after re-login");
    let created = client
        .put_volume(
            volume_id,
            &sealed.headers,
            VolumeBody::Bytes(sealed.bytes.clone().into()),
        )
        .await
        .unwrap();
    assert_eq!(created.revision, 1);
    assert_eq!(logins.load(Ordering::SeqCst), 2);

    // A one-shot stream is not sent twice: after the next invalidation it fails as
    // unauthorized, and the following call logs in again.
    db.bump_user_session_epoch(user_id).await.unwrap();
    let next = seal(&relay, &master, volume_id, 2, b"one shot");
    let err = client
        .put_volume(
            volume_id,
            &next.headers,
            VolumeBody::Reader {
                reader: Box::new(std::io::Cursor::new(next.bytes.clone())),
                length: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RelayError::Unauthorized {
                code: Some(ErrorCode::Unauthorized),
                ..
            }
        ),
        "{err:?}"
    );
    let mut bytes = Vec::new();
    client.get_volume(volume_id, &mut bytes).await.unwrap();
    assert_eq!(bytes, sealed.bytes, "revision 1 is still current");
    assert_eq!(logins.load(Ordering::SeqCst), 3);

    // Locked: an invalidated session cannot be replaced, and the relay's refusal is reported.
    unlocked.store(false, Ordering::SeqCst);
    db.bump_user_session_epoch(user_id).await.unwrap();
    let err = client.list_volumes().await.unwrap_err();
    assert!(matches!(err, RelayError::Unauthorized { .. }), "{err:?}");
    let err = client.list_volumes().await.unwrap_err();
    assert!(matches!(err, RelayError::NoSession { .. }), "{err:?}");
    assert_eq!(logins.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_go_on_and_stalled_ones_time_out() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let relay = start_relay(&nats).await;
    let (master, identity) = new_identity(&relay);
    let idle = Duration::from_secs(1);
    let client = RelayClient::builder(&relay.base_url, relay_pin(&relay))
        .timeouts(Timeouts {
            connect: Duration::from_secs(5),
            idle,
        })
        .build()
        .unwrap();
    client
        .register(&identity, AccountKind::System, None)
        .await
        .unwrap();

    // The producer takes twice the idle timeout in all, but never pauses for long: the upload
    // is not cut off.
    let volume_id = Uuid::new_v4();
    let sealed = seal(&relay, &master, volume_id, 1, &patterned(200_000));
    let (mut writer, reader) = tokio::io::duplex(64 * 1024);
    let bytes = sealed.bytes.clone();
    let pieces = 8;
    let producer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        for piece in bytes.chunks(bytes.len().div_ceil(pieces)) {
            tokio::time::sleep(idle / 4).await;
            writer.write_all(piece).await.unwrap();
        }
    });
    let started = Instant::now();
    let created = client
        .put_volume(
            volume_id,
            &sealed.headers,
            VolumeBody::Reader {
                reader: Box::new(reader),
                length: Some(sealed.bytes.len() as u64),
            },
        )
        .await
        .unwrap();
    assert!(started.elapsed() > idle * 2 - idle / 4);
    assert_eq!(created.revision, 1);
    producer.await.unwrap();
    let mut stored = Vec::new();
    client.get_volume(volume_id, &mut stored).await.unwrap();
    assert_eq!(stored, sealed.bytes);

    // A producer that stops half-way (and keeps the stream open) ends in a timeout, and the
    // relay keeps the previous revision.
    let next = seal(&relay, &master, volume_id, 2, &patterned(200_000));
    let (mut writer, reader) = tokio::io::duplex(64 * 1024);
    let half = next.bytes[..next.bytes.len() / 2].to_vec();
    // The writer comes back out of the task, so the stream stays open and silent until the
    // test drops it.
    let producer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        writer.write_all(&half).await.unwrap();
        writer
    });
    let err = client
        .put_volume(
            volume_id,
            &next.headers,
            VolumeBody::Reader {
                reader: Box::new(reader),
                length: Some(next.bytes.len() as u64),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RelayError::Network { reason, .. } if reason.contains("timed out")),
        "{err:?}"
    );
    assert!(err.is_retryable());
    drop(producer.await.unwrap());
    let head = client.head_volume(volume_id).await.unwrap().unwrap();
    assert_eq!(head.headers.revision, 1);
}
