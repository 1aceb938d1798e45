//! The real `plog-relay` executable as a child process, with its output captured in files, for
//! tests of what the binary itself does: embedded NATS, signals, logs, a kill mid-request.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::binaries;

/// A running `plog-relay serve`.
#[derive(Debug)]
pub struct RelayProcess {
    child: Option<Child>,
    /// `https://127.0.0.1:<port>`.
    pub base_url: String,
    /// The public origin it printed.
    pub public_origin: String,
    /// The certificate pin it printed.
    pub pin: String,
    /// Everything it printed on stdout up to readiness.
    pub banner: Vec<String>,
    /// Its stderr (logs), written to a file.
    pub log_file: PathBuf,
    data_dir: PathBuf,
}

impl RelayProcess {
    /// Starts `plog-relay serve --data-dir DATA_DIR --listen 127.0.0.1:0` with `env` added and
    /// waits for the banner it prints once it listens.
    ///
    /// # Panics
    /// If the binary cannot be built or started, or does not announce itself within 60 s.
    pub async fn start(data_dir: &Path, env: &[(&str, String)]) -> Self {
        Self::start_listening(data_dir, "127.0.0.1:0", env).await
    }

    /// [`Self::start`] on the address `listen` (`IP:PORT`), e.g. to restart a relay where its
    /// clients know it.
    ///
    /// # Panics
    /// As [`Self::start`].
    pub async fn start_listening(data_dir: &Path, listen: &str, env: &[(&str, String)]) -> Self {
        let program = binaries::path(binaries::RELAY).expect("plog-relay binary");
        let log_file = data_dir.join("relay-stderr.log");
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log = std::fs::File::create(&log_file).expect("log file");
        let mut command = Command::new(program);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(listen)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("PLOG_RELAY_")) {
            command.env_remove(name);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start plog-relay");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = Vec::new();
        let read = async {
            while let Ok(Some(line)) = lines.next_line().await {
                banner.push(line.clone());
                if line.starts_with("nats: ") {
                    return true;
                }
            }
            false
        };
        let ready = tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .unwrap_or(false);
        if !ready {
            let _ = child.start_kill();
            let log = std::fs::read_to_string(&log_file).unwrap_or_default();
            panic!("plog-relay did not start; stdout: {banner:?}\nstderr:\n{log}");
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let field = |prefix: &str| {
            banner
                .iter()
                .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
                .unwrap_or_else(|| panic!("banner lacks {prefix:?}: {banner:?}"))
        };
        let listen = field("plog-relay ")
            .split_once(" listening on ")
            .map(|(_, url)| url.to_owned())
            .expect("listen line");
        let public_origin = field("public origin: ");
        let pin = field("certificate pin: ");
        Self {
            child: Some(child),
            base_url: listen,
            public_origin,
            pin,
            banner,
            log_file,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status code.
    ///
    /// # Panics
    /// If it does not exit within 30 s.
    pub async fn terminate(mut self) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("relay exits within 30 s after SIGTERM")
            .expect("wait");
        status.code()
    }

    /// Kills it with SIGKILL (no chance to clean up) and reaps it.
    pub async fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}
