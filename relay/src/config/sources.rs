//! The layers of the configuration: defaults, file, environment, flags; and where each
//! effective value came from.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::{Config, ConfigError, DATA_DIR_NAME};
use crate::cli::ServeArgs;

/// The prefix of every relay environment variable.
pub const ENV_PREFIX: &str = "PLOG_RELAY_";

/// The variable naming the configuration file (read by [`Config::load`], not a setting).
pub(super) const CONFIG_ENV: &str = "PLOG_RELAY_CONFIG";

/// How a setting's environment variable is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Taken as it is.
    Text,
    /// `ADDR:PORT`.
    SocketAddr,
    /// A whole number ≥ 0 (`_` separators allowed).
    Integer,
    /// `true` or `false`.
    Bool,
}

/// Every setting, as its dotted key, with how its variable is read. Kept in step with the
/// structures by a test.
const KEYS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("listen", Kind::SocketAddr),
    ("admin_listen", Kind::Text),
    ("data_dir", Kind::Text),
    ("public_origin", Kind::Text),
    ("database_url", Kind::Text),
    ("nats.url", Kind::Text),
    ("nats.creds_file", Kind::Text),
    ("nats.tls_ca_file", Kind::Text),
    ("nats.tls_cert_file", Kind::Text),
    ("nats.tls_key_file", Kind::Text),
    ("nats.prefix", Kind::Text),
    ("nats.object_chunk_size", Kind::Integer),
    ("tls.cert_file", Kind::Text),
    ("tls.key_file", Kind::Text),
    ("limits.max_volume_bytes", Kind::Integer),
    ("limits.quota_bytes", Kind::Integer),
    ("limits.max_json_bytes", Kind::Integer),
    ("limits.max_invite_lifetime_secs", Kind::Integer),
    ("limits.invite_lookups_per_minute", Kind::Integer),
    ("limits.invite_lookups_burst", Kind::Integer),
    ("auth.challenge_ttl_secs", Kind::Integer),
    ("auth.session_ttl_secs", Kind::Integer),
    ("auth.fresh_session_secs", Kind::Integer),
    ("auth.unactivated_ttl_secs", Kind::Integer),
    ("registration.open", Kind::Bool),
    ("mailbox.retention_secs", Kind::Integer),
    ("mailbox.max_per_recipient", Kind::Integer),
    ("mailbox.max_envelope_bytes", Kind::Integer),
    ("mailbox.handle_requests_per_hour", Kind::Integer),
    ("mailbox.handle_requests_burst", Kind::Integer),
    ("mailbox.max_links_per_account", Kind::Integer),
    ("events.keep_alive_secs", Kind::Integer),
];

/// Every configuration key, dotted for keys in a section (`limits.quota_bytes`).
pub fn keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(key, _)| *key)
}

/// The environment variable of a configuration key: `PLOG_RELAY_LISTEN` for `listen`,
/// `PLOG_RELAY_LIMITS__QUOTA_BYTES` for `limits.quota_bytes`; `None` for an unknown key.
#[must_use]
pub fn env_var_name(key: &str) -> Option<String> {
    keys().any(|known| known == key).then(|| {
        format!(
            "{ENV_PREFIX}{}",
            key.replace('.', "__").to_ascii_uppercase()
        )
    })
}

/// Where the effective value of a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    File(PathBuf),
    Env(String),
    Flag(&'static str),
    Derived(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "set in {}", path.display()),
            Self::Env(name) => write!(f, "set by the environment variable {name}"),
            Self::Flag(flag) => write!(f, "set by the flag {flag}"),
            Self::Derived(from) => write!(f, "derived from {from}"),
        }
    }
}

