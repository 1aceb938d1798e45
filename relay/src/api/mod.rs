//! The public HTTPS API (`/v1`), one module per resource. Every failure is an [`ApiError`]:
//! JSON `{code, message}` with the status of its code.

mod accounts;
mod auth;
pub mod error;
mod events;
mod grants;
mod handles;
mod info;
mod invites;
mod json;
mod links;
mod mail_settings;
mod mailbox;
pub mod rate_limit;
mod session;
mod upload;
mod volumes;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use plog_ipc_schema::http::paths;

pub use error::ApiError;
pub use info::OPENAPI;

use crate::state::SharedState;

/// The routes of the public listener.
pub fn router(state: SharedState) -> Router {
    Router::new()
        .route(paths::HEALTHZ, get(info::healthz))
        .route(paths::READYZ, get(info::readyz))
        .route(paths::INFO, get(info::info))
        .route("/v1/openapi.json", get(info::openapi))
        .route(paths::ACCOUNTS, post(accounts::register))
        .route(paths::AUTH_CHALLENGE, post(auth::challenge))
        .route(paths::AUTH_RESPONSE, post(auth::response))
        .route(paths::AUTH_SESSION, delete(auth::logout))
        .route(paths::HANDLE_ROUTE, get(handles::lookup))
        .route(paths::ME_HANDLE, put(handles::set).delete(handles::release))
        .route(paths::ME, delete(handles::delete_me))
        .route(paths::VOLUMES, get(volumes::list))
        .route(
            paths::VOLUME_ROUTE,
            put(volumes::put)
                .get(volumes::get)
                .head(volumes::head)
                .delete(volumes::delete),
        )
        .route(paths::GRANTS_ROUTE, get(grants::list))
        .route(paths::GRANT_ROUTE, put(grants::put).delete(grants::delete))
        .route(paths::INVITES, post(invites::create).get(invites::list))
        .route(paths::INVITES_REDEEM, post(invites::redeem))
        .route(
            paths::INVITE_ITEM_ROUTE,
            get(invites::lookup).delete(invites::withdraw),
        )
        .route(paths::MAILBOX, get(mailbox::list))
        .route(
            paths::MAILBOX_ITEM_ROUTE,
            post(mailbox::post).delete(mailbox::delete),
        )
        .route(paths::LINKS, post(links::add))
        .route(paths::LINK_ROUTE, delete(links::delete))
        .route(
            paths::ME_MAIL_SETTINGS,
            get(mail_settings::get).put(mail_settings::put),
        )
        .route(paths::EVENTS, get(events::stream))
        .fallback(|| async { ApiError::not_found() })
        // Volume bodies are streamed and limited by the upload checker; JSON bodies by the
        // JSON extractor.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(trace_request))
        .with_state(state)
}

/// One span per request, with the method and the route template (`/v1/invites/{invite}`),
/// never the path itself: paths hold invite locators and link-token hashes. Nor headers:
/// they carry tokens. A request no route matched is logged as `unmatched`.
async fn trace_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", axum::extract::MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!("request", method = %request.method(), route = %route);
    async move {
        let response = next.run(request).await;
        tracing::debug!(status = response.status().as_u16(), "response");
        response
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};

    use axum::Router;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::trace_request;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Sends one HTTP/1.1 GET and reads the whole answer.
    async fn get_once(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send request");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .await
            .expect("read answer");
        answer
    }

    #[tokio::test(flavor = "current_thread")]
    async fn requests_are_logged_by_route_template_not_path() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // A current-thread runtime: the server task runs on this thread, under this
        // subscriber.
        let _default = tracing::subscriber::set_default(subscriber);

        let app = Router::new()
            .route("/v1/invites/{invite}", get(|| async { "ok" }))
            .fallback(|| async { "nothing here" })
            .layer(axum::middleware::from_fn(trace_request));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let secret = "c2VjcmV0LWxvY2F0b3ItMQ";
        assert!(
            get_once(addr, &format!("/v1/invites/{secret}"))
                .await
                .starts_with("HTTP/1.1 200")
        );
        let hidden = "aGlkZGVuLWxpbmstaGFzaA";
        assert!(
            get_once(addr, &format!("/v1/links/{hidden}"))
                .await
                .starts_with("HTTP/1.1 200")
        );
        server.abort();

        let log = String::from_utf8(
            captured
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
        .expect("UTF-8 log");
        assert!(log.contains("route=/v1/invites/{invite}"), "{log}");
        assert!(log.contains("route=unmatched"), "{log}");
        assert!(!log.contains(secret) && !log.contains(hidden), "{log}");
    }
}
