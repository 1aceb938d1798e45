//! rustls certificate verifiers: the pinning verifier behind every [`super::RelayClient`]
//! connection, and the recording verifier of a probe.
//!
//! A refusal is both returned to rustls (inside its error, so that it travels through hyper
//! and reqwest) and remembered by the verifier: reqwest reports a failed handshake as a connect
//! error, and the client turns the remembered refusal back into a typed error.

use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use plog_ipc_schema::pin::CertPin;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError as TlsCertificateError, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};

use super::pin;

/// The pins a relay may present: the stored one, and the next one it announced, if the caller
/// accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pins {
    pub(crate) current: CertPin,
    pub(crate) next: Option<CertPin>,
}

impl Pins {
    fn accepts(&self, presented: CertPin) -> bool {
        presented == self.current || self.next == Some(presented)
    }
}

/// Why a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The end-entity key is not the pinned one.
    Pin {
        expected: CertPin,
        presented: CertPin,
    },
    /// The pin matched, but the certificate is not self-signed and does not verify against
    /// the trusted roots for this host (or cannot be read at all).
    Untrusted { reason: String },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pin {
                expected,
                presented,
            } => write!(
                f,
                "certificate pin mismatch: expected {expected}, presented {presented}"
            ),
            Self::Untrusted { reason } => write!(f, "certificate not trusted: {reason}"),
        }
    }
}

/// The refusal as rustls carries it (`CertificateError::Other`).
#[derive(Debug)]
struct RefusalError(Refusal);

impl fmt::Display for RefusalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for RefusalError {}

