//! A real relay for one test: the `plog-relay` library serving HTTPS on a free port with its
//! own data directory, against a real `nats-server` and SQLite or PostgreSQL, plus a client
//! that trusts exactly that relay's certificate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use plog_relay::ServeArgs;
use plog_relay::config::Config;
use plog_relay::server::{self, Started};
use tokio::sync::oneshot;

/// Which metadata database a test relay uses.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file in the relay's data directory.
    Sqlite,
    /// A PostgreSQL database (its URL).
    Postgres(String),
}

/// Settings of a test relay beyond the defaults.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// The NATS server to use.
    pub nats_url: String,
    /// The metadata database.
    pub database: Database,
    /// `PLOG_RELAY_*`-style overrides, as `(config key, TOML value)`, e.g.
    /// `("limits.max_volume_bytes", "100000")`.
    pub overrides: Vec<(String, String)>,
    /// Share this data directory (certificate, relay state) instead of a fresh one, so two
    /// instances form one deployment.
    pub data_dir: Option<PathBuf>,
    /// The public origin (all instances of one deployment share it).
    pub public_origin: Option<String>,
}

impl RelayOptions {
    /// Defaults: SQLite, no overrides, fresh data directory.
    pub fn new(nats_url: String, database: Database) -> Self {
        Self {
            nats_url,
            database,
            overrides: Vec::new(),
            data_dir: None,
            public_origin: None,
        }
    }
}

/// A running relay, stopped on drop.
pub struct TestRelay {
    /// What the relay reported when it started.
    pub started: Started,
    /// `https://127.0.0.1:<port>`.
    pub base_url: String,
    /// An HTTPS client that trusts only this relay's certificate.
    pub client: reqwest::Client,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), server::ServeError>>>,
}

impl std::fmt::Debug for TestRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRelay")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl TestRelay {
    /// Starts a relay and waits until it accepts connections.
    ///
    /// # Panics
    /// If the configuration is invalid or the relay does not start.
    pub async fn start(options: RelayOptions) -> Self {
        install_crypto_provider();
        let (temp, data_dir) = match &options.data_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::tempdir().expect("temporary data directory");
                let dir = temp.path().to_path_buf();
                (Some(temp), dir)
            }
        };
        let mut env: Vec<(String, String)> = vec![
            ("PLOG_RELAY_NATS__URL".into(), options.nats_url.clone()),
            ("PLOG_RELAY_DATA_DIR".into(), data_dir.display().to_string()),
            ("PLOG_RELAY_LISTEN".into(), "127.0.0.1:0".into()),
        ];
        if let Database::Postgres(url) = &options.database {
            env.push(("PLOG_RELAY_DATABASE_URL".into(), url.clone()));
        }
        if let Some(origin) = &options.public_origin {
            env.push(("PLOG_RELAY_PUBLIC_ORIGIN".into(), origin.clone()));
        }
        for (key, value) in &options.overrides {
            let name = plog_relay::config::env_var_name(key)
                .unwrap_or_else(|| panic!("unknown config key {key}"));
            env.push((name, value.clone()));
        }
        let config = Config::from_sources(None, env, &ServeArgs::default())
            .expect("test relay configuration is valid");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel::<Started>();
        let task = tokio::spawn(server::serve(
            config,
            listener,
            async move {
                let _ = shutdown_rx.await;
            },
            move |started| {
                let _ = started_tx.send(started.clone());
            },
        ));
        let started = match tokio::time::timeout(Duration::from_secs(30), started_rx).await {
            Ok(Ok(started)) => started,
            _ => {
                let outcome = if task.is_finished() {
                    format!("{:?}", task.await)
                } else {
                    "still starting after 30 s".to_owned()
                };
                panic!("test relay did not start: {outcome}");
            }
        };
        let base_url = format!("https://{}", started.listen);
        let client = client_trusting(&data_dir);
        Self {
            started,
            base_url,
            client,
            data_dir,
            _temp: temp,
            shutdown: Some(shutdown_tx),
            task: Some(task),
        }
    }

    /// The relay's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops the relay and waits for it.
    ///
    /// # Panics
    /// If the relay ended with an error.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("relay stops within 20 s")
                .expect("relay task did not panic");
            result.expect("relay stopped cleanly");
        }
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// rustls needs its crypto provider chosen once per process (ring, as the relay uses).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTPS client that trusts exactly the certificate in `data_dir/tls/cert.pem`.
///
/// # Panics
/// If the certificate is missing or unreadable.
pub fn client_trusting(data_dir: &Path) -> reqwest::Client {
    install_crypto_provider();
    let (cert_path, _) = plog_relay::tls::generated_paths(data_dir);
    let pem = std::fs::read(&cert_path).expect("relay certificate");
    let cert = reqwest::Certificate::from_pem(&pem).expect("PEM certificate");
    reqwest::Client::builder()
        .tls_certs_only([cert])
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTPS client")
}
