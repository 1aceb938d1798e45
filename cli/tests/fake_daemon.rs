//! The `plog` binary's call path against a **fake daemon**: each test starts a private
//! `dbus-daemon` (its printed address is the readiness signal) and serves on it a unit-level
//! fake of `plogd` that implements a few methods of the `org.plurallog.Daemon1.*` interfaces
//! and records what it received. It checks what the CLI sends (bytes through descriptors,
//! arguments) and how it prints answers and errors; the real daemon is tested end to end
//! elsewhere.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use plog_ipc_schema::dbus::{BUS_NAME, DaemonError, OBJECT_PATH};
use tempfile::TempDir;
use zbus::OwnedFd;

/// A recovery phrase the fake hands out.
const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                      abandon abandon about";

const PIN: &str = "sha256:abababababababababababababababababababababababababababababababab";
const PROBED_PIN: &str = "sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

/// The status document, with a field this CLI does not know: `--json` must pass it through.
const STATUS: &str = r#"{"version":"9.9.9","initialized":true,"locked":false,"relays":1,"syncing":false,"from_the_future":[1,2]}"#;

/// A private session bus, stopped on drop.
struct Bus {
    child: Child,
    address: String,
    dir: TempDir,
}

impl Bus {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("bus.conf");
        fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.path().join("bus").display()
            ),
        )
        .expect("bus config");
        let log = dir.path().join("bus.log");
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("bus log"))
            .spawn()
            .expect("dbus-daemon must be installed to run these tests");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut address = String::new();
        BufReader::new(stdout)
            .read_line(&mut address)
            .expect("bus address");
        let address = address.trim().to_owned();
        assert!(
            !address.is_empty(),
            "dbus-daemon printed no address: {}",
            fs::read_to_string(&log).unwrap_or_default()
        );
        Self {
            child,
            address,
            dir,
        }
    }

    /// Runs `plog ARGS` against this bus with `stdin` as its standard input.
    async fn plog(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        run_plog(Some(&self.address), args, stdin).await
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn run_plog(address: Option<&str>, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_plog"));
    command.args(args).env_remove("DBUS_SESSION_BUS_ADDRESS");
    if let Some(address) = address {
        command.env("DBUS_SESSION_BUS_ADDRESS", address);
    }
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run plog");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        let bytes = bytes.to_vec();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt as _;
            let _ = pipe.write_all(&bytes).await;
        });
    }
    child.wait_with_output().await.expect("plog output")
}

/// What the fake received.
#[derive(Debug, Default)]
struct Log {
    /// Every method called, with its plain arguments.
    calls: Vec<String>,
    /// Bytes read from input descriptors, by method.
    received: BTreeMap<String, Vec<u8>>,
    /// Stored volume contents, by type.
    volumes: BTreeMap<String, Vec<u8>>,
}

type Shared = Arc<Mutex<Log>>;

fn record(log: &Shared, call: String) {
    log.lock().expect("log").calls.push(call);
}

/// Reads an input descriptor to end of file, off the async threads.
async fn read_fd(fd: OwnedFd) -> Vec<u8> {
    tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        File::from(std::os::fd::OwnedFd::from(fd))
            .read_to_end(&mut bytes)
            .map(|_| bytes)
    })
    .await
    .expect("reader task")
    .expect("read fd")
}

/// Writes all of `bytes` to an output descriptor and closes it.
async fn write_fd(fd: OwnedFd, bytes: Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        File::from(std::os::fd::OwnedFd::from(fd)).write_all(&bytes)
    })
    .await
    .expect("writer task")
    .expect("write fd");
}

struct FakeIdentity(Shared);

#[zbus::interface(name = "org.plurallog.Daemon1.Identity")]
impl FakeIdentity {
    async fn init(
        &self,
        passphrase_fd: OwnedFd,
        phrase_out_fd: OwnedFd,
    ) -> Result<(), DaemonError> {
        let passphrase = read_fd(passphrase_fd).await;
        record(&self.0, "Init".to_owned());
        self.0
            .lock()
            .expect("log")
            .received
            .insert("Init".to_owned(), passphrase);
        write_fd(phrase_out_fd, format!("{PHRASE}\n").into_bytes()).await;
        Ok(())
    }

    async fn unlock(&self, passphrase_fd: OwnedFd) -> Result<(), DaemonError> {
        let passphrase = read_fd(passphrase_fd).await;
        record(&self.0, "Unlock".to_owned());
        let wrong = passphrase.starts_with(b"wrong");
        self.0
            .lock()
            .expect("log")
            .received
            .insert("Unlock".to_owned(), passphrase);
        if wrong {
            return Err(DaemonError::WrongPassphrase(
                "the passphrase does not open the key file".to_owned(),
            ));
        }
        Ok(())
    }