/// The origin of every setting that is not at its built-in default.
#[derive(Debug, Default)]
pub(crate) struct Provenance(HashMap<&'static str, Origin>);

impl Provenance {
    /// Where `key` came from, for messages.
    pub(super) fn describe(&self, key: &'static str) -> String {
        match self.0.get(key) {
            Some(origin) => origin.to_string(),
            None => "the default".to_owned(),
        }
    }

    fn set(&mut self, key: &'static str, origin: Origin) {
        self.0.insert(key, origin);
    }

    fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

/// The variables [`Config::from_sources`] looks at, taken from the process environment.
///
/// # Errors
///
/// [`ConfigError::EnvNotUnicode`] for such a variable whose name or value is not UTF-8.
pub(super) fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let wanted = |name: &str| name.starts_with(ENV_PREFIX) || DATA_HOME_VARS.contains(&name);
    let mut env = Vec::new();
    for (name, value) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if !wanted(&name_text) {
            continue;
        }
        let not_unicode = |name: &OsString| ConfigError::EnvNotUnicode {
            name: name.to_string_lossy().into_owned(),
        };
        let value = value.into_string().map_err(|_| not_unicode(&name))?;
        let name = name.clone().into_string().map_err(|_| not_unicode(&name))?;
        env.push((name, value));
    }
    Ok(env)
}

const DATA_HOME_VARS: [&str; 2] = ["XDG_DATA_HOME", "HOME"];

/// Stacks the layers into one configuration (not yet checked), remembering where each value
/// came from.
pub(super) fn layer(
    file: Option<(&Path, &str)>,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &ServeArgs,
) -> Result<(Config, Provenance), ConfigError> {
    let mut provenance = Provenance::default();
    let mut merged = Table::new();

    if let Some((path, text)) = file {
        // Deserializing the file on its own reports unknown keys and wrong types with the
        // line they are on.
        let file_error = |message: String| ConfigError::File {
            path: path.to_path_buf(),
            message,
        };
        toml::from_str::<Config>(text).map_err(|err| file_error(err.to_string()))?;
        let table: Table = toml::from_str(text).map_err(|err| file_error(err.to_string()))?;
        for (key, _) in KEYS {
            if lookup(&table, key).is_some() {
                provenance.set(key, Origin::File(path.to_path_buf()));
            }
        }
        merge(&mut merged, table);
    }

    let mut env: Vec<(String, String)> = env.into_iter().collect();
    env.sort();
    let mut home = None;
    let mut xdg_data_home = None;
    for (name, value) in env {
        match name.as_str() {
            "HOME" => home = Some(value),
            "XDG_DATA_HOME" => xdg_data_home = Some(value),
            CONFIG_ENV => {}
            _ if name.starts_with(ENV_PREFIX) => {
                let (key, kind) = env_key(&name)?;
                if value.is_empty() {
                    continue;
                }
                let value = env_value(&name, kind, &value)?;
                insert(&mut merged, key, value);
                provenance.set(key, Origin::Env(name));
            }
            _ => {}
        }
    }

    let mut config: Config = Value::Table(merged)
        .try_into()
        .map_err(|err: toml::de::Error| ConfigError::Invalid {
            key: "(environment)",
            value: String::new(),
            origin: "the environment".to_owned(),
            reason: err.to_string(),
        })?;

    apply_flags(&mut config, flags, &mut provenance);

    if !provenance.contains("data_dir") {
        let (dir, from) = default_data_dir(xdg_data_home.as_deref(), home.as_deref())
            .ok_or(ConfigError::NoDataDir)?;
        config.data_dir = dir;
        provenance.set("data_dir", Origin::Derived(from));
    }
    Ok((config, provenance))
}

/// `$XDG_DATA_HOME/plog-relay` if that variable holds an absolute path (the XDG rule), else
/// `$HOME/.local/share/plog-relay`.
fn default_data_dir(
    xdg_data_home: Option<&str>,
    home: Option<&str>,
) -> Option<(PathBuf, &'static str)> {
    if let Some(dir) = xdg_data_home.map(Path::new).filter(|p| p.is_absolute()) {
        return Some((dir.join(DATA_DIR_NAME), "XDG_DATA_HOME"));
    }
    home.filter(|home| !home.is_empty()).map(|home| {
        (
            Path::new(home).join(".local/share").join(DATA_DIR_NAME),
            "HOME",
        )
    })
}

