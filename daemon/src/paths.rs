//! Where `plogd` keeps its files, following the XDG base directories.
//!
//! | what | where |
//! |---|---|
//! | configuration | `$XDG_CONFIG_HOME/plog/plogd.toml` (or `--config FILE`) |
//! | key file | `$XDG_DATA_HOME/plog/identity.key` |
//! | store | `$XDG_DATA_HOME/plog/store.sqlite3` and `$XDG_DATA_HOME/plog/volumes/` |
//! | state | `$XDG_STATE_HOME/plog/` |
//! | single-instance lock | `$XDG_RUNTIME_DIR/plog/plogd.lock` |
//!
//! Unset or relative variables fall back to the XDG defaults under `$HOME`; without a runtime
//! directory the lock goes to the state directory. Every directory `plogd` creates is mode 0700.

use std::ffi::OsString;
use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Name of the application directory inside each XDG base directory.
const APP_DIR: &str = "plog";

/// Why the daemon's directories could not be found or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PathsError {
    /// Neither the XDG variable nor `$HOME` is set to an absolute path.
    #[error("cannot find the {what} directory: set ${var} or $HOME to an absolute path")]
    NoBase {
        /// Which directory.
        what: &'static str,
        /// The XDG variable that names it.
        var: &'static str,
    },
    /// A directory could not be created or secured.
    #[error("cannot prepare directory {path}: {source}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
}

/// The daemon's directories and files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The configuration file.
    pub config_file: PathBuf,
    /// Whether `config_file` was named on the command line (a missing one is then an error).
    pub config_explicit: bool,
    /// `$XDG_DATA_HOME/plog`: key file and store.
    pub data_dir: PathBuf,
    /// `$XDG_STATE_HOME/plog`.
    pub state_dir: PathBuf,
    /// `$XDG_RUNTIME_DIR/plog`, or the state directory when there is no runtime directory.
    pub runtime_dir: PathBuf,
}

impl Paths {
    /// The paths named by the process environment, with `config` overriding the default
    /// configuration file.
    ///
    /// # Errors
    /// [`PathsError::NoBase`] if a base directory cannot be determined.
    pub fn from_env(config: Option<PathBuf>) -> Result<Self, PathsError> {
        Self::from_vars(|name| std::env::var_os(name), config)
    }

    /// The paths for an environment given as a lookup function (tests pass their own).
    ///
    /// # Errors
    /// [`PathsError::NoBase`] if a base directory cannot be determined.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<OsString>,
        config: Option<PathBuf>,
    ) -> Result<Self, PathsError> {
        let absolute = |name: &str| {
            var(name)
                .map(PathBuf::from)
                .filter(|path| path.is_absolute())
        };
        let home = absolute("HOME");
        let base = |xdg: &'static str, fallback: &str, what: &'static str| {
            absolute(xdg)
                .or_else(|| home.as_ref().map(|home| home.join(fallback)))
                .map(|base| base.join(APP_DIR))
                .ok_or(PathsError::NoBase { what, var: xdg })
        };
        let config_dir = base("XDG_CONFIG_HOME", ".config", "configuration")?;
        let data_dir = base("XDG_DATA_HOME", ".local/share", "data")?;
        let state_dir = base("XDG_STATE_HOME", ".local/state", "state")?;
        let runtime_dir = absolute("XDG_RUNTIME_DIR")
            .map(|dir| dir.join(APP_DIR))
            .unwrap_or_else(|| state_dir.clone());
        let config_explicit = config.is_some();
        Ok(Self {
            config_file: config.unwrap_or_else(|| config_dir.join("plogd.toml")),
            config_explicit,
            data_dir,
            state_dir,
            runtime_dir,
        })
    }

    /// All paths under one base directory (tests).
    #[must_use]
    pub fn under(base: &Path) -> Self {
        Self {
            config_file: base.join("config").join(APP_DIR).join("plogd.toml"),
            config_explicit: false,
            data_dir: base.join("data").join(APP_DIR),
            state_dir: base.join("state").join(APP_DIR),
            runtime_dir: base.join("runtime").join(APP_DIR),
        }
    }

    /// The sealed master secret.
    #[must_use]
    pub fn key_file(&self) -> PathBuf {
        self.data_dir.join("identity.key")
    }

    /// The SQLite database of the store.
    #[must_use]
    pub fn store_db(&self) -> PathBuf {
        self.data_dir.join("store.sqlite3")
    }

    /// The directory of volume ciphertext files.
    #[must_use]
    pub fn volumes_dir(&self) -> PathBuf {
        self.data_dir.join("volumes")
    }

    /// The single-instance lock file.
    #[must_use]
    pub fn lock_file(&self) -> PathBuf {
        self.runtime_dir.join("plogd.lock")
    }

    /// The directory holding the configuration file (watched for changes).
    #[must_use]
    pub fn config_dir(&self) -> PathBuf {
        self.config_file
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    /// Creates the daemon's directories, mode 0700.
    ///
    /// # Errors
    /// [`PathsError::Create`] naming the directory that failed.
    pub fn create_dirs(&self) -> Result<(), PathsError> {
        for dir in [
            self.config_dir(),
            self.data_dir.clone(),
            self.volumes_dir(),
            self.state_dir.clone(),
            self.runtime_dir.clone(),
        ] {
            create_private_dir(&dir)?;
        }
        Ok(())
    }
}

