//! `plog-relay serve`: starts or connects to NATS, opens the database, loads the certificate
//! and serves the API over TLS until shut down, with the background tasks that keep storage
//! tidy (purging replaced and deleted objects, expiring unactivated accounts).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use futures_util::StreamExt;
use plog_crypto::SecretBytes;
use thiserror::Error;
use tokio::sync::Notify;

use crate::broker::{
    Broker, BrokerError, BrokerOptions, EmbeddedNats, MailboxLimits, NatsSettings,
};
use crate::config::Config;
use crate::db::{Db, DbError};
use crate::state::{AppState, SharedState, now_secs};
use crate::tls::{self, TlsError};

/// Why the relay could not start or stopped with an error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServeError {
    /// NATS could not be started or reached.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The certificate could not be loaded or generated.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The listener failed.
    #[error("listener failed: {0}")]
    Io(#[from] std::io::Error),
    /// A primitive failed.
    #[error(transparent)]
    Crypto(#[from] plog_crypto::CryptoError),
}

/// What a started relay reports (printed by `plog-relay serve`, used by tests).
#[derive(Debug, Clone)]
pub struct Started {
    /// The address the public listener is bound to.
    pub listen: SocketAddr,
    /// The origin logins are bound to.
    pub public_origin: String,
    /// The certificate pin clients approve.
    pub pin: String,
    /// The NATS server in use (embedded or configured), without credentials.
    pub nats_url: String,
}

/// Runs the relay on `listener` until `shutdown` completes. `on_started` is called once the
/// listener accepts connections.
pub async fn serve(
    config: Config,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_started: impl FnOnce(&Started) + Send,
) -> Result<(), ServeError> {
    let embedded = match &config.nats.url {
        Some(_) => None,
        None => Some(EmbeddedNats::start(&config.data_dir).await?),
    };
    let nats_url = match (&embedded, &config.nats.url) {
        (Some(child), _) => child.url().to_owned(),
        (None, Some(url)) => url.clone(),
        (None, None) => unreachable!("either configured or embedded"),
    };
    let result = run(config, listener, shutdown, on_started, nats_url).await;
    if let Some(child) = embedded {
        child.stop().await;
    }
    result
}

async fn run(
    config: Config,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_started: impl FnOnce(&Started) + Send,
    nats_url: String,
) -> Result<(), ServeError> {
    let settings = NatsSettings {
        url: nats_url.clone(),
        creds_file: config.nats.creds_file.clone(),
        tls_ca_file: config.nats.tls_ca_file.clone(),
        tls_cert_file: config.nats.tls_cert_file.clone(),
        tls_key_file: config.nats.tls_key_file.clone(),
        prefix: config.nats.prefix.clone(),
        object_chunk_size: config.nats.object_chunk_size,
    };
    let broker = Broker::connect_with_mailbox(
        &settings,
        Duration::from_secs(config.auth.challenge_ttl_secs),
        Duration::from_secs(config.auth.session_ttl_secs),
        &BrokerOptions::default(),
        &MailboxLimits {
            retention: config.mailbox.retention(),
            max_per_recipient: config.mailbox.max_per_recipient,
            max_envelope_bytes: config.mailbox.max_envelope_bytes,
        },
    )
    .await?;
    let db = Db::connect(&config.database_url()).await?;
    let candidate = SecretBytes::<32>::random()?;
    let relay_secret =
        SecretBytes::from_array(db.relay_secret_or_insert(*candidate.expose()).await?);
    let certificate = tls::load_or_generate(&config)?;
    let tls_config = RustlsConfig::from_config(Arc::new(tls::server_config(&certificate)?));
    let listen_addr = listener.local_addr()?;
    let origin = config.public_origin_for(listen_addr);

    let (closing, shutting_down) = tokio::sync::watch::channel(false);
    let state: SharedState = Arc::new(AppState {
        origin: origin.clone(),
        db,
        broker,
        relay_secret,
        purge: Notify::new(),
        handle_requests: crate::api::rate_limit::RateLimiter::new(
            config.mailbox.handle_requests_per_hour,
            config.mailbox.handle_requests_burst,
        ),
        invite_lookups: crate::api::rate_limit::RateLimiter::per_minute(
            config.limits.invite_lookups_per_minute,
            config.limits.invite_lookups_burst,
        ),
        shutting_down,
        config,
    });
    let handle = axum_server::Handle::new();
    let server_handle = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        // Event streams never end by themselves: tell them first.
        closing.send_replace(true);
        server_handle.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    let listen = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    let tasks = spawn_background(state.clone());
    let app = crate::api::router(state.clone());
    // Without TCP_NODELAY, Nagle's algorithm holds back the small frames HTTP/2 flow control
    // depends on (WINDOW_UPDATE, SETTINGS acks), and uploads stall waiting for them.
    let acceptor = RustlsAcceptor::new(tls_config).acceptor(NoDelayAcceptor::new());
    let mut server = axum_server::from_tcp(listener)?
        .acceptor(acceptor)
        .handle(handle.clone());
    // HTTP/2's default 64 KiB windows make a client stall for window updates on every large
    // upload; adaptive windows grow them to the connection's bandwidth-delay product.
    server.http_builder().http2().adaptive_window(true);
    let server = server.serve(app.into_make_service_with_connect_info::<SocketAddr>());
    let started = Started {
        listen,
        public_origin: origin,
        pin: certificate.pin.clone(),
        nats_url: redact(&nats_url),
    };
    let announce = async {
        if handle.listening().await.is_some() {
            on_started(&started);
        }
    };
    let (result, ()) = tokio::join!(server, announce);
    tasks.abort();
    result?;
    Ok(())
}

/// The URL without user information, for printing.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}{}", &url[..scheme_end + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// How often the chunks of interrupted uploads are swept.
const ORPHAN_SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// How old the newest chunk of an undescribed object must be before it is swept: far longer
/// than any pause between two chunks of a live upload.
const ORPHAN_MIN_AGE: Duration = Duration::from_secs(24 * 3600);

/// Handles to the background tasks, aborted together at shutdown.
struct Background(Vec<tokio::task::JoinHandle<()>>);

impl Background {
    fn abort(self) {
        self.0.into_iter().for_each(|task| task.abort());
    }
}

fn spawn_background(state: SharedState) -> Background {
    let purge_state = state.clone();
    let orphan_state = state.clone();
    let purge = tokio::spawn(async move {
        loop {
            purge_objects(&purge_state).await;
            // Woken by commits and deletions; the timer retries what failed (broker down).
            let _ =
                tokio::time::timeout(Duration::from_secs(60), purge_state.purge.notified()).await;
            tokio::time::sleep(PURGE_DELAY).await;
        }
    });
    let expire = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let cutoff = now_secs().saturating_sub(state.config.auth.unactivated_ttl_secs);
            match state.db.delete_unactivated_before(cutoff as i64).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(accounts = n, "expired unactivated accounts"),
                Err(error) => tracing::warn!(%error, "could not expire unactivated accounts"),
            }
        }
    });
    let orphans = tokio::spawn(async move {
        let mut tick = tokio::time::interval(ORPHAN_SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            match orphan_state
                .broker
                .purge_orphan_chunks(ORPHAN_MIN_AGE)
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(chunks = n, "purged chunks of interrupted uploads"),
                Err(error) => tracing::warn!(%error, "could not sweep interrupted uploads"),
            }
        }
    });
    Background(vec![purge, expire, orphans])
}

