//! The relay's TLS certificate: loaded from PEM files or generated on first start; its pin.
//!
//! Clients trust a relay by its **pin** (DESIGN §6): `sha256:` and the lower-case hex SHA-256
//! of the certificate's DER SubjectPublicKeyInfo, the value of
//! `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`. The pin
//! depends on the key only, so a certificate re-issued for the same key keeps it.
//!
//! Without `[tls]` files the relay uses `<data_dir>/tls/cert.pem` and `key.pem`, generated on
//! first start: ECDSA P-256 (served by rustls on ring and accepted by every rustls client),
//! self-signed, for `localhost`, `127.0.0.1`, `::1` and the public origin's host, valid for
//! ten years.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plog_ipc_schema::CertPin;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

use crate::cli::{FingerprintArgs, ServeArgs};
use crate::config::{Config, ConfigError};

/// Directory of the generated certificate, under the data directory.
pub const TLS_DIR_NAME: &str = "tls";
/// File name of the generated certificate.
pub const CERT_FILE_NAME: &str = "cert.pem";
/// File name of the generated certificate's private key.
pub const KEY_FILE_NAME: &str = "key.pem";

/// How long a generated certificate is valid. Clients trust the pin, not a CA, so a long life
/// avoids needless re-issuing; the key, and with it the pin, stays the same anyway.
const VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60 + 3 * 24 * 60 * 60);
/// How far before "now" a generated certificate starts to be valid, for skewed clocks.
const BACKDATE: Duration = Duration::from_secs(24 * 60 * 60);

/// The certificate the public listener serves, with its private key and pin.
#[non_exhaustive]
pub struct RelayCertificate {
    /// The certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf certificate's private key.
    pub key: PrivateKeyDer<'static>,
    /// The leaf's pin: `sha256:` + 64 lower-case hex digits.
    pub pin: String,
    /// Whether the leaf certificate is self-signed (issuer = subject), as the generated one is.
    pub self_signed: bool,
}

impl std::fmt::Debug for RelayCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayCertificate")
            .field(
                "chain",
                &format_args!("[{} certificate(s)]", self.chain.len()),
            )
            .field("key", &"***")
            .field("pin", &self.pin)
            .field("self_signed", &self.self_signed)
            .finish()
    }
}

/// Why the relay's certificate could not be loaded, generated or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The configuration could not be loaded (`plog-relay fingerprint`).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file or directory could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was attempted: `read`, `write`, `create the directory`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A PEM file is malformed.
    #[error("{} is not a valid PEM {what} file: {source}", path.display())]
    Pem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The parser's explanation.
        #[source]
        source: pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error(
        "{} holds no PEM CERTIFICATE block: give the certificate chain, leaf first",
        path.display()
    )]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key.
    #[error(
        "{} holds no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
        path.display()
    )]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The DER bytes are not an X.509 certificate.
    #[error("not a valid X.509 certificate: {reason}")]
    Certificate {
        /// The parser's explanation.
        reason: String,
    },
    /// The private key does not belong to the leaf certificate.
    #[error(
        "the private key in {} does not belong to the first certificate in {}: check that the \
         files are a pair and that the chain starts with the relay's own certificate",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The private key has a type or format the TLS stack cannot sign with.
    #[error(
        "the private key in {} cannot be used (ECDSA P-256/P-384, Ed25519 and RSA ≥ 2048 bits \
         are supported): {source}",
        path.display()
    )]
    UnusableKey {
        /// The key file.
        path: PathBuf,
        /// The TLS stack's explanation.
        #[source]
        source: rustls::Error,
    },
    /// The generated certificate exists but its key is gone.
    #[error(
        "{} exists but its private key {} does not: restore the key, or delete the certificate \
         to generate a new one (clients will then have to approve a new pin)",
        cert.display(),
        key.display()
    )]
    KeyMissing {
        /// The certificate file.
        cert: PathBuf,
        /// The missing key file.
        key: PathBuf,
    },
    /// Only one of `[tls] cert_file` and `key_file` is set.
    #[error("set both [tls] cert_file and key_file, or neither to use a generated certificate")]
    HalfConfigured,
    /// `plog-relay fingerprint` found no certificate.
    #[error(
        "no certificate yet in {}: the relay generates one on its first start; run \
         `plog-relay serve --data-dir {}` once (or configure [tls] cert_file and key_file)",
        dir.display(),
        data_dir.display()
    )]
    NotGenerated {
        /// Where the certificate would be.
        dir: PathBuf,
        /// The data directory.
        data_dir: PathBuf,
    },
    /// The certificate could not be generated.
    #[error("cannot generate the relay certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The TLS configuration could not be built.
    #[error("cannot set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Where the generated certificate and key live: `<data_dir>/tls/cert.pem` and `key.pem`.