    async fn status(&self) -> Result<String, DaemonError> {
        record(&self.0, "Status".to_owned());
        Ok(STATUS.to_owned())
    }
}

struct FakeVolumes(Shared);

#[zbus::interface(name = "org.plurallog.Daemon1.Volumes")]
impl FakeVolumes {
    async fn put(&self, vtype: &str, data_fd: OwnedFd) -> Result<String, DaemonError> {
        let bytes = read_fd(data_fd).await;
        record(&self.0, format!("Put {vtype}"));
        let size = bytes.len();
        self.0
            .lock()
            .expect("log")
            .volumes
            .insert(vtype.to_owned(), bytes);
        Ok(format!(
            r#"{{"id":"00000000-0000-0000-0000-000000000001","name":"{vtype}","vtype":"{vtype}","revision":1,"key_epoch":1,"size":{size},"updated_at":0,"sync":"pending"}}"#
        ))
    }

    async fn get(&self, vtype: &str, out_fd: OwnedFd) -> Result<(), DaemonError> {
        record(&self.0, format!("Get {vtype}"));
        let stored = self.0.lock().expect("log").volumes.get(vtype).cloned();
        let Some(bytes) = stored else {
            return Err(DaemonError::NotFound(format!("there is no volume {vtype}")));
        };
        write_fd(out_fd, bytes).await;
        Ok(())
    }

    async fn list(&self) -> Result<String, DaemonError> {
        record(&self.0, "List".to_owned());
        Err(DaemonError::Locked(
            "the daemon is locked; run `plog unlock`".to_owned(),
        ))
    }
}

struct FakeRelays(Shared);

#[zbus::interface(name = "org.plurallog.Daemon1.Relays")]
impl FakeRelays {
    async fn probe(&self, url: &str) -> Result<String, DaemonError> {
        record(&self.0, format!("Probe {url}"));
        Ok(format!(
            r#"{{"origin":"{url}","pin":"{PROBED_PIN}","ca_verified":false}}"#
        ))
    }

    async fn add(&self, url: &str, pin: &str) -> Result<String, DaemonError> {
        record(&self.0, format!("Add {url} {pin}"));
        Ok(entry(url, pin, ""))
    }

    async fn set_handle(&self, relay: &str, handle: &str) -> Result<String, DaemonError> {
        record(&self.0, format!("SetHandle {relay:?} {handle}"));
        Ok(entry("https://r.example", PIN, handle))
    }
}

/// A relay entry with a system account (and a handle, unless empty).
fn entry(url: &str, pin: &str, handle: &str) -> String {
    let handle = if handle.is_empty() {
        String::new()
    } else {
        format!(r#","handle":"{handle}""#)
    };
    format!(
        r#"{{"id":"{url}","identity_origin":"{url}","pin":"{pin}","account":{{"user_id":"00000000-0000-0000-0000-000000000002","kind":"system"{handle}}}}}"#
    )
}

struct FakeSync(Shared);

#[zbus::interface(name = "org.plurallog.Daemon1.Sync")]
impl FakeSync {
    async fn sync_now(&self) -> Result<String, DaemonError> {
        record(&self.0, "SyncNow".to_owned());
        Err(DaemonError::Network(
            "sync failed: https://r.example is unreachable".to_owned(),
        ))
    }
}

/// A bus with the fake daemon on it.
struct Fake {
    bus: Bus,
    log: Shared,
    _connection: zbus::Connection,
}

impl Fake {
    async fn start() -> Self {
        let bus = Bus::start();
        let log = Shared::default();
        let connection = zbus::connection::Builder::address(bus.address.as_str())
            .name(BUS_NAME)
            .serve_at(OBJECT_PATH, FakeIdentity(log.clone()))
            .serve_at(OBJECT_PATH, FakeVolumes(log.clone()))
            .serve_at(OBJECT_PATH, FakeRelays(log.clone()))
            .serve_at(OBJECT_PATH, FakeSync(log.clone()))
            .build()
            .await
            .expect("fake daemon on the bus");
        Self {
            bus,
            log,
            _connection: connection,
        }
    }

    fn calls(&self) -> Vec<String> {
        self.log.lock().expect("log").calls.clone()
    }

    fn received(&self, method: &str) -> Option<Vec<u8>> {
        self.log.lock().expect("log").received.get(method).cloned()
    }

    fn volume(&self, vtype: &str) -> Option<Vec<u8>> {
        self.log.lock().expect("log").volumes.get(vtype).cloned()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "status {:?}, stderr: {}",
        output.status,
        text(&output.stderr)
    );
}

/// Fails with `code`, prints nothing on stdout and `error: <expected…>` on stderr.
#[track_caller]
fn assert_failure(output: &Output, code: i32, expected: &str) {
    assert_eq!(output.status.code(), Some(code), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in {stderr}"
    );
}

fn private_file(dir: &Path, name: &str, contents: &[u8], mode: u32) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, contents).expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

