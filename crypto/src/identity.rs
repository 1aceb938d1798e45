//! Per-relay X25519 identity keys, public-key fingerprints and relay origins.

use crate::encoding::fields;
use crate::labels;
use crate::primitives::blake2b_256;
use crate::secret::SecretBytes;
use core::fmt;
use data_encoding::BASE64URL_NOPAD;
use orion::hazardous::kem::x25519_hkdf_sha256 as dhkem;
use thiserror::Error;

/// Length of an X25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;

/// Length of a key fingerprint as carried by invite codes.
pub const FINGERPRINT_LEN: usize = 16;

/// A public X25519 identity key, as registered with a relay.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityPublicKey([u8; PUBLIC_KEY_LEN]);

impl IdentityPublicKey {
    /// Wraps raw key bytes. Every 32-byte string is accepted; low-order points are refused
    /// later by HPKE (an all-zero shared secret is an error there).
    pub fn from_bytes(bytes: [u8; PUBLIC_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    /// Unpadded base64url, the form used on the wire.
    pub fn to_base64(&self) -> String {
        BASE64URL_NOPAD.encode(&self.0)
    }

    /// Parses the unpadded base64url form.
    pub fn from_base64(text: &str) -> Result<Self, KeyParseError> {
        let bytes = BASE64URL_NOPAD
            .decode(text.as_bytes())
            .map_err(|_| KeyParseError::Encoding)?;
        let arr: [u8; PUBLIC_KEY_LEN] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| KeyParseError::Length(v.len()))?;
        Ok(Self(arr))
    }

    /// First 16 bytes of `BLAKE2b-256(fields(KEY_FINGERPRINT, key))`.
    pub fn fingerprint(&self) -> [u8; FINGERPRINT_LEN] {
        let digest = blake2b_256(&fields(&[labels::KEY_FINGERPRINT.as_bytes(), &self.0]));
        let mut out = [0u8; FINGERPRINT_LEN];
        out.copy_from_slice(&digest[..FINGERPRINT_LEN]);
        out
    }

    pub(crate) fn to_hpke(self) -> Result<dhkem::PublicKey, crate::CryptoError> {
        dhkem::PublicKey::try_from(&self.0).map_err(|_| crate::CryptoError::Primitive("x25519 key"))
    }
}

impl fmt::Debug for IdentityPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityPublicKey({})", self.to_base64())
    }
}

impl fmt::Display for IdentityPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// A public key that could not be parsed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyParseError {
    /// Not unpadded base64url.
    #[error("public key is not unpadded base64url")]
    Encoding,
    /// Decoded to the wrong number of bytes.
    #[error("public key has {0} bytes, expected {PUBLIC_KEY_LEN}")]
    Length(usize),
}

/// An X25519 key pair used as the identity towards one relay.
pub struct IdentityKeyPair {
    secret: SecretBytes<32>,
    public: IdentityPublicKey,
}

impl IdentityKeyPair {
    /// Builds the pair from 32 secret bytes (clamped as X25519 requires).
    pub fn from_secret_bytes(secret: SecretBytes<32>) -> Self {
        let scalar = x25519_dalek::StaticSecret::from(*secret.expose());
        let public = IdentityPublicKey(x25519_dalek::PublicKey::from(&scalar).to_bytes());
        Self { secret, public }
    }

    /// A random key pair (used for relay-side pseudo keys and tests).
    pub fn generate() -> Result<Self, crate::CryptoError> {
        Ok(Self::from_secret_bytes(SecretBytes::random()?))
    }

    /// The public half.
    pub fn public_key(&self) -> IdentityPublicKey {
        self.public
    }

    pub(crate) fn to_hpke_private(&self) -> dhkem::PrivateKey {
        dhkem::PrivateKey::from(*self.secret.expose())
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public)
            .field("secret", &"***")
            .finish()
    }
}

/// An origin that cannot be used as a relay origin.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginError {
    /// Only `https://` origins are relay origins (`http://` only for a loopback host).
    #[error(
        "relay origin must start with https:// (http:// only for localhost or a loopback address)"
    )]
    Scheme,
    /// The origin has no host.
    #[error("relay origin has no host")]
    MissingHost,
    /// The origin has a path, query, fragment or user information.
    #[error("relay origin must be scheme://host[:port] with nothing after it")]
    Extra,
    /// The host is not a DNS name (ASCII letters, digits and hyphens; IDNs in punycode), an IPv4
    /// address or a bracketed IPv6 address.
    #[error("relay origin has an invalid host")]
    Host,
    /// The port is not a number from 1 to 65535.
    #[error("relay origin has an invalid port")]
    Port,
}

