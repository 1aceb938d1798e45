//! The daemon's relay client against a real relay (real `nats-server`, SQLite, HTTPS on a free
//! port, the relay's generated self-signed certificate): probing and pinning, registration and
//! challenge login, finding an account by key, handles, streamed volume transfers, conflicts,
//! automatic re-login and account deletion; and sharing: invites, grants and a grantee's
//! in-memory read, mail by link and by handle, link tokens, mail settings and live events.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plog_crypto::identity::IdentityKeyPair;
use plog_crypto::invite::InviteCode;
use plog_crypto::keyblock::KEY_BLOCK_LEN;
use plog_crypto::link::{generate_link_token, link_token_hash};
use plog_crypto::master::MasterSecret;
use plog_daemon::relay_client::{
    CertPin, EventItem, EventStream, IdentitySource, RelayClient, RelayError, Timeouts, VolumeBody,
    probe, probe_with,
};
use plog_ipc_schema::encoding::{B64Bytes, Bytes32};
use plog_ipc_schema::error::ErrorCode;
use plog_ipc_schema::handle::Handle;
use plog_ipc_schema::http::accounts::AccountKind;
use plog_ipc_schema::http::events::{Event, GrantRevoked, NewMail, VolumeUpdated};
use plog_ipc_schema::http::grants::GrantRequest;
use plog_ipc_schema::http::headers::{Precondition, ReaderMaterial};
use plog_ipc_schema::http::invites::invite_id_of;
use plog_ipc_schema::http::mailbox::{MailRoute, MailSettings, MailSource};
use plog_ipc_schema::http::volumes::{RevisionResponse, VolumeRole};
use plog_ipc_schema::token::LinkToken;
use plog_tests::client::{SealedVolume, TestUser, seal_volume, unix_now};
use plog_tests::relay::TestRelay;
use plog_tests::relay_setup::sqlite_relay_or_skip;
use tokio::io::AsyncRead;
use uuid::Uuid;

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

/// Uploads `sealed` from memory (a body that can be sent again after a re-login).
async fn put_sealed(
    client: &RelayClient,
    volume_id: Uuid,
    sealed: &SealedVolume,
) -> Result<RevisionResponse, RelayError> {
    let body = VolumeBody::Bytes(sealed.bytes.clone().into());
    client.put_volume(volume_id, &sealed.headers, body).await
}

/// Uploads `sealed`'s headers with a body of its length read once from `reader`.
async fn put_streamed(
    client: &RelayClient,
    volume_id: Uuid,
    sealed: &SealedVolume,
    reader: impl AsyncRead + Send + Unpin + 'static,
) -> Result<RevisionResponse, RelayError> {
    let body = VolumeBody::Reader {
        reader: Box::new(reader),
        length: Some(sealed.bytes.len() as u64),
    };
    client.put_volume(volume_id, &sealed.headers, body).await
}