#[must_use]
pub fn generated_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join(TLS_DIR_NAME);
    (dir.join(CERT_FILE_NAME), dir.join(KEY_FILE_NAME))
}

/// The certificate to serve: the `[tls]` files if configured, else the generated one in the
/// data directory, generated now if there is none yet (a lone `key.pem` gets a new certificate
/// for the same key, and so keeps its pin).
///
/// # Errors
///
/// [`TlsError`] naming the file at fault.
pub fn load_or_generate(config: &Config) -> Result<RelayCertificate, TlsError> {
    match (&config.tls.cert_file, &config.tls.key_file) {
        (Some(cert), Some(key)) => load_pem_files(cert, key),
        (None, None) => load_or_generate_in(config),
        _ => Err(TlsError::HalfConfigured),
    }
}

/// Loads a PEM certificate chain (leaf first) and its PEM private key, and checks that they
/// belong together.
///
/// # Errors
///
/// [`TlsError`] naming the file at fault.
pub fn load_pem_files(cert_path: &Path, key_path: &Path) -> Result<RelayCertificate, TlsError> {
    let chain = read_chain(cert_path)?;
    let key = read_key(key_path)?;
    let leaf = chain.first().ok_or_else(|| TlsError::NoCertificate {
        path: cert_path.to_path_buf(),
    })?;
    let in_file = |err: TlsError| match err {
        TlsError::Certificate { reason } => TlsError::Certificate {
            reason: format!("{}: {reason}", cert_path.display()),
        },
        other => other,
    };
    let pin = pin_of_certificate(leaf).map_err(in_file)?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf)
        .map_err(certificate_error)
        .map_err(in_file)?;
    let self_signed = parsed.issuer().as_raw() == parsed.subject().as_raw();
    if !parsed.validity().is_valid() {
        tracing::warn!(
            path = %cert_path.display(),
            not_after = %parsed.validity().not_after,
            "the relay certificate is outside its validity period"
        );
    }

    let provider = rustls::crypto::ring::default_provider();
    match CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider) {
        Ok(_) => {}
        Err(rustls::Error::InvalidCertificate(err)) => {
            return Err(TlsError::Certificate {
                reason: format!("{}: {err}", cert_path.display()),
            });
        }
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(TlsError::KeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(TlsError::UnusableKey {
                path: key_path.to_path_buf(),
                source,
            });
        }
    }

    Ok(RelayCertificate {
        chain,
        key,
        pin,
        self_signed,
    })
}

/// The pin of a DER certificate: `sha256:` + the lower-case hex SHA-256 of its DER
/// SubjectPublicKeyInfo.
///
/// # Errors
///
/// [`TlsError::Certificate`] if `cert_der` is not one X.509 certificate.
pub fn pin_of_certificate(cert_der: &[u8]) -> Result<String, TlsError> {
    let (rest, cert) = x509_parser::parse_x509_certificate(cert_der).map_err(certificate_error)?;
    if !rest.is_empty() {
        return Err(TlsError::Certificate {
            reason: format!("{} bytes after the certificate", rest.len()),
        });
    }
    let digest: [u8; 32] = Sha256::digest(cert.public_key().raw).into();
    Ok(CertPin::from_digest(digest).to_string())
}

