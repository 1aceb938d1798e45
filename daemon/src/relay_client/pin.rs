//! What the client learns from a relay's end-entity certificate: its pin and whether it is
//! genuinely self-signed.

use plog_ipc_schema::pin::CertPin;
use sha2::{Digest, Sha256};

/// A certificate the client cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the relay's certificate is not a valid X.509 certificate: {reason}")]
pub struct CertificateError {
    reason: String,
}

/// The pin of a DER certificate: SHA-256 of its DER SubjectPublicKeyInfo (DESIGN §6), the
/// value `plog-relay fingerprint` prints.
///
/// # Errors
/// [`CertificateError`] if `cert_der` is not exactly one X.509 certificate.
pub fn pin_of_certificate(cert_der: &[u8]) -> Result<CertPin, CertificateError> {
    inspect(cert_der).map(|leaf| leaf.pin)
}

/// The facts the verifier decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeafFacts {
    pub(crate) pin: CertPin,
    /// Issuer equals subject and the certificate's signature verifies under its own key. The
    /// signature check matters: a certificate that only copies its subject into its issuer
    /// must not skip the system-root check.
    pub(crate) self_signed: bool,
}

pub(crate) fn inspect(cert_der: &[u8]) -> Result<LeafFacts, CertificateError> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(cert_der).map_err(|e| CertificateError {
            reason: e.to_string(),
        })?;
    if !rest.is_empty() {
        return Err(CertificateError {
            reason: format!("{} bytes after the certificate", rest.len()),
        });
    }
    let digest: [u8; 32] = Sha256::digest(cert.public_key().raw).into();
    let self_signed =
        cert.issuer().as_raw() == cert.subject().as_raw() && cert.verify_signature(None).is_ok();
    Ok(LeafFacts {
        pin: CertPin::from_digest(digest),
        self_signed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay_client::verifier::test_certs;

    #[test]
    fn pin_is_the_spki_digest() {
        let (cert, key) = test_certs::self_signed("relay.example");
        let expected: [u8; 32] =
            Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(&key)).into();
        let facts = inspect(&cert).expect("certificate");
        assert_eq!(facts.pin, CertPin::from_digest(expected));
        assert!(facts.self_signed);
        assert_eq!(pin_of_certificate(&cert), Ok(facts.pin));
    }

    #[test]
    fn garbage_and_trailing_bytes_are_refused() {
        assert!(pin_of_certificate(b"not a certificate").is_err());
        let (cert, _) = test_certs::self_signed("relay.example");
        let mut longer = cert.to_vec();
        longer.push(0);
        let err = pin_of_certificate(&longer).expect_err("trailing byte");
        assert!(err.to_string().contains("1 bytes after"), "{err}");
    }

    #[test]
    fn issuer_equal_to_subject_is_not_enough() {
        let ca = test_certs::Ca::new("plog-relay");
        // Same distinguished name as its issuer, but signed by the CA's key.
        let leaf = ca.issue("relay.example", "plog-relay");
        let facts = inspect(&leaf.cert).expect("certificate");
        assert!(!facts.self_signed);
    }
}