fn patterned(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_shows_the_relay_pin_and_pinning_is_enforced() {
    let Some((_nats, relay)) = sqlite_relay_or_skip(&[]).await else {
        return;
    };
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
    let Some((_nats, relay)) = sqlite_relay_or_skip(&[]).await else {
        return;
    };
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
    let replaced = put_streamed(&client, volume_id, &second, reader)
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
    let err = put_sealed(&client, volume_id, &stale).await.unwrap_err();
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
    let err = put_sealed(&client, volume_id, &recreate).await.unwrap_err();
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
    let Some((_nats, relay)) = sqlite_relay_or_skip(&[]).await else {
        return;
    };
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
    let Some((_nats, relay)) = sqlite_relay_or_skip(&[]).await else {
        return;
    };
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
    let created = put_sealed(&client, volume_id, &sealed).await.unwrap();
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
    let Some((_nats, relay)) = sqlite_relay_or_skip(&[]).await else {
        return;
    };
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
    let created = put_streamed(&client, volume_id, &sealed, reader)
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
    let err = put_streamed(&client, volume_id, &next, reader)
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

/// A registered, logged-in client with its master secret and key pair.
async fn registered(
    relay: &TestRelay,
    kind: AccountKind,
) -> (RelayClient, MasterSecret, IdentityKeyPair, Uuid) {
    let (master, identity) = new_identity(relay);
    let client = RelayClient::new(&relay.base_url, relay_pin(relay)).unwrap();
    let user_id = client
        .register(&identity, kind, None)
        .await
        .unwrap()
        .user_id();
    (client, master, identity, user_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_are_created_looked_up_redeemed_and_withdrawn() {
    let Some((_nats, relay)) = sqlite_relay_or_skip(&[]).await else {
        return;
    };
    let (alice, _, alice_key, alice_id) = registered(&relay, AccountKind::System).await;
    let (bob, _, _, bob_id) = registered(&relay, AccountKind::Friend).await;

    // Registered by the locator's hash; the id is the one the hash names.
    let code = InviteCode::generate(&alice_key.public_key()).unwrap();
    let expires_at = unix_now() + 3600;
    let created = alice
        .create_invite(code.locator_hash(), expires_at, 2)
        .await
        .unwrap();
    assert_eq!(
        created.invite_id,
        invite_id_of(&Bytes32::new(code.locator_hash()))
    );
    assert_eq!((created.expires_at, created.uses), (expires_at, 2));
    let err = alice
        .create_invite(code.locator_hash(), expires_at, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, RelayError::Conflict { .. }), "{err:?}");
    let err = alice
        .create_invite([7; 32], unix_now().saturating_sub(10), 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::BadRequest), "{err:?}");
    let listed = alice.list_invites().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].invite_id, listed[0].uses),
        (created.invite_id, 2)
    );
    assert!(bob.list_invites().await.unwrap().is_empty());

    // The friend looks the owner up and checks the key against the code.
    let owner = bob.lookup_invite(code.locator()).await.unwrap().unwrap();
    assert_eq!(owner.user_id, alice_id);
    assert_eq!(
        owner.public_key.as_bytes(),
        alice_key.public_key().as_bytes()
    );
    assert!(owner.handle.is_none());
    code.verify_owner(&alice_key.public_key()).unwrap();
    assert!(bob.lookup_invite(&[9; 16]).await.unwrap().is_none());

    // Two uses, then the invite is used up; an unknown one reads the same.
    for _ in 0..2 {
        bob.redeem_invite(code.locator(), b"sealed friend request".to_vec())
            .await
            .unwrap();
    }
    for locator in [*code.locator(), [9; 16]] {
        let err = bob
            .redeem_invite(&locator, b"another request".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(err, RelayError::InviteUnavailable), "{err:?}");
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("unknown, expired or used up"));
    }
    assert!(bob.lookup_invite(code.locator()).await.unwrap().is_none());
    assert!(alice.list_invites().await.unwrap().is_empty());
    // Both requests wait in the owner's mailbox, marked as coming through an invite.
    let mail = alice.all_mail(None).await.unwrap();
    assert_eq!(mail.len(), 2);
    for message in &mail {
        assert_eq!(
            (message.sender_id, message.source),
            (bob_id, MailSource::Invite)
        );
        assert_eq!(message.envelope.as_bytes(), b"sealed friend request");
    }

    // Withdrawing: true once, then false; a withdrawn invite cannot be redeemed.
    let second = InviteCode::generate(&alice_key.public_key()).unwrap();
    let created = alice
        .create_invite(second.locator_hash(), expires_at, 1)
        .await
        .unwrap();
    assert!(
        !bob.delete_invite(created.invite_id).await.unwrap(),
        "not bob's"
    );
    assert!(alice.delete_invite(created.invite_id).await.unwrap());
    assert!(!alice.delete_invite(created.invite_id).await.unwrap());
    let err = bob
        .redeem_invite(second.locator(), b"too late".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(err, RelayError::InviteUnavailable), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_let_a_grantee_read_a_shared_volume_into_memory() {
    let Some((_nats, relay)) = sqlite_relay_or_skip(&[]).await else {
        return;
    };
    let (alice, alice_master, _, alice_id) = registered(&relay, AccountKind::System).await;
    let (bob, _, _, bob_id) = registered(&relay, AccountKind::Friend).await;

    let volume_id = Uuid::new_v4();
    let first = seal(&relay, &alice_master, volume_id, 1, &patterned(100_000));
    put_sealed(&alice, volume_id, &first).await.unwrap();

    // Before a grant, bob sees nothing.
    assert!(bob.head_volume(volume_id).await.unwrap().is_none());
    assert!(
        bob.get_volume_to_vec(volume_id, u64::MAX)
            .await
            .unwrap()
            .is_none()
    );

    let key_block = B64Bytes::new(vec![0x5a; KEY_BLOCK_LEN]);
    let tag = Bytes32::new([0x66; 32]);
    let grant = GrantRequest {
        key_epoch: 1,
        key_block: key_block.clone(),
        revision: 1,
        tag,
    };
    alice.put_grant(volume_id, bob_id, &grant).await.unwrap();
    let grants = alice.list_grants(volume_id).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!((grants[0].grantee_id, grants[0].key_epoch), (bob_id, 1));

    // Only the owner manages grants; to anyone else the volume does not exist.
    let err = bob.list_grants(volume_id).await.unwrap_err();
    assert!(matches!(err, RelayError::NotFound { .. }), "{err:?}");
    let err = bob
        .put_grant(volume_id, alice_id, &grant)
        .await
        .unwrap_err();
    assert!(matches!(err, RelayError::NotFound { .. }), "{err:?}");
    assert!(!bob.delete_grant(volume_id, bob_id).await.unwrap());

    // The grantee reads its own tag and key block, owner and revision, into memory.
    let listed = bob.list_volumes().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].role, VolumeRole::Grantee);
    assert_eq!(listed[0].own_tag, Some(tag));
    assert!(listed[0].has_key_block);
    let expected_reader = ReaderMaterial::Grantee {
        grantee_tag: tag,
        key_block: key_block.clone(),
    };
    let head = bob.head_volume(volume_id).await.unwrap().unwrap();
    assert_eq!(head.headers.reader, expected_reader);
    let (meta, bytes) = bob
        .get_volume_to_vec(volume_id, first.bytes.len() as u64)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bytes, first.bytes);
    assert_eq!(meta.length, Some(first.bytes.len() as u64));
    assert_eq!(
        (
            meta.headers.owner_id,
            meta.headers.revision,
            meta.headers.key_epoch
        ),
        (alice_id, 1, 1)
    );
    assert_eq!(meta.headers.vtype, first.headers.vtype);
    assert_eq!(meta.headers.reader, expected_reader);
    // One byte under the volume's size is refused, and nothing is returned.
    let err = bob
        .get_volume_to_vec(volume_id, first.bytes.len() as u64 - 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RelayError::AnswerTooLarge { limit, .. } if limit == first.bytes.len() as u64 - 1),
        "{err:?}"
    );
    // The owner reads its own material the same way.
    let (owner_meta, owner_bytes) = alice
        .get_volume_to_vec(volume_id, u64::MAX)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner_bytes, first.bytes);
    assert!(matches!(
        owner_meta.headers.reader,
        ReaderMaterial::Owner { .. }
    ));

    // A grant for a revision that is no longer current, or for an older epoch, is refused,
    // and the caller can tell which.
    let second = seal(&relay, &alice_master, volume_id, 2, b"second");
    put_sealed(&alice, volume_id, &second).await.unwrap();
    let fenced = GrantRequest {
        key_epoch: 0,
        revision: 2,
        ..grant.clone()
    };
    for (refused, code) in [
        (&grant, ErrorCode::RevisionConflict),
        (&fenced, ErrorCode::EpochFenced),
    ] {
        let err = alice
            .put_grant(volume_id, bob_id, refused)
            .await
            .unwrap_err();
        assert!(matches!(err, RelayError::Conflict { .. }), "{err:?}");
        assert_eq!(err.code(), Some(code));
    }
    let current = GrantRequest {
        revision: 2,
        ..grant.clone()
    };
    alice.put_grant(volume_id, bob_id, &current).await.unwrap();

    // Revoked: the grant goes once, and the grantee no longer sees the volume.
    assert!(alice.delete_grant(volume_id, bob_id).await.unwrap());
    assert!(!alice.delete_grant(volume_id, bob_id).await.unwrap());
    assert!(alice.list_grants(volume_id).await.unwrap().is_empty());
    assert!(
        bob.get_volume_to_vec(volume_id, u64::MAX)
            .await
            .unwrap()
            .is_none()
    );
    assert!(bob.list_volumes().await.unwrap().is_empty());
}