/// A rustls server configuration serving `cert`, on the ring provider, offering ALPN `h2` and
/// `http/1.1`.
///
/// # Errors
///
/// [`TlsError::Rustls`] if the key cannot be used with the certificate.
pub fn server_config(cert: &RelayCertificate) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(cert.chain.clone(), cert.key.clone_key())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The pin of the configured certificate (`[tls] cert_file`) or of the generated one, without
/// generating anything.
///
/// # Errors
///
/// [`TlsError::NotGenerated`] if the relay has not generated its certificate yet; other
/// [`TlsError`]s if the certificate cannot be read.
pub fn fingerprint(config: &Config) -> Result<String, TlsError> {
    let cert_path = match &config.tls.cert_file {
        Some(path) => path.clone(),
        None => {
            let (cert, _) = generated_paths(&config.data_dir);
            if !cert.exists() {
                return Err(TlsError::NotGenerated {
                    dir: config.data_dir.join(TLS_DIR_NAME),
                    data_dir: config.data_dir.clone(),
                });
            }
            cert
        }
    };
    let chain = read_chain(&cert_path)?;
    let leaf = chain
        .first()
        .ok_or(TlsError::NoCertificate { path: cert_path })?;
    pin_of_certificate(leaf)
}

/// `plog-relay fingerprint`: loads the configuration as `serve` does (file, `PLOG_RELAY_*`
/// environment, `--data-dir`) and returns the pin to print.
///
/// # Errors
///
/// As [`Config::load`] and [`fingerprint`].
pub fn fingerprint_command(args: &FingerprintArgs) -> Result<String, TlsError> {
    let serve = ServeArgs {
        config: args.config.clone(),
        data_dir: args.data_dir.clone(),
        ..ServeArgs::default()
    };
    fingerprint(&Config::load(&serve)?)
}

fn load_or_generate_in(config: &Config) -> Result<RelayCertificate, TlsError> {
    let dir = config.data_dir.join(TLS_DIR_NAME);
    let (cert_path, key_path) = generated_paths(&config.data_dir);
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io_error("create the directory", &dir))?;

    let cert_exists = exists(&cert_path)?;
    let key_exists = exists(&key_path)?;
    match (cert_exists, key_exists) {
        (true, true) => {
            warn_if_readable_by_others(&key_path);
            load_pem_files(&cert_path, &key_path)
        }
        (true, false) => Err(TlsError::KeyMissing {
            cert: cert_path,
            key: key_path,
        }),
        (false, true) => {
            warn_if_readable_by_others(&key_path);
            let key = KeyPair::try_from(&read_key(&key_path)?)?;
            issue(config, &key, &cert_path)?;
            let cert = load_pem_files(&cert_path, &key_path)?;
            tracing::info!(
                pin = %cert.pin,
                path = %cert_path.display(),
                "issued a new self-signed certificate for the existing key (same pin)"
            );
            Ok(cert)
        }
        (false, false) => {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
            // The key goes first: a crash before the certificate is written leaves a key that
            // the next start issues a certificate for, with the same pin.
            write_atomically(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
            issue(config, &key, &cert_path)?;
            let cert = load_pem_files(&cert_path, &key_path)?;
            tracing::info!(
                pin = %cert.pin,
                path = %cert_path.display(),
                "generated a self-signed relay certificate"
            );
            Ok(cert)
        }
    }
}

/// Writes a new self-signed certificate for `key` to `cert_path`.
fn issue(config: &Config, key: &KeyPair, cert_path: &Path) -> Result<(), TlsError> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = origin_host(&config.public_origin())
        && !names.iter().any(|name| name == host)
    {
        names.push(host.to_owned());
    }
    let mut params = CertificateParams::new(names)?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, "plog-relay");
    params.distinguished_name = subject;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(BACKDATE);
    params.not_before = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    params.not_after = params.not_before + VALIDITY;
    let cert = params.self_signed(key)?;
    write_atomically(cert_path, cert.pem().as_bytes(), 0o644)
}

