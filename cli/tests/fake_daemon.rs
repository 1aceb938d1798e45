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

use plog_ipc_schema::dbus::friends::{
    FriendEntry, FriendRequest, FriendState, InviteIssued, RequestVia, SafetyNumber,
};
use plog_ipc_schema::dbus::sharing::{IncomingShare, ShareEntry, SharedView};
use plog_ipc_schema::dbus::{BUS_NAME, DaemonError, OBJECT_PATH};
use plog_ipc_schema::{Handle, VolumeType};
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
    /// What the system `the-crew` shares with us, by type.
    shared: BTreeMap<String, Vec<u8>>,
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

/// The invite code the fake hands out.
const INVITE_CODE: &str = "ABCDEFGHABCDEFGHABCDEFGHAB.SECRETSECRETSECRETSECRETSECRET";

/// The safety number the fake shows for `bob`.
const SAFETY: &str = "11111 22222 33333 44444 55555 66666 77777 88888 99999 00000 12121 34343";

/// A request id the fake knows.
const REQUEST_ID: &str = "00000000-0000-0000-0000-0000000000a1";

/// An invite id the fake knows.
const INVITE_ID: &str = "00000000-0000-0000-0000-0000000000b1";

const RELAY: &str = "https://r.example";

fn uuid(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

fn vtypes(names: &[&str]) -> Vec<VolumeType> {
    names
        .iter()
        .map(|name| VolumeType::parse(name).expect("vtype"))
        .collect()
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("json")
}

/// A friend entry as the fake describes it.
fn friend(name: &str, state: FriendState, verified: bool, by_me: &[&str]) -> FriendEntry {
    FriendEntry {
        id: uuid(0x10),
        name: name.to_owned(),
        handle: Handle::parse(name).ok(),
        relay: RELAY.to_owned(),
        user_id: uuid(0x20),
        state,
        verified,
        key_changed: false,
        shared_by_me: vtypes(by_me),
        shared_with_me: vtypes(&["front"]),
    }
}

fn invite_issued(uses: u32, ttl: u64) -> InviteIssued {
    InviteIssued {
        id: INVITE_ID.parse().expect("uuid"),
        relay: RELAY.to_owned(),
        expires_at: 4_000_000_000 + ttl,
        uses: if uses == 0 { 1 } else { uses },
    }
}

/// What `Friends.List` answers.
fn friends_listing() -> String {
    json(&vec![
        friend("bob", FriendState::Linked, true, &["front", "members"]),
        friend("kit", FriendState::Pending, false, &[]),
    ])
}

/// What `Sharing.List` answers.
fn shares_listing() -> String {
    json(&vec![ShareEntry {
        id: uuid(0x10),
        name: "bob".to_owned(),
        vtypes: vtypes(&["front", "members"]),
    }])
}

fn not_found(what: &str) -> DaemonError {
    DaemonError::NotFound(format!("there is no {what}"))
}

struct FakeFriends(Shared);

#[zbus::interface(name = "org.plurallog.Daemon1.Friends")]
impl FakeFriends {
    async fn invite(
        &self,
        relay: &str,
        uses: u32,
        ttl_secs: u64,
        code_out_fd: OwnedFd,
    ) -> Result<String, DaemonError> {
        record(&self.0, format!("Invite {relay:?} {uses} {ttl_secs}"));
        if relay == "https://down.example" {
            return Err(DaemonError::Network(format!("{relay} is unreachable")));
        }
        write_fd(code_out_fd, format!("{INVITE_CODE}\n").into_bytes()).await;
        Ok(json(&invite_issued(uses, ttl_secs)))
    }

    async fn invites(&self) -> Result<String, DaemonError> {
        record(&self.0, "Invites".to_owned());
        Ok(json(&vec![invite_issued(2, 3600)]))
    }

    async fn revoke_invite(&self, id: &str) -> Result<(), DaemonError> {
        record(&self.0, format!("RevokeInvite {id}"));
        if id == INVITE_ID {
            Ok(())
        } else {
            Err(not_found("such invite"))
        }
    }

    async fn set_handle_requests(&self, relay: &str, accept: bool) -> Result<(), DaemonError> {
        record(&self.0, format!("SetHandleRequests {relay:?} {accept}"));
        Ok(())
    }

    async fn request(&self, code_fd: OwnedFd) -> Result<String, DaemonError> {
        let code = read_fd(code_fd).await;
        record(&self.0, "Request".to_owned());
        let used_up = code.starts_with(b"USED");
        self.0
            .lock()
            .expect("log")
            .received
            .insert("Request".to_owned(), code);
        if used_up {
            return Err(DaemonError::NotFound(
                "this invite does not exist (any more)".to_owned(),
            ));
        }
        Ok(json(&friend("sam", FriendState::Pending, true, &[])))
    }

    async fn request_by_handle(&self, relay: &str, handle: &str) -> Result<String, DaemonError> {
        record(&self.0, format!("RequestByHandle {relay:?} {handle}"));
        if handle == "nobody" {
            return Err(not_found("account with handle nobody"));
        }
        Ok(json(&friend(handle, FriendState::Pending, false, &[])))
    }

    async fn requests(&self) -> Result<String, DaemonError> {
        record(&self.0, "Requests".to_owned());
        Ok(json(&vec![FriendRequest {
            id: REQUEST_ID.parse().expect("uuid"),
            name: "kit".to_owned(),
            handle: Handle::parse("kit").ok(),
            relay: RELAY.to_owned(),
            user_id: uuid(0x21),
            via: RequestVia::Handle,
            verified: false,
            received_at: 86_400,
        }]))
    }

    async fn approve(&self, id: &str) -> Result<String, DaemonError> {
        record(&self.0, format!("Approve {id}"));
        if id != REQUEST_ID {
            return Err(not_found("such friend request"));
        }
        Ok(json(&friend("kit", FriendState::Linked, false, &[])))
    }

    async fn deny(&self, id: &str) -> Result<(), DaemonError> {
        record(&self.0, format!("Deny {id}"));
        Ok(())
    }

    async fn list(&self) -> Result<String, DaemonError> {
        record(&self.0, "List".to_owned());
        Ok(friends_listing())
    }

    async fn verify(&self, friend: &str) -> Result<String, DaemonError> {
        record(&self.0, format!("Verify {friend}"));
        if friend == "ghost" {
            return Err(not_found("friend ghost"));
        }
        Ok(json(&SafetyNumber {
            id: uuid(0x10),
            name: friend.to_owned(),
            safety_number: SAFETY.to_owned(),
            verified: friend == "carol",
        }))
    }

    async fn confirm_verified(
        &self,
        friend: &str,
        safety_number: &str,
    ) -> Result<String, DaemonError> {
        record(&self.0, format!("ConfirmVerified {friend} {safety_number}"));
        if friend == "changing" {
            return Err(DaemonError::Conflict(
                "changing's key changed meanwhile; compare the new number".to_owned(),
            ));
        }
        Ok(json(&self::friend(friend, FriendState::Linked, true, &[])))
    }

    async fn rename(&self, friend: &str, name: &str) -> Result<String, DaemonError> {
        record(&self.0, format!("Rename {friend} {name}"));
        Ok(json(&self::friend(name, FriendState::Linked, true, &[])))
    }

    async fn remove(&self, friend: &str) -> Result<(), DaemonError> {
        record(&self.0, format!("Remove {friend}"));
        Ok(())
    }
}

struct FakeSharing(Shared);

#[zbus::interface(name = "org.plurallog.Daemon1.Sharing")]
impl FakeSharing {
    async fn grant(
        &self,
        friend: &str,
        vtypes: Vec<String>,
        allow_unverified: bool,
    ) -> Result<String, DaemonError> {
        record(
            &self.0,
            format!("Grant {friend} {vtypes:?} {allow_unverified}"),
        );
        if friend == "kit" && !allow_unverified {
            return Err(DaemonError::Unverified(
                "kit's key is not verified".to_owned(),
            ));
        }
        let names: Vec<&str> = vtypes.iter().map(String::as_str).collect();
        Ok(json(&ShareEntry {
            id: uuid(0x10),
            name: friend.to_owned(),
            vtypes: self::vtypes(&names),
        }))
    }

    async fn revoke(&self, friend: &str, vtypes: Vec<String>) -> Result<String, DaemonError> {
        record(&self.0, format!("Revoke {friend} {vtypes:?}"));
        let remaining: Vec<&str> = if vtypes.is_empty() {
            Vec::new()
        } else {
            ["front", "members"]
                .into_iter()
                .filter(|t| !vtypes.iter().any(|v| v == t))
                .collect()
        };
        Ok(json(&ShareEntry {
            id: uuid(0x10),
            name: friend.to_owned(),
            vtypes: self::vtypes(&remaining),
        }))
    }

    async fn list(&self) -> Result<String, DaemonError> {
        record(&self.0, "ShareList".to_owned());
        Ok(shares_listing())
    }

    async fn incoming(&self, system: &str) -> Result<String, DaemonError> {
        record(&self.0, format!("Incoming {system}"));
        if system != "the-crew" {
            return Err(not_found(&format!("friend {system}")));
        }
        let shared: Vec<String> = self.0.lock().expect("log").shared.keys().cloned().collect();
        let shares: Vec<IncomingShare> = shared
            .iter()
            .map(|vtype| IncomingShare {
                id: uuid(0x50),
                name: VolumeType::parse(vtype).expect("vtype"),
                system_id: uuid(0x10),
                system: "the-crew".to_owned(),
                revision: 3,
                updated_at: 86_400,
            })
            .collect();
        Ok(json(&shares))
    }

    async fn view(
        &self,
        system: &str,
        vtype: &str,
        out_fd: OwnedFd,
    ) -> Result<String, DaemonError> {
        record(&self.0, format!("View {system} {vtype}"));
        if system == "locked" {
            return Err(DaemonError::Locked(
                "the daemon is locked; run `plog unlock`".to_owned(),
            ));
        }
        let content = self.0.lock().expect("log").shared.get(vtype).cloned();
        let Some(content) = content.filter(|_| system == "the-crew") else {
            return Err(not_found(&format!("volume {vtype} shared by {system}")));
        };
        let size = content.len() as u64;
        write_fd(out_fd, content).await;
        Ok(json(&SharedView {
            id: uuid(0x50),
            vtype: VolumeType::parse(vtype).expect("vtype"),
            system_id: uuid(0x10),
            system: "the-crew".to_owned(),
            revision: 3,
            size,
            sensitive: true,
        }))
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
            .serve_at(OBJECT_PATH, FakeFriends(log.clone()))
            .serve_at(OBJECT_PATH, FakeSharing(log.clone()))
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

fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("exactly one JSON document on stdout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_invite_prints_the_code_once() {
    let fake = Fake::start().await;
    let output = fake.bus.plog(&["friend", "invite"], None).await;
    assert_success(&output);
    assert_eq!(text(&output.stdout), format!("{INVITE_CODE}\n"));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("only to the person you are inviting"),
        "{stderr}"
    );
    assert!(stderr.contains("for 1 friend request until"), "{stderr}");
    assert!(stderr.contains(RELAY), "{stderr}");
    assert!(stderr.contains(&format!("plog friend invite revoke {INVITE_ID}")));
    assert!(!stderr.contains(INVITE_CODE), "the code is printed once");

    let output = fake
        .bus
        .plog(
            &[
                "friend",
                "invite",
                "--uses",
                "3",
                "--expires",
                "7d",
                "--relay",
                RELAY,
                "--json",
            ],
            None,
        )
        .await;
    assert_success(&output);
    assert_eq!(json_of(&output), serde_json::json!({ "code": INVITE_CODE }));
    assert!(output.stderr.is_empty(), "{}", text(&output.stderr));

    let output = fake
        .bus
        .plog(
            &["friend", "invite", "--relay", "https://down.example"],
            None,
        )
        .await;
    assert_failure(&output, 4, "https://down.example is unreachable");
    let output = fake
        .bus
        .plog(&["friend", "invite", "--expires", "soon"], None)
        .await;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        fake.calls(),
        [
            "Invite \"\" 0 0".to_owned(),
            format!("Invite \"{RELAY}\" 3 604800"),
            "Invite \"https://down.example\" 0 0".to_owned(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_invites_are_listed_and_revoked() {
    let fake = Fake::start().await;
    let output = fake.bus.plog(&["friend", "invites", "--json"], None).await;
    assert_success(&output);
    let listed = json_of(&output);
    assert_eq!(listed[0]["id"], INVITE_ID);
    assert_eq!(listed[0]["uses"], 2);
    let output = fake.bus.plog(&["friend", "invites"], None).await;
    assert_success(&output);
    let table = text(&output.stdout);
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table.contains(INVITE_ID) && table.contains(RELAY),
        "{table}"
    );

    let output = fake
        .bus
        .plog(&["friend", "invite", "revoke", INVITE_ID, "--json"], None)
        .await;
    assert_success(&output);
    assert_eq!(
        json_of(&output),
        serde_json::json!({ "revoked": INVITE_ID })
    );
    let output = fake
        .bus
        .plog(&["friend", "invite", "revoke", "nope"], None)
        .await;
    assert_failure(&output, 1, "there is no such invite");
    assert_eq!(
        fake.calls(),
        [
            "Invites".to_owned(),
            "Invites".to_owned(),
            format!("RevokeInvite {INVITE_ID}"),
            "RevokeInvite nope".to_owned(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_requests_send_codes_only_through_pipes() {
    let fake = Fake::start().await;
    let output = fake
        .bus
        .plog(&["friend", "request", INVITE_CODE], None)
        .await;
    assert_success(&output);
    assert_eq!(
        fake.received("Request").as_deref(),
        Some(INVITE_CODE.as_bytes())
    );
    let out = text(&output.stdout);
    assert!(out.starts_with("Friend request sent to sam;"), "{out}");
    assert!(out.contains("verified by the invite code"), "{out}");

    let from_stdin = format!("{INVITE_CODE}\n");
    let output = fake
        .bus
        .plog(
            &["friend", "request", "-", "--json"],
            Some(from_stdin.as_bytes()),
        )
        .await;
    assert_success(&output);
    assert_eq!(
        fake.received("Request").as_deref(),
        Some(from_stdin.as_bytes())
    );
    let entry = json_of(&output);
    assert_eq!(
        (entry["name"].as_str(), entry["verified"].as_bool()),
        (Some("sam"), Some(true))
    );
    assert_eq!(entry["state"], "pending");

    let output = fake
        .bus
        .plog(&["friend", "request", "-"], Some(b"USED.CODE\n"))
        .await;
    assert_failure(&output, 1, "this invite does not exist");

    let output = fake
        .bus
        .plog(&["friend", "request", "-"], Some(b"no-dot-here\n"))
        .await;
    assert_failure(&output, 2, "does not look like an invite code");
    assert!(!text(&output.stderr).contains("no-dot-here"));

    let output = fake
        .bus
        .plog(
            &["friend", "request", "--handle", "Kit", "--relay", RELAY],
            None,
        )
        .await;
    assert_success(&output);
    assert!(
        text(&output.stdout).contains("plog friend verify kit"),
        "{output:?}"
    );
    let output = fake
        .bus
        .plog(&["friend", "request", "--handle", "nobody", "--json"], None)
        .await;
    assert_failure(&output, 1, "there is no account with handle nobody");
    let output = fake
        .bus
        .plog(&["friend", "request", "--handle", "x y"], None)
        .await;
    assert_failure(&output, 2, "invalid handle");

    let calls = fake.calls();
    assert_eq!(
        calls,
        [
            "Request".to_owned(),
            "Request".to_owned(),
            "Request".to_owned(),
            format!("RequestByHandle \"{RELAY}\" kit"),
            "RequestByHandle \"\" nobody".to_owned(),
        ]
    );
    assert!(calls.iter().all(|call| !call.contains("SECRET")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_requests_are_listed_approved_and_denied() {
    let fake = Fake::start().await;
    let output = fake.bus.plog(&["friend", "requests", "--json"], None).await;
    assert_success(&output);
    let listed = json_of(&output);
    assert_eq!(listed[0]["id"], REQUEST_ID);
    assert_eq!(listed[0]["name"], "kit");
    assert_eq!(listed[0]["via"], "handle");

    let output = fake.bus.plog(&["friend", "requests"], None).await;
    assert_success(&output);
    assert_eq!(
        text(&output.stdout),
        format!(
            "ID                                    NAME  VIA     VERIFIED  RECEIVED\n\
             {REQUEST_ID}  kit   handle  no        1970-01-02 00:00 UTC\n"
        )
    );

    let output = fake
        .bus
        .plog(&["friend", "approve", REQUEST_ID], None)
        .await;
    assert_success(&output);
    let out = text(&output.stdout);
    assert!(
        out.starts_with("Approved: kit is your friend now.\n"),
        "{out}"
    );
    assert!(out.contains("state           linked"), "{out}");
    let output = fake
        .bus
        .plog(&["friend", "approve", REQUEST_ID, "--json"], None)
        .await;
    assert_success(&output);
    assert_eq!(json_of(&output)["state"], "linked");
    let output = fake.bus.plog(&["friend", "approve", "other"], None).await;
    assert_failure(&output, 1, "there is no such friend request");

    let output = fake
        .bus
        .plog(&["friend", "deny", REQUEST_ID, "--json"], None)
        .await;
    assert_success(&output);
    assert_eq!(
        json_of(&output),
        serde_json::json!({ "denied": REQUEST_ID })
    );
    assert_eq!(
        fake.calls()[2..],
        [
            format!("Approve {REQUEST_ID}"),
            format!("Approve {REQUEST_ID}"),
            "Approve other".to_owned(),
            format!("Deny {REQUEST_ID}"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_list_prints_a_table_or_the_daemons_json() {
    let fake = Fake::start().await;
    let output = fake.bus.plog(&["friend", "list", "--json"], None).await;
    assert_success(&output);
    assert_eq!(text(&output.stdout), format!("{}\n", friends_listing()));
    let listed = json_of(&output);
    assert!(listed.as_array().is_some_and(|a| a.len() == 2));
    assert_eq!(listed[1]["name"], "kit");

    let output = fake.bus.plog(&["friend", "list"], None).await;
    assert_success(&output);
    assert_eq!(
        text(&output.stdout),
        "NAME  STATE    VERIFIED  KEY CHANGED  SHARED BY ME    SHARED WITH ME\n\
         bob   linked   yes       no           front, members  front\n\
         kit   pending  no        no           -               front\n"
    );
    assert_eq!(fake.calls(), ["List", "List"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_verify_confirms_only_when_told() {
    let fake = Fake::start().await;
    // No terminal, no flag: nothing is confirmed, the number and both flags are named.
    let output = fake.bus.plog(&["friend", "verify", "bob"], None).await;
    assert_failure(&output, 2, "--yes");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--show") && stderr.contains(SAFETY),
        "{stderr}"
    );
    assert_eq!(fake.calls(), ["Verify bob"]);

    let output = fake
        .bus
        .plog(&["friend", "verify", "bob", "--show"], None)
        .await;
    assert_success(&output);
    let out = text(&output.stdout);
    assert!(
        out.starts_with(
            "Safety number with bob:\n\n    11111 22222 33333 44444\n    55555 66666 77777 88888\n    99999 00000 12121 34343\n\n"
        ),
        "{out}"
    );
    assert!(
        out.ends_with(
            "bob is not verified yet; once the digits match, run `plog friend verify bob`.\n"
        ),
        "{out}"
    );

    let output = fake
        .bus
        .plog(&["friend", "verify", "bob", "--show", "--json"], None)
        .await;
    assert_success(&output);
    let number = json_of(&output);
    assert_eq!(number["safety_number"], SAFETY);
    assert_eq!(number["verified"], false);

    let output = fake
        .bus
        .plog(&["friend", "verify", "bob", "--yes"], None)
        .await;
    assert_success(&output);
    let out = text(&output.stdout);
    assert!(out.contains("    11111 22222 33333 44444\n"), "{out}");
    assert!(out.contains("bob is verified.\n"), "{out}");

    let output = fake
        .bus
        .plog(&["friend", "verify", "bob", "--yes", "--json"], None)
        .await;
    assert_success(&output);
    let entry = json_of(&output);
    assert_eq!(
        (entry["name"].as_str(), entry["verified"].as_bool()),
        (Some("bob"), Some(true))
    );
    assert!(
        text(&output.stderr).contains("11111 22222"),
        "shown on stderr"
    );

    let output = fake.bus.plog(&["friend", "verify", "carol"], None).await;
    assert_success(&output);
    assert!(text(&output.stdout).ends_with("carol is verified.\n"));

    let output = fake
        .bus
        .plog(&["friend", "verify", "changing", "--yes"], None)
        .await;
    assert_eq!(output.status.code(), Some(5), "{output:?}");
    assert!(text(&output.stderr).contains("key changed meanwhile"));
    let output = fake
        .bus
        .plog(&["friend", "verify", "ghost", "--yes"], None)
        .await;
    assert_failure(&output, 1, "there is no friend ghost");
    let output = fake
        .bus
        .plog(&["friend", "verify", "bob", "--yes", "--show"], None)
        .await;
    assert_failure(&output, 2, "pass one of them");

    assert_eq!(
        fake.calls()[1..],
        [
            "Verify bob".to_owned(),
            "Verify bob".to_owned(),
            "Verify bob".to_owned(),
            format!("ConfirmVerified bob {SAFETY}"),
            "Verify bob".to_owned(),
            format!("ConfirmVerified bob {SAFETY}"),
            "Verify carol".to_owned(),
            "Verify changing".to_owned(),
            format!("ConfirmVerified changing {SAFETY}"),
            "Verify ghost".to_owned(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friend_rename_remove_and_handle_requests() {
    let fake = Fake::start().await;
    let output = fake
        .bus
        .plog(&["friend", "rename", "bob", "robert"], None)
        .await;
    assert_success(&output);
    assert!(text(&output.stdout).starts_with("bob is now called robert.\n"));
    let output = fake
        .bus
        .plog(&["friend", "rename", "bob", "robert", "--json"], None)
        .await;
    assert_success(&output);
    assert_eq!(json_of(&output)["name"], "robert");

    let output = fake.bus.plog(&["friend", "remove", "bob"], None).await;
    assert_failure(&output, 2, "--yes");
    assert!(text(&output.stderr).contains("revoked"));
    let output = fake
        .bus
        .plog(&["friend", "remove", "bob", "--yes", "--json"], None)
        .await;
    assert_success(&output);
    assert_eq!(json_of(&output), serde_json::json!({ "removed": "bob" }));

    let output = fake
        .bus
        .plog(
            &["friend", "handle-requests", "off", "--relay", RELAY],
            None,
        )
        .await;
    assert_success(&output);
    assert!(text(&output.stdout).contains("refused at https://r.example"));
    let output = fake
        .bus
        .plog(&["friend", "handle-requests", "on", "--json"], None)
        .await;
    assert_success(&output);
    assert_eq!(
        json_of(&output),
        serde_json::json!({ "relay": null, "handle_requests": true })
    );
    assert_eq!(
        fake.calls(),
        [
            "Rename bob robert".to_owned(),
            "Rename bob robert".to_owned(),
            "Remove bob".to_owned(),
            format!("SetHandleRequests \"{RELAY}\" false"),
            "SetHandleRequests \"\" true".to_owned(),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_grant_revoke_and_list() {
    let fake = Fake::start().await;
    let output = fake
        .bus
        .plog(&["share", "grant", "bob", "front", "members"], None)
        .await;
    assert_success(&output);
    assert_eq!(text(&output.stdout), "Shared with bob: front, members.\n");
    let output = fake
        .bus
        .plog(&["share", "grant", "bob", "front", "--json"], None)
        .await;
    assert_success(&output);
    assert_eq!(
        json_of(&output),
        serde_json::json!({ "id": uuid(0x10).to_string(), "name": "bob", "vtypes": ["front"] })
    );

    let output = fake
        .bus
        .plog(&["share", "grant", "kit", "front"], None)
        .await;
    assert_failure(&output, 1, "kit's key is not verified");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("--unverified") && stderr.contains("plog friend verify kit"),
        "{stderr}"
    );
    let output = fake
        .bus
        .plog(&["share", "grant", "kit", "front", "--unverified"], None)
        .await;
    assert_success(&output);
    let output = fake
        .bus
        .plog(&["share", "grant", "bob", "manifest"], None)
        .await;
    assert_failure(&output, 2, "never shared");

    let output = fake
        .bus
        .plog(&["share", "revoke", "bob", "front"], None)
        .await;
    assert_success(&output);
    assert!(
        text(&output.stdout)
            .starts_with("Revoked front from bob; still shared with them: members."),
        "{output:?}"
    );
    let output = fake.bus.plog(&["share", "revoke", "bob"], None).await;
    assert_failure(&output, 2, "--yes");
    let output = fake
        .bus
        .plog(&["share", "revoke", "bob", "--yes", "--json"], None)
        .await;
    assert_success(&output);
    assert_eq!(json_of(&output)["vtypes"], serde_json::json!([]));

    let output = fake.bus.plog(&["share", "list", "--json"], None).await;
    assert_success(&output);
    assert_eq!(text(&output.stdout), format!("{}\n", shares_listing()));
    let output = fake.bus.plog(&["share", "list"], None).await;
    assert_success(&output);
    assert_eq!(
        text(&output.stdout),
        "FRIEND  TYPES\nbob     front, members\n"
    );
    assert_eq!(
        fake.calls(),
        [
            "Grant bob [\"front\", \"members\"] false",
            "Grant bob [\"front\"] false",
            "Grant kit [\"front\"] false",
            "Grant kit [\"front\"] true",
            "Revoke bob [\"front\"]",
            "Revoke bob []",
            "ShareList",
            "ShareList",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_prints_what_a_system_shares() {
    let fake = Fake::start().await;
    let binary = payload(1_300_000);
    {
        let mut log = fake.log.lock().expect("log");
        log.shared
            .insert("front".to_owned(), b"alice \x1b[31mfronting\n".to_vec());
        log.shared.insert("members".to_owned(), binary.clone());
    }

    // Larger than a pipe's buffer: read while the daemon writes, byte for byte.
    let output = fake
        .bus
        .plog(&["view", "the-crew", "members", "--raw"], None)
        .await;
    assert_success(&output);
    assert!(output.stdout == binary, "raw output differs");

    let output = fake.bus.plog(&["view", "the-crew", "front"], None).await;
    assert_success(&output);
    assert_eq!(
        text(&output.stdout),
        "== front from the-crew (revision 3, 20 B) ==\nalice \\u{1b}[31mfronting\n"
    );

    let output = fake.bus.plog(&["view", "the-crew"], None).await;
    assert_success(&output);
    let out = text(&output.stdout);
    assert!(out.contains("== members from the-crew (revision 3, 1.2 MiB) ==\n1300000 bytes of binary content; use --raw"), "{out}");
    assert!(out.starts_with("== front from the-crew"), "{out}");

    let output = fake.bus.plog(&["view", "the-crew", "--json"], None).await;
    assert_success(&output);
    let views = json_of(&output);
    assert_eq!(views[0]["name"], "front");
    assert_eq!(views[0]["content"], "alice \u{1b}[31mfronting\n");
    assert_eq!(views[0]["sensitive"], true);
    assert_eq!(views[0]["system"], "the-crew");
    assert_eq!(views[1]["name"], "members");
    assert_eq!(views[1]["size"], 1_300_000);
    assert!(views[1]["content"].is_null());
    assert!(views[1]["id"].is_string() && views[1]["system_id"].is_string());

    let output = fake
        .bus
        .plog(&["view", "the-crew", "front", "--json"], None)
        .await;
    assert_success(&output);
    assert!(json_of(&output).as_array().is_some_and(|a| a.len() == 1));

    let calls_so_far = fake.calls().len();
    let output = fake.bus.plog(&["view", "the-crew", "--raw"], None).await;
    assert_failure(&output, 2, "--raw needs TYPE");
    assert_eq!(fake.calls().len(), calls_so_far, "nothing asked");

    let output = fake.bus.plog(&["view", "ghost"], None).await;
    assert_failure(&output, 1, "there is no friend ghost");
    let output = fake.bus.plog(&["view", "the-crew", "polls"], None).await;
    assert_failure(&output, 1, "there is no volume polls shared by the-crew");
    let output = fake
        .bus
        .plog(&["view", "locked", "front", "--json"], None)
        .await;
    assert_failure(&output, 3, "plog unlock");
    assert_eq!(
        fake.calls(),
        [
            "View the-crew members",
            "View the-crew front",
            "Incoming the-crew",
            "View the-crew front",
            "View the-crew members",
            "Incoming the-crew",
            "View the-crew front",
            "View the-crew members",
            "View the-crew front",
            "Incoming ghost",
            "View the-crew polls",
            "View locked front",
        ]
    );
}
