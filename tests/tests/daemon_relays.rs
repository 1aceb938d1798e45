//! The daemon's Relays interface against a real relay (real `nats-server`, SQLite, HTTPS with
//! the relay's generated self-signed certificate), driven through the `plog-ipc-schema`
//! proxies on a private session bus exactly as the CLI drives it: probing, pinning, adding,
//! registering, adopting the account of a restored identity, handles, deleting the account,
//! re-pinning and moving.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use plog_crypto::master::MasterSecret;
use plog_daemon::daemon::{Logind, RunningDaemon, StartOptions, start};
use plog_daemon::paths::Paths;
use plog_daemon::relay_client::{CertPin, RelayClient};
use plog_ipc_schema::dbus::relays::{RelayEntry, RelayProbe};
use plog_ipc_schema::dbus::{DaemonError, IdentityProxy, RelaysProxy};
use plog_ipc_schema::handle::Handle;
use plog_ipc_schema::http::accounts::AccountKind;
use plog_tests::nats::NatsServer;
use plog_tests::relay::{Database, RelayOptions, TestRelay};
use plog_tests::session_bus::SessionBus;
use tempfile::TempDir;
use zbus::Fd;

/// Low Argon2 costs and no scheduled sync: these tests are about the relay methods.
const CONFIG: &str = "[kdf]\nmemory_kib = 1024\ntime_cost = 1\nparallelism = 1\n\n\
                      [sync]\ninterval = \"0\"\n";

/// One installation: its own home, its own bus, the daemon library serving on it.
struct Daemon {
    running: RunningDaemon,
    connection: zbus::Connection,
    _bus: SessionBus,
    _home: TempDir,
}

impl Daemon {
    /// Starts a daemon with an empty home, or `None` (skip) without `dbus-daemon`.
    async fn start() -> Option<Self> {
        let bus = match SessionBus::start() {
            Ok(bus) => bus,
            Err(skipped) => {
                eprintln!("{skipped}");
                return None;
            }
        };
        let home = tempfile::tempdir().expect("home");
        let paths = Paths::under(home.path());
        std::fs::create_dir_all(paths.config_dir()).expect("config dir");
        std::fs::write(&paths.config_file, CONFIG).expect("config");
        let running = start(
            StartOptions::new(paths)
                .with_bus_address(bus.address())
                .with_logind(Logind::Off),
        )
        .await
        .expect("daemon starts");
        let connection = bus.connect().await;
        Some(Self {
            running,
            connection,
            _bus: bus,
            _home: home,
        })
    }

    async fn identity(&self) -> IdentityProxy<'static> {
        IdentityProxy::new(&self.connection).await.expect("proxy")
    }

    async fn relays(&self) -> RelaysProxy<'static> {
        RelaysProxy::new(&self.connection).await.expect("proxy")
    }

    /// `plog init`: returns the recovery phrase.
    async fn init(&self) -> String {
        let (phrase_out, phrase) = output();
        self.identity()
            .await
            .init(input(b"first passphrase"), phrase_out)
            .await
            .expect("init");
        String::from_utf8(phrase.join().expect("phrase")).expect("utf8")
    }

    async fn list(&self) -> Vec<RelayEntry> {
        let json = self.relays().await.list().await.expect("list");
        serde_json::from_str(&json).expect("entries")
    }

    async fn stop(self) {
        self.running.shutdown().await;
    }
}

/// The read end of a pipe that holds `bytes` and then ends.
fn input(bytes: &[u8]) -> Fd<'static> {
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut writer = File::from(OwnedFd::from(writer));
    writer.write_all(bytes).expect("fill pipe");
    drop(writer);
    Fd::from(OwnedFd::from(reader))
}

/// The write end of a pipe, and a thread collecting what the daemon writes to it.
fn output() -> (Fd<'static>, std::thread::JoinHandle<Vec<u8>>) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    let collector = std::thread::spawn(move || {
        let mut out = Vec::new();
        File::from(OwnedFd::from(reader))
            .read_to_end(&mut out)
            .expect("read pipe");
        out
    });
    (Fd::from(OwnedFd::from(writer)), collector)
}

fn entry(json: &str) -> RelayEntry {
    serde_json::from_str(json).expect("RelayEntry")
}

