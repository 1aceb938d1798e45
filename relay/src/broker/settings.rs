//! How the relay reaches its NATS server.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Chunk size of stored objects unless configured otherwise: 1 MiB (capped by the server's
/// `max_payload`, see [`NatsSettings::object_chunk_size`]).
pub const DEFAULT_OBJECT_CHUNK_SIZE: usize = 1024 * 1024;

/// How long one broker request (or publish acknowledgement) may take before the operation
/// fails with [`super::BrokerError::Unavailable`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection settings for the broker.
///
/// Credentials can also be part of the URL, as with the other NATS clients:
/// `nats://user:password@host:4222` or `nats://token@host:4222` (percent-encoded where needed).
/// `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsSettings {
    /// Server URL, or several separated by commas (`nats://`, `tls://`).
    pub url: String,
    /// NATS credentials file (user JWT and nkey seed), as issued by `nsc`.
    pub creds_file: Option<PathBuf>,
    /// CA certificate(s) (PEM) that sign the server certificate; setting it requires TLS.
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; needs [`Self::tls_key_file`].
    pub tls_cert_file: Option<PathBuf>,
    /// Private key (PEM) of [`Self::tls_cert_file`].
    pub tls_key_file: Option<PathBuf>,
    /// Name prefix of every bucket, stream and subject (see `plog_ipc_schema::nats::Names`);
    /// empty for none.
    pub prefix: String,
    /// Bytes per object store chunk. The broker uses `min(this, server max_payload - 1 KiB)`;
    /// bigger chunks mean fewer round trips (1 MiB stores about twice as fast as 128 KiB).
    pub object_chunk_size: usize,
}

impl Default for NatsSettings {
    /// A local server without authentication: `nats://127.0.0.1:4222`, no prefix, 1 MiB
    /// chunks.
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".to_owned(),
            creds_file: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            prefix: String::new(),
            object_chunk_size: DEFAULT_OBJECT_CHUNK_SIZE,
        }
    }
}

impl NatsSettings {
    /// The default settings for a server at `url`.
    #[must_use]
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }
}

impl fmt::Debug for NatsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsSettings")
            .field("url", &redact_userinfo(&self.url))
            .field("creds_file", &self.creds_file)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .field("prefix", &self.prefix)
            .field("object_chunk_size", &self.object_chunk_size)
            .finish()
    }
}

/// Tuning of [`super::Broker::connect_with`] that deployments rarely change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerOptions {
    /// Bound on every request and publish acknowledgement, and on connecting.
    pub request_timeout: Duration,
    /// Replicas of each bucket when the broker creates it (a cluster needs 3 for fault
    /// tolerance; a single server must use 1). Existing buckets keep theirs.
    pub replicas: usize,
}

impl Default for BrokerOptions {
    /// 5 s timeout, one replica.
    fn default() -> Self {
        Self {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            replicas: 1,
        }
    }
}

/// Credentials found in the user-info part of a NATS URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum UrlAuth {
    /// `nats://token@host`
    Token(String),
    /// `nats://user:password@host`
    UserPassword(String, String),
}

impl fmt::Debug for UrlAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(***)"),
            Self::UserPassword(user, _) => write!(f, "UserPassword({user:?}, ***)"),
        }
    }
}

/// Splits credentials off `url` (async-nats ignores them there): returns the URL list without
/// user info, and the credentials, which must be the same for every URL that has any.
pub(crate) fn split_userinfo(url: &str) -> Result<(String, Option<UrlAuth>), String> {
    let mut auth: Option<UrlAuth> = None;
    let mut plain = Vec::new();
    for one in url.split(',') {
        let one = one.trim();
        let (scheme, rest) = match one.find("://") {
            Some(at) => one.split_at(at + 3),
            None => ("", one),
        };
        let Some(at) = rest.rfind('@') else {
            plain.push(one.to_owned());
            continue;
        };
        let (userinfo, host) = (&rest[..at], &rest[at + 1..]);
        let this = match userinfo.split_once(':') {
            Some((user, password)) => {
                UrlAuth::UserPassword(percent_decode(user)?, percent_decode(password)?)
            }
            None => UrlAuth::Token(percent_decode(userinfo)?),
        };
        if auth.as_ref().is_some_and(|seen| *seen != this) {
            return Err("the NATS URLs carry different credentials".to_owned());
        }
        auth = Some(this);
        plain.push(format!("{scheme}{host}"));
    }
    Ok((plain.join(","), auth))
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or("invalid percent-encoding in the NATS URL's credentials")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the NATS URL's credentials are not UTF-8".to_owned())
}

/// `url` with any `user:password@` or `token@` part replaced by `***@`, for logs.
pub(crate) fn redact_userinfo(url: &str) -> String {
    url.split(',')
        .map(|one| {
            let (scheme, rest) = match one.find("://") {
                Some(at) => one.split_at(at + 3),
                None => ("", one),
            };
            match rest.rfind('@') {
                Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
                None => one.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let settings = NatsSettings::with_url("nats://alice:hunter2@10.0.0.1:4222,tls://tok@h:1");
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("alice"), "{shown}");
        assert!(!shown.contains("tok@"), "{shown}");
        assert!(
            shown.contains("nats://***@10.0.0.1:4222,tls://***@h:1"),
            "{shown}"
        );
        let auth = UrlAuth::UserPassword("alice".to_owned(), "hunter2".to_owned());
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert!(!format!("{:?}", UrlAuth::Token("s3cret".to_owned())).contains("s3cret"));
    }

    #[test]
    fn plain_urls_are_unchanged() {
        assert_eq!(
            redact_userinfo("nats://127.0.0.1:4222"),
            "nats://127.0.0.1:4222"
        );
        assert_eq!(redact_userinfo("localhost:4222"), "localhost:4222");
        assert_eq!(
            split_userinfo("nats://a:1,nats://b:2"),
            Ok(("nats://a:1,nats://b:2".to_owned(), None))
        );
    }

    #[test]
    fn credentials_come_out_of_the_url() {
        assert_eq!(
            split_userinfo("nats://s3cret@127.0.0.1:4222"),
            Ok((
                "nats://127.0.0.1:4222".to_owned(),
                Some(UrlAuth::Token("s3cret".to_owned()))
            ))
        );
        assert_eq!(
            split_userinfo("tls://al%40ice:p%3Ass@h1:1, tls://al%40ice:p%3Ass@h2:2"),
            Ok((
                "tls://h1:1,tls://h2:2".to_owned(),
                Some(UrlAuth::UserPassword(
                    "al@ice".to_owned(),
                    "p:ss".to_owned()
                ))
            ))
        );
        assert!(split_userinfo("nats://a@h1:1,nats://b@h2:2").is_err());
        assert!(split_userinfo("nats://a%zz@h:1").is_err());
    }
}