fn apply_flags(config: &mut Config, flags: &ServeArgs, provenance: &mut Provenance) {
    if let Some(dir) = &flags.data_dir {
        config.data_dir.clone_from(dir);
        provenance.set("data_dir", Origin::Flag("--data-dir"));
    }
    if let Some(listen) = flags.listen {
        config.listen = listen;
        provenance.set("listen", Origin::Flag("--listen"));
    }
    if let Some(admin) = &flags.admin_listen {
        config.admin_listen.clone_from(admin);
        provenance.set("admin_listen", Origin::Flag("--admin-listen"));
    }
    if let Some(url) = &flags.nats_url {
        config.nats.url = Some(url.clone());
        provenance.set("nats.url", Origin::Flag("--nats-url"));
    }
    if let Some(url) = &flags.database_url {
        config.database_url = Some(url.clone());
        provenance.set("database_url", Origin::Flag("--database-url"));
    }
    if let Some(origin) = &flags.public_origin {
        config.public_origin = Some(origin.clone());
        provenance.set("public_origin", Origin::Flag("--public-origin"));
    }
}

/// The setting a `PLOG_RELAY_*` variable names.
fn env_key(name: &str) -> Result<(&'static str, Kind), ConfigError> {
    let wanted = name.strip_prefix(ENV_PREFIX).unwrap_or(name);
    let found = KEYS
        .iter()
        .find(|(key, _)| key.replace('.', "__").eq_ignore_ascii_case(wanted) && is_upper(wanted));
    if let Some((key, kind)) = found {
        return Ok((key, *kind));
    }
    // `PLOG_RELAY_NATS_URL` for `PLOG_RELAY_NATS__URL`, or a lower-case spelling.
    let loose = |text: &str| text.replace("__", "_").to_ascii_uppercase();
    let hint = KEYS
        .iter()
        .find(|(key, _)| loose(&key.replace('.', "_")) == loose(wanted))
        .and_then(|(key, _)| env_var_name(key))
        .map_or_else(
            || {
                format!(
                    "no such setting; variables are {ENV_PREFIX}<KEY> for top-level keys and \
                     {ENV_PREFIX}<SECTION>__<KEY> for keys in a section (see `plog-relay \
                     default-config`)"
                )
            },
            |suggestion| format!("did you mean {suggestion}?"),
        );
    Err(ConfigError::UnknownEnv {
        name: name.to_owned(),
        hint,
    })
}

fn is_upper(text: &str) -> bool {
    !text.chars().any(|c| c.is_ascii_lowercase())
}

/// A variable's text as the value its setting takes.
fn env_value(name: &str, kind: Kind, text: &str) -> Result<Value, ConfigError> {
    let refuse = |expected| ConfigError::EnvValue {
        name: name.to_owned(),
        expected,
    };
    let text_trimmed = text.trim();
    match kind {
        Kind::Text => Ok(Value::String(text.to_owned())),
        Kind::SocketAddr => text_trimmed
            .parse::<SocketAddr>()
            .map(|addr| Value::String(addr.to_string()))
            .map_err(|_| refuse("an address such as 0.0.0.0:8443 or [::]:8443")),
        Kind::Integer => {
            let digits = text_trimmed.replace('_', "");
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(refuse("a whole number"));
            }
            digits
                .parse::<i64>()
                .map(Value::Integer)
                .map_err(|_| refuse("a whole number below 2^63"))
        }
        Kind::Bool => match text_trimmed {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(refuse("true or false")),
        },
    }
}

fn lookup<'t>(table: &'t Table, key: &str) -> Option<&'t Value> {
    match key.split_once('.') {
        Some((section, name)) => table.get(section)?.as_table()?.get(name),
        None => table.get(key),
    }
}

fn insert(table: &mut Table, key: &str, value: Value) {
    match key.split_once('.') {
        Some((section, name)) => {
            let section = table
                .entry(section)
                .or_insert_with(|| Value::Table(Table::new()));
            if let Value::Table(section) = section {
                section.insert(name.to_owned(), value);
            }
        }
        None => {
            table.insert(key.to_owned(), value);
        }
    }
}

