//! The daemon, the CLI and the relay end to end, as real processes only: a private
//! `dbus-daemon` per installation, the real `plogd` and `plog` executables, a real `nats-server`
//! and the real `plog-relay` executable (DESIGN §6.1 names throughout).
//!
//! | test | what it shows |
//! |---|---|
//! | `a_restore_on_a_second_installation_is_byte_exact` | init, relay add, register, put, sync, status; then restore from the phrase elsewhere, adopt the account, sync, get byte-exact |
//! | `b_wrong_passphrase_and_a_locked_daemon_are_refused` | exit codes and messages of a wrong passphrase and of a locked daemon |
//! | `c_sync_fails_while_the_relay_is_down_and_recovers` | a stopped relay fails scheduled rounds, which retry sooner (backoff), and `plog sync` (exit 4); the relay restarted on its data and port is synced with by the next retry |
//! | `d_a_daemon_killed_during_a_large_sync_loses_nothing` | `kill -9` mid-round, restart, unlock, sync, byte-exact here and at the relay |
//! | `e_config_edits_apply_without_restart` | a rewritten config file changes `auto_lock_secs` and the daemon then locks itself |
//! | `f_external_dbus_clients_see_the_interfaces` | `busctl` (or `gdbus`) introspects the object and calls `Status` |
//! | `g_nothing_readable_at_rest` | no marker, phrase or passphrase in any file of the daemon, the relay or NATS |
//! | `h_dbus_activation_starts_the_daemon` | a `.service` file lets `plog` start `plogd`; without one the error names how to start it |
//!
//! Each test skips (printing why) without `dbus-daemon` or `nats-server`, except under
//! `CI=true`, where a missing program fails the test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use plog_ipc_schema::dbus::identity::{RecoveryPhraseOutput, StatusReport};
use plog_ipc_schema::dbus::relays::RelayEntry;
use plog_ipc_schema::dbus::sync::SyncReport;
use plog_ipc_schema::dbus::volumes::{LocalVolume, SyncState};
use plog_ipc_schema::dbus::{IdentityProxy, SyncProxy, interfaces};
use plog_ipc_schema::http::accounts::AccountKind;
use plog_tests::binaries;
use plog_tests::installation::{
    BUS_NAME, DaemonProcess, Installation, TEST_KDF_CONFIG, expect_success, stdout_of, wait_bounded,
};
use plog_tests::nats::NatsServer;
use plog_tests::relay_process::RelayProcess;
use plog_tests::session_bus::SessionBus;
use tempfile::TempDir;

/// `plog` exit statuses (DESIGN §6.1).
const EXIT_FAILURE: i32 = 1;
const EXIT_LOCKED: i32 = 3;
const EXIT_NETWORK: i32 = 4;

/// Bound on waiting for a signal or a polled state; generous for a loaded machine.
const DEADLINE: Duration = Duration::from_secs(60);

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A private bus, or `None` (with the reason printed) when there is no `dbus-daemon`.
fn bus_or_skip() -> Option<SessionBus> {
    match SessionBus::start() {
        Ok(bus) => Some(bus),
        Err(missing) => {
            eprintln!("{missing}");
            None
        }
    }
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a failed run: its exit status, nothing on stdout, `error: …` on stderr containing
/// every one of `needles`.
fn expect_failure(output: &Output, code: i32, needles: &[&str], what: &str) {
    let stderr = stderr_of(output);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: exit status\nstdout: {}\nstderr: {stderr}",
        stdout_of(output)
    );
    assert!(
        output.stdout.is_empty(),
        "{what}: printed on stdout: {}",
        stdout_of(output)
    );
    assert!(stderr.starts_with("error: "), "{what}: stderr: {stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{what}: stderr lacks {needle:?}: {stderr}"
        );
    }
}

/// Runs `plog --json ARGS`, expects success and parses its one JSON document as `T`.
fn plog_json<T: serde::de::DeserializeOwned>(
    install: &Installation,
    bus: &SessionBus,
    args: &[&str],
) -> T {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let output = install.plog(bus, &all);
    let stdout = expect_success(&output, &format!("plog {}", all.join(" ")));
    serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("plog {all:?} printed no JSON document ({err}): {stdout}"))
}

fn status(install: &Installation, bus: &SessionBus) -> StatusReport {
    plog_json(install, bus, &["status"])
}