fn handle(text: &str) -> Handle {
    Handle::parse(text).expect("handle")
}

fn relay_pin(relay: &TestRelay) -> CertPin {
    CertPin::parse(&relay.started.pin).expect("pin")
}

/// A client logged in to an account of its own at `relay`, to look at handles from outside.
async fn observer(relay: &TestRelay, own_handle: Option<&Handle>) -> RelayClient {
    let client = RelayClient::new(&relay.base_url, relay_pin(relay)).expect("client");
    let identity = MasterSecret::generate()
        .expect("master")
        .relay_identity(&relay.started.public_origin, 0)
        .expect("identity");
    client
        .register(&identity, AccountKind::Friend, own_handle)
        .await
        .expect("observer registers");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_register_adopt_handles_and_delete_through_the_daemon() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let Some(first) = Daemon::start().await else {
        return;
    };
    let relay = TestRelay::start(RelayOptions::new(nats.url(), Database::Sqlite)).await;
    let pin = relay_pin(&relay);
    let origin = relay.started.public_origin.clone();
    let relays = first.relays().await;

    // Adding and registering need an identity.
    assert!(matches!(
        relays.add(&relay.base_url, &pin.to_string()).await,
        Err(DaemonError::NotInitialized(_))
    ));
    let phrase = first.init().await;

    // First contact: the probe shows the relay's own pin; nothing is pinned yet.
    let probe: RelayProbe =
        serde_json::from_str(&relays.probe(&relay.base_url).await.expect("probe")).expect("json");
    assert_eq!(probe.origin, origin);
    assert_eq!(probe.pin, pin);
    assert_eq!(probe.pinned, None);
    assert!(!probe.ca_verified);
    let relay_name = probe.info.expect("relay info").name;

    // A wrong pin is refused, naming both values, and nothing is stored.
    let wrong = CertPin::from_digest([0x11; 32]);
    match relays.add(&relay.base_url, &wrong.to_string()).await {
        Err(DaemonError::PinMismatch(message)) => {
            assert!(message.contains(&wrong.to_string()), "{message}");
            assert!(message.contains(&pin.to_string()), "{message}");
        }
        other => panic!("expected PinMismatch, got {other:?}"),
    }
    assert!(first.list().await.is_empty());

    // The right pin adds the relay; a new identity has no account there yet.
    let added = entry(
        &relays
            .add(&format!("{}/", relay.base_url), &pin.to_string())
            .await
            .expect("add"),
    );
    assert_eq!(added.id, origin, "the origin is normalised");
    assert_eq!(added.identity_origin, origin);
    assert_eq!(added.pin, pin);
    assert_eq!(added.name.as_deref(), Some(relay_name.as_str()));
    assert_eq!(added.account, None);
    assert_eq!(first.list().await, std::slice::from_ref(&added));
    assert!(matches!(
        relays.add(&relay.base_url, &pin.to_string()).await,
        Err(DaemonError::Conflict(_))
    ));
    let probe: RelayProbe =
        serde_json::from_str(&relays.probe(&relay.base_url).await.expect("probe")).expect("json");
    assert_eq!(probe.pinned, Some(pin), "the probe shows the stored pin");

    // Register a system with a handle; the relay agrees on who holds it.
    let registered = entry(
        &relays
            .register("", "system", "Crew")
            .await
            .expect("register"),
    );
    let account = registered.account.clone().expect("account stored");
    assert_eq!(account.kind, AccountKind::System);
    assert_eq!(account.handle, Some(handle("crew")));
    assert_eq!(first.list().await, std::slice::from_ref(&registered));
    let outsider = observer(&relay, Some(&handle("taken"))).await;
    let holder = outsider
        .lookup_handle(&handle("crew"))
        .await
        .expect("lookup")
        .expect("crew is held");
    assert_eq!(holder.user_id, account.user_id);
    match relays.register("", "system", "").await {
        Err(DaemonError::Conflict(message)) => {
            assert!(message.contains(&account.user_id.to_string()), "{message}");
        }
        other => panic!("a second registration is a conflict: {other:?}"),
    }

    // A second installation restored from the same phrase adds the relay and adopts the same
    // account, without registering.
    let Some(second) = Daemon::start().await else {
        return;
    };
    second
        .identity()
        .await
        .restore(input(phrase.as_bytes()), input(b"second passphrase"))
        .await
        .expect("restore");
    let relays2 = second.relays().await;
    let adopted = entry(
        &relays2
            .add(&relay.base_url, &pin.to_string())
            .await
            .expect("add on the restored installation"),
    );
    let adopted_account = adopted.account.clone().expect("the account is adopted");
    assert_eq!(adopted_account.user_id, account.user_id, "same account");
    assert_eq!(adopted_account.kind, AccountKind::System);
    assert!(matches!(
        relays2.register("", "system", "").await,
        Err(DaemonError::Conflict(_))
    ));

    // Handles: taken, set, released.
    match relays2.set_handle("", "Taken").await {
        Err(DaemonError::Conflict(message)) => {
            assert!(message.contains("handle taken is taken"), "{message}");
        }
        other => panic!("a taken handle is a conflict: {other:?}"),
    }
    assert!(matches!(
        relays2.set_handle("", "9lives").await,
        Err(DaemonError::InvalidArgument(_))
    ));
    let renamed = entry(&relays2.set_handle("", "crew2").await.expect("set handle"));
    assert_eq!(
        renamed.account.as_ref().and_then(|a| a.handle.clone()),
        Some(handle("crew2"))
    );
    assert_eq!(
        outsider
            .lookup_handle(&handle("crew2"))
            .await
            .expect("lookup")
            .map(|h| h.user_id),
        Some(account.user_id)
    );
    assert_eq!(
        outsider
            .lookup_handle(&handle("crew"))
            .await
            .expect("lookup"),
        None,
        "the old handle is free"
    );
    let released = entry(&relays2.release_handle("").await.expect("release"));
    let released_account = released.account.expect("account stays");
    assert_eq!(released_account.user_id, account.user_id);
    assert_eq!(released_account.handle, None);
    assert_eq!(
        outsider
            .lookup_handle(&handle("crew2"))
            .await
            .expect("lookup"),
        None
    );

    // Deleting the account: gone at the relay, forgotten locally, the relay stays configured.
    let deleted = entry(&relays2.delete_account("").await.expect("delete account"));
    assert_eq!(deleted.id, origin);
    assert_eq!(deleted.account, None);
    assert_eq!(second.list().await, std::slice::from_ref(&deleted));
    let identity = MasterSecret::from_recovery_phrase(&phrase)
        .expect("phrase")
        .relay_identity(&origin, 0)
        .expect("identity");
    let prober = RelayClient::new(&relay.base_url, pin).expect("client");
    assert!(
        prober.find_account(&identity).await.expect("ask").is_none(),
        "the relay has no account for the key any more"
    );
    assert!(matches!(
        relays2.delete_account("").await,
        Err(DaemonError::NotFound(_))
    ));

    // The first installation still remembers the deleted account; it forgets the relay and
    // adds it again: there is nothing to adopt now.
    relays.remove("").await.expect("remove");
    let readded = entry(
        &relays
            .add(&relay.base_url, &pin.to_string())
            .await
            .expect("add again"),
    );
    assert_eq!(readded.account, None);

    // Registering again on the second installation starts a new account.
    let again = entry(
        &relays2
            .register("", "friend", "")
            .await
            .expect("register again"),
    );
    let new_account = again.account.expect("new account");
    assert_ne!(new_account.user_id, account.user_id);
    assert_eq!(new_account.kind, AccountKind::Friend);
    assert_eq!(new_account.handle, None);

    // Registering on the first installation now finds that account of the same key and adopts
    // it (with the kind asked for), then takes the handle asked for.
    let joined = entry(
        &relays
            .register("", "system", "crew3")
            .await
            .expect("register adopts"),
    );
    let joined_account = joined.account.expect("adopted account");
    assert_eq!(joined_account.user_id, new_account.user_id);
    assert_eq!(joined_account.kind, AccountKind::System);
    assert_eq!(joined_account.handle, Some(handle("crew3")));
    assert_eq!(
        outsider
            .lookup_handle(&handle("crew3"))
            .await
            .expect("lookup")
            .map(|h| h.user_id),
        Some(new_account.user_id)
    );

    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_and_move_check_what_the_relay_presents() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let Some(daemon) = Daemon::start().await else {
        return;
    };
    let relay = TestRelay::start(RelayOptions::new(nats.url(), Database::Sqlite)).await;
    let other = TestRelay::start(RelayOptions::new(nats.url(), Database::Sqlite)).await;
    let pin = relay_pin(&relay);
    let other_pin = relay_pin(&other);
    assert_ne!(pin, other_pin);
    let origin = relay.started.public_origin.clone();
    let relays = daemon.relays().await;
    daemon.init().await;
    let added = entry(
        &relays
            .add(&relay.base_url, &pin.to_string())
            .await
            .expect("add"),
    );
    let registered = entry(&relays.register("", "system", "").await.expect("register"));
    let user_id = registered.account.expect("account").user_id;

    // Trust re-pins only to what the relay presents.
    match relays.trust(&origin, &other_pin.to_string()).await {
        Err(DaemonError::PinMismatch(message)) => {
            assert!(message.contains(&other_pin.to_string()), "{message}");
            assert!(message.contains(&pin.to_string()), "{message}");
        }
        other => panic!("expected PinMismatch, got {other:?}"),
    }
    assert_eq!(daemon.list().await[0].pin, pin, "the stored pin stays");
    let trusted = entry(
        &relays
            .trust(&format!("{origin}/"), &pin.to_string())
            .await
            .expect("trust"),
    );
    assert_eq!(trusted.pin, pin);

    // Move: another key at the new origin is refused; the new origin of the same relay is
    // taken, and the identity origin (so the key and the account) stays.
    match relays.move_relay("", &other.base_url).await {
        Err(DaemonError::PinMismatch(message)) => {
            assert!(message.contains(&other_pin.to_string()), "{message}");
            assert!(message.contains(&pin.to_string()), "{message}");
        }
        other => panic!("expected PinMismatch, got {other:?}"),
    }
    assert!(matches!(
        relays.move_relay("", &origin).await,
        Err(DaemonError::InvalidArgument(_))
    ));
    let alias = format!("https://localhost:{}", relay.started.listen.port());
    let moved = entry(&relays.move_relay(&origin, &alias).await.expect("move"));
    assert_eq!(moved.id, alias);
    assert_eq!(moved.identity_origin, added.identity_origin);
    assert_eq!(moved.pin, pin);
    assert_eq!(moved.account.map(|a| a.user_id), Some(user_id));
    assert_eq!(daemon.list().await.len(), 1);
    assert!(matches!(
        relays.trust(&origin, &pin.to_string()).await,
        Err(DaemonError::NotFound(_))
    ));

    // Adding the old origin again would give a second relay the same key: refused.
    match relays.add(&origin, &pin.to_string()).await {
        Err(DaemonError::Conflict(message)) => {
            assert!(message.contains("same key"), "{message}");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }

    // Moving back home works the same way.
    let home = entry(&relays.move_relay("", &origin).await.expect("move back"));
    assert_eq!(home.id, origin);
    assert_eq!(home.identity_origin, origin);

    daemon.stop().await;
}

#[tokio::test]
async fn removing_a_relay_ends_the_session_there() {
    let Some(nats) = NatsServer::start_or_skip().await else {
        return;
    };
    let Some(daemon) = Daemon::start().await else {
        return;
    };
    let relay = TestRelay::start(RelayOptions::new(nats.url(), Database::Sqlite)).await;
    let pin = relay_pin(&relay);
    daemon.init().await;
    let relays = daemon.relays().await;
    relays
        .add(&relay.base_url, &pin.to_string())
        .await
        .expect("add");
    relays.register("", "system", "").await.expect("register");

    // The relay's own view of its sessions: the registration logged the daemon in.
    let auth = plog_relay::config::AuthConfig::default();
    let broker = plog_relay::broker::Broker::connect(
        &plog_relay::broker::NatsSettings::with_url(nats.url()),
        std::time::Duration::from_secs(auth.challenge_ttl_secs),
        std::time::Duration::from_secs(auth.session_ttl_secs),
    )
    .await
    .expect("broker");
    assert_eq!(broker.session_count().await.expect("count"), 1);

    relays.remove("").await.expect("remove");
    assert!(daemon.list().await.is_empty());
    assert_eq!(
        broker.session_count().await.expect("count"),
        0,
        "removing the relay logged the daemon out there"
    );
    daemon.stop().await;
}