/// A link token as a mail route.
fn link_route(token: &[u8; 32]) -> MailRoute {
    MailRoute::Link {
        token: LinkToken::from_bytes(*token),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_by_link_and_by_handle_is_listed_paged_and_deleted() {
    let Some((_nats, relay)) = sqlite_relay_or_skip(&[]).await else {
        return;
    };
    let (alice, _, _, alice_id) = registered(&relay, AccountKind::System).await;
    let (bob, _, _, bob_id) = registered(&relay, AccountKind::Friend).await;

    // Alice accepts mail under a token she registered (by its hash only).
    let token = generate_link_token().unwrap();
    let hash = link_token_hash(token.expose());
    alice.add_link(hash).await.unwrap();
    alice.add_link(hash).await.unwrap();
    bob.post_mail(alice_id, b"by link".to_vec(), link_route(token.expose()))
        .await
        .unwrap();
    // An unregistered token is refused, and so is an unknown recipient.
    let err = bob
        .post_mail(alice_id, b"forged".to_vec(), link_route(&[3; 32]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err:?}");
    assert!(matches!(err, RelayError::Rejected { status: 403, .. }));
    let err = bob
        .post_mail(
            Uuid::new_v4(),
            b"nobody".to_vec(),
            link_route(token.expose()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RelayError::NotFound { .. }), "{err:?}");

    // Requests by handle: accepted by default, refused once switched off.
    alice
        .set_handle(&Handle::parse("alice-mail").unwrap())
        .await
        .unwrap();
    assert_eq!(
        alice.mail_settings().await.unwrap(),
        MailSettings {
            handle_requests: true
        }
    );
    bob.post_mail(alice_id, b"by handle".to_vec(), MailRoute::Handle {})
        .await
        .unwrap();
    alice
        .set_mail_settings(MailSettings {
            handle_requests: false,
        })
        .await
        .unwrap();
    assert!(!alice.mail_settings().await.unwrap().handle_requests);
    let err = bob
        .post_mail(alice_id, b"refused".to_vec(), MailRoute::Handle {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err:?}");

    // The mailbox lists both, oldest first, with sender and route.
    let mail = alice.list_mail(None, None).await.unwrap();
    assert_eq!(mail.len(), 2);
    assert!(mail[0].seq < mail[1].seq);
    assert_eq!(
        (
            mail[0].sender_id,
            mail[0].source,
            mail[0].envelope.as_bytes()
        ),
        (bob_id, MailSource::Link, &b"by link"[..])
    );
    assert_eq!(
        (
            mail[1].sender_id,
            mail[1].source,
            mail[1].envelope.as_bytes()
        ),
        (bob_id, MailSource::Handle, &b"by handle"[..])
    );
    assert!(bob.list_mail(None, None).await.unwrap().is_empty());
    let after_first = alice.list_mail(Some(mail[0].seq), None).await.unwrap();
    assert_eq!(after_first, mail[1..]);
    assert_eq!(alice.list_mail(None, Some(1)).await.unwrap(), mail[..1]);

    // More mail than one page holds (the relay lists at most 100 at a time): all_mail reads
    // page after page from a cursor.
    for i in 0..105u8 {
        bob.post_mail(alice_id, vec![i; 10], link_route(token.expose()))
            .await
            .unwrap();
    }
    let all = alice.all_mail(None).await.unwrap();
    assert_eq!(all.len(), 107);
    assert_eq!(alice.list_mail(None, None).await.unwrap().len(), 100);
    assert_eq!(all[..2], mail[..]);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let rest = alice.all_mail(Some(all[4].seq)).await.unwrap();
    assert_eq!(rest, all[5..]);

    // Deleting: once, then false; others cannot delete alice's mail.
    assert!(!bob.delete_mail(all[0].seq).await.unwrap());
    assert!(alice.delete_mail(all[0].seq).await.unwrap());
    assert!(!alice.delete_mail(all[0].seq).await.unwrap());
    assert_eq!(alice.all_mail(None).await.unwrap(), all[1..]);

    // A dropped link stops the mail it carried.
    assert!(alice.delete_link(hash).await.unwrap());
    assert!(!alice.delete_link(hash).await.unwrap());
    let err = bob
        .post_mail(
            alice_id,
            b"after unlink".to_vec(),
            link_route(token.expose()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err:?}");
}

/// The next item of `stream`, failing the test after 10 s.
async fn next_item(stream: &mut EventStream) -> Option<Result<EventItem, RelayError>> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an item within 10 s")
}

/// The next item, which must be an event.
async fn next_event(stream: &mut EventStream) -> Event {
    match next_item(stream).await {
        Some(Ok(EventItem::Event(event))) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_report_mail_grants_and_end_with_the_session() {
    let Some((_nats, relay)) = sqlite_relay_or_skip(&[("events.keep_alive_secs", "1")]).await
    else {
        return;
    };
    let (alice, alice_master, _, alice_id) = registered(&relay, AccountKind::System).await;
    let (bob, _, _, bob_id) = registered(&relay, AccountKind::Friend).await;

    // Subscribed once `: ready` arrives: nothing published after it is missed.
    let mut events = bob.events().await.unwrap();
    assert!(matches!(
        next_item(&mut events).await,
        Some(Ok(EventItem::Ready))
    ));

    let token = generate_link_token().unwrap();
    bob.add_link(link_token_hash(token.expose())).await.unwrap();
    alice
        .post_mail(bob_id, b"hello bob".to_vec(), link_route(token.expose()))
        .await
        .unwrap();
    let seq = bob.list_mail(None, None).await.unwrap()[0].seq;
    // Keep-alive comments (one a second here) never show up as items.
    assert_eq!(
        next_event(&mut events).await,
        Event::NewMail(NewMail { seq })
    );

    // A grant tells the grantee the volume is readable; a revocation that it is not.
    let volume_id = Uuid::new_v4();
    let sealed = seal(&relay, &alice_master, volume_id, 1, b"shared with bob");
    put_sealed(&alice, volume_id, &sealed).await.unwrap();
    let grant = GrantRequest {
        key_epoch: 1,
        key_block: B64Bytes::new(vec![1; KEY_BLOCK_LEN]),
        revision: 1,
        tag: Bytes32::new([2; 32]),
    };
    alice.put_grant(volume_id, bob_id, &grant).await.unwrap();
    assert_eq!(
        next_event(&mut events).await,
        Event::VolumeUpdated(VolumeUpdated {
            volume_id,
            owner_id: alice_id,
            revision: 1,
            key_epoch: 1,
        })
    );
    assert!(alice.delete_grant(volume_id, bob_id).await.unwrap());
    assert_eq!(
        next_event(&mut events).await,
        Event::GrantRevoked(GrantRevoked {
            volume_id,
            owner_id: alice_id,
        })
    );

    // A second stream of the same account gets the same events.
    let mut second = bob.events().await.unwrap();
    assert!(matches!(
        next_item(&mut second).await,
        Some(Ok(EventItem::Ready))
    ));
    alice
        .post_mail(bob_id, b"again".to_vec(), link_route(token.expose()))
        .await
        .unwrap();
    let first_event = next_event(&mut events).await;
    assert_eq!(next_event(&mut second).await, first_event);
    assert!(matches!(first_event, Event::NewMail(NewMail { seq: next }) if next > seq));

    // Logging out ends the streams (at the relay's next keep-alive) without an error, and
    // without a session no new stream opens.
    bob.logout().await.unwrap();
    for stream in [&mut events, &mut second] {
        match next_item(stream).await {
            None => {}
            other => panic!("expected the end of the stream, got {other:?}"),
        }
        assert!(next_item(stream).await.is_none());
    }
    let err = bob.events().await.unwrap_err();
    assert!(matches!(err, RelayError::NoSession { .. }), "{err:?}");
}