/// Finds a refusal of ours in an error chain (reqwest → hyper → `io::Error`s → rustls).
pub(crate) fn refusal_in(error: &(dyn StdError + 'static)) -> Option<Refusal> {
    let mut current = Some(error);
    while let Some(err) = current {
        if let Some(found) = refusal_of(err) {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// The refusal carried by `error` itself. `io::Error::source` skips the error it wraps (and
/// the TLS stack nests `io::Error`s), so each `io::Error` is opened with `get_ref`.
fn refusal_of(error: &(dyn StdError + 'static)) -> Option<Refusal> {
    if let Some(io) = error.downcast_ref::<std::io::Error>() {
        return refusal_of(io.get_ref()?);
    }
    match error.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(TlsCertificateError::Other(OtherError(inner))) => inner
            .downcast_ref::<RefusalError>()
            .map(|refusal| refusal.0.clone()),
        _ => None,
    }
}

fn to_rustls(refusal: Refusal) -> rustls::Error {
    rustls::Error::InvalidCertificate(TlsCertificateError::Other(OtherError(Arc::new(
        RefusalError(refusal),
    ))))
}

/// Which roots a CA-signed relay certificate must chain to.
#[derive(Debug, Clone)]
pub(crate) enum Roots {
    /// The operating system's trust store, loaded once per process when first needed (a
    /// self-signed relay never needs it).
    System,
    /// A fixed set (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Fixed(Arc<RootCertStore>),
}

/// The system trust store, loaded on first use.
fn system_roots() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            store.add_parsable_certificates(loaded.certs);
            if store.is_empty() {
                let why = loaded
                    .errors
                    .first()
                    .map_or_else(|| "none installed".to_owned(), ToString::to_string);
                Err(format!("no usable system root certificates ({why})"))
            } else {
                Ok(Arc::new(store))
            }
        })
        .clone()
}

/// Standard WebPKI verification (chain to the roots, validity, hostname), built on first use.
#[derive(Debug)]
pub(crate) struct CaCheck {
    roots: Roots,
    provider: Arc<CryptoProvider>,
    built: OnceLock<Result<Arc<WebPkiServerVerifier>, String>>,
}

impl CaCheck {
    pub(crate) fn new(roots: Roots, provider: Arc<CryptoProvider>) -> Self {
        Self {
            roots,
            provider,
            built: OnceLock::new(),
        }
    }

    fn verifier(&self) -> Result<Arc<WebPkiServerVerifier>, String> {
        self.built
            .get_or_init(|| {
                let roots = match &self.roots {
                    Roots::System => system_roots()?,
                    Roots::Fixed(roots) => Arc::clone(roots),
                };
                WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&self.provider))
                    .build()
                    .map_err(|e| format!("cannot check against the trusted roots: {e}"))
            })
            .clone()
    }

    /// Whether the chain verifies for `server_name`; the reason if not.
    pub(crate) fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), String> {
        self.verifier()?
            .verify_server_cert(end_entity, intermediates, server_name, &[], now)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The verifier of a pinned relay (see the module documentation of `relay_client`).
#[derive(Debug)]
pub(crate) struct PinnedVerifier {
    pins: Pins,
    provider: Arc<CryptoProvider>,
    ca: CaCheck,
    last_presented: Mutex<Option<CertPin>>,
    last_refusal: Mutex<Option<Refusal>>,
}

impl PinnedVerifier {
    pub(crate) fn new(pins: Pins, provider: Arc<CryptoProvider>, roots: Roots) -> Self {
        Self {
            pins,
            ca: CaCheck::new(roots, Arc::clone(&provider)),
            provider,
            last_presented: Mutex::new(None),
            last_refusal: Mutex::new(None),
        }
    }

    /// The pins this verifier accepts.
    pub(crate) fn pins(&self) -> Pins {
        self.pins
    }

    /// The pin of the last certificate presented, accepted or not.
    pub(crate) fn last_presented(&self) -> Option<CertPin> {
        *self
            .last_presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The last refusal, forgotten once read.
    pub(crate) fn take_refusal(&self) -> Option<Refusal> {
        self.last_refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn decide(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), Refusal> {
        let leaf = pin::inspect(end_entity).map_err(|e| Refusal::Untrusted {
            reason: e.to_string(),
        })?;
        *self
            .last_presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(leaf.pin);
        if !self.pins.accepts(leaf.pin) {
            return Err(Refusal::Pin {
                expected: self.pins.current,
                presented: leaf.pin,
            });
        }
        if leaf.self_signed {
            return Ok(());
        }
        self.ca
            .verify(end_entity, intermediates, server_name, now)
            .map_err(|reason| Refusal::Untrusted {
                reason: format!(
                    "it is not self-signed, so it must also verify against the system roots: \
                     {reason}"
                ),
            })
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.decide(end_entity, intermediates, server_name, now) {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(refusal) => {
                *self
                    .last_refusal
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(refusal.clone());
                Err(to_rustls(refusal))
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// What a relay presented during a probe.
#[derive(Debug, Clone)]
pub(crate) struct PresentedChain {
    pub(crate) end_entity: CertificateDer<'static>,
    pub(crate) intermediates: Vec<CertificateDer<'static>>,
    pub(crate) server_name: ServerName<'static>,
}

/// Accepts any certificate and records it; still verifies handshake signatures, so the recorded
/// key is one the server actually holds.
#[derive(Debug)]
pub(crate) struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
    seen: Mutex<Option<PresentedChain>>,
}

impl RecordingVerifier {
    pub(crate) fn new(provider: Arc<CryptoProvider>) -> Self {
        Self {
            provider,
            seen: Mutex::new(None),
        }
    }

    pub(crate) fn presented(&self) -> Option<PresentedChain> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(PresentedChain {
            end_entity: end_entity.clone().into_owned(),
            intermediates: intermediates
                .iter()
                .map(|c| c.clone().into_owned())
                .collect(),
            server_name: server_name.to_owned(),
        });
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Certificates for unit tests, made with rcgen.
#[cfg(test)]
pub(crate) mod test_certs {
    use std::sync::Arc;

    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    };
    use rustls::RootCertStore;
    use rustls::pki_types::CertificateDer;

    fn params(san: &str, common_name: &str) -> CertificateParams {
        let mut params = CertificateParams::new(vec![san.to_owned()]).expect("names");
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        params.distinguished_name = name;
        params
    }

    /// A self-signed certificate for `san` and its key.
    pub(crate) fn self_signed(san: &str) -> (CertificateDer<'static>, KeyPair) {
        let key = KeyPair::generate().expect("key");
        let cert = params(san, "plog-relay")
            .self_signed(&key)
            .expect("self-signed certificate");
        (cert.der().clone(), key)
    }

    /// A certificate issued by a test CA.
    pub(crate) struct Leaf {
        pub(crate) cert: CertificateDer<'static>,
    }

    /// A test certificate authority.
    pub(crate) struct Ca {
        issuer: Issuer<'static, KeyPair>,
        cert: CertificateDer<'static>,
    }

    impl Ca {
        pub(crate) fn new(common_name: &str) -> Self {
            let key = KeyPair::generate().expect("CA key");
            let mut ca_params = params("ca.example", common_name);
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let cert = ca_params.self_signed(&key).expect("CA certificate");
            Self {
                issuer: Issuer::new(ca_params, key),
                cert: cert.der().clone(),
            }
        }

        /// A leaf for `san` with subject `CN=common_name`.
        pub(crate) fn issue(&self, san: &str, common_name: &str) -> Leaf {
            let key = KeyPair::generate().expect("leaf key");
            let cert = params(san, common_name)
                .signed_by(&key, &self.issuer)
                .expect("leaf certificate");
            Leaf {
                cert: cert.der().clone(),
            }
        }

        /// A root store holding only this CA.
        pub(crate) fn roots(&self) -> Arc<RootCertStore> {
            let mut roots = RootCertStore::empty();
            roots.add(self.cert.clone()).expect("CA as root");
            Arc::new(roots)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_certs::{Ca, self_signed};
    use super::*;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn pinned(pin: CertPin, next: Option<CertPin>, roots: Roots) -> PinnedVerifier {
        PinnedVerifier::new(Pins { current: pin, next }, provider(), roots)
    }

    fn name(text: &str) -> ServerName<'static> {
        ServerName::try_from(text.to_owned()).expect("server name")
    }

    fn check(
        verifier: &PinnedVerifier,
        cert: &CertificateDer<'_>,
        server: &str,
    ) -> Result<ServerCertVerified, rustls::Error> {
        verifier.verify_server_cert(cert, &[], &name(server), &[], UnixTime::now())
    }

    fn pin_of(cert: &CertificateDer<'_>) -> CertPin {
        pin::pin_of_certificate(cert).expect("pin")
    }

    #[test]
    fn self_signed_is_accepted_on_its_pin_alone() {
        let (cert, _) = self_signed("relay.example");
        // No system roots are consulted and the name is not checked: reached by IP or any name.
        let verifier = pinned(
            pin_of(&cert),
            None,
            Roots::Fixed(Arc::new(RootCertStore::empty())),
        );
        for server in ["relay.example", "192.0.2.7", "elsewhere.example"] {
            assert!(check(&verifier, &cert, server).is_ok(), "{server}");
        }
        assert_eq!(verifier.last_presented(), Some(pin_of(&cert)));
        assert_eq!(verifier.take_refusal(), None);
    }

    #[test]
    fn wrong_pin_is_refused_naming_both_values() {
        let (cert, _) = self_signed("relay.example");
        let expected = CertPin::from_digest([7; 32]);
        let verifier = pinned(expected, None, Roots::System);
        let err = check(&verifier, &cert, "relay.example").expect_err("wrong pin");
        let want = Refusal::Pin {
            expected,
            presented: pin_of(&cert),
        };
        // The refusal survives inside rustls' error and in the verifier's record.
        assert_eq!(refusal_in(&err), Some(want.clone()));
        // As the TLS stack hands it up: an `io::Error` inside an `io::Error`.
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            std::io::Error::new(std::io::ErrorKind::InvalidData, err),
        );
        assert_eq!(refusal_in(&io), Some(want.clone()));
        assert_eq!(verifier.take_refusal(), Some(want.clone()));
        assert_eq!(verifier.take_refusal(), None, "read once");
        let text = want.to_string();
        assert!(text.contains(&expected.to_string()), "{text}");
        assert!(text.contains(&pin_of(&cert).to_string()), "{text}");
    }

    #[test]
    fn the_announced_next_pin_is_accepted() {
        let (cert, _) = self_signed("relay.example");
        let old = CertPin::from_digest([1; 32]);
        let verifier = pinned(old, Some(pin_of(&cert)), Roots::System);
        assert!(check(&verifier, &cert, "relay.example").is_ok());
        let without_next = pinned(old, None, Roots::System);
        assert!(check(&without_next, &cert, "relay.example").is_err());
    }

    #[test]
    fn ca_signed_without_a_trusted_root_is_refused_despite_its_pin() {
        let ca = Ca::new("Test CA");
        let leaf = ca.issue("relay.example", "relay.example");
        // Neither the system roots nor an unrelated root vouch for the test CA.
        for roots in [Roots::System, Roots::Fixed(Ca::new("Other CA").roots())] {
            let verifier = pinned(pin_of(&leaf.cert), None, roots);
            let err = check(&verifier, &leaf.cert, "relay.example").expect_err("untrusted");
            assert!(
                matches!(refusal_in(&err), Some(Refusal::Untrusted { .. })),
                "{err}"
            );
            assert!(matches!(
                verifier.take_refusal(),
                Some(Refusal::Untrusted { .. })
            ));
        }
    }

    #[test]
    fn ca_signed_needs_its_root_and_the_right_host() {
        let ca = Ca::new("Test CA");
        let leaf = ca.issue("relay.example", "relay.example");
        let verifier = pinned(pin_of(&leaf.cert), None, Roots::Fixed(ca.roots()));
        assert!(check(&verifier, &leaf.cert, "relay.example").is_ok());
        let err = check(&verifier, &leaf.cert, "other.example").expect_err("wrong host");
        assert!(matches!(refusal_in(&err), Some(Refusal::Untrusted { .. })));
        // The pin is checked first, even for a certificate the roots vouch for.
        let strict = pinned(
            CertPin::from_digest([3; 32]),
            None,
            Roots::Fixed(ca.roots()),
        );
        let err = check(&strict, &leaf.cert, "relay.example").expect_err("pin");
        assert!(matches!(refusal_in(&err), Some(Refusal::Pin { .. })));
    }

    #[test]
    fn a_forged_self_signed_certificate_still_needs_the_roots() {
        let ca = Ca::new("plog-relay");
        let forged = ca.issue("relay.example", "plog-relay");
        let verifier = pinned(
            pin_of(&forged.cert),
            None,
            Roots::Fixed(Ca::new("Other CA").roots()),
        );
        assert!(check(&verifier, &forged.cert, "relay.example").is_err());
    }

    #[test]
    fn unreadable_certificates_are_refused() {
        let verifier = pinned(CertPin::from_digest([0; 32]), None, Roots::System);
        let junk = CertificateDer::from(vec![1, 2, 3]);
        let err = check(&verifier, &junk, "relay.example").expect_err("junk");
        assert!(matches!(refusal_in(&err), Some(Refusal::Untrusted { .. })));
    }
}
