//! A misbehaving relay operator, as a test fixture: an HTTPS reverse proxy in front of a real
//! relay that presents the relay's own certificate and key, so a daemon that pinned the relay
//! talks to it unknowingly, and that can swap the public key in key-lookup answers
//! (`GET /v1/handles/{handle}`, `GET /v1/invites/{locator}`) for an attacker's.
//!
//! Everything else passes through untouched and streamed both ways (volume bodies, the
//! `GET /v1/events` stream): the proxy is the relay, as far as clients can tell.
//!
//! The relay binds logins to its public origin, so that origin must be the proxy's. Hence the
//! two steps: [`MitmProxy::bind`] reserves the proxy's port (the relay is then started with
//! `PLOG_RELAY_PUBLIC_ORIGIN` = [`BoundProxy::origin`]), and [`BoundProxy::serve`] starts
//! serving once the relay has generated its certificate.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use plog_crypto::identity::IdentityPublicKey;
use plog_ipc_schema::encoding::PublicKeyB64;
use tokio::task::JoinHandle;

use crate::relay::install_crypto_provider;

/// Headers that describe one hop of a connection, not the message: each side of the proxy
/// sets its own (RFC 9110 §7.6.1), and HTTP/2 forbids most of them outright.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The proxy's listening socket, reserved before the relay starts.
#[derive(Debug)]
pub struct BoundProxy {
    listener: std::net::TcpListener,
    port: u16,
}

impl BoundProxy {
    /// The port clients will connect to.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://127.0.0.1:<port>`: the relay's public origin to configure.
    #[must_use]
    pub fn origin(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Starts serving with the certificate and key the relay generated in `relay_data_dir`,
    /// forwarding to `relay_url` (`https://IP:PORT`, the relay's real listener); returns once
    /// the proxy accepts connections.
    ///
    /// # Panics
    /// If the relay's certificate or key cannot be loaded, or the server cannot start.
    pub async fn serve(self, relay_data_dir: &Path, relay_url: &str) -> MitmProxy {
        install_crypto_provider();
        let (cert_path, key_path) = plog_relay::tls::generated_paths(relay_data_dir);
        let certificate = plog_relay::tls::load_pem_files(&cert_path, &key_path)
            .expect("the relay's certificate and key");
        let tls = RustlsConfig::from_config(Arc::new(
            plog_relay::tls::server_config(&certificate).expect("TLS configuration"),
        ));

        let shared = Arc::new(Shared {
            upstream: upstream_client(&cert_path),
            relay_url: relay_url.trim_end_matches('/').to_owned(),
            attacker_key: Mutex::new(None),
            swapped: AtomicUsize::new(0),
        });
        let app = Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));

        self.listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let handle = axum_server::Handle::<SocketAddr>::new();
        // As the relay does: without TCP_NODELAY the small HTTP/2 control frames that flow
        // control waits for are held back, and streamed bodies stall.
        let acceptor = RustlsAcceptor::new(tls).acceptor(NoDelayAcceptor::new());
        let mut server = axum_server::from_tcp(self.listener)
            .expect("proxy listener")
            .acceptor(acceptor)
            .handle(handle.clone());
        // Also as the relay does: default 64 KiB HTTP/2 windows stall large volume bodies.
        server.http_builder().http2().adaptive_window(true);
        let task = tokio::spawn(server.serve(app.into_make_service()));
        assert!(
            handle.listening().await.is_some(),
            "the proxy did not start: {:?}",
            if task.is_finished() {
                Some(task.await)
            } else {
                None
            }
        );
        MitmProxy {
            port: self.port,
            shared,
            handle,
            task,
        }
    }
}

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct MitmProxy {
    port: u16,
    shared: Arc<Shared>,
    handle: axum_server::Handle<SocketAddr>,
    task: JoinHandle<std::io::Result<()>>,
}

