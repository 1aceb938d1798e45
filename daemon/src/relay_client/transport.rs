//! The HTTPS client underneath: rustls on ring with a given certificate verifier, timeouts,
//! and bounded reading of small answers.

use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Response;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;

use super::error::RelayError;

/// Largest JSON answer read into memory (a volume listing of thousands of entries fits).
pub(crate) const MAX_JSON_BYTES: usize = 8 << 20;
/// Largest error body read; the rest is ignored.
pub(crate) const MAX_ERROR_BYTES: usize = 64 << 10;

/// How long the client waits.
///
/// There is deliberately no overall deadline per request: a volume of hundreds of MiB may take
/// minutes on a slow link, and an idle timeout catches a stalled transfer instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the connection, TLS handshake included.
    pub connect: Duration,
    /// Longest time without progress: between two chunks of an upload or a download, and
    /// between the end of a request and the relay's answer. On Linux it also bounds how long
    /// sent bytes may stay unacknowledged.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(15),
            idle: Duration::from_secs(60),
        }
    }
}

/// The ring provider, chosen per client so nothing depends on (or panics over) a process-wide
/// default.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An HTTPS-only client whose certificates are judged by `verifier`.
pub(crate) fn http_client(
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
    timeouts: Timeouts,
) -> Result<reqwest::Client, RelayError> {
    let setup = |e: &dyn std::fmt::Display| RelayError::Setup {
        reason: e.to_string(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(&e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .https_only(true)
        // A relay never redirects; following one would leave the pinned origin.
        .redirect(reqwest::redirect::Policy::none())
        // Not `read_timeout`: reqwest starts it when the request starts, so it would cut off
        // any upload that takes longer; progress is watched per chunk instead (`IdleWatch`).
        .connect_timeout(timeouts.connect)
        .tcp_keepalive(Some(timeouts.idle / 2))
        .user_agent(concat!("plogd/", env!("CARGO_PKG_VERSION")));
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    let builder = builder.tcp_user_timeout(Some(timeouts.idle));
    builder.build().map_err(|e| setup(&e))
}

/// Why reading an answer stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The transport failed.
    Transport(reqwest::Error),
    /// No bytes for the idle timeout.
    Idle(Duration),
    /// More bytes than the limit.
    TooLong,
}

/// The next chunk of an answer, waiting at most `idle` for it.
pub(crate) async fn next_chunk(
    response: &mut Response,
    idle: Duration,
) -> Result<Option<bytes::Bytes>, ReadError> {
    match tokio::time::timeout(idle, response.chunk()).await {
        Ok(chunk) => chunk.map_err(ReadError::Transport),
        Err(_) => Err(ReadError::Idle(idle)),
    }
}

/// Reads a whole answer of at most `limit` bytes.
pub(crate) async fn read_limited(
    response: &mut Response,
    limit: usize,
    idle: Duration,
) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    while let Some(chunk) = next_chunk(response, idle).await? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLong);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// When a request last made progress: an upload stream touches it for every chunk it hands
/// to the connection, so a long upload that keeps moving is never cut off.
#[derive(Debug, Clone)]
pub(crate) struct IdleWatch {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl IdleWatch {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records progress now.
    pub(crate) fn touch(&self) {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(elapsed, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    /// Runs `future` until it completes, or until it has made no progress for `idle`.
    ///
    /// # Errors
    /// The idle timeout, if it ran out.
    pub(crate) async fn run<F: Future>(
        &self,
        idle: Duration,
        future: F,
    ) -> Result<F::Output, Duration> {
        self.touch();
        let mut future = std::pin::pin!(future);
        loop {
            let remaining = idle.saturating_sub(self.quiet_for());
            if remaining.is_zero() {
                return Err(idle);
            }
            if let Ok(output) = tokio::time::timeout(remaining, &mut future).await {
                return Ok(output);
            }
        }
    }
}

/// An error and its causes as one line, without repeating a cause that a wrapper already
/// printed.
pub(crate) fn describe_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        current = cause.source();
    }
    text
}

/// `Retry-After` in seconds (the relay never sends the date form).
pub(crate) fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Layer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn StdError + 'static))
        }
    }

    #[test]
    fn chains_are_flattened_without_repeats() {
        let error = Layer(
            "error sending request",
            Some(Box::new(Layer(
                "client error (Connect): connection refused",
                Some(Box::new(Layer("connection refused", None))),
            ))),
        );
        assert_eq!(
            describe_chain(&error),
            "error sending request: client error (Connect): connection refused"
        );
    }

    #[tokio::test]
    async fn idle_watch_tolerates_progress_and_stops_a_stall() {
        let idle = Duration::from_millis(400);
        let watch = IdleWatch::new();
        // Three times the idle timeout of work, with progress every quarter of it.
        let progressing = {
            let watch = watch.clone();
            async move {
                for _ in 0..12 {
                    tokio::time::sleep(idle / 4).await;
                    watch.touch();
                }
                "done"
            }
        };
        assert_eq!(watch.run(idle, progressing).await, Ok("done"));
        let stalled = tokio::time::sleep(Duration::from_secs(3600));
        let started = Instant::now();
        assert_eq!(IdleWatch::new().run(idle, stalled).await, Err(idle));
        assert!(started.elapsed() >= idle && started.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn building_a_client_needs_no_global_provider() {
        let verifier = Arc::new(super::super::verifier::RecordingVerifier::new(provider()));
        assert!(http_client(provider(), verifier, Timeouts::default()).is_ok());
    }
}
