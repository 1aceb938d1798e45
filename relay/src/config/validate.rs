//! Checks of a stacked configuration, with messages that say what to change.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use plog_crypto::identity::normalize_origin;
use plog_ipc_schema::nats::Names;

use super::sources::Provenance;
use super::{Config, ConfigError, redact_url};

/// Largest accepted object store chunk: NATS refuses messages above its `max_payload`, which
/// cannot exceed 64 MiB.
const MAX_CHUNK_SIZE: usize = 64 * 1024 * 1024;

/// Where the admin listener listens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminAddress {
    /// A TCP address on a loopback interface.
    Tcp(SocketAddr),
    /// A Unix domain socket.
    Unix(PathBuf),
}

impl AdminAddress {
    /// Parses `unix:PATH` or a loopback `ADDR:PORT`.
    ///
    /// # Errors
    ///
    /// What is wrong and how to fix it.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(
                    "`unix:` needs a socket path, e.g. unix:/run/plog-relay/admin.sock".to_owned(),
                );
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        let addr: SocketAddr = text.parse().map_err(|_| {
            "expected a loopback address such as 127.0.0.1:8444 or [::1]:8444, or unix:PATH \
             (host names are not accepted)"
                .to_owned()
        })?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "the admin listener must not be reachable from the network: use 127.0.0.1:{0} \
                 or [::1]:{0}, or unix:PATH",
                addr.port()
            ));
        }
        Ok(Self::Tcp(addr))
    }
}

/// Checks `config` and normalizes its `public_origin`.
pub(super) fn check(mut config: Config, provenance: &Provenance) -> Result<Config, ConfigError> {
    let invalid = |key: &'static str, value: &dyn ToString, reason: String| ConfigError::Invalid {
        key,
        value: value.to_string(),
        origin: provenance.describe(key),
        reason,
    };
    let pair = |set: &'static str, missing: &'static str| ConfigError::Pair {
        set,
        origin: provenance.describe(set),
        missing,
    };

    let name = config.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            &config.name,
            "the relay name must be 1 to 100 characters without control characters".to_owned(),
        ));
    }

    if config.data_dir.as_os_str().is_empty() {
        return Err(invalid(
            "data_dir",
            &"",
            "the data directory must not be empty".to_owned(),
        ));
    }

    let admin = AdminAddress::parse(&config.admin_listen)
        .map_err(|reason| invalid("admin_listen", &config.admin_listen, reason))?;
    if let AdminAddress::Tcp(admin) = admin
        && admin.port() != 0
        && admin.port() == config.listen.port()
        && (config.listen.ip().is_unspecified() || config.listen.ip() == admin.ip())
    {
        return Err(invalid(
            "admin_listen",
            &config.admin_listen,
            format!(
                "the admin listener needs a port of its own; listen already uses {}",
                config.listen
            ),
        ));
    }

    if let Some(origin) = &config.public_origin {
        let normalized = normalize_origin(origin).map_err(|err| {
            invalid(
                "public_origin",
                origin,
                format!("{err}; write it as https://HOST or https://HOST:PORT"),
            )
        })?;
        if let Some(rest) = normalized.strip_prefix("http://")
            && !is_loopback_host(rest)
        {
            return Err(invalid(
                "public_origin",
                origin,
                "the relay serves HTTPS: use https:// (http:// is accepted only for loopback \
                 tests)"
                    .to_owned(),
            ));
        }
        config.public_origin = Some(normalized);
    }

    if let Some(url) = &config.database_url {
        let supported = ["sqlite:", "postgres://", "postgresql://"];
        if !supported.iter().any(|scheme| url.starts_with(scheme)) {
            return Err(invalid(
                "database_url",
                &redact_url(url),
                "use sqlite:PATH or postgres://USER@HOST/DATABASE".to_owned(),
            ));
        }
    }

    if let Some(url) = &config.nats.url
        && url.trim().is_empty()
    {
        return Err(invalid(
            "nats.url",
            url,
            "leave the NATS URL out to run a managed nats-server, or give its address, e.g. \
             nats://127.0.0.1:4222"
                .to_owned(),
        ));
    }
    match (&config.nats.tls_cert_file, &config.nats.tls_key_file) {
        (Some(_), None) => return Err(pair("nats.tls_cert_file", "nats.tls_key_file")),
        (None, Some(_)) => return Err(pair("nats.tls_key_file", "nats.tls_cert_file")),
        _ => {}
    }
    if let Err(err) = Names::new(&config.nats.prefix) {
        return Err(invalid("nats.prefix", &config.nats.prefix, err.to_string()));
    }
    if config.nats.object_chunk_size == 0 || config.nats.object_chunk_size > MAX_CHUNK_SIZE {
        return Err(invalid(
            "nats.object_chunk_size",
            &config.nats.object_chunk_size,
            format!(
                "must be from 1 to {MAX_CHUNK_SIZE} bytes and at most the NATS server's \
                 max_payload (1048576 by default)"
            ),
        ));
    }

    match (&config.tls.cert_file, &config.tls.key_file) {
        (Some(_), None) => return Err(pair("tls.cert_file", "tls.key_file")),
        (None, Some(_)) => return Err(pair("tls.key_file", "tls.cert_file")),
        _ => {}
    }

    let limits = &config.limits;
    for (key, value) in [
        ("limits.max_volume_bytes", limits.max_volume_bytes),
        ("limits.quota_bytes", limits.quota_bytes),
        ("limits.max_json_bytes", limits.max_json_bytes as u64),
        (
            "limits.max_invite_lifetime_secs",
            limits.max_invite_lifetime_secs,
        ),
        (
            "limits.invite_lookups_per_minute",
            u64::from(limits.invite_lookups_per_minute),
        ),
        (
            "limits.invite_lookups_burst",
            u64::from(limits.invite_lookups_burst),
        ),
        ("auth.challenge_ttl_secs", config.auth.challenge_ttl_secs),
        ("auth.session_ttl_secs", config.auth.session_ttl_secs),
        ("auth.fresh_session_secs", config.auth.fresh_session_secs),
        (
            "auth.unactivated_ttl_secs",
            config.auth.unactivated_ttl_secs,
        ),
    ] {
        if value == 0 {
            return Err(invalid(key, &value, "must be at least 1".to_owned()));
        }
    }
    if limits.max_volume_bytes > limits.quota_bytes {
        return Err(invalid(
            "limits.max_volume_bytes",
            &limits.max_volume_bytes,
            format!(
                "a volume cannot be larger than the storage quota (limits.quota_bytes = {}); \
                 lower it or raise the quota",
                limits.quota_bytes
            ),
        ));
    }
    if config.auth.fresh_session_secs > config.auth.session_ttl_secs {
        return Err(invalid(
            "auth.fresh_session_secs",
            &config.auth.fresh_session_secs,
            format!(
                "cannot exceed the session lifetime (auth.session_ttl_secs = {})",
                config.auth.session_ttl_secs
            ),
        ));
    }
    check_mailbox(&config, &invalid)?;
    Ok(config)
}