/// The canonical form of a relay origin, used wherever an origin is bound into cryptography:
/// lower-case scheme and host, IP addresses in their standard text form, no default port (443),
/// no trailing slash.
///
/// `https://Relay.Example:443/` becomes `https://relay.example`, and `https://[0:0::1]`
/// becomes `https://[::1]`. Every function of this crate that takes an origin expects this
/// form. A client builds it from the address it connected to, never from what a server says.
pub fn normalize_origin(origin: &str) -> Result<String, OriginError> {
    let trimmed = origin.trim();
    let (scheme, rest) = match trimmed.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => ("https", rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => ("http", rest),
        _ => return Err(OriginError::Scheme),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err(OriginError::MissingHost);
    }
    if authority.contains(['/', '?', '#', '@', '\\']) || authority.chars().any(char::is_whitespace)
    {
        return Err(OriginError::Extra);
    }
    let (host, port) = split_host_port(authority)?;
    if host.is_empty() {
        return Err(OriginError::MissingHost);
    }
    let (host, loopback) = canonical_host(host)?;
    if scheme == "http" && !loopback {
        return Err(OriginError::Scheme);
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    Ok(match port {
        Some(p) if p != default_port => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// The canonical host text and whether it is a loopback host.
fn canonical_host(host: &str) -> Result<(String, bool), OriginError> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(OriginError::Host)?;
        let ip: std::net::Ipv6Addr = inner.parse().map_err(|_| OriginError::Host)?;
        return Ok((format!("[{ip}]"), ip.is_loopback()));
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let ip: std::net::Ipv4Addr = host.parse().map_err(|_| OriginError::Host)?;
        return Ok((ip.to_string(), ip.is_loopback()));
    }
    let lower = host.to_ascii_lowercase();
    let valid_label = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if lower.len() > 253 || !lower.split('.').all(valid_label) {
        return Err(OriginError::Host);
    }
    let loopback = lower == "localhost";
    Ok((lower, loopback))
}

fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), OriginError> {
    // IPv6 literals keep their brackets: [::1]:8443
    let (host, port_text) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or(OriginError::Host)?;
        let host = &authority[..=end];
        match &authority[end + 1..] {
            "" => (host, None),
            rest => (
                host,
                Some(rest.strip_prefix(':').ok_or(OriginError::Extra)?),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port_text {
        None => None,
        Some(p) if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(OriginError::Port);
        }
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(OriginError::Port),
            Ok(n) => Some(n),
        },
    };
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_normalize() {
        for (input, want) in [
            ("https://Relay.Example", "https://relay.example"),
            ("https://relay.example:443/", "https://relay.example"),
            ("https://relay.example:8443", "https://relay.example:8443"),
            ("https://127.0.0.1:4433", "https://127.0.0.1:4433"),
            ("https://[::1]:4433", "https://[::1]:4433"),
            ("https://[::1]", "https://[::1]"),
            ("http://localhost:80", "http://localhost"),
            ("HTTPS://relay.example", "https://relay.example"),
            ("https://[0:0:0:0:0:0:0:1]:4433", "https://[::1]:4433"),
            ("http://127.0.0.2:8080", "http://127.0.0.2:8080"),
            (
                "https://xn--bcher-kva.example",
                "https://xn--bcher-kva.example",
            ),
        ] {
            assert_eq!(normalize_origin(input).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn bad_origins_are_refused() {
        assert_eq!(normalize_origin("ftp://x"), Err(OriginError::Scheme));
        assert_eq!(normalize_origin("https://"), Err(OriginError::MissingHost));
        assert_eq!(normalize_origin("https://a/b"), Err(OriginError::Extra));
        assert_eq!(normalize_origin("https://u@a"), Err(OriginError::Extra));
        assert_eq!(normalize_origin("https://a:0"), Err(OriginError::Port));
        assert_eq!(normalize_origin("https://a:99999"), Err(OriginError::Port));
        assert_eq!(
            normalize_origin("https://:443"),
            Err(OriginError::MissingHost)
        );
    }

    #[test]
    fn public_key_base64_round_trip_and_errors() {
        let kp = IdentityKeyPair::generate().unwrap();
        let pk = kp.public_key();
        assert_eq!(IdentityPublicKey::from_base64(&pk.to_base64()), Ok(pk));
        assert_eq!(
            IdentityPublicKey::from_base64("AAAA"),
            Err(KeyParseError::Length(3))
        );
        assert_eq!(
            IdentityPublicKey::from_base64("!!"),
            Err(KeyParseError::Encoding)
        );
    }

    #[test]
    fn dalek_and_orion_agree_on_the_public_key() {
        let kp = IdentityKeyPair::generate().unwrap();
        let orion_pk = dhkem::PublicKey::try_from(&kp.to_hpke_private()).unwrap();
        assert_eq!(orion_pk.as_ref(), kp.public_key().as_bytes());
    }

    #[test]
    fn debug_hides_the_secret() {
        let kp = IdentityKeyPair::from_secret_bytes(SecretBytes::from_array([7; 32]));
        let shown = format!("{kp:?}");
        assert!(shown.contains("***"));
        assert!(!shown.contains("7, 7"));
    }

    #[test]
    fn fingerprints_differ_per_key() {
        let a = IdentityKeyPair::generate().unwrap().public_key();
        let b = IdentityKeyPair::generate().unwrap().public_key();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.fingerprint());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn public_key_text_round_trip(bytes in proptest::prelude::any::<[u8; 32]>()) {
            let pk = IdentityPublicKey::from_bytes(bytes);
            proptest::prop_assert_eq!(IdentityPublicKey::from_base64(&pk.to_base64()), Ok(pk));
        }

        #[test]
        fn normalized_origins_are_fixed_points(host in "[a-zA-Z][a-zA-Z0-9]{0,10}(\\.[a-zA-Z][a-zA-Z0-9-]{0,10}[a-z0-9]){0,3}", port in proptest::option::of(1u16..)) {
            let origin = match port {
                Some(p) => format!("https://{host}:{p}"),
                None => format!("https://{host}"),
            };
            let once = normalize_origin(&origin).unwrap();
            proptest::prop_assert_eq!(normalize_origin(&once).unwrap(), once.clone());
        }

        #[test]
        fn any_accepted_origin_is_a_fixed_point(text in "(https?://)?[a-zA-Z0-9.:\\[\\]/-]{0,30}") {
            if let Ok(once) = normalize_origin(&text) {
                proptest::prop_assert_eq!(normalize_origin(&once).unwrap(), once.clone());
            }
        }
    }
}