/// The host of a normalized origin, without brackets around an IPv6 address.
fn origin_host(origin: &str) -> Option<&str> {
    let authority = origin.split_once("://")?.1;
    match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next(),
        None => authority.split(':').next(),
    }
    .filter(|host| !host.is_empty())
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            what: "certificate",
            path: path.to_path_buf(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(&read(path)?).map_err(|err| match err {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        },
        source => TlsError::Pem {
            what: "private key",
            path: path.to_path_buf(),
            source,
        },
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(io_error("read", path))
}

fn exists(path: &Path) -> Result<bool, TlsError> {
    path.try_exists().map_err(io_error("read", path))
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> TlsError {
    let path = path.to_path_buf();
    move |source| TlsError::Io {
        action,
        path,
        source,
    }
}

fn certificate_error(err: impl std::fmt::Display) -> TlsError {
    TlsError::Certificate {
        reason: err.to_string(),
    }
}

fn warn_if_readable_by_others(key_path: &Path) {
    if let Ok(meta) = fs::metadata(key_path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %key_path.display(),
            mode = format_args!("{:o}", meta.permissions().mode() & 0o777),
            "the relay's private key is accessible to other users; run chmod 600 on it"
        );
    }
}

/// Replaces `path` with `contents` so that readers see the old file or the complete new one:
/// a temporary file in the same directory, synced, renamed over `path`, then the directory
/// synced.
fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        // The mode given to open() is filtered by the umask; set it exactly.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    result.map_err(|source| {
        let _ = fs::remove_file(&temp);
        TlsError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use x509_parser::extensions::GeneralName;

    #[test]
    fn origin_hosts() {
        assert_eq!(origin_host("https://relay.example"), Some("relay.example"));
        assert_eq!(
            origin_host("https://relay.example:8443"),
            Some("relay.example")
        );
        assert_eq!(origin_host("https://[::1]:8443"), Some("::1"));
        assert_eq!(origin_host("https://192.0.2.1"), Some("192.0.2.1"));
        assert_eq!(origin_host("relay"), None);
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(matches!(
            pin_of_certificate(b"not a certificate"),
            Err(TlsError::Certificate { .. })
        ));
    }

    #[test]
    fn generated_certificate_serves_and_keeps_its_pin() -> Result<(), TlsError> {
        let dir = std::env::temp_dir().join(format!("plog-relay-tls-{}", uuid::Uuid::new_v4()));
        let mut config = Config::defaults(&dir);
        config.public_origin = Some("https://relay.example:8443".to_owned());
        let first = load_or_generate(&config)?;
        assert!(first.self_signed);
        assert!(first.pin.starts_with("sha256:") && first.pin.len() == 71);
        server_config(&first)?;
        let (_, parsed) =
            x509_parser::parse_x509_certificate(&first.chain[0]).map_err(certificate_error)?;
        let sans: Vec<String> = parsed
            .subject_alternative_name()
            .map_err(certificate_error)?
            .map(|ext| ext.value.general_names.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|name| match name {
                GeneralName::DNSName(dns) => dns.to_owned(),
                GeneralName::IPAddress(&[a, b, c, d]) => IpAddr::from([a, b, c, d]).to_string(),
                GeneralName::IPAddress(bytes) => <[u8; 16]>::try_from(bytes)
                    .map_or_else(|_| format!("{bytes:?}"), |v6| IpAddr::from(v6).to_string()),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(sans, ["localhost", "127.0.0.1", "::1", "relay.example"]);

        // A lost certificate is re-issued for the same key: same pin.
        let (cert_path, _) = generated_paths(&dir);
        fs::remove_file(&cert_path).map_err(io_error("remove", &cert_path))?;
        let again = load_or_generate(&config)?;
        assert_eq!(again.pin, first.pin);
        assert_eq!(fingerprint(&config)?, first.pin);

        // A lost key is an error, not a silent new identity.
        let (_, key_path) = generated_paths(&dir);
        fs::remove_file(&key_path).map_err(io_error("remove", &key_path))?;
        assert!(matches!(
            load_or_generate(&config),
            Err(TlsError::KeyMissing { .. })
        ));
        let _ = fs::remove_dir_all(&dir);
        Ok(())
    }
}
