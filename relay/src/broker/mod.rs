//! The relay's NATS JetStream layer: volume objects, challenges and sessions, mailboxes and
//! live events (DESIGN §4.2).
//!
//! [`Broker`] is one connection plus the opened buckets; it is cheap to clone and shared by
//! every request handler. All names come from [`plog_ipc_schema::nats::Names`] under the
//! configured prefix; every JetStream object is declared in `declare.rs`.
//!
//! Without a configured NATS URL the relay runs its own server: [`EmbeddedNats`] starts and
//! supervises a `nats-server -js` child on 127.0.0.1.
//!
//! Failure model: every operation is bounded by [`BrokerOptions::request_timeout`]; while the
//! connection is down, operations fail at once with [`BrokerError::Unavailable`] (the client
//! keeps reconnecting in the background, so they succeed again once the server is back).

mod declare;
mod embedded;
mod error;
mod events;
mod kv;
mod mailbox;
mod objects;
mod settings;

use std::future::Future;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::{self, kv::Store, object_store::ObjectStore, stream};
use plog_ipc_schema::nats::Names;
use tokio::sync::watch;

pub use embedded::EmbeddedNats;
pub use error::BrokerError;
pub use mailbox::{
    HEADER_ALLOWANCE, MAX_LIST, MailboxLimits, RECEIVED_AT_HEADER, SENDER_HEADER, SOURCE_HEADER,
};
pub use objects::{ObjectReader, StoredObject};
pub use settings::{
    BrokerOptions, DEFAULT_OBJECT_CHUNK_SIZE, DEFAULT_REQUEST_TIMEOUT, NatsSettings,
};

use declare::{Lifetimes, chain};

/// Bytes kept free below the server's `max_payload` when sizing object chunks.
const PAYLOAD_MARGIN: usize = 1024;

/// Smallest chunk the broker uses, whatever the settings or the server say.
const MIN_CHUNK_SIZE: usize = 4 * 1024;

/// The server's `max_payload` when it did not announce one (the NATS default).
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// A connection to NATS JetStream with the relay's buckets opened.
#[derive(Clone)]
pub struct Broker {
    client: async_nats::Client,
    js: jetstream::Context,
    volumes: ObjectStore,
    volumes_stream: stream::Stream,
    volumes_bucket: String,
    challenges: Store,
    sessions: Store,
    mailbox: stream::Stream,
    mailbox_limits: MailboxLimits,
    chunk_size: usize,
    timeout: Duration,
    /// Stream, subject and bucket names under the configured prefix.
    names: Names,
    /// `true` while connected, from the client's connection events.
    link: watch::Receiver<bool>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("volumes_bucket", &self.volumes_bucket)
            .field("challenges", &self.challenges.name)
            .field("sessions", &self.sessions.name)
            .field("chunk_size", &self.chunk_size)
            .field("timeout", &self.timeout)
            .field("state", &self.client.connection_state())
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Connects to NATS and creates (or opens) the volume object store and the challenge and
    /// session KV buckets, whose entries expire after `challenge_ttl` and `session_ttl`;
    /// [`BrokerOptions::default`] timeouts and replicas.
    ///
    /// Works with NATS 2.9 and later. Safe to call from several relay instances at once.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] if the server cannot be reached in
    /// [`BrokerOptions::request_timeout`]; [`BrokerError::Config`] for an invalid prefix, an
    /// unreadable credentials file, a client certificate without key (or the reverse), a TTL
    /// under one second, a refused login, or a conflicting stream of the same name.
    pub async fn connect(
        settings: &NatsSettings,
        challenge_ttl: Duration,
        session_ttl: Duration,
    ) -> Result<Self, BrokerError> {
        Self::connect_with(
            settings,
            challenge_ttl,
            session_ttl,
            &BrokerOptions::default(),
        )
        .await
    }

    /// [`Broker::connect`] with explicit [`BrokerOptions`] (and default [`MailboxLimits`]).
    ///
    /// # Errors
    /// As [`Broker::connect`].
    pub async fn connect_with(
        settings: &NatsSettings,
        challenge_ttl: Duration,
        session_ttl: Duration,
        options: &BrokerOptions,
    ) -> Result<Self, BrokerError> {
        Self::connect_with_mailbox(
            settings,
            challenge_ttl,
            session_ttl,
            options,
            &MailboxLimits::default(),
        )
        .await
    }