/// More than a pipe buffer holds, not a repeating block: every byte must arrive in place.
fn payload(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_prints_the_daemons_json_as_is_or_a_table() {
    let fake = Fake::start().await;
    let output = fake.bus.plog(&["status", "--json"], None).await;
    assert_success(&output);
    assert_eq!(text(&output.stdout), format!("{STATUS}\n"));

    let output = fake.bus.plog(&["status"], None).await;
    assert_success(&output);
    let table = text(&output.stdout);
    assert!(table.contains("plogd      9.9.9\n"), "{table}");
    assert!(table.contains("keys       unlocked\n"), "{table}");
    assert_eq!(fake.calls(), ["Status", "Status"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_put_sends_the_bytes_through_the_descriptor() {
    let fake = Fake::start().await;
    let data = payload(1_500_000);
    let file = private_file(fake.bus.dir.path(), "members.bin", &data, 0o600);
    let output = fake
        .bus
        .plog(
            &["volume", "put", "members", file.to_str().expect("utf-8")],
            None,
        )
        .await;
    assert_success(&output);
    assert_eq!(fake.volume("members").as_deref(), Some(data.as_slice()));
    assert_eq!(
        text(&output.stdout),
        "Stored members: revision 1, 1.4 MiB, pending sync.\n"
    );

    let from_stdin = payload(200_000);
    let output = fake
        .bus
        .plog(
            &["volume", "put", "front", "-", "--json"],
            Some(&from_stdin),
        )
        .await;
    assert_success(&output);
    assert_eq!(fake.volume("front").as_deref(), Some(from_stdin.as_slice()));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one document");
    assert_eq!(json["vtype"], "front");
    assert_eq!(json["size"], 200_000);

    let output = fake
        .bus
        .plog(&["volume", "put", "front", "-"], Some(b""))
        .await;
    assert_success(&output);
    assert_eq!(fake.volume("front").as_deref(), Some(&b""[..]));
    assert_eq!(fake.calls(), ["Put members", "Put front", "Put front"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_get_writes_the_bytes_exactly() {
    let fake = Fake::start().await;
    let data = payload(1_200_000);
    fake.log
        .lock()
        .expect("log")
        .volumes
        .insert("journals".to_owned(), data.clone());

    let output = fake.bus.plog(&["volume", "get", "journals"], None).await;
    assert_success(&output);
    assert!(output.stdout == data, "stdout differs from the volume");

    let target = fake.bus.path("journals.out");
    let target_arg = target.to_str().expect("utf-8");
    let output = fake
        .bus
        .plog(
            &["volume", "get", "journals", "-o", target_arg, "--json"],
            None,
        )
        .await;
    assert_success(&output);
    assert!(fs::read(&target).expect("written") == data, "file differs");
    let mode = fs::metadata(&target)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one document");
    assert_eq!(json["vtype"], "journals");
    assert_eq!(json["bytes"], 1_200_000);
    assert_eq!(json["output"], target_arg);

    let missing = fake.bus.path("missing.out");
    let output = fake
        .bus
        .plog(
            &[
                "volume",
                "get",
                "polls",
                "-o",
                missing.to_str().expect("utf-8"),
            ],
            None,
        )
        .await;
    assert_failure(&output, 1, "there is no volume polls");
    assert!(!missing.exists());
    let leftovers = fs::read_dir(fake.bus.dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .count();
    assert_eq!(leftovers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passphrases_and_phrases_travel_through_pipes() {
    let fake = Fake::start().await;
    let dir = fake.bus.dir.path();
    let pass = private_file(dir, "pass", b"correct horse battery\n", 0o600);
    let output = fake
        .bus
        .plog(
            &["unlock", "--passphrase-file", pass.to_str().expect("utf-8")],
            None,
        )
        .await;
    assert_success(&output);
    assert_eq!(text(&output.stdout), "plogd is unlocked.\n");
    assert_eq!(
        fake.received("Unlock").as_deref(),
        Some(&b"correct horse battery\n"[..])
    );

    let wrong = private_file(dir, "wrong", b"wrong horse", 0o600);
    let output = fake
        .bus
        .plog(
            &[
                "unlock",
                "--passphrase-file",
                wrong.to_str().expect("utf-8"),
            ],
            None,
        )
        .await;
    assert_failure(&output, 1, "the passphrase does not open the key file");

    let shared = private_file(dir, "shared", b"correct horse", 0o644);
    let output = fake
        .bus
        .plog(
            &[
                "unlock",
                "--passphrase-file",
                shared.to_str().expect("utf-8"),
            ],
            None,
        )
        .await;
    assert_failure(&output, 2, "readable by group or others");

    let output = fake.bus.plog(&["unlock"], None).await;
    assert_failure(&output, 2, "--passphrase-file");
    assert_eq!(fake.calls(), ["Unlock", "Unlock"]);

    let output = fake
        .bus
        .plog(
            &[
                "init",
                "--json",
                "--passphrase-file",
                pass.to_str().expect("utf-8"),
            ],
            None,
        )
        .await;
    assert_success(&output);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one document");
    assert_eq!(json, serde_json::json!({ "recovery_phrase": PHRASE }));
    assert_eq!(
        fake.received("Init").as_deref(),
        Some(&b"correct horse battery\n"[..])
    );

    let output = fake
        .bus
        .plog(
            &["init", "--passphrase-file", pass.to_str().expect("utf-8")],
            None,
        )
        .await;
    assert_success(&output);
    assert_eq!(text(&output.stdout), format!("{PHRASE}\n"));
    assert!(text(&output.stderr).contains("Write it down"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_pins_are_approved_before_they_are_added() {
    let fake = Fake::start().await;
    let url = "https://10.0.0.2:8443";
    let output = fake
        .bus
        .plog(&["relay", "add", url, "--fingerprint", PIN, "--json"], None)
        .await;
    assert_success(&output);
    assert_eq!(text(&output.stdout), format!("{}\n", entry(url, PIN, "")));
    assert_eq!(fake.calls(), [format!("Add {url} {PIN}")]);

    let output = fake.bus.plog(&["relay", "add", url], None).await;
    assert_failure(&output, 2, "--fingerprint");
    assert!(text(&output.stderr).contains("--yes"));
    assert_eq!(fake.calls().len(), 1, "nothing was asked of the daemon");

    let output = fake.bus.plog(&["relay", "add", url, "--yes"], None).await;
    assert_success(&output);
    assert!(
        text(&output.stderr).contains(PROBED_PIN),
        "the pin is shown"
    );
    assert_eq!(
        fake.calls()[1..],
        [format!("Probe {url}"), format!("Add {url} {PROBED_PIN}")]
    );

    let output = fake.bus.plog(&["handle", "set", "Kit_2"], None).await;
    assert_success(&output);
    assert!(
        text(&output.stdout).contains("with handle kit_2"),
        "{output:?}"
    );
    assert_eq!(
        fake.calls().last().map(String::as_str),
        Some("SetHandle \"\" kit_2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_errors_become_exit_codes() {
    let fake = Fake::start().await;
    let output = fake.bus.plog(&["volume", "ls"], None).await;
    assert_failure(&output, 3, "the daemon is locked; run `plog unlock`");
    let output = fake.bus.plog(&["volume", "ls", "--json"], None).await;
    assert_failure(&output, 3, "plog unlock");
    let output = fake.bus.plog(&["sync"], None).await;
    assert_failure(&output, 4, "https://r.example is unreachable");
    let output = fake
        .bus
        .plog(&["volume", "put", "Bad", "-"], Some(b"x"))
        .await;
    assert_failure(&output, 2, "invalid volume type");
    assert_eq!(fake.calls(), ["List", "List", "SyncNow"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_daemon_or_bus_is_explained() {
    let bus = Bus::start();
    let output = bus.plog(&["status"], None).await;
    assert_failure(
        &output,
        1,
        "plogd is not running; start it with `systemctl --user start plogd` or run `plogd`",
    );

    let nowhere = format!("unix:path={}", bus.path("no-such-socket").display());
    let output = run_plog(Some(&nowhere), &["lock"], None).await;
    assert_failure(
        &output,
        1,
        "cannot reach the session bus at DBUS_SESSION_BUS_ADDRESS=",
    );
}