/// Polls `plog status --json` until `done` holds. Used only where the daemon announces no
/// signal for the change (configuration reloads).
fn poll_status(
    install: &Installation,
    bus: &SessionBus,
    what: &str,
    done: impl Fn(&StatusReport) -> bool,
) -> StatusReport {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let report = status(install, bus);
        if done(&report) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen within {DEADLINE:?}; last status {report:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A passphrase unique to one test (so a scan can look for it).
fn new_passphrase() -> String {
    format!("e2e passphrase {}", uuid::Uuid::new_v4().simple())
}

/// `plog init --passphrase-file F --json`: the recovery phrase.
fn init(install: &Installation, bus: &SessionBus, passphrase: &str) -> String {
    let file = install.secret_file("passphrase", passphrase);
    let output: RecoveryPhraseOutput = plog_json(
        install,
        bus,
        &["init", "--passphrase-file", path_str(&file)],
    );
    let phrase = output.recovery_phrase.clone();
    let words: Vec<&str> = phrase.split(' ').collect();
    assert!(
        matches!(words.len(), 12 | 24)
            && words
                .iter()
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase())),
        "not a BIP39 phrase: {} words",
        words.len()
    );
    phrase
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Distinctive text for one volume, to look for at rest.
fn marker(vtype: &str) -> String {
    format!("PLAINTEXT-MARKER-{vtype}-{}", uuid::Uuid::new_v4().simple())
}

/// Bytes that are neither text nor compressible: xorshift output.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// One volume's content and the markers hidden in it.
struct Content {
    vtype: &'static str,
    bytes: Vec<u8>,
    markers: Vec<String>,
}

/// Several types: text, binary bytes (every byte value, invalid UTF-8, NULs), a multi-MiB volume
/// that is not a multiple of any chunk size, and an empty one.
fn sample_contents() -> Vec<Content> {
    let members_marker = marker("members");
    let members =
        format!("{{\"members\":[{{\"name\":\"{members_marker}\",\"pronouns\":\"they/them\"}}]}}\n")
            .into_bytes();

    let front_marker = marker("front");
    let mut front: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    front.extend_from_slice(&[0xff, 0xfe, 0x00, 0xc3, 0x28]);
    front.extend_from_slice(front_marker.as_bytes());
    front.extend_from_slice(&[0x00; 17]);

    let journal_markers = [marker("journals"), marker("journals"), marker("journals")];
    let mut journals = noise(6 * MIB + 12_345, 0x5eed);
    let len = journals.len();
    for (marker, at) in journal_markers.iter().zip([0, len / 2, len - 200]) {
        journals[at..at + marker.len()].copy_from_slice(marker.as_bytes());
    }

    vec![
        Content {
            vtype: "members",
            bytes: members,
            markers: vec![members_marker],
        },
        Content {
            vtype: "front",
            bytes: front,
            markers: vec![front_marker],
        },
        Content {
            vtype: "journals",
            bytes: journals,
            markers: journal_markers.to_vec(),
        },
        Content {
            vtype: "polls",
            bytes: Vec::new(),
            markers: Vec::new(),
        },
    ]
}

/// A relay process on its own `nats-server`, which outlives relay restarts.
struct Relay {
    nats: NatsServer,
    process: Option<RelayProcess>,
    dir: TempDir,
    /// `https://127.0.0.1:PORT`, as clients add it.
    origin: String,
    pin: String,
}

impl Relay {
    /// Starts `nats-server` and `plog-relay serve`; `None` (reason printed) without
    /// `nats-server`.
    async fn start_or_skip() -> Option<Self> {
        let nats = NatsServer::start_or_skip().await?;
        let dir = tempfile::Builder::new()
            .prefix("plog-e2e-relay-")
            .tempdir()
            .expect("relay directory");
        let process = RelayProcess::start(&dir.path().join("data"), &relay_env(&nats)).await;
        Some(Self {
            origin: process.public_origin.clone(),
            pin: process.pin.clone(),
            nats,
            process: Some(process),
            dir,
        })
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `127.0.0.1:PORT` the relay listens on.
    fn listen_address(&self) -> String {
        self.origin
            .strip_prefix("https://")
            .expect("https origin")
            .to_owned()
    }

    /// Stops the relay with SIGTERM; it must exit cleanly.
    async fn stop(&mut self) {
        let process = self.process.take().expect("relay running");
        assert_eq!(process.terminate().await, Some(0), "relay exit status");
    }

    /// Starts the relay again on the same data directory, NATS and address.
    async fn restart(&mut self) {
        assert!(self.process.is_none(), "stop the relay first");
        let process = RelayProcess::start_listening(
            &self.data_dir(),
            &self.listen_address(),
            &relay_env(&self.nats),
        )
        .await;
        assert_eq!(process.public_origin, self.origin, "same origin");
        assert_eq!(process.pin, self.pin, "same certificate");
        self.process = Some(process);
    }

    /// Every directory the relay deployment writes to.
    fn storage_dirs(&self) -> Vec<PathBuf> {
        vec![self.data_dir(), self.nats.store_dir()]
    }
}

fn relay_env(nats: &NatsServer) -> Vec<(&'static str, String)> {
    vec![("PLOG_RELAY_NATS__URL", nats.url())]
}

/// One person's installation with its own bus and daemon.
struct Device {
    bus: SessionBus,
    install: Installation,
    daemon: Option<DaemonProcess>,
}

impl Device {
    async fn start(bus: SessionBus) -> Self {
        Self::start_with_config(bus, "").await
    }

    /// With `extra_config` after the test KDF costs in its configuration file.
    async fn start_with_config(bus: SessionBus, extra_config: &str) -> Self {
        let install = Installation::new(extra_config);
        let daemon = install.start_daemon(&bus).await;
        Self {
            bus,
            install,
            daemon: Some(daemon),
        }
    }

    fn plog(&self, args: &[&str]) -> Output {
        self.install.plog(&self.bus, args)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> T {
        plog_json(&self.install, &self.bus, args)
    }

    fn ok(&self, args: &[&str]) -> String {
        expect_success(&self.plog(args), &format!("plog {}", args.join(" ")))
    }

    fn status(&self) -> StatusReport {
        status(&self.install, &self.bus)
    }

    /// `plog relay add ORIGIN --fingerprint PIN --json`.
    fn add_relay(&self, relay: &Relay) -> RelayEntry {
        let entry: RelayEntry =
            self.json(&["relay", "add", &relay.origin, "--fingerprint", &relay.pin]);
        assert_eq!(entry.id, relay.origin);
        assert_eq!(entry.identity_origin, relay.origin);
        assert_eq!(entry.pin.to_string(), relay.pin);
        entry
    }

    /// Puts every content from files under `inputs`; checks what `put --json` reports.
    fn put_all(&self, contents: &[Content], inputs: &Path) {
        for content in contents {
            let file = inputs.join(format!("{}.in", content.vtype));
            std::fs::write(&file, &content.bytes).expect("write input");
            let volume: LocalVolume = self.json(&["volume", "put", content.vtype, path_str(&file)]);
            assert_eq!(volume.vtype.as_str(), content.vtype);
            assert_eq!(volume.size, content.bytes.len() as u64, "{}", content.vtype);
            assert_eq!(volume.sync, SyncState::Pending, "{}", content.vtype);
        }
    }

    /// `plog volume get TYPE -o FILE` for every content; each must be byte-exact.
    fn expect_contents(&self, contents: &[Content], outputs: &Path) {
        for content in contents {
            let file = outputs.join(format!("{}.out", content.vtype));
            let _ = std::fs::remove_file(&file);
            self.ok(&["volume", "get", content.vtype, "-o", path_str(&file)]);
            let got = std::fs::read(&file).expect("read output");
            assert!(
                got == content.bytes,
                "volume {} differs: {} bytes back, {} put (first difference at {:?})",
                content.vtype,
                got.len(),
                content.bytes.len(),
                got.iter().zip(&content.bytes).position(|(a, b)| a != b)
            );
        }
    }

    /// `plog sync --json`; the round must be clean.
    fn sync_ok(&self) -> SyncReport {
        let report: SyncReport = self.json(&["sync"]);
        assert!(report.ok, "sync report: {report:?}");
        assert!(report.conflicts.is_empty() && report.failures.is_empty());
        report
    }

    fn volumes(&self) -> Vec<LocalVolume> {
        self.json(&["volume", "ls"])
    }
}

/// What scenario a's first half leaves behind: a system with volumes synced to a relay.
struct SyncedSystem {
    relay: Relay,
    device: Device,
    contents: Vec<Content>,
    phrase: String,
    passphrase: String,
    user_id: uuid::Uuid,
    files: TempDir,
}

/// init → relay add → register --system → volume put (several types) → sync → status.
async fn synced_system() -> Option<SyncedSystem> {
    let bus = bus_or_skip()?;
    let relay = Relay::start_or_skip().await?;
    let device = Device::start(bus).await;
    let files = tempfile::Builder::new()
        .prefix("plog-e2e-files-")
        .tempdir()
        .expect("files");

    let passphrase = new_passphrase();
    let phrase = init(&device.install, &device.bus, &passphrase);
    let fresh = device.status();
    assert!(fresh.initialized && !fresh.locked, "{fresh:?}");
    assert_eq!((fresh.relays, fresh.last_sync_at), (0, None), "{fresh:?}");

    let added = device.add_relay(&relay);
    assert_eq!(added.account, None, "a new identity has no account yet");
    let registered: RelayEntry = device.json(&["register", "--system"]);
    let account = registered.account.expect("registered account");
    assert_eq!(account.kind, AccountKind::System);

    let contents = sample_contents();
    device.put_all(&contents, files.path());
    let report = device.sync_ok();
    assert!(
        report.pushed as usize >= contents.len(),
        "pushed {} of {} volumes: {report:?}",
        report.pushed,
        contents.len()
    );

    let after = device.status();
    assert_eq!(after.relays, 1, "{after:?}");
    assert!(after.last_sync_at.is_some() && !after.syncing, "{after:?}");
    assert_eq!(after.last_sync_error, None, "{after:?}");
    let listed = device.volumes();
    let types: BTreeSet<&str> = listed.iter().map(|v| v.vtype.as_str()).collect();
    let expected: BTreeSet<&str> = contents.iter().map(|c| c.vtype).collect();
    assert_eq!(types, expected, "volume ls");
    assert!(
        listed.iter().all(|v| v.sync == SyncState::Synced),
        "not all synced: {listed:?}"
    );
    Some(SyncedSystem {
        relay,
        device,
        contents,
        phrase,
        passphrase,
        user_id: account.user_id,
        files,
    })
}

/// A second installation of the same identity: restore from the phrase (with a passphrase of
/// its own), add the relay (adopting the account), sync.
async fn restored_device(
    bus: SessionBus,
    relay: &Relay,
    phrase: &str,
    user_id: uuid::Uuid,
) -> Device {
    let device = Device::start(bus).await;
    let phrase_file = device.install.secret_file("phrase", phrase);
    let passphrase_file = device.install.secret_file("passphrase", &new_passphrase());
    device.ok(&[
        "identity",
        "restore",
        "--phrase-file",
        path_str(&phrase_file),
        "--passphrase-file",
        path_str(&passphrase_file),
    ]);
    let restored = device.status();
    assert!(restored.initialized && !restored.locked, "{restored:?}");

    let adopted = device.add_relay(relay);
    let account = adopted
        .account
        .expect("relay add adopts the existing account of the derived key");
    assert_eq!(account.user_id, user_id, "the same account");
    assert_eq!(account.kind, AccountKind::System);
    device
}

/// Every regular file below `dirs` (recursively), with its bytes.
fn files_under(dirs: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = dirs.to_vec();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && let Ok(bytes) = std::fs::read(&path)
            {
                out.push((path, bytes));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// a. The whole flow, then a second installation restores from the phrase.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_on_a_second_installation_is_byte_exact() {
    let Some(system) = synced_system().await else {
        return;
    };
    let Some(bus) = bus_or_skip() else {
        return;
    };
    let second = restored_device(bus, &system.relay, &system.phrase, system.user_id).await;
    // No `plog register`: the adopted account is enough to sync.
    let report = second.sync_ok();
    assert!(
        report.pulled as usize >= system.contents.len(),
        "pulled {} of {} volumes: {report:?}",
        report.pulled,
        system.contents.len()
    );
    let outputs = tempfile::tempdir().expect("outputs");
    second.expect_contents(&system.contents, outputs.path());
    // And from stdout, too.
    let members = second.plog(&["volume", "get", "members"]);
    assert!(members.status.success(), "{}", stderr_of(&members));
    assert_eq!(members.stdout, system.contents[0].bytes);
    let listed = second.volumes();
    assert_eq!(listed.len(), system.contents.len(), "{listed:?}");
    assert!(
        listed.iter().all(|v| v.sync == SyncState::Synced),
        "{listed:?}"
    );
    // The first installation still has everything, too.
    system
        .device
        .expect_contents(&system.contents, outputs.path());
}

// ---------------------------------------------------------------------------------------------
// b. Wrong passphrase; a locked daemon refuses volumes and sync.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_wrong_passphrase_and_a_locked_daemon_are_refused() {
    let Some(bus) = bus_or_skip() else {
        return;
    };
    let device = Device::start(bus).await;
    let files = tempfile::tempdir().expect("files");
    let passphrase = new_passphrase();
    init(&device.install, &device.bus, &passphrase);
    let original = files.path().join("members.in");
    std::fs::write(&original, b"the first version\n").expect("write");
    device.ok(&["volume", "put", "members", path_str(&original)]);

    let locked: serde_json::Value = device.json(&["lock"]);
    assert_eq!(locked["locked"], true, "{locked}");
    assert!(device.status().locked);

    // A wrong passphrase: refused, the daemon stays locked.
    let wrong = device.install.secret_file("wrong", "not the passphrase");
    let output = device.plog(&["unlock", "--passphrase-file", path_str(&wrong)]);
    expect_failure(
        &output,
        EXIT_FAILURE,
        &["wrong passphrase"],
        "unlock (wrong)",
    );
    assert!(device.status().locked, "still locked");

    // Locked: volumes and sync are refused with exit 3, naming `plog unlock`.
    let replacement = files.path().join("members.new");
    std::fs::write(&replacement, b"a second version\n").expect("write");
    let target = files.path().join("members.out");
    let refused: [(&str, Vec<&str>); 4] = [
        (
            "volume put",
            vec!["volume", "put", "members", path_str(&replacement)],
        ),
        (
            "volume get",
            vec!["volume", "get", "members", "-o", path_str(&target)],
        ),
        ("volume ls", vec!["volume", "ls"]),
        ("sync", vec!["sync"]),
    ];
    for (what, args) in &refused {
        for json in [false, true] {
            let mut args = args.clone();
            if json {
                args.push("--json");
            }
            let output = device.plog(&args);
            expect_failure(&output, EXIT_LOCKED, &["locked", "plog unlock"], what);
        }
    }
    assert!(!target.exists(), "a refused get left {}", target.display());

    // The right passphrase unlocks, and nothing changed while locked.
    let right = device.install.secret_file("right", &passphrase);
    let unlocked: serde_json::Value =
        device.json(&["unlock", "--passphrase-file", path_str(&right)]);
    assert_eq!(unlocked["locked"], false, "{unlocked}");
    let report = device.status();
    assert!(!report.locked && report.initialized, "{report:?}");
    let got = device.plog(&["volume", "get", "members"]);
    assert!(got.status.success(), "{}", stderr_of(&got));
    assert_eq!(got.stdout, b"the first version\n");
}

// ---------------------------------------------------------------------------------------------
// c. The relay goes down and comes back.

/// The scheduled interval in scenario c: long enough to tell the first retry (5 s ± 20 %)
/// from a regular round.
const C_INTERVAL_SECS: u64 = 15;

/// The next `SyncFinished` signal with `ok == want_ok`, and when it arrived.
async fn next_finished(
    finished: &mut plog_ipc_schema::dbus::sync::SyncFinishedStream,
    want_ok: bool,
    what: &str,
) -> (Instant, SyncReport) {
    let wait = async {
        while let Some(signal) = finished.next().await {
            let arrived = Instant::now();
            let args = signal.args().expect("SyncFinished arguments");
            if *args.ok() == want_ok {
                let report: SyncReport =
                    serde_json::from_str(args.report()).expect("SyncFinished report JSON");
                return Some((arrived, report));
            }
        }
        None
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("{what}: no SyncFinished(ok = {want_ok}) within {DEADLINE:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sync_fails_while_the_relay_is_down_and_recovers() {
    let Some(bus) = bus_or_skip() else {
        return;
    };
    let Some(mut relay) = Relay::start_or_skip().await else {
        return;
    };
    let device =
        Device::start_with_config(bus, &format!("[sync]\ninterval = \"{C_INTERVAL_SECS}s\"\n"))
            .await;
    let files = tempfile::tempdir().expect("files");
    init(&device.install, &device.bus, &new_passphrase());
    device.add_relay(&relay);
    device.ok(&["register", "--system"]);
    let contents = sample_contents();
    device.put_all(&contents[..2], files.path());
    device.sync_ok();
    let synced_at = device.status().last_sync_at.expect("synced once");

    let connection = device.bus.connect().await;
    let sync = SyncProxy::new(&connection).await.expect("sync proxy");
    let mut finished = sync
        .receive_sync_finished()
        .await
        .expect("subscribe to SyncFinished");

    // Down: scheduled rounds fail, and the one after a failure comes sooner than the
    // interval (the first retry waits 5 s ± 20 %).
    relay.stop().await;
    device.put_all(&contents[2..], files.path());
    let (first, report) = next_finished(&mut finished, false, "a scheduled round").await;
    assert!(
        report.failures.iter().any(|f| f.relay == relay.origin),
        "{report:?}"
    );
    let (second, _) = next_finished(&mut finished, false, "the first retry").await;
    let gap = second - first;
    assert!(
        gap >= Duration::from_secs(3) && gap < Duration::from_secs(C_INTERVAL_SECS * 8 / 10),
        "the retry came {gap:?} after the failed round (interval {C_INTERVAL_SECS} s)"
    );

    // A round asked for now fails as a network error naming the relay, and changes made
    // meanwhile stay pending.
    let output = device.plog(&["sync"]);
    expect_failure(&output, EXIT_NETWORK, &[&relay.origin], "sync, relay down");
    let down = device.status();
    assert!(
        down.last_sync_at.is_some_and(|at| at >= synced_at),
        "{down:?}"
    );
    assert!(
        down.last_sync_error
            .as_deref()
            .is_some_and(|error| error.contains(&relay.origin)),
        "status names the failure: {down:?}"
    );
    let pending: Vec<LocalVolume> = device.volumes();
    assert!(
        pending
            .iter()
            .filter(|v| contents[2..].iter().any(|c| c.vtype == v.vtype.as_str()))
            .all(|v| v.sync == SyncState::Pending),
        "changes made while the relay is down stay pending: {pending:?}"
    );

    // Back on the same data, address and certificate: the next retry pushes what waited,
    // without anyone asking.
    relay.restart().await;
    let (_, report) = next_finished(&mut finished, true, "a retry after the relay is back").await;
    assert!(
        report.pushed as usize >= contents.len() - 2,
        "pushed {}: {report:?}",
        report.pushed
    );
    let listed = device.volumes();
    assert_eq!(listed.len(), contents.len(), "{listed:?}");
    assert!(
        listed.iter().all(|v| v.sync == SyncState::Synced),
        "{listed:?}"
    );
    device.sync_ok();
    let up = device.status();
    assert_eq!(up.last_sync_error, None, "{up:?}");
    device.expect_contents(&contents, files.path());
}

// ---------------------------------------------------------------------------------------------
// d. plogd is killed (SIGKILL) in the middle of a large sync.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_a_daemon_killed_during_a_large_sync_loses_nothing() {
    let Some(bus) = bus_or_skip() else {
        return;
    };
    let Some(relay) = Relay::start_or_skip().await else {
        return;
    };
    let mut device = Device::start(bus).await;
    let files = tempfile::tempdir().expect("files");
    let passphrase = new_passphrase();
    let phrase = init(&device.install, &device.bus, &passphrase);
    device.add_relay(&relay);
    let registered: RelayEntry = device.json(&["register", "--system"]);
    let user_id = registered.account.expect("account").user_id;
    let mut large = noise(64 * MIB, 0xd1e);
    large[..8].copy_from_slice(b"LARGEVOL");
    let contents = vec![Content {
        vtype: "journals",
        bytes: large,
        markers: Vec::new(),
    }];
    device.put_all(&contents, files.path());

    // The round announces its start with a SyncProgress signal (done < total).
    let connection = device.bus.connect().await;
    let sync = SyncProxy::new(&connection).await.expect("sync proxy");
    let mut progress = sync
        .receive_sync_progress()
        .await
        .expect("subscribe to SyncProgress");
    let running = device
        .install
        .spawn_plog(&device.bus, &["sync", "--json"], false);
    let started = tokio::time::timeout(DEADLINE, async {
        while let Some(signal) = progress.next().await {
            let args = signal.args().expect("SyncProgress arguments");
            if args.done() < args.total() {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(started, Ok(true)),
        "no SyncProgress with done < total; daemon log:\n{}",
        device.install.daemon_log()
    );
    device.daemon.take().expect("daemon").kill();
    let interrupted = wait_bounded(running, &["sync"]);
    assert!(
        !interrupted.status.success(),
        "the sync was not interrupted by the kill: {}",
        stdout_of(&interrupted)
    );

    // Restart, unlock, sync: the round completes and the volume is intact.
    device.daemon = Some(device.install.start_daemon(&device.bus).await);
    let restarted = device.status();
    assert!(restarted.locked && restarted.initialized, "{restarted:?}");
    let passphrase_file = device.install.secret_file("passphrase-again", &passphrase);
    device.ok(&["unlock", "--passphrase-file", path_str(&passphrase_file)]);
    device.sync_ok();
    device.expect_contents(&contents, files.path());
    let listed = device.volumes();
    assert!(
        listed.len() == 1 && listed[0].sync == SyncState::Synced,
        "{listed:?}"
    );

    // Nothing lost at the relay either: another installation gets the same bytes.
    let Some(bus) = bus_or_skip() else {
        return;
    };
    let second = restored_device(bus, &relay, &phrase, user_id).await;
    second.sync_ok();
    second.expect_contents(&contents, files.path());
}

// ---------------------------------------------------------------------------------------------
// e. Configuration edits apply without a restart.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_config_edits_apply_without_restart() {
    let Some(bus) = bus_or_skip() else {
        return;
    };
    let device = Device::start(bus).await;
    init(&device.install, &device.bus, &new_passphrase());
    let before = device.status();
    assert_eq!(
        before.auto_lock_secs,
        Some(15 * 60),
        "the default: {before:?}"
    );

    let connection = device.bus.connect().await;
    let identity = IdentityProxy::new(&connection)
        .await
        .expect("identity proxy");
    let mut lock_changes = identity
        .receive_lock_state_changed()
        .await
        .expect("subscribe to LockStateChanged");

    // Rewritten the way editors save (new file renamed over the old). The daemon announces no
    // signal for a reload, so `plog status` is polled until the new value shows. Each poll is
    // a call, so the daemon cannot lock itself meanwhile.
    device
        .install
        .write_config(&format!("{TEST_KDF_CONFIG}[lock]\nidle_timeout = \"1s\"\n"));
    poll_status(&device.install, &device.bus, "idle_timeout 1s", |s| {
        s.auto_lock_secs == Some(1)
    });
    // The effect: a second without calls locks the daemon (LockStateChanged(true)).
    let locked = tokio::time::timeout(DEADLINE, async {
        while let Some(signal) = lock_changes.next().await {
            if *signal.args().expect("LockStateChanged arguments").locked() {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(locked, Ok(true)),
        "no idle lock after the edit; daemon log:\n{}",
        device.install.daemon_log()
    );
    assert!(device.status().locked);

    // Turned off again ("0"): status shows no auto-lock.
    device
        .install
        .write_config(&format!("{TEST_KDF_CONFIG}[lock]\nidle_timeout = 0\n"));
    poll_status(&device.install, &device.bus, "idle_timeout 0", |s| {
        s.auto_lock_secs.is_none()
    });
}

// ---------------------------------------------------------------------------------------------
// f. An external D-Bus client.

/// `busctl`, else `gdbus`, from `PATH`.
fn dbus_tool() -> Option<(&'static str, PathBuf)> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["busctl", "gdbus"].into_iter().find_map(|tool| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(tool))
            .find(|candidate| candidate.is_file())
            .map(|found| (tool, found))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_external_dbus_clients_see_the_interfaces() {
    let Some(bus) = bus_or_skip() else {
        return;
    };
    let Some((tool, program)) = dbus_tool() else {
        assert!(
            !std::env::var("CI").is_ok_and(|ci| ci == "true"),
            "busctl or gdbus is required under CI"
        );
        eprintln!("skipped: neither busctl nor gdbus is installed");
        return;
    };
    let device = Device::start(bus).await;
    let address = device.bus.address().to_owned();
    let object = plog_ipc_schema::dbus::OBJECT_PATH;
    let run = |args: &[&str]| {
        let output = std::process::Command::new(&program)
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .output()
            .expect("run the D-Bus tool");
        expect_success(&output, &format!("{tool} {}", args.join(" ")))
    };
    let (introspection, status_reply) = if tool == "busctl" {
        let bus_arg = format!("--address={address}");
        (
            run(&[&bus_arg, "introspect", BUS_NAME, object]),
            run(&[
                &bus_arg,
                "--json=short",
                "call",
                BUS_NAME,
                object,
                interfaces::IDENTITY,
                "Status",
            ]),
        )
    } else {
        (
            run(&[
                "introspect",
                "--address",
                &address,
                "--dest",
                BUS_NAME,
                "--object-path",
                object,
            ]),
            run(&[
                "call",
                "--address",
                &address,
                "--dest",
                BUS_NAME,
                "--object-path",
                object,
                "--method",
                &format!("{}.Status", interfaces::IDENTITY),
            ]),
        )
    };
    for interface in interfaces::ALL {
        assert!(
            introspection.contains(interface),
            "{tool} introspect lacks {interface}:\n{introspection}"
        );
    }
    for member in ["Init", "Unlock", "Status", "SyncNow", "SyncFinished", "Put"] {
        assert!(
            introspection.contains(member),
            "{tool} introspect lacks {member}:\n{introspection}"
        );
    }
    // busctl --json=short: {"type":"s","data":["<json>"]}; gdbus: ('<json>',)
    let json = if tool == "busctl" {
        let reply: serde_json::Value =
            serde_json::from_str(status_reply.trim()).expect("busctl JSON");
        assert_eq!(reply["type"], "s", "{status_reply}");
        reply["data"][0].as_str().expect("a string").to_owned()
    } else {
        status_reply
            .trim()
            .strip_prefix("('")
            .and_then(|s| s.strip_suffix("',)"))
            .expect("gdbus reply")
            .to_owned()
    };
    let report: StatusReport = serde_json::from_str(&json).expect("Status is JSON StatusReport");
    assert_eq!(report.version, plog_daemon::VERSION);
    assert!(!report.initialized && report.relays == 0, "{report:?}");
}

// ---------------------------------------------------------------------------------------------
// g. Content blindness at rest.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g_nothing_readable_at_rest() {
    let Some(system) = synced_system().await else {
        return;
    };
    // The daemon is running and its store is complete: what is on disk now is what stays.
    let mut dirs = system.device.install.xdg_dirs();
    dirs.extend(system.relay.storage_dirs());
    let mut files = files_under(&dirs);
    let log = system.device.install.daemon_log_path();
    files.push((log.clone(), std::fs::read(&log).expect("daemon log")));
    assert!(
        files
            .iter()
            .any(|(path, _)| path.starts_with(system.device.install.data_home())),
        "the daemon stored nothing under XDG_DATA_HOME?"
    );
    let total: usize = files.iter().map(|(_, bytes)| bytes.len()).sum();
    let journals = &system.contents[2];
    assert!(
        total > journals.bytes.len() * 2,
        "less stored ({total} B) than two copies of the journals (daemon and relay)"
    );

    let phrase_start: String = system
        .phrase
        .split(' ')
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let mut needles: Vec<(String, String)> = vec![
        ("recovery phrase".to_owned(), system.phrase.clone()),
        ("start of the recovery phrase".to_owned(), phrase_start),
        ("passphrase".to_owned(), system.passphrase.clone()),
    ];
    for content in &system.contents {
        for marker in &content.markers {
            needles.push((format!("{} marker", content.vtype), marker.clone()));
        }
    }
    assert!(needles.len() > 5, "markers to look for");
    let mut found = Vec::new();
    for (path, bytes) in &files {
        for (what, needle) in &needles {
            if contains(bytes, needle.as_bytes()) {
                found.push(format!("{what} in {}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "readable at rest:\n{}", found.join("\n"));
    // The check can find things: the plaintext inputs hold the markers.
    let inputs = files_under(&[system.files.path().to_path_buf()]);
    assert!(
        inputs
            .iter()
            .any(|(_, bytes)| contains(bytes, system.contents[0].markers[0].as_bytes())),
        "the scan does not see the members marker in the input file"
    );
}

// ---------------------------------------------------------------------------------------------
// h. D-Bus activation.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h_dbus_activation_starts_the_daemon() {
    // Without a service file and without a daemon, the error says how to start one.
    let Some(bus) = bus_or_skip() else {
        return;
    };
    let install = Installation::new("");
    let output = install.plog(&bus, &["status"]);
    expect_failure(
        &output,
        EXIT_FAILURE,
        &[
            "plogd is not running",
            "systemctl --user start plogd",
            "`plogd`",
        ],
        "status without a daemon",
    );
    drop(bus);

    // With a service file, `plog status` starts plogd in the installation's environment.
    let xdg = install.xdg_env();
    let env: Vec<(&str, &Path)> = xdg
        .iter()
        .map(|(name, dir)| (*name, dir.as_path()))
        .collect();
    let Ok(bus) = SessionBus::start_with_env(&env) else {
        return;
    };
    let plogd = binaries::path(binaries::DAEMON).expect("plogd executable");
    std::fs::write(
        bus.service_dir().join(format!("{BUS_NAME}.service")),
        format!(
            "[D-BUS Service]\nName={BUS_NAME}\nExec={}\n",
            plogd.display()
        ),
    )
    .expect("service file");
    let connection = bus.connect().await;
    let dbus = zbus::fdo::DBusProxy::new(&connection)
        .await
        .expect("bus proxy");
    let name = zbus::names::BusName::try_from(BUS_NAME).expect("bus name");
    assert!(
        !dbus
            .name_has_owner(name.clone())
            .await
            .expect("NameHasOwner"),
        "nobody owns the name before the first call"
    );

    let report = status(&install, &bus);
    assert!(!report.initialized, "{report:?}");
    assert_eq!(report.version, plog_daemon::VERSION);
    let pid = dbus
        .get_connection_unix_process_id(name.clone())
        .await
        .expect("the activated daemon's pid");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe of the daemon");
    assert_eq!(
        exe.file_name(),
        plogd.file_name(),
        "the name's owner is plogd"
    );
    // It runs in the installation's directories: init writes the key file there.
    init(&install, &bus, &new_passphrase());
    let key_file = install.data_home().join("plog/identity.key");
    assert!(key_file.is_file(), "{} missing", key_file.display());

    // The bus started it, so the test stops it (SIGTERM) and waits until the name is free.
    let mut released = dbus
        .receive_name_owner_changed_with_args(&[(0, BUS_NAME)])
        .await
        .expect("watch the name");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let gone = tokio::time::timeout(DEADLINE, async {
        while let Some(signal) = released.next().await {
            if signal.args().is_ok_and(|args| args.new_owner().is_none()) {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(gone, Ok(true)), "plogd did not stop on SIGTERM");
}
