//! Live notifications: `GET /v1/events` (server-sent events, closed when the session ends), and
//! the same events between relay instances on the core NATS subject `plog.events.<user_id>`
//! ([`crate::nats::Names::events_subject`]).
//!
//! On the SSE stream each event is `event: <kind>` ([`EventKind::as_str`]) followed by
//! `data: <payload JSON>` ([`Event::sse_data`]); keep-alives are SSE comments. On NATS the
//! message body is the whole [`Event`] as adjacently tagged JSON:
//! `{"kind":"new_mail","data":{"seq":7}}`.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The kinds of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// Mail arrived in my mailbox.
    NewMail,
    /// A volume I own or may read has a new revision.
    VolumeUpdated,
    /// My access to a volume was revoked.
    GrantRevoked,
}

impl EventKind {
    /// The SSE event name, e.g. `"new_mail"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NewMail => "new_mail",
            Self::VolumeUpdated => "volume_updated",
            Self::GrantRevoked => "grant_revoked",
        }
    }
}

impl FromStr for EventKind {
    type Err = EventError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::NewMail, Self::VolumeUpdated, Self::GrantRevoked]
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or(EventError::UnknownKind)
    }
}

/// Payload of [`EventKind::NewMail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMail {
    /// Sequence number of the new message.
    pub seq: u64,
}

/// Payload of [`EventKind::VolumeUpdated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeUpdated {
    /// The volume.
    pub volume_id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// Its new revision.
    pub revision: u64,
    /// The key epoch of that revision.
    pub key_epoch: u64,
}

/// Payload of [`EventKind::GrantRevoked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRevoked {
    /// The volume no longer readable.
    pub volume_id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
}

/// One event with its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// Mail arrived.
    NewMail(NewMail),
    /// A volume changed.
    VolumeUpdated(VolumeUpdated),
    /// Access was revoked.
    GrantRevoked(GrantRevoked),
}

/// Why an event could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The SSE event name is not an [`EventKind`].
    #[error("unknown event kind")]
    UnknownKind,
    /// The payload does not match its kind.
    #[error("malformed event payload: {0}")]
    Data(#[from] serde_json::Error),
}

impl Event {
    /// The kind, which is also the SSE event name.
    #[must_use]
    pub const fn kind(&self) -> EventKind {
        match self {
            Self::NewMail(_) => EventKind::NewMail,
            Self::VolumeUpdated(_) => EventKind::VolumeUpdated,
            Self::GrantRevoked(_) => EventKind::GrantRevoked,
        }
    }

    /// The SSE `data:` line content: the payload alone, as one line of JSON.
    ///
    /// # Errors
    /// Only if JSON encoding fails, which these plain types do not.
    pub fn sse_data(&self) -> Result<String, EventError> {
        let data = match self {
            Self::NewMail(p) => serde_json::to_string(p),
            Self::VolumeUpdated(p) => serde_json::to_string(p),
            Self::GrantRevoked(p) => serde_json::to_string(p),
        };
        Ok(data?)
    }

    /// Rebuilds an event from an SSE event name and its `data:` content.
    ///
    /// # Errors
    /// [`EventError::UnknownKind`] or [`EventError::Data`].
    pub fn from_sse(event: &str, data: &str) -> Result<Self, EventError> {
        Ok(match event.parse::<EventKind>()? {
            EventKind::NewMail => Self::NewMail(serde_json::from_str(data)?),
            EventKind::VolumeUpdated => Self::VolumeUpdated(serde_json::from_str(data)?),
            EventKind::GrantRevoked => Self::GrantRevoked(serde_json::from_str(data)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::round_trip;

    fn samples() -> [Event; 3] {
        [
            Event::NewMail(NewMail { seq: 7 }),
            Event::VolumeUpdated(VolumeUpdated {
                volume_id: Uuid::from_u128(1),
                owner_id: Uuid::from_u128(2),
                revision: 3,
                key_epoch: 4,
            }),
            Event::GrantRevoked(GrantRevoked {
                volume_id: Uuid::from_u128(1),
                owner_id: Uuid::from_u128(2),
            }),
        ]
    }

    #[test]
    fn nats_body_shape() {
        assert_eq!(
            round_trip(&Event::NewMail(NewMail { seq: 7 })),
            r#"{"kind":"new_mail","data":{"seq":7}}"#
        );
        for event in samples() {
            let json = round_trip(&event);
            assert!(json.starts_with(&format!(r#"{{"kind":"{}","#, event.kind().as_str())));
        }
    }

    #[test]
    fn sse_round_trip() {
        for event in samples() {
            let data = event.sse_data().expect("encode");
            assert!(!data.contains('\n'));
            let back = Event::from_sse(event.kind().as_str(), &data).expect("decode");
            assert_eq!(back, event);
            let kind_json = serde_json::to_string(&event.kind()).expect("kind");
            assert_eq!(kind_json, format!("\"{}\"", event.kind().as_str()));
        }
        assert_eq!(
            Event::NewMail(NewMail { seq: 7 })
                .sse_data()
                .expect("encode"),
            r#"{"seq":7}"#
        );
    }

    #[test]
    fn sse_rejections() {
        assert!(matches!(
            Event::from_sse("message", r#"{"seq":7}"#),
            Err(EventError::UnknownKind)
        ));
        assert!(matches!(
            Event::from_sse("volume_updated", r#"{"seq":7}"#),
            Err(EventError::Data(_))
        ));
    }
}
