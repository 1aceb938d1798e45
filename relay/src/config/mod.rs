//! Relay configuration: defaults, TOML file, `PLOG_RELAY_*` environment, flags.
//!
//! [`Config::load`] reads the settings in that order of precedence (later wins) and checks
//! them; [`Config::from_sources`] does the same from explicit inputs, for tests. Every
//! structure rejects unknown keys, so a typo is an error instead of a silently ignored setting.
//! The shipped example, [`DEFAULT_CONFIG`], lists every key with its default.

mod error;
mod sources;
mod validate;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cli::ServeArgs;

pub use error::ConfigError;
pub use sources::{ENV_PREFIX, env_var_name, keys};
pub use validate::AdminAddress;

/// The commented example configuration printed by `plog-relay default-config`: every key with
/// its default value.
pub const DEFAULT_CONFIG: &str = include_str!("../../default-config.toml");

/// The text `plog-relay default-config` prints: [`DEFAULT_CONFIG`].
#[must_use]
pub fn default_config() -> &'static str {
    DEFAULT_CONFIG
}

/// Name of the relay's directory under `$XDG_DATA_HOME` (or `$HOME/.local/share`).
pub const DATA_DIR_NAME: &str = "plog-relay";

/// The relay's complete configuration.
///
/// Optional settings whose default depends on other settings (`public_origin`,
/// `database_url`) stay `None` here; ask [`Config::public_origin`] and
/// [`Config::database_url`] for the effective value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Relay name shown to users.
    #[serde(default = "default_name")]
    pub name: String,
    /// Public HTTPS listener.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Admin listener: a loopback `ADDR:PORT` or `unix:PATH` (see [`Config::admin_address`]).
    #[serde(default = "default_admin_listen")]
    pub admin_listen: String,
    /// Directory for the generated certificate, the SQLite database, the admin token and the
    /// managed NATS server's store. After loading it is never empty.
    #[serde(default)]
    pub data_dir: PathBuf,
    /// The origin clients connect to, normalized (`https://host[:port]`, no default port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_origin: Option<String>,
    /// Metadata database URL; `None` means SQLite in the data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// The NATS connection.
    #[serde(default)]
    pub nats: NatsConfig,
    /// The public listener's certificate.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Size limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Login and session lifetimes.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Who may register.
    #[serde(default)]
    pub registration: RegistrationConfig,
    /// Mailbox limits.
    #[serde(default)]
    pub mailbox: MailboxConfig,
    /// Live event streams.
    #[serde(default)]
    pub events: EventsConfig,
}

/// `[nats]`: the NATS server or cluster the relay stores its data in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct NatsConfig {
    /// Server URL(s); `None` runs a managed `nats-server -js` child on 127.0.0.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Credentials file (JWT + NKey).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creds_file: Option<PathBuf>,
    /// CA certificate(s) for the servers' certificates (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate (PEM); set together with `tls_key_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<PathBuf>,
    /// Client key (PEM); set together with `tls_cert_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<PathBuf>,
    /// Prefix of every JetStream name (see `plog_ipc_schema::nats::Names`); empty for none.
    pub prefix: String,
    /// Object store chunk size in bytes.
    pub object_chunk_size: usize,
}

/// `[tls]`: the public listener's certificate files. Neither set means the generated
/// self-signed certificate in `<data_dir>/tls/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsConfig {
    /// Certificate chain (PEM, leaf first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

/// `[limits]`: sizes in bytes, and how long an invite may stay valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Largest volume one upload may carry.
    pub max_volume_bytes: u64,
    /// Storage per account, metadata included.
    pub quota_bytes: u64,
    /// Largest JSON request body.
    pub max_json_bytes: usize,
    /// Longest lifetime of an invite, in seconds; later expiries asked for are shortened.
    pub max_invite_lifetime_secs: u64,
    /// Invite lookups and redemptions one account may make per minute (the bucket's refill
    /// rate).
    pub invite_lookups_per_minute: u32,
    /// Invite lookups and redemptions one account may make at once before the rate applies.
    pub invite_lookups_burst: u32,
}

