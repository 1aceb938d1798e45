//! `GET /v1/events`: the caller's live events as server-sent events. See `docs/PROTOCOL.md`
//! §11.9.
//!
//! The stream subscribes to the core NATS subject `plog.events.<user_id>`, where every relay
//! instance publishes (so an event raised on one instance reaches streams held by another),
//! and sends:
//!
//! - `: ready` first, once the subscription is in place: every event published after the
//!   client has read this line is delivered (clients and tests wait for it rather than sleep);
//! - each event as `event: <kind>` and `data: <payload JSON>`;
//! - `: keep-alive` every `events.keep_alive_secs`, after checking that the session is still
//!   valid.
//!
//! The stream ends when the session expires, is logged out or invalidated (noticed at the
//! next keep-alive), when the relay shuts down, when a keep-alive's check cannot be made (NATS
//! or the database unreachable: the client reconnects and is checked afresh), or when the NATS
//! client closes the subscription.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use plog_ipc_schema::http::events::Event;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use uuid::Uuid;

use super::error::ApiError;
use super::session::{Session, SessionRecord};
use crate::state::{SharedState, now_secs};

/// One open event stream.
struct Live {
    state: SharedState,
    /// The session's bucket key (a hash of the token), re-read at each keep-alive.
    key: String,
    user_id: Uuid,
    subscriber: async_nats::Subscriber,
    keep_alive: Interval,
    /// When the session expires.
    deadline: Instant,
    shutting_down: tokio::sync::watch::Receiver<bool>,
    ready_sent: bool,
}

/// `GET /v1/events`: `200 text/event-stream`.
pub(crate) async fn stream(
    State(state): State<SharedState>,
    session: Session,
) -> Result<Response, ApiError> {
    let record = read_session(&state, &session.key)
        .await
        .ok_or_else(ApiError::unauthorized)?;
    let user_id = session.account.user_id;
    let subscriber = state.broker.subscribe_events(user_id).await?;
    let period = state.config.events.keep_alive();
    let mut keep_alive = tokio::time::interval_at(Instant::now() + period, period);
    keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let deadline =
        Instant::now() + Duration::from_secs(record.expires_at.saturating_sub(now_secs()));
    let live = Live {
        shutting_down: state.shutting_down.clone(),
        state,
        key: session.key,
        user_id,
        subscriber,
        keep_alive,
        deadline,
        ready_sent: false,
    };
    let events = futures_util::stream::unfold(live, |live| async move {
        live.next()
            .await
            .map(|(event, live)| (Ok::<_, Infallible>(event), live))
    });
    Ok(Sse::new(events).into_response())
}

impl Live {
    /// The next line to send, or `None` to end the stream.
    async fn next(mut self) -> Option<(SseEvent, Self)> {
        if !self.ready_sent {
            self.ready_sent = true;
            return Some((SseEvent::default().comment("ready"), self));
        }
        loop {
            let step = tokio::select! {
                message = self.subscriber.next() => match message {
                    Some(message) => Step::Message(message.payload),
                    None => Step::End,
                },
                _ = self.keep_alive.tick() => Step::KeepAlive,
                () = tokio::time::sleep_until(self.deadline) => Step::End,
                _ = self.shutting_down.wait_for(|closing| *closing) => Step::End,
            };
            match step {
                Step::Message(payload) => match serde_json::from_slice::<Event>(&payload) {
                    Ok(event) => match event.sse_data() {
                        Ok(data) => {
                            let line = SseEvent::default().event(event.kind().as_str()).data(data);
                            return Some((line, self));
                        }
                        Err(error) => tracing::warn!(%error, "could not encode an event"),
                    },
                    // Another relay version may know kinds this one does not.
                    Err(error) => tracing::debug!(%error, "skipping an unreadable event"),
                },
                Step::KeepAlive => {
                    if !still_valid(&self.state, &self.key, self.user_id).await {
                        tracing::debug!("session ended: closing its event stream");
                        return None;
                    }
                    return Some((SseEvent::default().comment("keep-alive"), self));
                }
                Step::End => return None,
            }
        }
    }
}

/// What woke an event stream.
enum Step {
    /// A published event's body.
    Message(bytes::Bytes),
    /// Time for a keep-alive (and a session check).
    KeepAlive,
    /// The session expired, the relay is shutting down or the subscription ended.
    End,
}

/// The session record behind `key`, if it is there and readable.
async fn read_session(state: &SharedState, key: &str) -> Option<SessionRecord> {
    match state.broker.get_session(key).await {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
        Ok(None) => None,
        Err(error) => {
            tracing::debug!(%error, "could not read a session");
            None
        }
    }
}

/// Whether the session is still what the session extractor would accept. When it cannot be
/// checked (broker or database down) the answer is no: the client reconnects and is checked
/// afresh.
async fn still_valid(state: &SharedState, key: &str, user_id: Uuid) -> bool {
    let Some(record) = read_session(state, key).await else {
        return false;
    };
    if record.user_id != user_id || record.expires_at <= now_secs() {
        return false;
    }
    match state.db.account_and_relay_epoch(user_id).await {
        Ok((Some(account), relay_epoch)) => {
            relay_epoch == record.relay_epoch && account.session_epoch == record.user_epoch
        }
        Ok((None, _)) => false,
        Err(error) => {
            tracing::debug!(%error, "could not re-check a session");
            false
        }
    }
}
