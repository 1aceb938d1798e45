//! Locking on suspend and screen lock, with a fake logind on a private bus standing in for the
//! system bus.

mod common;

use std::sync::Arc;
use std::time::Duration;

use plog_crypto::keyfile::KdfParams;
use plog_daemon::config::Config;
use plog_daemon::custody::{Custody, LockEvent, LockReason, logind};
use tokio::sync::{broadcast, watch};
use zbus::object_server::SignalEmitter;
use zeroize::Zeroizing;

use common::PrivateBus;

struct Manager;

#[zbus::interface(name = "org.freedesktop.login1.Manager")]
impl Manager {
    #[zbus(signal)]
    async fn prepare_for_sleep(emitter: &SignalEmitter<'_>, start: bool) -> zbus::Result<()>;
}

struct Session {
    uid: u32,
}

#[zbus::interface(name = "org.freedesktop.login1.Session")]
impl Session {
    #[zbus(property)]
    fn user(&self) -> (u32, zbus::OwnedObjectPath) {
        (
            self.uid,
            zbus::OwnedObjectPath::try_from("/org/freedesktop/login1/user/_1").expect("path"),
        )
    }

    #[zbus(signal)]
    async fn lock(emitter: &SignalEmitter<'_>) -> zbus::Result<()>;
}

const MANAGER: &str = "/org/freedesktop/login1";
const MINE: &str = "/org/freedesktop/login1/session/_31";
const OTHERS: &str = "/org/freedesktop/login1/session/_32";
const UID: u32 = 4242;

/// Emits with `emit` until `custody` reports a lock (the watcher subscribes asynchronously
/// and there is no signal telling when it has), or gives up.
async fn emit_until_locked<F, Fut>(
    events: &mut broadcast::Receiver<LockEvent>,
    emit: F,
) -> LockEvent
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..100 {
        emit().await;
        if let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(100), events.recv()).await
        {
            return event;
        }
    }
    panic!("the daemon never locked");
}

async fn unlocked_custody(dir: &tempfile::TempDir) -> Arc<Custody> {
    let custody = Arc::new(Custody::new(dir.path().join("identity.key")));
    custody
        .init(
            Zeroizing::new(b"pw".to_vec()),
            KdfParams::INSECURE_FOR_TESTS,
        )
        .await
        .expect("init");
    custody
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_and_screen_lock_lock_the_daemon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = PrivateBus::start(dir.path());
    let logind_conn = zbus::connection::Builder::address(bus.address())
        .name("org.freedesktop.login1")
        .serve_at(MANAGER, Manager)
        .serve_at(MINE, Session { uid: UID })
        .serve_at(OTHERS, Session { uid: UID + 1 })
        .build()
        .await
        .expect("fake logind");
    let custody = unlocked_custody(&dir).await;
    let (_config_tx, config) = watch::channel(Arc::new(Config::default()));
    let watcher = tokio::spawn(logind::watch(
        bus.connect().await,
        Arc::clone(&custody),
        config,
        UID,
    ));
    let mut events = custody.subscribe();

    let emitter = SignalEmitter::new(&logind_conn, MANAGER).expect("emitter");
    let event = emit_until_locked(&mut events, || async {
        Manager::prepare_for_sleep(&emitter, true)
            .await
            .expect("emit");
    })
    .await;
    assert_eq!(event, LockEvent::Locked(LockReason::Suspend));

    custody
        .unlock(Zeroizing::new(b"pw".to_vec()))
        .await
        .expect("unlock");
    assert_eq!(events.recv().await.expect("event"), LockEvent::Unlocked);
    // Only sessions of our uid count.
    let client = bus.connect().await;
    let path = |p: &str| zbus::OwnedObjectPath::try_from(p).expect("path");
    assert!(logind::session_belongs_to(&client, path(MINE), UID).await);
    assert!(!logind::session_belongs_to(&client, path(OTHERS), UID).await);
    assert!(!logind::session_belongs_to(&client, path("/nowhere"), UID).await);
    let mine = SignalEmitter::new(&logind_conn, MINE).expect("emitter");
    let event = emit_until_locked(&mut events, || async {
        Session::lock(&mine).await.expect("emit");
    })
    .await;
    assert_eq!(event, LockEvent::Locked(LockReason::ScreenLock));
    watcher.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_can_turn_suspend_locking_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = PrivateBus::start(dir.path());
    let logind_conn = zbus::connection::Builder::address(bus.address())
        .name("org.freedesktop.login1")
        .serve_at(MANAGER, Manager)
        .serve_at(MINE, Session { uid: UID })
        .build()
        .await
        .expect("fake logind");
    let custody = unlocked_custody(&dir).await;
    let mut config = Config::default();
    config.lock.lock_on_suspend = false;
    let (_config_tx, config) = watch::channel(Arc::new(config));
    let watcher = tokio::spawn(logind::watch(
        bus.connect().await,
        Arc::clone(&custody),
        config,
        UID,
    ));
    let mut events = custody.subscribe();
    let manager = SignalEmitter::new(&logind_conn, MANAGER).expect("emitter");
    let mine = SignalEmitter::new(&logind_conn, MINE).expect("emitter");
    // Suspend signals are ignored; the screen lock (still on) proves the watcher was
    // listening all along, and its lock is the first event.
    let event = emit_until_locked(&mut events, || async {
        Manager::prepare_for_sleep(&manager, true)
            .await
            .expect("emit");
        Session::lock(&mine).await.expect("emit");
    })
    .await;
    assert_eq!(event, LockEvent::Locked(LockReason::ScreenLock));
    watcher.abort();
}
