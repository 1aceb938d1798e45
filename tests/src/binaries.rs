//! The executables under test.
//!
//! By default they are built with Cargo, in the same profile and target directory as the test
//! executable that asks for them, so a test never runs a stale binary (a plain `cargo test -p
//! plog-tests` does not rebuild the other packages' binaries by itself). Set
//! `PLOG_TEST_BIN_DIR` to test already built or installed executables instead.

use std::collections::BTreeMap;
use std::env;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The relay server.
pub const RELAY: &str = "plog-relay";
/// The user daemon.
pub const DAEMON: &str = "plogd";
/// The command-line client.
pub const CLI: &str = "plog";

/// The packages that hold the executables.
const PACKAGES: [&str; 3] = ["plog-relay", "plog-daemon", "plog-cli"];

/// Environment variables of the caller that would change what the programs do (besides every
/// `PLOG_RELAY_*` variable, which [`command`] removes too).
const SCRUBBED_ENV: [&str; 1] = ["DBUS_SESSION_BUS_ADDRESS"];

/// Why an executable could not be provided.
#[derive(Debug, Clone)]
pub struct HarnessError(String);

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

/// The path of the executable `name` (one of [`RELAY`], [`DAEMON`], [`CLI`]).
///
/// # Errors
///
/// If building fails, or the executable does not exist.
pub fn path(name: &str) -> Result<PathBuf, HarnessError> {
    if let Some(dir) = env::var_os("PLOG_TEST_BIN_DIR") {
        let path = Path::new(&dir).join(format!("{name}{}", env::consts::EXE_SUFFIX));
        return if path.is_file() {
            Ok(path)
        } else {
            Err(HarnessError(format!(
                "{} does not exist (PLOG_TEST_BIN_DIR is set)",
                path.display()
            )))
        };
    }
    static BUILT: OnceLock<Result<BTreeMap<String, PathBuf>, HarnessError>> = OnceLock::new();
    let built = BUILT.get_or_init(build).as_ref().map_err(Clone::clone)?;
    built
        .get(name)
        .cloned()
        .ok_or_else(|| HarnessError(format!("cargo built no executable named {name}")))
}

/// A command for the executable `name` with a scrubbed environment and no stdin.
///
/// # Errors
///
/// As [`path`].
pub fn command(name: &str) -> Result<Command, HarnessError> {
    let mut command = Command::new(path(name)?);
    for var in SCRUBBED_ENV {
        command.env_remove(var);
    }
    for (var, _) in env::vars_os().filter(|(v, _)| v.to_string_lossy().starts_with("PLOG_RELAY_")) {
        command.env_remove(var);
    }
    command.stdin(Stdio::null());
    Ok(command)
}

/// Runs the executable `name` with `args` to completion.
///
/// # Errors
///
/// As [`path`], or if the process could not be started.
pub fn run<I, S>(name: &str, args: I) -> Result<Output, HarnessError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    command(name)?
        .args(args)
        .output()
        .map_err(|err| HarnessError(format!("cannot run {name}: {err}")))
}

/// Builds the three packages' executables and returns them by name.
fn build() -> Result<BTreeMap<String, PathBuf>, HarnessError> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--bins",
        "--message-format=json-render-diagnostics",
    ]);
    for package in PACKAGES {
        command.args(["--package", package]);
    }
    // Build where and how the running test was built: `<target>/<profile>/deps/<test>`.
    let exe = env::current_exe()
        .map_err(|err| HarnessError(format!("cannot locate the test executable: {err}")))?;
    let profile_dir = exe
        .parent()
        .filter(|deps| deps.file_name() == Some(OsStr::new("deps")))
        .and_then(Path::parent);
    if let Some(profile_dir) = profile_dir {
        match profile_dir.file_name().and_then(OsStr::to_str) {
            Some("debug") | None => {}
            Some("release") => {
                command.arg("--release");
            }
            Some(profile) => {
                command.args(["--profile", profile]);
            }
        }
        if let Some(target_dir) = profile_dir
            .parent()
            .filter(|dir| dir.join("CACHEDIR.TAG").is_file())
        {
            command.arg("--target-dir").arg(target_dir);
        }
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|err| HarnessError(format!("cannot run cargo: {err}")))?;
    if !output.status.success() {
        return Err(HarnessError(format!(
            "building the executables failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let mut executables = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        if let (Some(name), Some(executable)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            executables.insert(name.to_owned(), PathBuf::from(executable));
        }
    }
    Ok(executables)
}