/// `[auth]`: lifetimes, in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthConfig {
    /// How long a login challenge can be answered.
    pub challenge_ttl_secs: u64,
    /// How long a session lasts.
    pub session_ttl_secs: u64,
    /// How recent a login must be for sensitive actions.
    pub fresh_session_secs: u64,
    /// How long an account may stay without its first login before it is deleted.
    pub unactivated_ttl_secs: u64,
}

/// `[registration]`: who may create accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RegistrationConfig {
    /// Whether anyone may register.
    pub open: bool,
}

/// `[mailbox]`: how much mail the relay keeps and accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MailboxConfig {
    /// How long an undeleted message is kept, in seconds.
    pub retention_secs: u64,
    /// Most messages waiting for one recipient; further posts are refused until some are
    /// deleted or expire.
    pub max_per_recipient: u32,
    /// Largest envelope one post may carry, in bytes (before base64).
    pub max_envelope_bytes: usize,
    /// Friend requests by handle one account may send per hour (the bucket's refill rate).
    pub handle_requests_per_hour: u32,
    /// Friend requests by handle one account may send at once before the hourly rate applies.
    pub handle_requests_burst: u32,
    /// Most link tokens one account may hold registered; further registrations are refused
    /// until it drops some.
    pub max_links_per_account: u32,
}

/// `[events]`: the `GET /v1/events` streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct EventsConfig {
    /// Seconds between keep-alive comments; the session is re-checked at each, so a stream
    /// outlives a logout by at most this long.
    pub keep_alive_secs: u64,
}

fn default_name() -> String {
    "PluralLog relay".to_owned()
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8443))
}

fn default_admin_listen() -> String {
    "127.0.0.1:8444".to_owned()
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: None,
            creds_file: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            prefix: String::new(),
            object_chunk_size: 1024 * 1024,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_volume_bytes: 512 * 1024 * 1024,
            quota_bytes: 2 * 1024 * 1024 * 1024,
            max_json_bytes: 64 * 1024,
            max_invite_lifetime_secs: 30 * 24 * 60 * 60,
            invite_lookups_per_minute: 30,
            invite_lookups_burst: 10,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            challenge_ttl_secs: 60,
            session_ttl_secs: 30 * 24 * 60 * 60,
            fresh_session_secs: 300,
            unactivated_ttl_secs: 24 * 60 * 60,
        }
    }
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self { open: true }
    }
}

impl Default for MailboxConfig {
    fn default() -> Self {
        Self {
            retention_secs: 30 * 24 * 60 * 60,
            max_per_recipient: 1000,
            max_envelope_bytes: 70 * 1024,
            handle_requests_per_hour: 20,
            handle_requests_burst: 5,
            max_links_per_account: 1000,
        }
    }
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            keep_alive_secs: 15,
        }
    }
}

impl MailboxConfig {
    /// [`MailboxConfig::retention_secs`] as a duration.
    #[must_use]
    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.retention_secs)
    }
}

impl EventsConfig {
    /// [`EventsConfig::keep_alive_secs`] as a duration.
    #[must_use]
    pub fn keep_alive(&self) -> Duration {
        Duration::from_secs(self.keep_alive_secs)
    }
}

impl AuthConfig {
    /// [`AuthConfig::challenge_ttl_secs`] as a duration.
    #[must_use]
    pub fn challenge_ttl(&self) -> Duration {
        Duration::from_secs(self.challenge_ttl_secs)
    }

    /// [`AuthConfig::session_ttl_secs`] as a duration.
    #[must_use]
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(self.session_ttl_secs)
    }

    /// [`AuthConfig::fresh_session_secs`] as a duration.
    #[must_use]
    pub fn fresh_session(&self) -> Duration {
        Duration::from_secs(self.fresh_session_secs)
    }

    /// [`AuthConfig::unactivated_ttl_secs`] as a duration.
    #[must_use]
    pub fn unactivated_ttl(&self) -> Duration {
        Duration::from_secs(self.unactivated_ttl_secs)
    }
}

