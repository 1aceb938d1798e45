//! A private D-Bus session bus: a real `dbus-daemon` in a temporary directory, with its own
//! service directory for activation tests, stopped on drop.
//!
//! The bus is ready when `dbus-daemon` prints its address (`--print-address`), so no test
//! waits on a timer.

use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

/// No `dbus-daemon` to test with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInstalled;

impl fmt::Display for NotInstalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("skipped: dbus-daemon not installed (run scripts/install-deps)")
    }
}

impl std::error::Error for NotInstalled {}

/// A `dbus-daemon` child process serving a session bus on a socket in a temporary directory.
pub struct SessionBus {
    child: Child,
    address: String,
    dir: TempDir,
}

impl fmt::Debug for SessionBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionBus")
            .field("pid", &self.child.id())
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl SessionBus {
    /// Starts a bus with an empty service directory (see [`SessionBus::service_dir`]) and no
    /// extra environment for activated services.
    ///
    /// # Errors
    /// [`NotInstalled`] if there is no `dbus-daemon` (outside CI).
    ///
    /// # Panics
    /// If `dbus-daemon` is missing under `CI=true`, or fails to start.
    pub fn start() -> Result<Self, NotInstalled> {
        Self::start_with_env(&[])
    }

    /// Starts a bus whose activated services get `env` on top of the test's environment.
    ///
    /// # Errors
    /// [`NotInstalled`] if there is no `dbus-daemon` (outside CI).
    ///
    /// # Panics
    /// If `dbus-daemon` is missing under `CI=true`, or fails to start.
    pub fn start_with_env(env: &[(&str, &Path)]) -> Result<Self, NotInstalled> {
        let Some(program) = find_program() else {
            assert!(
                !std::env::var("CI").is_ok_and(|ci| ci == "true"),
                "dbus-daemon is required under CI: install it (scripts/install-deps)"
            );
            return Err(NotInstalled);
        };
        let dir = tempfile::Builder::new()
            .prefix("plog-bus-")
            .tempdir()
            .expect("temporary directory for the bus");
        let services = dir.path().join("services");
        fs::create_dir(&services).expect("service directory");
        let config = dir.path().join("session.conf");
        fs::write(&config, config_text(dir.path(), &services)).expect("bus configuration");
        let mut command = Command::new(program);
        command
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env_remove("DBUS_SESSION_BUS_ADDRESS");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start dbus-daemon");
        let stdout = child.stdout.take().expect("dbus-daemon stdout");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let address = line.trim().to_owned();
        if read.is_err() || address.is_empty() {
            let _ = child.kill();
            let status = child.wait();
            panic!("dbus-daemon printed no address (exit: {status:?})");
        }
        Ok(Self {
            child,
            address,
            dir,
        })
    }

    /// The bus address, for `DBUS_SESSION_BUS_ADDRESS`.
    #[must_use]
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The directory the bus reads `.service` files from when a client asks for a name no one
    /// owns (D-Bus activation). The bus rereads it on every activation attempt.
    #[must_use]
    pub fn service_dir(&self) -> PathBuf {
        self.dir.path().join("services")
    }

    /// Connects to the bus as a client.
    ///
    /// # Panics
    /// If the connection fails.
    pub async fn connect(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.address.as_str())
            .build()
            .await
            .expect("connect to the private bus")
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config_text(dir: &Path, services: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{services}</servicedir>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        dir = dir.display(),
        services = services.display()
    )
}

fn find_program() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("dbus-daemon"))
        .find(|candidate| candidate.is_file())
}