impl MitmProxy {
    /// Reserves a free loopback port for the proxy.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    #[must_use]
    pub fn bind() -> BoundProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy port");
        let port = listener.local_addr().expect("proxy address").port();
        BoundProxy { listener, port }
    }

    /// The port clients connect to.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `https://127.0.0.1:<port>`.
    #[must_use]
    pub fn origin(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// From now on, answers to handle and invite lookups carry `attacker` as the public key.
    pub fn swap_keys(&self, attacker: &IdentityPublicKey) {
        *self
            .shared
            .attacker_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(*attacker.as_bytes());
    }

    /// From now on, lookups pass through unchanged.
    pub fn stop_swapping(&self) {
        *self
            .shared
            .attacker_key
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// How many lookup answers carried the attacker's key so far.
    #[must_use]
    pub fn swapped(&self) -> usize {
        self.shared.swapped.load(Ordering::SeqCst)
    }
}

impl Drop for MitmProxy {
    fn drop(&mut self) {
        self.handle.shutdown();
        self.task.abort();
    }
}

/// What every forwarded request shares.
#[derive(Debug)]
struct Shared {
    upstream: reqwest::Client,
    relay_url: String,
    attacker_key: Mutex<Option<[u8; 32]>>,
    swapped: AtomicUsize,
}

/// A client of the real relay that trusts exactly its certificate, like
/// [`crate::relay::client_trusting`], but without a total timeout: the event stream stays
/// open as long as the daemon keeps it, and the proxy must not cut it.
fn upstream_client(cert_path: &Path) -> reqwest::Client {
    let pem = std::fs::read(cert_path).expect("relay certificate");
    let cert = reqwest::Certificate::from_pem(&pem).expect("PEM certificate");
    reqwest::Client::builder()
        .tls_certs_only([cert])
        .connect_timeout(Duration::from_secs(10))
        // Redirects (there are none today) are the client's business, not the proxy's.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("HTTPS client")
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    match relay(&shared, request).await {
        Ok(response) => response,
        Err(err) => (
            StatusCode::BAD_GATEWAY,
            format!("the proxy could not reach the relay: {err}"),
        )
            .into_response(),
    }
}

async fn relay(shared: &Shared, request: Request) -> Result<Response, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let url = format!("{}{path_and_query}", shared.relay_url);
    let lookup = is_key_lookup(&parts.method, parts.uri.path());

    let mut outbound = shared
        .upstream
        .request(parts.method, url)
        .headers(end_to_end(&parts.headers));
    // A body known to be empty stays absent, so a GET does not turn into a chunked upload.
    if body.size_hint().exact() != Some(0) {
        outbound = outbound.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    let upstream = outbound.send().await?;

    let status = upstream.status();
    let mut headers = end_to_end(upstream.headers());
    let attacker = *shared
        .attacker_key
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let body = match attacker {
        Some(key) if lookup && status.is_success() => {
            let original = upstream.bytes().await?;
            match with_key(&original, key) {
                Some(rewritten) => {
                    shared.swapped.fetch_add(1, Ordering::SeqCst);
                    headers.remove(header::CONTENT_LENGTH);
                    Body::from(rewritten)
                }
                None => Body::from(original),
            }
        }
        _ => Body::from_stream(upstream.bytes_stream()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// `GET /v1/handles/{handle}` or `GET /v1/invites/{locator}`: the answers that hand out a
/// public key.
fn is_key_lookup(method: &Method, path: &str) -> bool {
    if method != Method::GET {
        return false;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["v1", "handles" | "invites", name] if !name.is_empty()
    )
}

/// `json` with its `public_key` replaced by `key`; `None` if it is not an object with one.
fn with_key(json: &[u8], key: [u8; 32]) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let slot = value.as_object_mut()?.get_mut("public_key")?;
    *slot = serde_json::to_value(PublicKeyB64::new(key)).ok()?;
    serde_json::to_vec(&value).ok()
}

/// `headers` without the hop-by-hop ones and without `Host`, which the outgoing connection
/// sets for its own target.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut out = headers.clone();
    // `Connection` may name further per-hop headers.
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
        .chain(["host"])
    {
        out.remove(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_key_lookups_are_rewritten() {
        assert!(is_key_lookup(&Method::GET, "/v1/handles/crew"));
        assert!(is_key_lookup(&Method::GET, "/v1/invites/abcdef"));
        assert!(!is_key_lookup(&Method::POST, "/v1/invites/redeem"));
        assert!(!is_key_lookup(&Method::DELETE, "/v1/invites/abcdef"));
        assert!(!is_key_lookup(&Method::GET, "/v1/handles/"));
        assert!(!is_key_lookup(&Method::GET, "/v1/volumes/x"));
        assert!(!is_key_lookup(&Method::GET, "/v1/invites/a/b"));
    }

    #[test]
    fn the_key_is_replaced_and_nothing_else() {
        let original = br#"{"user_id":"00000000-0000-0000-0000-000000000001","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","handle":"crew"}"#;
        let rewritten = with_key(original, [0xff; 32]).expect("rewritten");
        let value: serde_json::Value = serde_json::from_slice(&rewritten).expect("json");
        assert_eq!(
            value["public_key"],
            serde_json::to_value(PublicKeyB64::new([0xff; 32])).expect("key")
        );
        assert_eq!(value["handle"], "crew");
        assert_eq!(value["user_id"], "00000000-0000-0000-0000-000000000001");
        assert!(with_key(br#"{"code":"not_found"}"#, [0; 32]).is_none());
        assert!(with_key(b"not json", [0; 32]).is_none());
    }

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            "keep-alive, x-private".parse().expect("value"),
        );
        headers.insert("x-private", "1".parse().expect("value"));
        headers.insert(header::HOST, "127.0.0.1:1".parse().expect("value"));
        headers.insert(header::TRANSFER_ENCODING, "chunked".parse().expect("value"));
        headers.insert(header::AUTHORIZATION, "Bearer t".parse().expect("value"));
        headers.insert(header::CONTENT_LENGTH, "5".parse().expect("value"));
        let out = end_to_end(&headers);
        let names: Vec<&str> = out.keys().map(|name| name.as_str()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(out.contains_key(header::AUTHORIZATION));
        assert!(out.contains_key(header::CONTENT_LENGTH));
    }
}