impl Config {
    /// Every setting at its default, with the given data directory.
    #[must_use]
    pub fn defaults(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            name: default_name(),
            listen: default_listen(),
            admin_listen: default_admin_listen(),
            data_dir: data_dir.into(),
            public_origin: None,
            database_url: None,
            nats: NatsConfig::default(),
            tls: TlsConfig::default(),
            limits: LimitsConfig::default(),
            auth: AuthConfig::default(),
            registration: RegistrationConfig::default(),
            mailbox: MailboxConfig::default(),
            events: EventsConfig::default(),
        }
    }

    /// Loads the configuration of `plog-relay serve`: defaults, then the file given by
    /// `--config` (or `PLOG_RELAY_CONFIG`), then the process's `PLOG_RELAY_*` variables, then
    /// the flags; then checks it.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file, variable or setting at fault.
    pub fn load(args: &ServeArgs) -> Result<Self, ConfigError> {
        let env = sources::process_env()?;
        let path = args.config.clone().or_else(|| {
            env.iter()
                .find(|(name, value)| name == sources::CONFIG_ENV && !value.is_empty())
                .map(|(_, value)| PathBuf::from(value))
        });
        let text = match &path {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let file = path.as_deref().zip(text.as_deref());
        Self::from_sources(file, env, args)
    }

    /// Builds and checks the configuration from explicit sources, lowest precedence first:
    /// built-in defaults, `file` (its path, for messages, and its text), `env` (the process
    /// environment as name/value pairs; only `PLOG_RELAY_*`, `XDG_DATA_HOME` and `HOME` are
    /// looked at) and `flags`. `flags.config` and `PLOG_RELAY_CONFIG` are not read here: pass
    /// the file's text as `file`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file, variable or setting at fault.
    pub fn from_sources(
        file: Option<(&Path, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &ServeArgs,
    ) -> Result<Self, ConfigError> {
        let (config, provenance) = sources::layer(file, env, flags)?;
        validate::check(config, &provenance)
    }

    /// Checks a configuration built in code (for example from [`Config::defaults`]) as
    /// [`Config::load`] checks a loaded one, and normalizes `public_origin`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the setting at fault.
    pub fn validate(self) -> Result<Self, ConfigError> {
        validate::check(self, &sources::Provenance::default())
    }

    /// The origin clients connect to and logins are bound to: `public_origin` if set, else
    /// derived from `listen` (see [`Config::public_origin_for`]).
    #[must_use]
    pub fn public_origin(&self) -> String {
        self.public_origin_for(self.listen)
    }

    /// The public origin when the listener is actually bound to `bound` (useful with port 0):
    /// `public_origin` if set, else `https://<ip>:<port>` of `bound`, with 127.0.0.1 for an
    /// unspecified address (0.0.0.0 or ::) and without the port when it is 443.
    #[must_use]
    pub fn public_origin_for(&self, bound: SocketAddr) -> String {
        if let Some(origin) = &self.public_origin {
            return origin.clone();
        }
        let ip = if bound.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            bound.ip()
        };
        let host = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        match bound.port() {
            443 => format!("https://{host}"),
            port => format!("https://{host}:{port}"),
        }
    }

    /// The metadata database URL: `database_url` if set, else `sqlite:<data_dir>/relay.db`.
    #[must_use]
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite:{}", self.data_dir.join("relay.db").display()),
        }
    }

    /// The admin listener's address, parsed.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] if `admin_listen` is neither a loopback address nor
    /// `unix:PATH` (a loaded configuration has been checked already).
    pub fn admin_address(&self) -> Result<AdminAddress, ConfigError> {
        AdminAddress::parse(&self.admin_listen).map_err(|reason| ConfigError::Invalid {
            key: "admin_listen",
            value: self.admin_listen.clone(),
            origin: "the configuration".to_owned(),
            reason,
        })
    }
}

