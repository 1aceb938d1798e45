//! First contact with a relay: connect without trusting it and report what a person needs to
//! approve its pin.

use std::sync::Arc;

use plog_ipc_schema::dbus::relays::RelayProbe;
use plog_ipc_schema::http::info::RelayInfo;
use plog_ipc_schema::http::paths;
use plog_ipc_schema::pin::CertPin;
use rustls::pki_types::UnixTime;

use super::client::https_origin;
use super::error::RelayError;
use super::pin;
use super::transport::{self, MAX_JSON_BYTES, ReadError, Timeouts};
use super::verifier::{CaCheck, PresentedChain, RecordingVerifier, Roots};

/// What a probe found. Apart from `pin` (proven by the TLS handshake), everything here is
/// what an untrusted server says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeReport {
    /// The canonical origin connected to.
    pub origin: String,
    /// The pin of the certificate presented; the server proved it holds the key.
    pub pin: CertPin,
    /// Whether the certificate is self-signed (then the pin alone will be trusted).
    pub self_signed: bool,
    /// Whether the certificate verifies against the system roots for this host.
    pub ca_verified: bool,
    /// Why it does not verify against the system roots, if it does not.
    pub ca_error: Option<String>,
    /// What the relay says about itself, if `/v1/info` answered in the expected shape.
    pub info: Option<RelayInfo>,
    /// Why `info` is missing, if it is.
    pub info_error: Option<String>,
}

impl ProbeReport {
    /// The D-Bus answer of `Relays.Probe`, with the pin stored for this origin, if any.
    #[must_use]
    pub fn to_relay_probe(&self, pinned: Option<CertPin>) -> RelayProbe {
        RelayProbe {
            origin: self.origin.clone(),
            pin: self.pin,
            ca_verified: self.ca_verified,
            pinned,
            info: self.info.clone(),
        }
    }
}

/// [`probe_with`] with the default timeouts.
///
/// # Errors
/// As [`probe_with`].
pub async fn probe(url: &str) -> Result<ProbeReport, RelayError> {
    probe_with(url, Timeouts::default()).await
}

/// Connects to the relay at `url` accepting any certificate (handshake signatures are still
/// verified), fetches `/v1/info`, and reports the presented pin and whether the certificate
/// also verifies against the system roots.
///
/// # Errors
/// [`RelayError::InvalidUrl`] for anything but an `https://` origin, [`RelayError::Network`]
/// if no TLS connection could be made, [`RelayError::Certificate`] if the certificate cannot be
/// read. A relay that connects but answers `/v1/info` badly is still reported (`info` empty).
pub async fn probe_with(url: &str, timeouts: Timeouts) -> Result<ProbeReport, RelayError> {
    let origin = https_origin(url)?;
    let provider = transport::provider();
    let recorder = Arc::new(RecordingVerifier::new(Arc::clone(&provider)));
    let http = transport::http_client(Arc::clone(&provider), recorder.clone(), timeouts)?;
    let sent = tokio::time::timeout(
        timeouts.idle,
        http.get(format!("{origin}{}", paths::INFO)).send(),
    )
    .await;
    let Some(presented) = recorder.presented() else {
        let reason = match &sent {
            Err(_) => format!("timed out: no answer for {} s", timeouts.idle.as_secs_f32()),
            Ok(Err(e)) => transport::describe_chain(e),
            Ok(Ok(_)) => "no certificate was presented".to_owned(),
        };
        return Err(RelayError::Network {
            origin,
            status: None,
            retry_after: None,
            reason,
        });
    };
    let (info, info_error) = match sent {
        Ok(Ok(response)) => match read_info(response, timeouts).await {
            Ok(info) => (Some(info), None),
            Err(why) => (None, Some(why)),
        },
        Ok(Err(e)) => (None, Some(transport::describe_chain(&e))),
        Err(_) => (None, Some("timed out waiting for /v1/info".to_owned())),
    };
    let leaf = pin::inspect(&presented.end_entity).map_err(|e| RelayError::Certificate {
        origin: origin.clone(),
        reason: e.to_string(),
    })?;
    let ca_error = check_against_system_roots(provider, presented).await.err();
    Ok(ProbeReport {
        origin,
        pin: leaf.pin,
        self_signed: leaf.self_signed,
        ca_verified: ca_error.is_none(),
        ca_error,
        info,
        info_error,
    })
}

async fn read_info(
    mut response: reqwest::Response,
    timeouts: Timeouts,
) -> Result<RelayInfo, String> {
    let status = response.status();
    if !status.is_success() {
        return Err(format!("GET {} answered {status}", paths::INFO));
    }
    let body = transport::read_limited(&mut response, MAX_JSON_BYTES, timeouts.idle)
        .await
        .map_err(|e| match e {
            ReadError::Transport(e) => transport::describe_chain(&e),
            ReadError::Idle(_) => "timed out reading /v1/info".to_owned(),
            ReadError::TooLong => format!("the answer is larger than {MAX_JSON_BYTES} bytes"),
        })?;
    serde_json::from_slice(&body).map_err(|e| format!("not a relay's /v1/info: {e}"))
}

/// Loading the system trust store reads files, so it runs off the async workers.
async fn check_against_system_roots(
    provider: Arc<rustls::crypto::CryptoProvider>,
    presented: PresentedChain,
) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        CaCheck::new(Roots::System, provider).verify(
            &presented.end_entity,
            &presented.intermediates,
            &presented.server_name,
            UnixTime::now(),
        )
    })
    .await
    .map_err(|e| format!("the check did not finish: {e}"))?
}
