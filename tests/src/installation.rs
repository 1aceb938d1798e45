//! One user's PluralLog installation for end-to-end tests: XDG directories in a temporary
//! home, the real `plogd` on a private session bus, and the real `plog` run against it.
//!
//! The daemon is ready when it owns its bus name; [`Installation::start_daemon`] waits for
//! the bus's `NameOwnerChanged` signal, never on a timer.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use tempfile::TempDir;

use crate::binaries;
use crate::session_bus::SessionBus;

/// The daemon's well-known bus name.
pub const BUS_NAME: &str = "org.plurallog.Daemon1";

/// How long a daemon may take to claim its name.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Argon2 costs low enough for tests (the defaults take a second per key file here), in the
/// daemon's `[kdf]` keys.
pub const TEST_KDF_CONFIG: &str = "[kdf]\nmemory_kib = 8192\ntime_cost = 1\nparallelism = 1\n";

/// How long one `plog` run may take before it is killed and the test fails (a 64 MiB sync in a
/// debug build takes well under a minute; a hang must not stall the whole test run).
const PLOG_TIMEOUT: Duration = Duration::from_secs(300);

/// The XDG directories of one test user.
#[derive(Debug)]
pub struct Installation {
    home: TempDir,
}

impl Installation {
    /// Creates an empty home with the five XDG directories (mode 0700) and a daemon
    /// configuration with low KDF costs plus `extra_config`.
    ///
    /// # Panics
    /// If the directories cannot be created.
    #[must_use]
    pub fn new(extra_config: &str) -> Self {
        let home = tempfile::Builder::new()
            .prefix("plog-home-")
            .tempdir()
            .expect("temporary home");
        let installation = Self { home };
        for dir in ["config", "data", "state", "cache", "runtime"] {
            let path = installation.home.path().join(dir);
            fs::create_dir_all(&path).expect("XDG directory");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        installation.write_config(&format!("{TEST_KDF_CONFIG}{extra_config}"));
        installation
    }

    /// The temporary home directory.
    #[must_use]
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `$XDG_DATA_HOME`.
    #[must_use]
    pub fn data_home(&self) -> PathBuf {
        self.home.path().join("data")
    }

    /// The daemon's configuration file (`$XDG_CONFIG_HOME/plog/plogd.toml`).
    #[must_use]
    pub fn config_path(&self) -> PathBuf {
        self.home.path().join("config/plog/plogd.toml")
    }

    /// Replaces the daemon's configuration file, atomically (as editors do).
    ///
    /// # Panics
    /// If the file cannot be written.
    pub fn write_config(&self, text: &str) {
        let path = self.config_path();
        let dir = path.parent().expect("config directory");
        fs::create_dir_all(dir).expect("config directory");
        let temporary = dir.join(".plogd.toml.new");
        fs::write(&temporary, text).expect("write config");
        fs::rename(&temporary, &path).expect("replace config");
    }

    /// Writes `secret` to a new 0600 file in the home and returns its path (for
    /// `--passphrase-file` and `--phrase-file`).
    ///
    /// # Panics
    /// If the file cannot be written.
    #[must_use]
    pub fn secret_file(&self, name: &str, secret: &str) -> PathBuf {
        let path = self.home.path().join(name);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode_0600()
            .open(&path)
            .expect("secret file");
        file.write_all(secret.as_bytes()).expect("write secret");
        path
    }

    /// `HOME` and the five XDG base directories of this installation, for a bus that
    /// activates its daemon ([`SessionBus::start_with_env`]).
    #[must_use]
    pub fn xdg_env(&self) -> Vec<(&'static str, PathBuf)> {
        let home = self.home.path();
        vec![
            ("HOME", home.to_path_buf()),
            ("XDG_CONFIG_HOME", home.join("config")),
            ("XDG_DATA_HOME", home.join("data")),
            ("XDG_STATE_HOME", home.join("state")),
            ("XDG_CACHE_HOME", home.join("cache")),
            ("XDG_RUNTIME_DIR", home.join("runtime")),
        ]
    }

    /// The XDG directories (what the daemon may write to), for scans of what it stores.
    #[must_use]
    pub fn xdg_dirs(&self) -> Vec<PathBuf> {
        self.xdg_env()
            .into_iter()
            .filter(|(name, _)| *name != "HOME")
            .map(|(_, dir)| dir)
            .collect()
    }

    /// The environment every process of this installation runs with.
    #[must_use]
    pub fn env(&self, bus: &SessionBus) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .xdg_env()
            .into_iter()
            .map(|(name, dir)| (name.to_owned(), dir.display().to_string()))
            .collect();
        env.push((
            "DBUS_SESSION_BUS_ADDRESS".to_owned(),
            bus.address().to_owned(),
        ));
        env
    }