/// Replaces the user information of a URL (`postgres://user:secret@host`) with `***`, so
/// URLs can be logged and shown in messages.
#[must_use]
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|one| {
            let (scheme, rest) = match one.find("://") {
                Some(at) => one.split_at(at + 3),
                None => ("", one),
            };
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}***{}", &rest[at..]),
                None => one.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("data_dir", &self.data_dir)
            .field("public_origin", &self.public_origin)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("nats", &self.nats)
            .field("tls", &self.tls)
            .field("limits", &self.limits)
            .field("auth", &self.auth)
            .field("registration", &self.registration)
            .field("mailbox", &self.mailbox)
            .field("events", &self.events)
            .finish()
    }
}

impl fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("creds_file", &self.creds_file)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .field("prefix", &self.prefix)
            .field("object_chunk_size", &self.object_chunk_size)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_user_information_only() {
        assert_eq!(
            redact_url("postgres://plog:secret@db.example/plog?sslmode=require"),
            "postgres://***@db.example/plog?sslmode=require"
        );
        assert_eq!(
            redact_url("nats://a:4222,nats://u:p@b:4222"),
            "nats://a:4222,nats://***@b:4222"
        );
        assert_eq!(redact_url("sqlite:/data/relay.db"), "sqlite:/data/relay.db");
        assert_eq!(
            redact_url("postgres://db.example/plog?user=a@b"),
            "postgres://db.example/plog?user=a@b"
        );
    }

    #[test]
    fn debug_does_not_show_database_passwords() {
        let mut config = Config::defaults("/data");
        config.database_url = Some("postgres://plog:hunter2@db/plog".to_owned());
        config.nats.url = Some("nats://user:hunter2@nats:4222".to_owned());
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn derived_origin_follows_the_listener() {
        let mut config = Config::defaults("/data");
        assert_eq!(config.public_origin(), "https://127.0.0.1:8443");
        config.listen = "[::]:443".parse().expect("address");
        assert_eq!(config.public_origin(), "https://127.0.0.1");
        config.listen = "[::1]:8443".parse().expect("address");
        assert_eq!(config.public_origin(), "https://[::1]:8443");
        config.listen = "192.0.2.7:9000".parse().expect("address");
        assert_eq!(config.public_origin(), "https://192.0.2.7:9000");
        assert_eq!(
            config.public_origin_for("192.0.2.7:41234".parse().expect("address")),
            "https://192.0.2.7:41234"
        );
        config.public_origin = Some("https://relay.example".to_owned());
        assert_eq!(config.public_origin(), "https://relay.example");
    }

    #[test]
    fn example_lists_every_key() {
        // Settings without a fixed default are commented out as `#key = value`.
        let enabled: String = DEFAULT_CONFIG
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase()) => rest,
                _ => line,
            })
            .flat_map(|line| [line, "\n"])
            .collect();
        let table: toml::Table = toml::from_str(&enabled).expect("example parses");
        let mut listed = Vec::new();
        for (key, value) in &table {
            match value.as_table() {
                Some(section) => listed.extend(section.keys().map(|name| format!("{key}.{name}"))),
                None => listed.push(key.clone()),
            }
        }
        listed.sort();
        let mut all: Vec<String> = keys().map(str::to_owned).collect();
        all.sort();
        assert_eq!(listed, all);
    }

    #[test]
    fn example_values_are_the_defaults() {
        let example: Config = toml::from_str(DEFAULT_CONFIG).expect("example parses");
        assert_eq!(example, Config::defaults(""));
    }

    #[test]
    fn database_defaults_to_sqlite_in_the_data_directory() {
        let config = Config::defaults("/data");
        assert_eq!(config.database_url(), "sqlite:/data/relay.db");
    }
}
