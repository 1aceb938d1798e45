//! Challenges and sessions in the KV buckets `plog-challenges` and `plog-sessions`.
//!
//! Keys are never raw request text: challenge keys are UUIDs
//! ([`Names::challenge_key`]), session keys must be base64url or hex (checked here), so no
//! subject token such as `*`, `>` or `.` can reach NATS.

use async_nats::jetstream::kv::{
    CreateErrorKind, EntryError, EntryErrorKind, Operation, UpdateErrorKind,
};
use bytes::Bytes;
use plog_ipc_schema::nats::Names;
use uuid::Uuid;

use super::declare::chain;
use super::{Broker, BrokerError};

/// Longest accepted session key (a base64url SHA-256 is 43 characters).
const MAX_SESSION_KEY_LEN: usize = 128;

const SESSION_KEY_RULE: &str = "1 to 128 characters of A-Z a-z 0-9 - _ (base64url or hex)";

fn check_session_key(key: &str) -> Result<(), BrokerError> {
    let valid = !key.is_empty()
        && key.len() <= MAX_SESSION_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(BrokerError::InvalidKey {
            what: "session",
            rule: SESSION_KEY_RULE,
        })
    }
}

impl Broker {
    /// Stores a new challenge under `id`; its entry expires after the challenge lifetime.
    ///
    /// # Errors
    /// [`BrokerError::Conflict`] if a live challenge with this id exists,
    /// [`BrokerError::Unavailable`] or [`BrokerError::Kv`].
    pub async fn create_challenge(&self, id: &Uuid, value: &[u8]) -> Result<(), BrokerError> {
        self.guarded(async {
            let key = Names::challenge_key(*id);
            match self
                .challenges
                .create(key.as_str(), Bytes::copy_from_slice(value))
                .await
            {
                Ok(_) => Ok(()),
                Err(err) => match err.kind() {
                    CreateErrorKind::AlreadyExists => Err(BrokerError::Conflict),
                    CreateErrorKind::InvalidKey => Err(BrokerError::Kv(format!(
                        "challenge key refused: {}",
                        chain(&err)
                    ))),
                    _ => Err(self.kv_failed("creating a challenge", &err)),
                },
            }
        })
        .await
    }

    /// Takes the challenge `id`: returns its value and deletes it, or `None` if it does not
    /// exist, expired, was already consumed, or another caller (on any relay instance) is
    /// consuming it at the same time.
    ///
    /// The delete is conditional on the revision that was read, so of all concurrent callers
    /// exactly one gets the value: a challenge is single use across relay instances.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] or [`BrokerError::Kv`]. A caller must treat an error as
    /// "not consumed": the challenge may or may not still exist.
    pub async fn consume_challenge(&self, id: &Uuid) -> Result<Option<Vec<u8>>, BrokerError> {
        self.guarded(async {
            let key = Names::challenge_key(*id);
            let entry = self
                .challenges
                .entry(key.as_str())
                .await
                .map_err(|err| self.entry_failed("reading a challenge", &err))?;
            let Some(entry) = entry else {
                return Ok(None);
            };
            if entry.operation != Operation::Put {
                return Ok(None);
            }
            match self
                .challenges
                .delete_expect_revision(key.as_str(), Some(entry.revision))
                .await
            {
                Ok(()) => Ok(Some(entry.value.to_vec())),
                Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => Ok(None),
                Err(err) => Err(self.kv_failed("consuming a challenge", &err)),
            }
        })
        .await
    }

    /// Stores (or replaces) the session under `key`; the entry expires after the session
    /// lifetime counted from this put.
    ///
    /// # Errors
    /// [`BrokerError::InvalidKey`] unless `key` is 1 to 128 characters of base64url or hex,
    /// [`BrokerError::Unavailable`] or [`BrokerError::Kv`].
    pub async fn put_session(&self, key: &str, value: &[u8]) -> Result<(), BrokerError> {
        check_session_key(key)?;
        self.guarded(async {
            self.sessions
                .put(key, Bytes::copy_from_slice(value))
                .await
                .map(|_| ())
                .map_err(|err| self.kv_failed("storing a session", &err))
        })
        .await
    }

    /// The session under `key`, or `None` if there is none (or it expired).
    ///
    /// # Errors
    /// [`BrokerError::InvalidKey`], [`BrokerError::Unavailable`] or [`BrokerError::Kv`].
    pub async fn get_session(&self, key: &str) -> Result<Option<Vec<u8>>, BrokerError> {
        check_session_key(key)?;
        self.guarded(async {
            self.sessions
                .get(key)
                .await
                .map(|value| value.map(|value| value.to_vec()))
                .map_err(|err| self.entry_failed("reading a session", &err))
        })
        .await
    }

    /// Deletes the session under `key`; succeeds if there is none.
    ///
    /// The key's messages are purged from the stream entirely (no delete marker stays
    /// behind), which keeps [`Broker::session_count`] exact.
    ///
    /// # Errors
    /// [`BrokerError::InvalidKey`], [`BrokerError::Unavailable`] or [`BrokerError::Kv`].
    pub async fn delete_session(&self, key: &str) -> Result<(), BrokerError> {
        check_session_key(key)?;
        self.guarded(async {
            let subject = format!("{}{key}", self.sessions.prefix);
            self.sessions
                .stream
                .purge()
                .filter(subject)
                .await
                .map(|_| ())
                .map_err(|err| self.kv_failed("deleting a session", &err))
        })
        .await
    }

    /// Deletes every session ("invalidate all"); returns how many entries were removed.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] or [`BrokerError::Kv`].
    pub async fn purge_sessions(&self) -> Result<u64, BrokerError> {
        self.guarded(async {
            self.sessions
                .stream
                .purge()
                .await
                .map(|response| response.purged)
                .map_err(|err| self.kv_failed("purging sessions", &err))
        })
        .await
    }

    /// The number of stored sessions.
    ///
    /// Approximate: the server removes expired entries on its own schedule (usually within a
    /// second), so sessions that expired a moment ago may still be counted. Deleted sessions
    /// are never counted (see [`Broker::delete_session`]).
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] or [`BrokerError::Kv`].
    pub async fn session_count(&self) -> Result<u64, BrokerError> {
        self.guarded(async {
            self.sessions
                .stream
                .get_info()
                .await
                .map(|info| info.state.messages)
                .map_err(|err| self.kv_failed("counting sessions", &err))
        })
        .await
    }

    fn entry_failed(&self, what: &str, err: &EntryError) -> BrokerError {
        match err.kind() {
            EntryErrorKind::TimedOut => self.failed(what, err),
            EntryErrorKind::InvalidKey => BrokerError::Kv(format!("{what}: {}", chain(err))),
            EntryErrorKind::Other => self.kv_failed(what, err),
        }
    }

    /// A KV failure: unavailable while disconnected or when the server did not answer
    /// (async-nats reports that as a "timed out" or "no responders" kind somewhere in the
    /// error's chain, under kinds that differ per operation), else a server refusal.
    fn kv_failed(&self, what: &str, err: &(dyn std::error::Error + 'static)) -> BrokerError {
        let text = chain(err);
        if !self.connected() || text.contains("timed out") || text.contains("no responders") {
            self.failed(what, err)
        } else {
            BrokerError::Kv(format!("{what}: {text}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys() {
        for good in [
            "a",
            "AZaz09-_",
            "__________________________________________8",
        ] {
            assert!(check_session_key(good).is_ok(), "{good}");
        }
        for bad in ["", "a.b", "a*", "a>", "a b", "a/b", "=", &"x".repeat(129)] {
            assert!(check_session_key(bad).is_err(), "{bad:?}");
        }
    }
}
