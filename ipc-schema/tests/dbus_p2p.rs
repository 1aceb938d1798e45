//! The generated proxies against a minimal stand-in daemon over a peer-to-peer D-Bus
//! connection: secrets go in and out through file descriptors, results come back as the
//! documented JSON, and errors arrive as typed [`DaemonError`]s with their exit codes.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

use plog_ipc_schema::dbus::identity::StatusReport;
use plog_ipc_schema::dbus::{CliExitCode, DaemonError, IdentityProxy, OBJECT_PATH};
use zbus::object_server::SignalEmitter;
use zbus::{Fd, OwnedFd, connection, interface};

use crate::futures_util_shim::next;

const PASSPHRASE: &str = "correct horse battery staple";
const PHRASE: &str = "abandon ability able about above absent";

/// Stand-in for the daemon's identity object: enough to exercise every argument kind.
struct FakeIdentity {
    locked: Mutex<bool>,
}

fn read_secret(fd: OwnedFd) -> Result<String, DaemonError> {
    let mut text = String::new();
    std::fs::File::from(std::os::fd::OwnedFd::from(fd))
        .read_to_string(&mut text)
        .map_err(|e| DaemonError::InvalidArgument(e.to_string()))?;
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}

#[interface(name = "org.plurallog.Daemon1.Identity")]
impl FakeIdentity {
    async fn init(
        &self,
        passphrase_fd: OwnedFd,
        phrase_out_fd: OwnedFd,
    ) -> Result<(), DaemonError> {
        let _ = read_secret(passphrase_fd)?;
        let mut out = std::fs::File::from(std::os::fd::OwnedFd::from(phrase_out_fd));
        writeln!(out, "{PHRASE}").map_err(|e| DaemonError::Failed(e.to_string()))?;
        Ok(())
    }

    async fn unlock(
        &self,
        passphrase_fd: OwnedFd,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<(), DaemonError> {
        if read_secret(passphrase_fd)? != PASSPHRASE {
            return Err(DaemonError::WrongPassphrase(
                "the passphrase does not open the key file".to_owned(),
            ));
        }
        *self
            .locked
            .lock()
            .map_err(|_| DaemonError::Failed("poisoned".to_owned()))? = false;
        Self::lock_state_changed(&emitter, false)
            .await
            .map_err(|e| DaemonError::Failed(e.to_string()))
    }

    async fn lock(&self) -> Result<(), DaemonError> {
        Err(DaemonError::Locked(
            "already locked; run `plog unlock`".to_owned(),
        ))
    }

    async fn status(&self) -> Result<String, DaemonError> {
        let locked = *self
            .locked
            .lock()
            .map_err(|_| DaemonError::Failed("poisoned".to_owned()))?;
        serde_json::to_string(&StatusReport {
            version: "test".to_owned(),
            initialized: true,
            locked,
            auto_lock_secs: None,
            relays: 0,
            live_relays: 0,
            syncing: false,
            last_sync_at: None,
            last_sync_error: None,
        })
        .map_err(|e| DaemonError::Failed(e.to_string()))
    }

    #[zbus(signal)]
    async fn lock_state_changed(emitter: &SignalEmitter<'_>, locked: bool) -> zbus::Result<()>;
}

async fn connect() -> (zbus::Connection, zbus::Connection) {
    let (server_socket, client_socket) = UnixStream::pair().expect("socket pair");
    let guid = zbus::Guid::generate();
    let server = connection::Builder::unix_stream(server_socket)
        .server(guid)
        .p2p()
        .serve_at(
            OBJECT_PATH,
            FakeIdentity {
                locked: Mutex::new(true),
            },
        )
        .build();
    let client = connection::Builder::unix_stream(client_socket)
        .p2p()
        .build();
    let (server, client) = tokio::try_join!(server, client).expect("p2p connection");
    (server, client)
}

fn pipe_with(content: &str) -> std::io::PipeReader {
    let (reader, mut writer) = std::io::pipe().expect("pipe");
    writer.write_all(content.as_bytes()).expect("write pipe");
    reader
}

#[tokio::test]
async fn identity_proxy_round_trip() {
    let (_server, client) = connect().await;
    let proxy = IdentityProxy::new(&client).await.expect("proxy");

    // Status: JSON in the documented shape.
    let status: StatusReport =
        serde_json::from_str(&proxy.status().await.expect("status")).expect("status JSON");
    assert!(status.locked);

    // Init: passphrase in through one fd, recovery phrase out through another.
    let passphrase = pipe_with(&format!("{PASSPHRASE}\n"));
    let (mut phrase_reader, phrase_writer) = std::io::pipe().expect("pipe");
    proxy
        .init(Fd::from(&passphrase), Fd::from(&phrase_writer))
        .await
        .expect("init");
    drop(phrase_writer);
    let mut phrase = String::new();
    phrase_reader
        .read_to_string(&mut phrase)
        .expect("read phrase");
    assert_eq!(phrase, format!("{PHRASE}\n"));

    // Unlock with a wrong passphrase: a typed error with its exit code.
    let wrong = pipe_with("hunter2");
    let error = proxy
        .unlock(Fd::from(&wrong))
        .await
        .expect_err("wrong passphrase");
    assert!(matches!(&error, DaemonError::WrongPassphrase(d) if d.contains("key file")));
    assert_eq!(error.exit_code(), CliExitCode::Failure);

    // Lock on a locked daemon: `Locked`, exit code 3.
    let error = proxy.lock().await.expect_err("locked");
    assert!(matches!(error, DaemonError::Locked(_)));
    assert_eq!(error.exit_code().code(), 3);

    // Unlock for real: the signal arrives and the status changes.
    let mut changes = proxy.receive_lock_state_changed().await.expect("subscribe");
    let right = pipe_with(PASSPHRASE);
    proxy.unlock(Fd::from(&right)).await.expect("unlock");
    let signal = next(&mut changes).await.expect("signal");
    assert!(!*signal.args().expect("signal args").locked());
    let status: StatusReport =
        serde_json::from_str(&proxy.status().await.expect("status")).expect("status JSON");
    assert!(!status.locked);

    // A method the stand-in lacks: an untyped D-Bus error, exit code 1.
    let error = proxy
        .restore(
            Fd::from(&pipe_with(PHRASE)),
            Fd::from(&pipe_with(PASSPHRASE)),
        )
        .await
        .expect_err("unknown method");
    assert!(matches!(error, DaemonError::ZBus(_)));
    assert_eq!(error.exit_code().code(), 1);
}

/// `Stream::next` without a futures dependency: poll the signal stream by hand.
mod futures_util_shim {
    use std::future::poll_fn;
    use std::pin::Pin;

    use zbus::export::futures_core::Stream;

    pub(crate) async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
        poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
    }
}