    /// [`Broker::connect_with`] with explicit limits for the mailbox stream. An existing
    /// stream is brought to these limits (the configuration wins, as for the TTLs).
    ///
    /// # Errors
    /// As [`Broker::connect`]; [`BrokerError::Config`] also for a retention under one second
    /// or a mailbox of zero messages.
    pub async fn connect_with_mailbox(
        settings: &NatsSettings,
        challenge_ttl: Duration,
        session_ttl: Duration,
        options: &BrokerOptions,
        mailbox: &MailboxLimits,
    ) -> Result<Self, BrokerError> {
        let names = Names::new(&settings.prefix)
            .map_err(|err| BrokerError::Config(format!("prefix {:?}: {err}", settings.prefix)))?;
        let (link_tx, link) = watch::channel(true);
        let client = connect_client(settings, options.request_timeout, link_tx).await?;
        let js = jetstream::ContextBuilder::new()
            .timeout(options.request_timeout)
            .build(client.clone());

        let declared = declare::declare(
            &js,
            &names,
            Lifetimes {
                challenge_ttl,
                session_ttl,
                replicas: options.replicas,
                mailbox: *mailbox,
            },
        )
        .await?;

        let max_payload = match client.server_info().max_payload {
            0 => DEFAULT_MAX_PAYLOAD,
            announced => announced,
        };
        let chunk_size = settings
            .object_chunk_size
            .min(max_payload.saturating_sub(PAYLOAD_MARGIN))
            .max(MIN_CHUNK_SIZE);
        tracing::info!(
            server = %client.server_info().version,
            chunk_size,
            prefix = %settings.prefix,
            "connected to NATS JetStream"
        );

        Ok(Self {
            client,
            js,
            volumes: declared.volumes,
            volumes_stream: declared.volumes_stream,
            volumes_bucket: names.volumes_bucket(),
            challenges: declared.challenges,
            sessions: declared.sessions,
            mailbox: declared.mailbox,
            mailbox_limits: *mailbox,
            chunk_size,
            timeout: options.request_timeout,
            names,
            link,
        })
    }

    /// A round trip to the server and to JetStream, for `/readyz`.
    ///
    /// # Errors
    /// [`BrokerError::Unavailable`] if the connection is down, the server does not answer in
    /// time, or JetStream reports an error.
    pub async fn ping(&self) -> Result<(), BrokerError> {
        self.guarded(async {
            match tokio::time::timeout(self.timeout, self.client.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => return Err(self.failed("flush", &err)),
                Err(_) => return Err(BrokerError::unavailable("ping timed out")),
            }
            let info: serde_json::Value = self
                .js
                .request("INFO", &())
                .await
                .map_err(|err| self.failed("JetStream account info", &err))?;
            if let Some(error) = info.get("error") {
                return Err(BrokerError::unavailable(format!("JetStream: {error}")));
            }
            Ok(())
        })
        .await
    }

    /// The chunk size objects are stored with, in bytes.
    #[must_use]
    pub fn object_chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// The version the connected server announced, e.g. `2.9.10`.
    #[must_use]
    pub fn server_version(&self) -> String {
        self.client.server_info().version
    }

    /// Fails fast while the client is disconnected, instead of letting a request wait for the
    /// full timeout.
    fn ensure_connected(&self) -> Result<(), BrokerError> {
        match self.client.connection_state() {
            State::Connected => Ok(()),
            State::Disconnected => Err(BrokerError::unavailable("connection lost")),
            State::Pending => Err(BrokerError::unavailable("not connected yet")),
        }
    }