/// Lays `upper` over `lower`: sections merge key by key, everything else is replaced.
fn merge(lower: &mut Table, upper: Table) {
    for (key, value) in upper {
        match (lower.get_mut(&key), value) {
            (Some(Value::Table(below)), Value::Table(above)) => merge(below, above),
            (_, value) => {
                lower.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Dotted keys of a serialized configuration.
    fn dotted(table: &Table) -> BTreeSet<String> {
        let mut keys = BTreeSet::new();
        for (key, value) in table {
            match value {
                Value::Table(section) => {
                    keys.extend(section.keys().map(|name| format!("{key}.{name}")));
                }
                _ => {
                    keys.insert(key.clone());
                }
            }
        }
        keys
    }

    #[test]
    fn key_list_matches_the_structures() {
        let mut config = Config::defaults("/data");
        config.public_origin = Some(String::new());
        config.database_url = Some(String::new());
        config.nats.url = Some(String::new());
        config.nats.creds_file = Some(PathBuf::new());
        config.nats.tls_ca_file = Some(PathBuf::new());
        config.nats.tls_cert_file = Some(PathBuf::new());
        config.nats.tls_key_file = Some(PathBuf::new());
        config.tls.cert_file = Some(PathBuf::new());
        config.tls.key_file = Some(PathBuf::new());
        let table = Table::try_from(&config).expect("serializes");
        let listed: BTreeSet<String> = keys().map(str::to_owned).collect();
        assert_eq!(dotted(&table), listed);
    }

    #[test]
    fn variable_names() {
        assert_eq!(env_var_name("listen").as_deref(), Some("PLOG_RELAY_LISTEN"));
        assert_eq!(
            env_var_name("limits.max_volume_bytes").as_deref(),
            Some("PLOG_RELAY_LIMITS__MAX_VOLUME_BYTES")
        );
        assert_eq!(env_var_name("nope"), None);
        for key in keys() {
            let name = env_var_name(key).expect("known");
            assert_eq!(env_key(&name).map(|(k, _)| k).ok(), Some(key));
        }
    }

    #[test]
    fn near_misses_get_a_suggestion() {
        let Err(ConfigError::UnknownEnv { hint, .. }) = env_key("PLOG_RELAY_NATS_URL") else {
            panic!("accepted");
        };
        assert!(hint.contains("PLOG_RELAY_NATS__URL"), "{hint}");
        let Err(ConfigError::UnknownEnv { hint, .. }) = env_key("PLOG_RELAY_listen") else {
            panic!("accepted");
        };
        assert!(hint.contains("PLOG_RELAY_LISTEN"), "{hint}");
        let Err(ConfigError::UnknownEnv { hint, .. }) = env_key("PLOG_RELAY_COLOUR") else {
            panic!("accepted");
        };
        assert!(hint.contains("SECTION"), "{hint}");
    }

    #[test]
    fn integer_values() {
        let read = |text| env_value("X", Kind::Integer, text).ok();
        assert_eq!(read("1000"), Some(Value::Integer(1000)));
        assert_eq!(read(" 1_048_576 "), Some(Value::Integer(1_048_576)));
        assert_eq!(read("-1"), None);
        assert_eq!(read("1e3"), None);
        assert_eq!(read("99999999999999999999"), None);
    }

    #[test]
    fn data_dir_follows_xdg() {
        assert_eq!(
            default_data_dir(Some("/x"), Some("/h")).map(|(p, _)| p),
            Some(PathBuf::from("/x/plog-relay"))
        );
        assert_eq!(
            default_data_dir(Some("relative"), Some("/h")).map(|(p, _)| p),
            Some(PathBuf::from("/h/.local/share/plog-relay"))
        );
        assert_eq!(default_data_dir(None, None), None);
        assert_eq!(default_data_dir(Some(""), Some("")), None);
    }
}