/// Creates `dir` (and missing parents) with mode 0700, and tightens an existing `plog`
/// directory that is readable by others.
fn create_private_dir(dir: &Path) -> Result<(), PathsError> {
    let fail = |source| PathsError::Create {
        path: dir.to_path_buf(),
        source,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    // Parents that existed keep their modes; only directories that are ours are tightened.
    if dir.file_name().is_some_and(|name| name == APP_DIR)
        || dir.parent().and_then(Path::file_name) == Some(APP_DIR.as_ref())
    {
        let mode = std::fs::metadata(dir).map_err(fail)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn xdg_variables_win() {
        let paths = Paths::from_vars(
            vars(&[
                ("HOME", "/home/u"),
                ("XDG_CONFIG_HOME", "/c"),
                ("XDG_DATA_HOME", "/d"),
                ("XDG_STATE_HOME", "/s"),
                ("XDG_RUNTIME_DIR", "/run/user/1"),
            ]),
            None,
        )
        .expect("paths");
        assert_eq!(paths.config_file, PathBuf::from("/c/plog/plogd.toml"));
        assert!(!paths.config_explicit);
        assert_eq!(paths.key_file(), PathBuf::from("/d/plog/identity.key"));
        assert_eq!(paths.store_db(), PathBuf::from("/d/plog/store.sqlite3"));
        assert_eq!(paths.volumes_dir(), PathBuf::from("/d/plog/volumes"));
        assert_eq!(paths.state_dir, PathBuf::from("/s/plog"));
        assert_eq!(
            paths.lock_file(),
            PathBuf::from("/run/user/1/plog/plogd.lock")
        );
    }

    #[test]
    fn home_fallbacks_and_relative_values_ignored() {
        let paths = Paths::from_vars(
            vars(&[("HOME", "/home/u"), ("XDG_DATA_HOME", "relative/dir")]),
            Some(PathBuf::from("/etc/x.toml")),
        )
        .expect("paths");
        assert_eq!(paths.config_file, PathBuf::from("/etc/x.toml"));
        assert!(paths.config_explicit);
        assert_eq!(paths.data_dir, PathBuf::from("/home/u/.local/share/plog"));
        assert_eq!(paths.state_dir, PathBuf::from("/home/u/.local/state/plog"));
        assert_eq!(paths.runtime_dir, paths.state_dir);
    }

    #[test]
    fn no_home_is_a_clear_error() {
        let err = Paths::from_vars(vars(&[]), None).expect_err("no base");
        assert!(err.to_string().contains("$XDG_CONFIG_HOME"), "{err}");
    }

    #[test]
    fn directories_are_private() {
        let base = tempfile::tempdir().expect("tempdir");
        let paths = Paths::under(base.path());
        paths.create_dirs().expect("create");
        for dir in [&paths.data_dir, &paths.state_dir, &paths.runtime_dir] {
            let mode = std::fs::metadata(dir).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
        }
        assert!(paths.volumes_dir().is_dir());
        assert!(paths.config_dir().is_dir());
    }
}
