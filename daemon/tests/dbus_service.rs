//! The daemon's D-Bus service on a private `dbus-daemon`, driven through the proxies of
//! `plog-ipc-schema` exactly as the CLI drives it.

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::time::Duration;

use futures_util::StreamExt;
use plog_daemon::daemon::{Logind, StartOptions, start};
use plog_daemon::paths::Paths;
use plog_daemon::store::{NewRelay, RelayUpdate};
use plog_ipc_schema::CertPin;
use plog_ipc_schema::dbus::identity::StatusReport;
use plog_ipc_schema::dbus::relays::RelayAccount;
use plog_ipc_schema::dbus::sync::SyncReport;
use plog_ipc_schema::dbus::volumes::{LocalVolume, SyncState};
use plog_ipc_schema::dbus::{
    BUS_NAME, DaemonError, FriendsProxy, IdentityProxy, OBJECT_PATH, RelaysProxy, SharingProxy,
    SyncProxy, VolumesProxy, interfaces,
};
use plog_ipc_schema::http::accounts::AccountKind;
use zbus::Fd;

use common::PrivateBus;

const WAIT: Duration = Duration::from_secs(30);

/// Low Argon2 costs: this test is about the service, not the KDF.
const CONFIG: &str = "[kdf]\nmemory_kib = 1024\ntime_cost = 1\nparallelism = 1\n";

fn paths_in(dir: &std::path::Path) -> Paths {
    let paths = Paths::under(dir);
    std::fs::create_dir_all(paths.config_dir()).expect("config dir");
    std::fs::write(&paths.config_file, CONFIG).expect("config");
    paths
}

/// An `https://` origin on the loopback interface where nothing listens: connecting fails at
/// once, without any name lookup.
fn closed_origin() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("address")
        .port();
    format!("https://127.0.0.1:{port}")
}

/// The read end of a pipe that holds `bytes` and then ends.
fn input(bytes: &[u8]) -> Fd<'static> {
    let (reader, writer) = std::io::pipe().expect("pipe");
    let mut writer = File::from(OwnedFd::from(writer));
    writer.write_all(bytes).expect("fill pipe");
    drop(writer);
    Fd::from(OwnedFd::from(reader))
}

/// The read end of a pipe fed by a thread (for inputs larger than a pipe buffer).
fn streamed_input(bytes: Vec<u8>) -> Fd<'static> {
    let (reader, writer) = std::io::pipe().expect("pipe");
    std::thread::spawn(move || {
        let _ = File::from(OwnedFd::from(writer)).write_all(&bytes);
    });
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

fn method_section<'a>(xml: &'a str, interface: &str) -> &'a str {
    let start = xml
        .find(&format!("<interface name=\"{interface}\">"))
        .unwrap_or_else(|| panic!("interface {interface} is served"));
    let rest = &xml[start..];
    &rest[..rest.find("</interface>").expect("interface end")]
}

