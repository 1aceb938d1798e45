//! The daemon's configuration: a TOML file, every key optional, unknown keys refused.
//!
//! ```toml
//! [sync]
//! interval = "15m"        # scheduled sync rounds; "0" turns them off
//!
//! [lock]
//! idle_timeout = "15m"    # lock after this long without a call; "0" or absent: never
//! lock_on_suspend = true  # lock when logind announces suspend or hibernation
//! lock_on_screen_lock = true  # lock when logind locks one of the user's sessions
//!
//! [kdf]                   # Argon2id costs for key files written from now on
//! memory_kib = 65536
//! time_cost = 3
//! parallelism = 1
//! ```
//!
//! A missing default file means the defaults. The [`watch`] submodule reloads the file when it
//! changes and publishes each valid version on a `tokio::sync::watch` channel.

pub mod duration;
pub mod watch;

use std::path::{Path, PathBuf};
use std::time::Duration;

use plog_crypto::keyfile::KdfParams;
use serde::Deserialize;

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has unknown keys or bad values.
    #[error("invalid configuration file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's explanation (line, column, key).
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// `[sync]`.
    pub sync: SyncConfig,
    /// `[lock]`.
    pub lock: LockConfig,
    /// `[kdf]`.
    pub kdf: KdfConfig,
}

/// `[sync]`: scheduled sync.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SyncConfig {
    /// Time between scheduled rounds; zero turns scheduled rounds off.
    #[serde(deserialize_with = "duration::deserialize")]
    pub interval: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(15 * 60),
        }
    }
}

impl SyncConfig {
    /// The interval, or `None` when scheduled rounds are off.
    #[must_use]
    pub fn schedule(&self) -> Option<Duration> {
        (!self.interval.is_zero()).then_some(self.interval)
    }
}

/// `[lock]`: when the daemon forgets its keys by itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LockConfig {
    /// Idle time after which the daemon locks; zero: never.
    #[serde(deserialize_with = "duration::deserialize")]
    pub idle_timeout: Duration,
    /// Lock when the machine prepares to sleep.
    pub lock_on_suspend: bool,
    /// Lock when one of the user's login sessions is locked.
    pub lock_on_screen_lock: bool,
}

impl Default for LockConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(15 * 60),
            lock_on_suspend: true,
            lock_on_screen_lock: true,
        }
    }
}

impl LockConfig {
    /// The idle timeout, or `None` when idle locking is off.
    #[must_use]
    pub fn idle_lock(&self) -> Option<Duration> {
        (!self.idle_timeout.is_zero()).then_some(self.idle_timeout)
    }
}

/// `[kdf]`: Argon2id costs for new key files (existing files keep the costs they were sealed
/// with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct KdfConfig {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub time_cost: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for KdfConfig {
    fn default() -> Self {
        let KdfParams {
            memory_kib,
            time_cost,
            parallelism,
        } = KdfParams::DEFAULT;
        Self {
            memory_kib,
            time_cost,
            parallelism,
        }
    }
}

impl KdfConfig {
    /// The parameters to seal with.
    #[must_use]
    pub fn params(&self) -> KdfParams {
        KdfParams {
            memory_kib: self.memory_kib,
            time_cost: self.time_cost,
            parallelism: self.parallelism,
        }
    }

    /// Checks the costs against what key-file readers accept, so a bad value is reported when
    /// the file is loaded rather than at `plog init`.
    fn validate(&self) -> Result<(), String> {
        let max = KdfParams::MAX;
        if !(1..=max.parallelism).contains(&self.parallelism) {
            return Err(format!(
                "kdf.parallelism must be 1 to {}, not {}",
                max.parallelism, self.parallelism
            ));
        }
        if !(1..=max.time_cost).contains(&self.time_cost) {
            return Err(format!(
                "kdf.time_cost must be 1 to {}, not {}",
                max.time_cost, self.time_cost
            ));
        }
        let min_memory = 8 * self.parallelism;
        if !(min_memory..=max.memory_kib).contains(&self.memory_kib) {
            return Err(format!(
                "kdf.memory_kib must be {min_memory} to {}, not {}",
                max.memory_kib, self.memory_kib
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Parses configuration text; `path` only names the file in errors.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for bad TOML, unknown keys or out-of-range values.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let config: Self = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        config.kdf.validate().map_err(invalid)?;
        Ok(config)
    }

    /// Loads the file at `path`. A missing file gives the defaults unless `must_exist`.
    ///
    /// # Errors
    /// [`ConfigError::Read`] if the file cannot be read (or is missing and `must_exist`),
    /// [`ConfigError::Invalid`] if it is not a valid configuration.
    pub fn load(path: &Path, must_exist: bool) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                Ok(Self::default())
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("plogd.toml"))
    }

    #[test]
    fn empty_file_is_the_defaults() {
        let config = parse("").expect("parse");
        assert_eq!(config, Config::default());
        assert_eq!(config.sync.schedule(), Some(Duration::from_secs(900)));
        assert_eq!(config.lock.idle_lock(), Some(Duration::from_secs(900)));
        assert!(config.lock.lock_on_suspend);
        assert_eq!(config.kdf.params(), KdfParams::DEFAULT);
    }

    #[test]
    fn full_file() {
        let config = parse(
            r#"
            [sync]
            interval = "1h30m"
            [lock]
            idle_timeout = 0
            lock_on_suspend = false
            lock_on_screen_lock = false
            [kdf]
            memory_kib = 8192
            time_cost = 1
            parallelism = 1
            "#,
        )
        .expect("parse");
        assert_eq!(config.sync.interval, Duration::from_secs(5400));
        assert_eq!(config.lock.idle_lock(), None);
        assert!(!config.lock.lock_on_suspend && !config.lock.lock_on_screen_lock);
        assert_eq!(config.kdf.params().memory_kib, 8192);
    }

    #[test]
    fn seconds_as_integer() {
        let config = parse("[lock]\nidle_timeout = 30\n").expect("parse");
        assert_eq!(config.lock.idle_timeout, Duration::from_secs(30));
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = parse("[lock]\nidle_timout = \"5m\"\n").expect_err("typo");
        assert!(err.to_string().contains("idle_timout"), "{err}");
        let err = parse("[network]\n").expect_err("section");
        assert!(err.to_string().contains("network"), "{err}");
    }

    #[test]
    fn bad_values_are_explained() {
        let err = parse("[sync]\ninterval = \"soon\"\n").expect_err("bad duration");
        assert!(err.to_string().contains("soon"), "{err}");
        let err = parse("[kdf]\ntime_cost = 0\n").expect_err("zero passes");
        assert!(err.to_string().contains("kdf.time_cost"), "{err}");
        let err = parse("[kdf]\nmemory_kib = 4\n").expect_err("too little memory");
        assert!(err.to_string().contains("kdf.memory_kib"), "{err}");
        let err = parse("[lock]\nidle_timeout = -5\n").expect_err("negative");
        assert!(err.to_string().contains("negative"), "{err}");
    }

    #[test]
    fn missing_file_is_defaults_unless_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("absent.toml");
        assert_eq!(
            Config::load(&path, false).expect("defaults"),
            Config::default()
        );
        let err = Config::load(&path, true).expect_err("named file missing");
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    }
}