/// How long the purge task waits after being woken. Purging an object keeps its stream busy
/// on the server (a replaced 64 MiB volume delayed the next small upload by 10 to 60 ms): the
/// request that queued it and the client's next few requests (a sync pushes its manifest right
/// after its volumes) go first, and the deletions of a burst of commits go together.
const PURGE_DELAY: Duration = Duration::from_secs(1);

/// Object deletions the purge task keeps in flight.
const PURGES_IN_FLIGHT: usize = 8;

/// Deletes queued objects (replaced revisions, deleted volumes and accounts). Idempotent: an
/// object already gone counts as deleted.
async fn purge_objects(state: &SharedState) {
    loop {
        let batch = match state.db.purge_batch(100).await {
            Ok(batch) if batch.is_empty() => return,
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "could not read the purge queue");
                return;
            }
        };
        // A few deletions in flight at once: each is two round trips to the server.
        let outcomes: Vec<_> = futures_util::stream::iter(batch)
            .map(|key| async move {
                let outcome = state.broker.delete_fresh_object(&key).await;
                (key, outcome)
            })
            .buffer_unordered(PURGES_IN_FLIGHT)
            .collect()
            .await;
        let mut deleted = Vec::with_capacity(outcomes.len());
        let mut failed = false;
        for (key, outcome) in outcomes {
            match outcome {
                Ok(()) => deleted.push(key),
                Err(error) => {
                    if !failed {
                        tracing::warn!(%error, "could not purge an object; will retry");
                    }
                    failed = true;
                }
            }
        }
        if let Err(error) = state.db.purge_done(&deleted).await {
            tracing::warn!(%error, "could not update the purge queue");
            return;
        }
        if failed {
            return;
        }
    }
}
