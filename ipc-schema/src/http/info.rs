//! `GET /v1/info`: what a relay says about itself before anyone logs in.

use serde::{Deserialize, Serialize};

use crate::pin::CertPin;

/// Whether the relay accepts new accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RegistrationPolicy {
    /// Anyone may register.
    Open,
    /// No new accounts (`registration_closed`).
    Closed,
}

/// Size limits of the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest accepted volume ciphertext, in bytes.
    pub max_volume_bytes: u64,
    /// Storage allowed per account (volumes and metadata), in bytes.
    pub quota_bytes: u64,
}

/// The body of `GET /v1/info`.
///
/// Nothing here is trusted for security: the client binds logins to the origin it connected
/// to, never to anything the relay says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayInfo {
    /// The operator's name for the relay.
    pub name: String,
    /// The relay software version.
    pub version: String,
    /// Size limits.
    pub limits: Limits,
    /// Registration policy.
    pub registration: RegistrationPolicy,
    /// How many days connection IP addresses are kept.
    pub ip_retention_days: u32,
    /// The pin of the certificate the relay will switch to, announced before a rotation so
    /// clients can roll their pin over without alarms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_certificate_pin: Option<CertPin>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    #[test]
    fn wire_shape() {
        let mut info = RelayInfo {
            name: "home".to_owned(),
            version: "0.1.0".to_owned(),
            limits: Limits {
                max_volume_bytes: 64 << 20,
                quota_bytes: 1 << 30,
            },
            registration: RegistrationPolicy::Open,
            ip_retention_days: 7,
            next_certificate_pin: None,
        };
        assert_eq!(
            round_trip(&info),
            r#"{"name":"home","version":"0.1.0","limits":{"max_volume_bytes":67108864,"quota_bytes":1073741824},"registration":"open","ip_retention_days":7}"#
        );
        info.registration = RegistrationPolicy::Closed;
        info.next_certificate_pin = Some(CertPin::from_digest([0xab; 32]));
        let json = round_trip(&info);
        assert!(json.contains(r#""registration":"closed""#));
        assert!(json.contains(r#""next_certificate_pin":"sha256:abab"#));
    }

    #[test]
    fn tolerates_new_fields_but_not_unknown_policies() {
        let base = r#"{"name":"n","version":"v","limits":{"max_volume_bytes":1,"quota_bytes":2},"ip_retention_days":0,"#;
        let extra = format!(r#"{base}"registration":"open","motd":"hi"}}"#);
        assert!(serde_json::from_str::<RelayInfo>(&extra).is_ok());
        let unknown = format!(r#"{base}"registration":"maybe"}}"#);
        assert!(serde_json::from_str::<RelayInfo>(&unknown).is_err());
    }
}
