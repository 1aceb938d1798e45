//! People for friends-and-sharing tests: each one an installation with its own private
//! session bus, XDG directories and `plogd` process, driven by the real `plog`, registered at a
//! relay under a handle.

use std::process::Output;

use uuid::Uuid;

use crate::installation::{DaemonProcess, Installation, expect_success, stdout_of};
use crate::session_bus::SessionBus;

/// No scheduled sync: every round is one a command started.
pub const PERSON_CONFIG: &str = "[sync]\ninterval = \"0\"\n";

/// One person.
#[derive(Debug)]
pub struct Person {
    /// The bus the daemon serves on.
    pub bus: SessionBus,
    /// The home and XDG directories.
    pub install: Installation,
    daemon: Option<DaemonProcess>,
    /// The recovery phrase `plog init` printed.
    pub phrase: String,
    /// The account id at the relay.
    pub user_id: Uuid,
}

impl Person {
    /// init → `relay add ORIGIN --fingerprint PIN` → `register KIND --handle HANDLE`, where
    /// `kind` is `--system` or `--friend`; `None` (reason printed) without `dbus-daemon`.
    ///
    /// # Panics
    /// If a step fails.
    pub async fn join(origin: &str, pin: &str, kind: &str, handle: &str) -> Option<Self> {
        let bus = match SessionBus::start() {
            Ok(bus) => bus,
            Err(skipped) => {
                eprintln!("{skipped}");
                return None;
            }
        };
        let install = Installation::new(PERSON_CONFIG);
        let daemon = install.start_daemon(&bus).await;
        let passphrase = install.secret_file("passphrase", "correct horse battery staple");
        let init = expect_success(
            &install.plog(
                &bus,
                &[
                    "init",
                    "--passphrase-file",
                    passphrase.to_str().expect("utf-8 path"),
                    "--json",
                ],
            ),
            "plog init",
        );
        let phrase =
            serde_json::from_str::<serde_json::Value>(&init).expect("init json")["recovery_phrase"]
                .as_str()
                .expect("phrase")
                .to_owned();
        let mut person = Self {
            bus,
            install,
            daemon: Some(daemon),
            phrase,
            user_id: Uuid::nil(),
        };
        person.ok(&["relay", "add", origin, "--fingerprint", pin]);
        let registered: serde_json::Value = person.json(&["register", kind, "--handle", handle]);
        person.user_id = registered["account"]["user_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("registered account id");
        Some(person)
    }

    /// Runs `plog ARGS`.
    #[must_use]
    pub fn plog(&self, args: &[&str]) -> Output {
        self.install.plog(&self.bus, args)
    }

    /// Runs `plog ARGS` with `stdin` as its standard input.
    #[must_use]
    pub fn plog_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.install.plog_with_stdin(&self.bus, args, Some(stdin))
    }

    /// Runs `plog ARGS`, which must succeed; its stdout.
    ///
    /// # Panics
    /// If it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        expect_success(&self.plog(args), &format!("plog {}", args.join(" ")))
    }

    /// Runs `plog ARGS --json`, which must succeed with one JSON document.
    ///
    /// # Panics
    /// If it fails or prints something else.
    pub fn json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> T {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let out = self.ok(&with_json);
        serde_json::from_str(&out).unwrap_or_else(|e| {
            panic!("plog {} printed no valid JSON ({e}): {out}", args.join(" "))
        })
    }

    /// Runs `plog ARGS --json` with `stdin`, which must succeed with one JSON document.
    ///
    /// # Panics
    /// If it fails or prints something else.
    pub fn json_stdin<T: serde::de::DeserializeOwned>(&self, args: &[&str], stdin: &[u8]) -> T {
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let out = expect_success(
            &self.plog_stdin(&with_json, stdin),
            &format!("plog {}", args.join(" ")),
        );
        serde_json::from_str(&out).unwrap_or_else(|e| {
            panic!("plog {} printed no valid JSON ({e}): {out}", args.join(" "))
        })
    }

    /// A `plog` run that must fail with exit status `code`, its standard error mentioning
    /// every one of `needles` (case-insensitively); returns that standard error.
    ///
    /// # Panics
    /// If it succeeds, fails otherwise, or a needle is missing.
    pub fn fails(&self, args: &[&str], code: i32, needles: &[&str]) -> String {
        let output = self.plog(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(code),
            "plog {} should fail with {code}; stdout {:?} stderr {stderr}",
            args.join(" "),
            stdout_of(&output)
        );
        for needle in needles {
            assert!(
                stderr.to_lowercase().contains(&needle.to_lowercase()),
                "plog {}: {needle:?} not in {stderr}",
                args.join(" ")
            );
        }
        stderr
    }

    /// `plog volume put VTYPE -` with `content`.
    ///
    /// # Panics
    /// If it fails.
    pub fn put(&self, vtype: &str, content: &[u8]) {
        let _: serde_json::Value = self.json_stdin(&["volume", "put", vtype, "-"], content);
    }

    /// Waits until `plog status` reports `live` relays with a connected event stream (the
    /// daemon's own readiness report; polled, as nothing announces it), at most 30 s.
    ///
    /// # Panics
    /// If that does not happen in time.
    pub async fn wait_live(&self, live: u64) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let status: serde_json::Value = self.json(&["status"]);
            if status["live_relays"].as_u64() == Some(live) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the daemon did not report {live} live relays: {status}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Stops the daemon (SIGTERM).
    pub fn stop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            let _ = daemon.terminate();
        }
    }
}