    /// Runs `operation` unless the client is disconnected, and abandons it with
    /// [`BrokerError::Unavailable`] as soon as the connection drops: a reply sent to the old
    /// connection never arrives, so waiting for the timeout would only delay the answer.
    async fn guarded<T>(
        &self,
        operation: impl Future<Output = Result<T, BrokerError>>,
    ) -> Result<T, BrokerError> {
        self.ensure_connected()?;
        let mut link = self.link.clone();
        // Only a disconnection after this point counts: the value seen now may lag behind a
        // reconnection that the client state already shows.
        link.mark_unchanged();
        let lost = async move {
            // An error means the client is gone, which is a lost connection too.
            while link.changed().await.is_ok() {
                if !*link.borrow_and_update() {
                    break;
                }
            }
        };
        tokio::select! {
            result = operation => result,
            () = lost => Err(BrokerError::unavailable("connection lost")),
        }
    }

    /// A failure to get an answer: the server is down, unreachable or too slow.
    fn failed(&self, what: &str, err: &dyn std::error::Error) -> BrokerError {
        if self.connected() {
            BrokerError::unavailable(format!("{what}: {}", chain(err)))
        } else {
            BrokerError::unavailable(format!("{what}: connection lost"))
        }
    }

    /// Whether the client is connected right now.
    fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }
}

/// Connects the client with the settings' TLS, credentials and timeouts.
async fn connect_client(
    settings: &NatsSettings,
    timeout: Duration,
    link: watch::Sender<bool>,
) -> Result<async_nats::Client, BrokerError> {
    let (plain_url, url_auth) = settings::split_userinfo(&settings.url).map_err(|err| {
        BrokerError::Config(format!(
            "{err} ({})",
            settings::redact_userinfo(&settings.url)
        ))
    })?;
    let mut options = async_nats::ConnectOptions::new()
        .name("plog-relay")
        .connection_timeout(timeout)
        .request_timeout(Some(timeout))
        .event_callback(move |event| {
            on_event(&link, &event);
            async {}
        });
    match url_auth {
        Some(settings::UrlAuth::Token(token)) => options = options.token(token),
        Some(settings::UrlAuth::UserPassword(user, password)) => {
            options = options.user_and_password(user, password);
        }
        None => {}
    }
    if let Some(path) = &settings.creds_file {
        options = options.credentials_file(path).await.map_err(|err| {
            BrokerError::Config(format!(
                "reading NATS credentials file {}: {err}",
                path.display()
            ))
        })?;
    }
    if let Some(ca) = &settings.tls_ca_file {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    match (&settings.tls_cert_file, &settings.tls_key_file) {
        (Some(cert), Some(key)) => {
            options = options
                .add_client_certificate(cert.clone(), key.clone())
                .require_tls(true);
        }
        (None, None) => {}
        _ => {
            return Err(BrokerError::Config(
                "a NATS client certificate needs both tls_cert_file and tls_key_file".to_owned(),
            ));
        }
    }

    let url = plain_url.as_str();
    options.connect(url).await.map_err(|err| {
        use async_nats::ConnectErrorKind as Kind;
        match err.kind() {
            Kind::Authentication | Kind::AuthorizationViolation => BrokerError::Config(format!(
                "NATS at {url} refused the credentials: {}",
                chain(&err)
            )),
            Kind::Tls => {
                BrokerError::Config(format!("TLS to NATS at {url} failed: {}", chain(&err)))
            }
            Kind::ServerParse => {
                BrokerError::Config(format!("invalid NATS URL {url}: {}", chain(&err)))
            }
            Kind::Dns | Kind::TimedOut | Kind::Io | Kind::MaxReconnects => {
                BrokerError::unavailable(format!("connecting to {url}: {}", chain(&err)))
            }
        }
    })
}

/// Tracks the connection for [`Broker::guarded`] and logs what an operator should see.
fn on_event(link: &watch::Sender<bool>, event: &async_nats::Event) {
    use async_nats::Event;
    match event {
        Event::Connected => {
            link.send_replace(true);
            tracing::info!("NATS connection (re)established");
        }
        Event::Disconnected | Event::Closed => {
            link.send_replace(false);
            tracing::warn!("NATS connection lost; reconnecting in the background");
        }
        Event::LameDuckMode => tracing::warn!("the NATS server is shutting down (lame duck mode)"),
        Event::SlowConsumer(_) | Event::ServerError(_) | Event::ClientError(_) => {
            tracing::warn!(%event, "NATS");
        }
        _ => {}
    }
}