/// Every method and signal of the ipc-schema proxies, with the D-Bus signature of its
/// arguments (in, out).
/// A method: name, input signature, output signature.
type Method = (&'static str, &'static str, &'static str);
/// A signal: name, signature.
type Signal = (&'static str, &'static str);

const EXPECTED: &[(&str, &[Method], &[Signal])] = &[
    (
        interfaces::IDENTITY,
        &[
            ("Init", "hh", ""),
            ("Unlock", "h", ""),
            ("Lock", "", ""),
            ("Status", "", "s"),
            ("Restore", "hh", ""),
            ("Export", "hh", ""),
            ("Import", "hh", ""),
        ],
        &[("LockStateChanged", "b")],
    ),
    (
        interfaces::RELAYS,
        &[
            ("Probe", "s", "s"),
            ("Add", "ss", "s"),
            ("List", "", "s"),
            ("Remove", "s", ""),
            ("Trust", "ss", "s"),
            ("Move", "ss", "s"),
            ("Register", "sss", "s"),
            ("SetHandle", "ss", "s"),
            ("ReleaseHandle", "s", "s"),
            ("DeleteAccount", "s", "s"),
        ],
        &[],
    ),
    (
        interfaces::VOLUMES,
        &[
            ("Put", "sh", "s"),
            ("Get", "sh", ""),
            ("List", "", "s"),
            ("Remove", "s", ""),
        ],
        &[],
    ),
    (
        interfaces::SYNC,
        &[("SyncNow", "", "s")],
        &[("SyncProgress", "stt"), ("SyncFinished", "bs")],
    ),
    (
        interfaces::FRIENDS,
        &[
            ("Invite", "suth", "s"),
            ("Invites", "", "s"),
            ("RevokeInvite", "s", ""),
            ("SetHandleRequests", "sb", ""),
            ("Request", "h", "s"),
            ("RequestByHandle", "ss", "s"),
            ("Requests", "", "s"),
            ("Approve", "s", "s"),
            ("Deny", "s", ""),
            ("List", "", "s"),
            ("Verify", "s", "s"),
            ("ConfirmVerified", "ss", "s"),
            ("Rename", "ss", "s"),
            ("Remove", "s", ""),
        ],
        &[
            ("FriendRequestReceived", "ss"),
            ("ShareReceived", "sss"),
            ("AccessRevoked", "sss"),
        ],
    ),
    (
        interfaces::SHARING,
        &[
            ("Grant", "sasb", "s"),
            ("Revoke", "sas", "s"),
            ("List", "", "s"),
            ("Incoming", "s", "s"),
            ("View", "ssh", "s"),
        ],
        &[],
    ),
];

/// The `type` attributes of the `direction` arguments of one member, concatenated.
fn signature_of(member_xml: &str, direction: Option<&str>) -> String {
    let mut signature = String::new();
    for arg in member_xml.split("<arg ").skip(1) {
        let arg = &arg[..arg.find('>').unwrap_or(arg.len())];
        let attr = |name: &str| {
            arg.find(&format!("{name}=\""))
                .map(|i| &arg[i + name.len() + 2..])
                .and_then(|rest| rest.split('"').next())
        };
        let is_match = match direction {
            Some(direction) => attr("direction").unwrap_or("in") == direction,
            None => true,
        };
        if is_match {
            signature.push_str(attr("type").expect("arg type"));
        }
    }
    signature
}

fn member<'a>(section: &'a str, kind: &str, name: &str) -> &'a str {
    let open = format!("<{kind} name=\"{name}\"");
    let start = section
        .find(&open)
        .unwrap_or_else(|| panic!("{kind} {name} is served"));
    let rest = &section[start..];
    let end = rest
        .find(&format!("</{kind}>"))
        .or_else(|| rest.find("/>"))
        .expect("member end");
    &rest[..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_object_matches_the_proxies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = PrivateBus::start(dir.path());
    let running = start(
        StartOptions::new(paths_in(&dir.path().join("home")))
            .with_bus_address(bus.address())
            .with_logind(Logind::Off),
    )
    .await
    .expect("daemon starts");
    let client = bus.connect().await;

    let xml = zbus::fdo::IntrospectableProxy::builder(&client)
        .destination(BUS_NAME)
        .path(OBJECT_PATH)
        .build()
        .await
        .expect("proxy")
        .introspect()
        .await
        .expect("introspect");
    for (interface, methods, signals) in EXPECTED {
        let section = method_section(&xml, interface);
        assert_eq!(
            section.matches("<method ").count(),
            methods.len(),
            "{interface}: no extra methods"
        );
        for (name, inputs, outputs) in *methods {
            let xml = member(section, "method", name);
            assert_eq!(
                &signature_of(xml, Some("in")),
                inputs,
                "{interface}.{name} in"
            );
            assert_eq!(
                &signature_of(xml, Some("out")),
                outputs,
                "{interface}.{name} out"
            );
        }
        for (name, args) in *signals {
            let xml = member(section, "signal", name);
            assert_eq!(&signature_of(xml, None), args, "{interface}.{name}");
        }
    }

    // Every proxy method reaches its implementation (a stub answers with a daemon error, an
    // unknown or mistyped method would be a D-Bus error).
    let friends = FriendsProxy::new(&client).await.expect("proxy");
    let sharing = SharingProxy::new(&client).await.expect("proxy");
    let relays = RelaysProxy::new(&client).await.expect("proxy");
    let (out, _) = output();
    let results: Vec<(&str, Result<(), DaemonError>)> = vec![
        ("Invite", friends.invite("", 1, 0, out).await.map(drop)),
        ("Request", friends.request(input(b"code")).await.map(drop)),
        (
            "RequestByHandle",
            friends.request_by_handle("", "bob").await.map(drop),
        ),
        ("Requests", friends.requests().await.map(drop)),
        ("Approve", friends.approve("x").await.map(drop)),
        ("Deny", friends.deny("x").await),
        ("Friends.List", friends.list().await.map(drop)),
        ("Verify", friends.verify("bob").await.map(drop)),
        (
            "ConfirmVerified",
            friends.confirm_verified("bob", "1").await.map(drop),
        ),
        ("Rename", friends.rename("bob", "b").await.map(drop)),
        ("Friends.Remove", friends.remove("bob").await),
        (
            "Grant",
            sharing.grant("bob", &["front"], false).await.map(drop),
        ),
        ("Revoke", sharing.revoke("bob", &[]).await.map(drop)),
        ("Sharing.List", sharing.list().await.map(drop)),
        ("Incoming", sharing.incoming("").await.map(drop)),
        (
            "View",
            sharing.view("bob", "front", output().0).await.map(drop),
        ),
        ("Invites", friends.invites().await.map(drop)),
        ("RevokeInvite", friends.revoke_invite("x").await),
        (
            "SetHandleRequests",
            friends.set_handle_requests("", false).await,
        ),
        ("Probe", relays.probe(&closed_origin()).await.map(drop)),
        ("Trust", relays.trust("", "sha256:00").await.map(drop)),
        ("Move", relays.move_relay("a", "b").await.map(drop)),
        (
            "Register",
            relays.register("", "system", "").await.map(drop),
        ),
    ];
    for (name, result) in results {
        match result {
            Err(DaemonError::ZBus(error)) => panic!("{name} did not reach the daemon: {error}"),
            Err(_) => {}
            Ok(()) => panic!("{name} cannot succeed yet"),
        }
    }

    // A second daemon on the same bus (other directories, so no instance lock) cannot take
    // the name.
    let other = start(
        StartOptions::new(paths_in(&dir.path().join("other")))
            .with_bus_address(bus.address())
            .with_logind(Logind::Off),
    )
    .await
    .expect_err("the name is taken");
    assert!(other.to_string().contains("already owns"), "{other}");

    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_lock_unlock_and_volumes_through_the_proxies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = PrivateBus::start(dir.path());
    let paths = paths_in(&dir.path().join("home"));
    let running = start(
        StartOptions::new(paths.clone())
            .with_bus_address(bus.address())
            .with_logind(Logind::Off),
    )
    .await
    .expect("daemon starts");
    let client = bus.connect().await;
    let identity = IdentityProxy::new(&client).await.expect("identity");
    let volumes = VolumesProxy::new(&client).await.expect("volumes");
    let relays = RelaysProxy::new(&client).await.expect("relays");
    let sync = SyncProxy::new(&client).await.expect("sync");
    let mut lock_signals = identity
        .receive_lock_state_changed()
        .await
        .expect("subscribe");

    let status: StatusReport =
        serde_json::from_str(&identity.status().await.expect("status")).expect("json");
    assert!(!status.initialized && status.locked);
    assert_eq!(status.auto_lock_secs, Some(900));
    assert!(matches!(
        volumes.list().await,
        Err(DaemonError::NotInitialized(_))
    ));

    // Init: the phrase comes out through the descriptor.
    let (phrase_out, phrase) = output();
    identity
        .init(input(b"correct horse\n"), phrase_out)
        .await
        .expect("init");
    let phrase = String::from_utf8(phrase.join().expect("phrase")).expect("utf8");
    assert!(phrase.ends_with('\n'));
    assert_eq!(phrase.trim_end().split(' ').count(), 24);
    let signal = tokio::time::timeout(WAIT, lock_signals.next())
        .await
        .expect("signal in time")
        .expect("signal");
    assert!(!signal.args().expect("args").locked);
    let (again_out, _) = output();
    assert!(matches!(
        identity.init(input(b"other"), again_out).await,
        Err(DaemonError::AlreadyInitialized(_))
    ));

    let status: StatusReport =
        serde_json::from_str(&identity.status().await.expect("status")).expect("json");
    assert!(status.initialized && !status.locked);
    assert_eq!(status.relays, 0);

    // Lock, then unlock with a wrong and a right passphrase.
    identity.lock().await.expect("lock");
    let signal = tokio::time::timeout(WAIT, lock_signals.next())
        .await
        .expect("signal in time")
        .expect("signal");
    assert!(signal.args().expect("args").locked);
    match volumes.list().await {
        Err(DaemonError::Locked(message)) => {
            assert_eq!(message, "the daemon is locked; run `plog unlock`");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(matches!(
        identity.unlock(input(b"wrong horse")).await,
        Err(DaemonError::WrongPassphrase(_))
    ));
    identity
        .unlock(input(b"correct horse"))
        .await
        .expect("unlock");

    // Export asks for the passphrase even though the daemon is unlocked.
    let (key_out, _) = output();
    assert!(matches!(
        identity.export(input(b"guess"), key_out).await,
        Err(DaemonError::WrongPassphrase(_))
    ));
    let (key_out, key_file) = output();
    identity
        .export(input(b"correct horse"), key_out)
        .await
        .expect("export");
    assert_eq!(
        key_file.join().expect("key file"),
        std::fs::read(paths.key_file()).expect("key file on disk")
    );

    // Volumes: byte-exact put/get, listing, removal.
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let listed: LocalVolume = serde_json::from_str(
        &volumes
            .put("journals", streamed_input(content.clone()))
            .await
            .expect("put"),
    )
    .expect("json");
    assert_eq!(listed.revision, 1);
    assert_eq!(listed.key_epoch, 1);
    assert_eq!(listed.size, content.len() as u64);
    assert_eq!(listed.sync, SyncState::Pending);
    let (out, got) = output();
    volumes.get("journals", out).await.expect("get");
    assert!(got.join().expect("output") == content, "byte-exact");

    volumes
        .put("front", input(b"\x00\xffbinary\r\n"))
        .await
        .expect("put front");
    let all: Vec<LocalVolume> =
        serde_json::from_str(&volumes.list().await.expect("list")).expect("json");
    let names: Vec<&str> = all.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["front", "journals"]);
    assert!(matches!(
        volumes.put("manifest", input(b"x")).await,
        Err(DaemonError::InvalidArgument(_))
    ));
    assert!(matches!(
        volumes.put("Not A Type", input(b"x")).await,
        Err(DaemonError::InvalidArgument(_))
    ));

    volumes.remove("journals").await.expect("rm");
    let all: Vec<LocalVolume> =
        serde_json::from_str(&volumes.list().await.expect("list")).expect("json");
    assert_eq!(all.len(), 1);
    let (out, _) = output();
    assert!(matches!(
        volumes.get("journals", out).await,
        Err(DaemonError::NotFound(_))
    ));
    let (out, got) = output();
    volumes.get("front", out).await.expect("get front");
    assert_eq!(got.join().expect("output"), b"\x00\xffbinary\r\n");

    // Relays and sync without any relay.
    assert_eq!(relays.list().await.expect("relays"), "[]");
    assert!(matches!(
        relays.remove("").await,
        Err(DaemonError::NotFound(_))
    ));
    match relays.add("https://relay.example", "sha256:nothex").await {
        Err(DaemonError::InvalidArgument(_)) => {}
        other => panic!("a bad pin is an invalid argument: {other:?}"),
    }
    let mut finished = sync.receive_sync_finished().await.expect("subscribe");
    let report: SyncReport =
        serde_json::from_str(&sync.sync_now().await.expect("sync")).expect("json");
    assert!(report.ok);
    let signal = tokio::time::timeout(WAIT, finished.next())
        .await
        .expect("signal in time")
        .expect("signal");
    assert!(signal.args().expect("args").ok);
    let status: StatusReport =
        serde_json::from_str(&identity.status().await.expect("status")).expect("json");
    assert!(status.last_sync_at.is_some());

    running.shutdown().await;
    assert!(
        IdentityProxy::new(&client)
            .await
            .expect("proxy")
            .status()
            .await
            .is_err(),
        "the name is released on shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_methods_refuse_bad_requests_before_the_network() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = PrivateBus::start(dir.path());
    let running = start(
        StartOptions::new(paths_in(&dir.path().join("home")))
            .with_bus_address(bus.address())
            .with_logind(Logind::Off),
    )
    .await
    .expect("daemon starts");
    let client = bus.connect().await;
    let identity = IdentityProxy::new(&client).await.expect("identity");
    let relays = RelaysProxy::new(&client).await.expect("relays");
    let pin = CertPin::from_digest([7; 32]).to_string();
    let closed = closed_origin();

    // Probing needs no identity; an unreachable relay is a network error.
    assert!(matches!(
        relays.probe(&closed).await,
        Err(DaemonError::Network(_))
    ));
    assert!(matches!(
        relays.probe("http://127.0.0.1:1").await,
        Err(DaemonError::InvalidArgument(_))
    ));
    // Adding adopts the account of the derived key, so it needs the identity.
    assert!(matches!(
        relays.add(&closed, &pin).await,
        Err(DaemonError::NotInitialized(_))
    ));
    let (phrase_out, _) = output();
    identity.init(input(b"pw"), phrase_out).await.expect("init");

    match relays.add("http://127.0.0.1:1", &pin).await {
        Err(DaemonError::InvalidArgument(message)) => {
            assert!(message.contains("https://"), "{message}");
        }
        other => panic!("plain http is refused: {other:?}"),
    }
    assert!(matches!(
        relays.add(&closed, &pin).await,
        Err(DaemonError::Network(_))
    ));
    assert_eq!(relays.list().await.expect("list"), "[]", "nothing stored");

    // Without a relay there is nothing to register at or to act on.
    for result in [
        relays.register("", "system", "").await,
        relays.set_handle("", "alice").await,
        relays.release_handle("").await,
        relays.delete_account("").await,
        relays.trust(&closed, &pin).await,
        relays.move_relay(&closed, "https://127.0.0.1:2").await,
    ] {
        match result {
            Err(DaemonError::NotFound(message)) => {
                assert!(message.contains("relay"), "{message}");
            }
            other => panic!("expected NotFound, got {other:?}"),
        }
    }
    assert!(matches!(
        relays.register("", "boss", "").await,
        Err(DaemonError::InvalidArgument(_))
    ));
    assert!(matches!(
        relays.register("", "system", "no spaces").await,
        Err(DaemonError::InvalidArgument(_))
    ));

    // Two relays stored directly (no relay needed for these checks), one with an account.
    let store = &running.state().store;
    let other = "https://127.0.0.1:2".to_owned();
    for origin in [&closed, &other] {
        store
            .add_relay(NewRelay {
                origin: origin.clone(),
                pin: CertPin::from_digest([7; 32]),
                name: None,
                account: None,
            })
            .await
            .expect("relay");
    }
    store
        .update_relay(
            &other,
            RelayUpdate {
                account: Some(Some(RelayAccount {
                    user_id: uuid::Uuid::from_u128(42),
                    kind: AccountKind::System,
                    handle: None,
                })),
                ..RelayUpdate::default()
            },
        )
        .await
        .expect("account");
    match relays.register("", "system", "").await {
        Err(DaemonError::InvalidArgument(message)) => {
            assert!(
                message.contains(&closed) && message.contains(&other),
                "{message}"
            );
        }
        other => panic!("\"\" with two relays is ambiguous: {other:?}"),
    }
    match relays.register(&format!("{other}/"), "system", "").await {
        Err(DaemonError::Conflict(message)) => {
            assert!(
                message.contains("00000000-0000-0000-0000-00000000002a"),
                "{message}"
            );
        }
        other => panic!("an installation registers once per relay: {other:?}"),
    }
    match relays.set_handle(&closed, "alice").await {
        Err(DaemonError::NotFound(message)) => {
            assert!(message.contains("plog register"), "{message}");
        }
        other => panic!("no account yet: {other:?}"),
    }
    assert!(matches!(
        relays.move_relay(&closed, &other).await,
        Err(DaemonError::Conflict(_))
    ));
    assert!(matches!(
        relays.move_relay(&closed, &format!("{closed}/")).await,
        Err(DaemonError::InvalidArgument(_))
    ));
    assert!(matches!(
        relays.add(&other, &pin).await,
        Err(DaemonError::Conflict(_))
    ));
    // A named relay is resolved, then the unreachable relay is reported as such.
    assert!(matches!(
        relays.trust(&format!("{closed}/"), &pin).await,
        Err(DaemonError::Network(_))
    ));
    relays.remove(&other).await.expect("remove");
    assert!(matches!(
        relays.delete_account(&other).await,
        Err(DaemonError::NotFound(_))
    ));

    // Locked: everything but probing and listing waits for `plog unlock`.
    identity.lock().await.expect("lock");
    assert!(matches!(
        relays.add(&other, &pin).await,
        Err(DaemonError::Locked(_))
    ));
    assert!(matches!(
        relays.register("", "system", "").await,
        Err(DaemonError::Locked(_))
    ));
    assert!(relays.list().await.is_ok());

    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_identity_and_volumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bus = PrivateBus::start(dir.path());
    let paths = paths_in(&dir.path().join("home"));
    let options = StartOptions::new(paths)
        .with_bus_address(bus.address())
        .with_logind(Logind::Off);
    let client = bus.connect().await;

    let running = start(options.clone()).await.expect("first start");
    let identity = IdentityProxy::new(&client).await.expect("identity");
    let (phrase_out, phrase) = output();
    identity.init(input(b"pw"), phrase_out).await.expect("init");
    let phrase = phrase.join().expect("phrase");
    VolumesProxy::new(&client)
        .await
        .expect("volumes")
        .put("members", input(b"alice, bob"))
        .await
        .expect("put");
    running.shutdown().await;

    let running = start(options).await.expect("second start");
    let identity = IdentityProxy::new(&client).await.expect("identity");
    let volumes = VolumesProxy::new(&client).await.expect("volumes");
    let status: StatusReport =
        serde_json::from_str(&identity.status().await.expect("status")).expect("json");
    assert!(
        status.initialized && status.locked,
        "a restart starts locked"
    );

    // Restore with the phrase of this very identity replaces the key file: a new passphrase.
    identity
        .restore(input(&phrase), input(b"new pw"))
        .await
        .expect("restore same identity");
    let (out, got) = output();
    volumes.get("members", out).await.expect("get");
    assert_eq!(got.join().expect("output"), b"alice, bob");
    identity.lock().await.expect("lock");
    identity
        .unlock(input(b"new pw"))
        .await
        .expect("new passphrase");

    // A different identity's phrase is refused.
    let other = plog_crypto::master::MasterSecret::from_bytes([9; 32]).recovery_phrase();
    assert!(matches!(
        identity.restore(input(other.as_bytes()), input(b"x")).await,
        Err(DaemonError::AlreadyInitialized(_))
    ));
    running.shutdown().await;
}