/// Largest accepted envelope: one mailbox message (envelope plus headers) must fit the NATS
/// server's default `max_payload` of 1 MiB.
const MAX_ENVELOPE_BYTES: usize = 1024 * 1024 - crate::broker::HEADER_ALLOWANCE;

/// The `[mailbox]` and `[events]` settings.
fn check_mailbox(
    config: &Config,
    invalid: &dyn Fn(&'static str, &dyn ToString, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let mailbox = &config.mailbox;
    for (key, value) in [
        ("mailbox.retention_secs", mailbox.retention_secs),
        (
            "mailbox.max_per_recipient",
            u64::from(mailbox.max_per_recipient),
        ),
        (
            "mailbox.max_envelope_bytes",
            mailbox.max_envelope_bytes as u64,
        ),
        (
            "mailbox.handle_requests_per_hour",
            u64::from(mailbox.handle_requests_per_hour),
        ),
        (
            "mailbox.handle_requests_burst",
            u64::from(mailbox.handle_requests_burst),
        ),
        (
            "mailbox.max_links_per_account",
            u64::from(mailbox.max_links_per_account),
        ),
        ("events.keep_alive_secs", config.events.keep_alive_secs),
    ] {
        if value == 0 {
            return Err(invalid(key, &value, "must be at least 1".to_owned()));
        }
    }
    if mailbox.max_envelope_bytes > MAX_ENVELOPE_BYTES {
        return Err(invalid(
            "mailbox.max_envelope_bytes",
            &mailbox.max_envelope_bytes,
            format!("must be at most {MAX_ENVELOPE_BYTES} bytes (NATS messages are 1 MiB at most)"),
        ));
    }
    // The stream's max_age is nanoseconds in a signed 64-bit integer on the server.
    const MAX_RETENTION_SECS: u64 = 100 * 365 * 24 * 60 * 60;
    if mailbox.retention_secs > MAX_RETENTION_SECS {
        return Err(invalid(
            "mailbox.retention_secs",
            &mailbox.retention_secs,
            format!("must be at most {MAX_RETENTION_SECS} seconds (100 years)"),
        ));
    }
    Ok(())
}

/// Whether the authority of a normalized origin (`host[:port]`) names the local machine.
fn is_loopback_host(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip: IpAddr| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_addresses() {
        assert_eq!(
            AdminAddress::parse("127.0.0.1:8444"),
            Ok(AdminAddress::Tcp(
                "127.0.0.1:8444".parse().expect("address")
            ))
        );
        assert!(AdminAddress::parse("[::1]:0").is_ok());
        assert_eq!(
            AdminAddress::parse("unix:/run/admin.sock"),
            Ok(AdminAddress::Unix("/run/admin.sock".into()))
        );
        for refused in [
            "0.0.0.0:8444",
            "192.0.2.1:8444",
            "localhost:8444",
            "unix:",
            "",
        ] {
            assert!(AdminAddress::parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("localhost:8080"));
        assert!(is_loopback_host("127.0.0.2"));
        assert!(is_loopback_host("[::1]:80"));
        assert!(!is_loopback_host("relay.example"));
        assert!(!is_loopback_host("[2001:db8::1]:80"));
    }
}
