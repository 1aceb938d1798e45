//! The mailbox stream `PLOG_MAILBOX`: one subject per recipient, `plog.mailbox.<user_id>`
//! ([`Names::mailbox_subject`]).
//!
//! Each message's payload is the sealed envelope, untouched; the relay's own facts travel as
//! NATS headers ([`SENDER_HEADER`], [`SOURCE_HEADER`], [`RECEIVED_AT_HEADER`]). The stream
//! sequence number is the message's `seq` in the API.
//!
//! Limits live on the stream itself, so every relay instance enforces the same ones: messages
//! expire after [`MailboxLimits::retention`]; a recipient holds at most
//! [`MailboxLimits::max_per_recipient`] messages, and once that many are waiting a new post is
//! refused ([`BrokerError::MailboxFull`], "discard new per subject", NATS 2.9+) instead of
//! evicting older mail, so a flood cannot push out a real request.
//!
//! Reads go to the stream leader (`STREAM.MSG.GET` with `next_by_subj`), not to direct get:
//! a client that lists right after a `new_mail` event must see that message, and direct get may
//! be answered by a replica that has not caught up yet.
//!
//! [`Names::mailbox_subject`]: plog_ipc_schema::nats::Names::mailbox_subject

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{DeleteMessageErrorKind, RawMessageErrorKind};
use async_nats::jetstream::{self, ErrorCode};
use bytes::Bytes;
use plog_ipc_schema::encoding::B64Bytes;
use plog_ipc_schema::http::mailbox::{MailMessage, MailSource};
use uuid::Uuid;

use super::declare::chain;
use super::{Broker, BrokerError};

/// Header naming the account that posted the message (hyphenated UUID).
pub const SENDER_HEADER: &str = "Plog-Sender";

/// Header naming how the message arrived: `link`, `invite` or `handle`.
pub const SOURCE_HEADER: &str = "Plog-Source";

/// Header with the time the relay accepted the message, unix seconds.
pub const RECEIVED_AT_HEADER: &str = "Plog-Received-At";

/// Bytes allowed on top of the envelope in one stream message, for the headers above and the
/// server's own: the stream's maximum message size is the envelope limit plus this.
pub const HEADER_ALLOWANCE: usize = 1024;

/// Most messages one [`Broker::list_mail`] call returns, whatever the caller asks.
pub const MAX_LIST: usize = 1000;

/// The JetStream error code of a failed store; with discard-new-per-subject it is also what a
/// full subject answers (the description says which).
const STORE_FAILED: ErrorCode = ErrorCode(10077);

/// The limits of the mailbox stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxLimits {
    /// How long a message is kept when its recipient does not delete it.
    pub retention: Duration,
    /// Most messages waiting for one recipient; further posts are refused.
    pub max_per_recipient: u32,
    /// Largest envelope, in bytes.
    pub max_envelope_bytes: usize,
}

impl Default for MailboxLimits {
    /// 30 days, 1000 messages, 70 KiB envelopes.
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(30 * 24 * 60 * 60),
            max_per_recipient: 1000,
            max_envelope_bytes: 70 * 1024,
        }
    }
}

/// The header spelling of a [`MailSource`] (the same as its JSON).
const fn source_name(source: MailSource) -> &'static str {
    match source {
        MailSource::Link => "link",
        MailSource::Invite => "invite",
        MailSource::Handle => "handle",
    }
}

fn parse_source(text: &str) -> Option<MailSource> {
    [MailSource::Link, MailSource::Invite, MailSource::Handle]
        .into_iter()
        .find(|source| source_name(*source) == text)
}

/// Reads one stored message; `None` if its headers are not the relay's (something else wrote
/// to the subject), so one bad message cannot block a whole mailbox.
fn to_mail(message: StreamMessage) -> Option<MailMessage> {
    let header = |name: &str| message.headers.get(name).map(|value| value.as_str());
    let sender_id = header(SENDER_HEADER)?.parse::<Uuid>().ok()?;
    let source = parse_source(header(SOURCE_HEADER)?)?;
    let received_at = header(RECEIVED_AT_HEADER)?.parse::<u64>().ok()?;
    Some(MailMessage {
        seq: message.sequence,
        sender_id,
        source,
        received_at,
        envelope: B64Bytes::new(message.payload.to_vec()),
    })
}

/// Whether a refused publish was refused because the recipient's subject is full.
fn is_subject_full(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(cause) = source {
        if let Some(js_err) = cause.downcast_ref::<jetstream::Error>()
            && js_err.error_code() == STORE_FAILED
            && js_err.to_string().contains("per subject")
        {
            return true;
        }
        source = cause.source();
    }
    false
}

