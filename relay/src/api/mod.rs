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

/// One span per request, with method and path (never headers: they carry tokens).
async fn trace_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let span =
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path());
    async move {
        let response = next.run(request).await;
        tracing::debug!(status = response.status().as_u16(), "response");
        response
    }
    .instrument(span)
    .await
}