    /// Starts `plogd` on `bus` and waits until it owns its name.
    ///
    /// # Panics
    /// If the daemon cannot be built or started, exits, or does not claim its name in time.
    pub async fn start_daemon(&self, bus: &SessionBus) -> DaemonProcess {
        let connection = bus.connect().await;
        let dbus = zbus::fdo::DBusProxy::new(&connection)
            .await
            .expect("bus proxy");
        let mut owners = dbus
            .receive_name_owner_changed_with_args(&[(0, BUS_NAME)])
            .await
            .expect("watch the daemon's name");
        let mut command = binaries::command(binaries::DAEMON).expect("plogd executable");
        command
            .envs(self.env(bus))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Appended to, so the log of a daemon that was killed survives its restart.
            .stderr(Stdio::from(
                fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.daemon_log_path())
                    .expect("daemon log"),
            ));
        let mut child = command.spawn().expect("start plogd");
        let pid = child.id();
        // The name counts as claimed once its owner is this very process: after a `kill -9` the
        // bus may not have dropped the previous daemon's connection yet.
        let claimed = async {
            loop {
                let owner = dbus
                    .get_connection_unix_process_id(BUS_NAME.try_into().expect("bus name"))
                    .await;
                if owner.is_ok_and(|owner| owner == pid) {
                    return true;
                }
                if owners.next().await.is_none() {
                    return false;
                }
            }
        };
        let ready = tokio::time::timeout(READY_TIMEOUT, claimed).await;
        if !matches!(ready, Ok(true)) {
            let status = child.try_wait();
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "plogd did not claim {BUS_NAME} (exit: {status:?}); its log:\n{}",
                self.daemon_log()
            );
        }
        DaemonProcess { child }
    }

    /// Where the daemon's stderr goes (outside the XDG directories).
    #[must_use]
    pub fn daemon_log_path(&self) -> PathBuf {
        self.home.path().join("plogd.log")
    }

    /// What the daemon wrote to stderr so far.
    #[must_use]
    pub fn daemon_log(&self) -> String {
        fs::read_to_string(self.daemon_log_path()).unwrap_or_default()
    }

    /// Runs `plog ARGS` against `bus` with stdin closed.
    ///
    /// # Panics
    /// If `plog` cannot be built or run.
    #[must_use]
    pub fn plog(&self, bus: &SessionBus, args: &[&str]) -> Output {
        self.plog_with_stdin(bus, args, None)
    }

    /// Runs `plog ARGS` against `bus`, feeding `stdin` if given.
    ///
    /// # Panics
    /// If `plog` cannot be built or run, or does not finish within five minutes (it is
    /// killed then).
    #[must_use]
    pub fn plog_with_stdin(&self, bus: &SessionBus, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut child = self.spawn_plog(bus, args, stdin.is_some());
        let writer = stdin.map(|bytes| {
            let mut pipe = child.stdin.take().expect("plog stdin");
            let bytes = bytes.to_vec();
            // Written from a thread so a large input cannot deadlock against plog's output.
            std::thread::spawn(move || pipe.write_all(&bytes))
        });
        let output = wait_bounded(child, args);
        if let Some(writer) = writer {
            writer
                .join()
                .expect("stdin writer")
                .expect("write plog stdin");
        }
        output
    }

    /// Starts `plog ARGS` against `bus` without waiting for it (stdout and stderr piped; stdin
    /// piped if `with_stdin`, else closed). Finish it with [`wait_bounded`].
    ///
    /// # Panics
    /// If `plog` cannot be built or started.
    #[must_use]
    pub fn spawn_plog(&self, bus: &SessionBus, args: &[&str], with_stdin: bool) -> Child {
        let mut command: Command = binaries::command(binaries::CLI).expect("plog executable");
        command
            .args(args)
            .envs(self.env(bus))
            .stdin(if with_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.spawn().expect("run plog")
    }
}

/// Waits for a `plog` run started by [`Installation::spawn_plog`] and collects its output; kills
/// it if it runs longer than five minutes.
///
/// # Panics
/// If the wait fails or the run times out.
#[must_use]
pub fn wait_bounded(child: Child, args: &[&str]) -> Output {
    let pid = child.id();
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match outcome.recv_timeout(PLOG_TIMEOUT) {
        Ok(output) => output.expect("plog output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("plog {args:?} did not finish within {PLOG_TIMEOUT:?}; killed it");
        }
    }
}

/// `OpenOptions` with mode 0600, for secret files.
trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// A running `plogd`, killed (`SIGKILL`) on drop unless stopped first.
#[derive(Debug)]
pub struct DaemonProcess {
    child: Child,
}

impl DaemonProcess {
    /// The daemon's process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `SIGTERM` and waits for the daemon to exit; returns its exit status.
    ///
    /// # Panics
    /// If the signal cannot be sent or the wait fails.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("send SIGTERM");
        assert!(status.success(), "kill -TERM failed");
        self.child.wait().expect("wait for plogd")
    }

    /// Kills the daemon with `SIGKILL` (a crash) and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// stdout of a `plog` run as text.
#[must_use]
pub fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Panics with both streams unless the run succeeded; returns stdout.
///
/// # Panics
/// If the run failed.
#[must_use]
pub fn expect_success(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout_of(output)
}
