//! Live delivery: while the daemon is unlocked it keeps one `GET /v1/events` stream open per
//! relay account. New mail (and a revoked grant, whose notice follows by mail) starts a
//! mailbox round at once, so a friend request or notice reaches the person as a D-Bus signal
//! without polling. On connecting (the relay's readiness comment) the mailbox is read once, so
//! nothing posted while the stream was down is missed. A stream that fails is reopened with
//! exponential backoff and jitter; locking ends every stream, unlocking reopens them, and the
//! set of relays is re-read every [`RELAY_RESCAN`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use plog_ipc_schema::http::events::Event;
use tokio::task::JoinHandle;

use super::{Account, Social};
use crate::custody::Custody;
use crate::relay_client::EventItem;
use crate::sync::coordinator::jitter;

/// How often the relay list is re-read for accounts added or removed.
pub const RELAY_RESCAN: Duration = Duration::from_secs(2);
/// How long a stream may stay silent before it is taken for dead and reopened.
const STREAM_IDLE: Duration = Duration::from_secs(45);
/// First and longest wait before reopening a failed stream.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(60));

/// Runs until the custody's event channel closes (the daemon stops).
pub async fn run(social: Arc<Social>, custody: Arc<Custody>) {
    let mut lock_events = custody.subscribe();
    let mut streams: HashMap<String, JoinHandle<()>> = HashMap::new();
    loop {
        if custody.is_locked() {
            for (origin, task) in streams.drain() {
                task.abort();
                social.set_live(&origin, false);
            }
        } else if let Ok(records) = social.store.relays().await {
            streams.retain(|origin, task| {
                let keep = !task.is_finished()
                    && records
                        .iter()
                        .any(|r| &r.origin == origin && r.account.is_some());
                if !keep {
                    task.abort();
                    social.set_live(origin, false);
                }
                keep
            });
            for record in records.into_iter().filter(|r| r.account.is_some()) {
                if streams.contains_key(&record.origin) {
                    continue;
                }
                let origin = record.origin.clone();
                if let Ok(account) = social.account(record) {
                    let social = Arc::clone(&social);
                    streams.insert(origin, tokio::spawn(follow(social, account)));
                }
            }
        }
        tokio::select! {
            event = lock_events.recv() => {
                if matches!(event, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                    break;
                }
            }
            () = tokio::time::sleep(RELAY_RESCAN) => {}
        }
    }
    for (_, task) in streams {
        task.abort();
    }
}

/// Follows one relay's event stream for as long as the task lives.
async fn follow(social: Arc<Social>, account: Account) {
    let mut backoff = BACKOFF.0;
    loop {
        match account.client.events().await {
            Ok(stream) => {
                // The relay sends a keep-alive every 15 s by default: silence for three of
                // them means the connection is gone even if TCP has not noticed.
                let mut stream = stream.with_idle_timeout(STREAM_IDLE);
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(EventItem::Ready) => {
                            backoff = BACKOFF.0;
                            social.set_live(&account.record.origin, true);
                            take(&social, &account).await;
                        }
                        Ok(EventItem::Event(Event::NewMail(_) | Event::GrantRevoked(_))) => {
                            take(&social, &account).await;
                        }
                        Ok(_) => {}
                        Err(error) => {
                            tracing::debug!(origin = %account.record.origin, %error, "event stream failed");
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                tracing::debug!(origin = %account.record.origin, %error, "cannot open the event stream");
            }
        }
        social.set_live(&account.record.origin, false);
        tokio::time::sleep(jitter(backoff)).await;
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

async fn take(social: &Social, account: &Account) {
    if let Err(error) = social.take_mail_at(account).await {
        tracing::debug!(origin = %account.record.origin, %error, "mailbox round failed");
    }
}
