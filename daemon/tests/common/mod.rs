//! A private `dbus-daemon` for tests: its own socket in a temporary directory, stopped when
//! dropped. Readiness is the address it prints once it listens.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running private bus.
#[derive(Debug)]
pub(crate) struct PrivateBus {
    child: Child,
    address: String,
}

impl PrivateBus {
    /// Starts a session-type bus listening in `dir`.
    pub(crate) fn start(dir: &Path) -> Self {
        let socket = dir.join("bus");
        let mut child = Command::new("dbus-daemon")
            .arg("--session")
            .arg("--nofork")
            .arg("--nopidfile")
            .arg("--nosyslog")
            .arg(format!("--address=unix:path={}", socket.display()))
            .arg("--print-address=1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dbus-daemon must be installed to run these tests");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("dbus-daemon prints its address");
        let address = line.trim().to_owned();
        assert!(
            address.starts_with("unix:"),
            "unexpected address {address:?}"
        );
        Self { child, address }
    }

    /// The bus address.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// A client connection to the bus.
    pub(crate) async fn connect(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.address.as_str())
            .build()
            .await
            .expect("connect to the private bus")
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