impl Broker {
    /// Stores `envelope` in `recipient`'s mailbox, sent by `sender` via `source` and received
    /// now; returns its sequence number.
    ///
    /// Callers check the envelope size, the recipient and the route first; this stores
    /// unconditionally within the stream's limits. Callers then publish
    /// [`plog_ipc_schema::http::events::Event::NewMail`] to the recipient
    /// ([`Broker::publish_event`]).
    ///
    /// # Errors
    /// [`BrokerError::MailboxFull`] if the recipient already holds
    /// [`MailboxLimits::max_per_recipient`] messages; [`BrokerError::Unavailable`];
    /// [`BrokerError::Mailbox`] if the server refused it otherwise (e.g. too large).
    pub async fn post_mail(
        &self,
        recipient: Uuid,
        sender: Uuid,
        source: MailSource,
        envelope: &[u8],
    ) -> Result<u64, BrokerError> {
        let received_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let envelope = Bytes::copy_from_slice(envelope);
        let mut headers = HeaderMap::new();
        headers.insert(SENDER_HEADER, sender.hyphenated().to_string().as_str());
        headers.insert(SOURCE_HEADER, source_name(source));
        headers.insert(RECEIVED_AT_HEADER, received_at.to_string().as_str());
        let subject = self.names.mailbox_subject(recipient);
        self.guarded(async {
            let ack = self
                .js
                .publish_with_headers(subject, headers, envelope)
                .await
                .map_err(|err| self.mailbox_failed("posting mail", &err))?
                .await
                .map_err(|err| {
                    if is_subject_full(&err) {
                        BrokerError::MailboxFull
                    } else if matches!(
                        err.kind(),
                        PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe
                    ) {
                        self.failed("posting mail", &err)
                    } else {
                        self.mailbox_failed("posting mail", &err)
                    }
                })?;
            Ok(ack.sequence)
        })
        .await
    }

    /// Up to `limit` (at most [`MAX_LIST`]) of `recipient`'s messages with a sequence number
    /// above `after` (`0` for all), oldest first. Only that recipient's subject is read.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] or [`BrokerError::Mailbox`].
    pub async fn list_mail(
        &self,
        recipient: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<Vec<MailMessage>, BrokerError> {
        let subject = self.names.mailbox_subject(recipient);
        let limit = limit.min(MAX_LIST);
        self.guarded(async {
            let mut messages = Vec::new();
            let mut next = after.saturating_add(1);
            while messages.len() < limit {
                let found = self
                    .mailbox
                    .raw_message_builder()
                    .sequence(next)
                    .next_by_subject(subject.as_str())
                    .send()
                    .await;
                let message = match found {
                    Ok(message) => message,
                    Err(err) if matches!(err.kind(), RawMessageErrorKind::NoMessageFound) => {
                        break;
                    }
                    Err(err) => return Err(self.mailbox_failed("listing mail", &err)),
                };
                let seq = message.sequence;
                match to_mail(message) {
                    Some(mail) => messages.push(mail),
                    None => tracing::warn!(seq, "skipping a mailbox message without relay headers"),
                }
                if seq == u64::MAX {
                    break;
                }
                next = seq + 1;
            }
            Ok(messages)
        })
        .await
    }

    /// Deletes message `seq` if it is in `recipient`'s mailbox; `false` if there is no such
    /// message there (never there, already gone, or someone else's).
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] or [`BrokerError::Mailbox`].
    pub async fn delete_mail(&self, recipient: Uuid, seq: u64) -> Result<bool, BrokerError> {
        if seq == 0 {
            return Ok(false);
        }
        let subject = self.names.mailbox_subject(recipient);
        self.guarded(async {
            let message = match self.mailbox.get_raw_message(seq).await {
                Ok(message) => message,
                Err(err) if matches!(err.kind(), RawMessageErrorKind::NoMessageFound) => {
                    return Ok(false);
                }
                Err(err) => return Err(self.mailbox_failed("reading mail", &err)),
            };
            if message.subject.as_str() != subject {
                return Ok(false);
            }
            match self.mailbox.delete_message(seq).await {
                Ok(deleted) => Ok(deleted),
                // Deleted by a concurrent request in the meantime.
                Err(err)
                    if matches!(
                        err.kind(),
                        DeleteMessageErrorKind::JetStream(js_err)
                            if js_err.error_code() == ErrorCode::SEQUENCE_NOT_FOUND
                                || js_err.error_code() == ErrorCode::NO_MESSAGE_FOUND
                    ) =>
                {
                    Ok(false)
                }
                Err(err) => Err(self.mailbox_failed("deleting mail", &err)),
            }
        })
        .await
    }

    /// Deletes every message waiting for `recipient` (account deletion); returns how many.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] or [`BrokerError::Mailbox`].
    pub async fn purge_mailbox(&self, recipient: Uuid) -> Result<u64, BrokerError> {
        let subject = self.names.mailbox_subject(recipient);
        self.guarded(async {
            let purged = self
                .mailbox
                .purge()
                .filter(subject)
                .await
                .map_err(|err| self.mailbox_failed("purging a mailbox", &err))?;
            Ok(purged.purged)
        })
        .await
    }

    /// The limits the mailbox stream was declared with.
    #[must_use]
    pub fn mailbox_limits(&self) -> MailboxLimits {
        self.mailbox_limits
    }

    /// [`BrokerError::Unavailable`] for a lost or slow server, else [`BrokerError::Mailbox`].
    fn mailbox_failed(&self, what: &str, err: &(dyn std::error::Error + 'static)) -> BrokerError {
        let text = chain(err);
        if !self.connected() || text.contains("timed out") || text.contains("no responders") {
            self.failed(what, err)
        } else {
            BrokerError::Mailbox(format!("{what}: {text}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_spell_as_in_json() {
        for source in [MailSource::Link, MailSource::Invite, MailSource::Handle] {
            let json = serde_json::to_string(&source).expect("json");
            assert_eq!(json, format!("\"{}\"", source_name(source)));
            assert_eq!(parse_source(source_name(source)), Some(source));
        }
        assert_eq!(parse_source("Link"), None);
        assert_eq!(parse_source(""), None);
    }
}
