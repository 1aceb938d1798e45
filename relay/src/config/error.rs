//! Why a configuration could not be loaded.

use std::path::PathBuf;

/// Why the relay's configuration was refused. Every message names the setting and where it came
/// from, and says what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {}: {source}", path.display())]
    ReadFile {
        /// The file given by `--config` or `PLOG_RELAY_CONFIG`.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML, has a key the relay does not know, or a value
    /// of the wrong type.
    #[error("invalid configuration file {}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The parser's explanation, with the line and the offending key.
        message: String,
    },
    /// A `PLOG_RELAY_*` environment variable that names no setting.
    #[error("unknown environment variable {name}: {hint}")]
    UnknownEnv {
        /// The variable.
        name: String,
        /// A likely intended name, or how variables are named.
        hint: String,
    },
    /// A `PLOG_RELAY_*` environment variable whose value does not fit its setting. (The value
    /// is not repeated: it may be a secret.)
    #[error("environment variable {name}: expected {expected}")]
    EnvValue {
        /// The variable.
        name: String,
        /// What the setting takes.
        expected: &'static str,
    },
    /// A `PLOG_RELAY_*` (or `HOME`, `XDG_DATA_HOME`) environment variable that is not UTF-8.
    #[error("environment variable {name} is not valid UTF-8")]
    EnvNotUnicode {
        /// The variable.
        name: String,
    },
    /// No data directory was configured and none can be derived.
    #[error(
        "no data directory: neither XDG_DATA_HOME nor HOME is set; pass --data-dir DIR, set \
         PLOG_RELAY_DATA_DIR or `data_dir` in the configuration file"
    )]
    NoDataDir,
    /// A setting has a value the relay cannot use.
    #[error("{key} = {value:?} ({origin}): {reason}")]
    Invalid {
        /// The setting, as written in the file (`limits.quota_bytes`).
        key: &'static str,
        /// The refused value (never a secret).
        value: String,
        /// Where the value came from: the default, the file, a variable or a flag.
        origin: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Only one of a pair of settings that go together is set.
    #[error("{set} is set ({origin}) but {missing} is not: set both or neither")]
    Pair {
        /// The setting that is present.
        set: &'static str,
        /// Where it came from.
        origin: String,
        /// Its missing partner.
        missing: &'static str,
    },
}
