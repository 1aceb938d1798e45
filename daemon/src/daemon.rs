//! Starting and stopping the service: directories, single-instance lock, configuration and its
//! watch, store, custody, the bus name, and the background tasks (signals, idle lock, logind,
//! sync schedule).

use std::sync::Arc;

use plog_ipc_schema::dbus::BUS_NAME;
use tokio::task::JoinHandle;
use zbus::fdo::{RequestNameFlags, RequestNameReply};

use crate::config::Config;
use crate::config::watch::ConfigWatcher;
use crate::custody::idle::{Activity, run_idle_lock};
use crate::custody::{Custody, LockReason, logind};
use crate::error::Error;
use crate::paths::Paths;
use crate::process::InstanceLock;
use crate::service::{self, DaemonState};
use crate::social::Social;
use crate::store::Store;
use crate::sync::coordinator::{SyncCoordinator, run_schedule};

/// How long running calls get to answer when the daemon stops.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Which bus to serve on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bus {
    /// The session bus (`$DBUS_SESSION_BUS_ADDRESS`).
    Session,
    /// The bus at this address (tests run a private one).
    Address(String),
}

/// Where to look for logind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Logind {
    /// The system bus.
    SystemBus,
    /// A bus at this address (tests run a fake logind on a private bus).
    Address(String),
    /// Do not watch logind.
    Off,
}

/// How to start.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StartOptions {
    /// Files and directories.
    pub paths: Paths,
    /// The bus to serve on.
    pub bus: Bus,
    /// Where logind is.
    pub logind: Logind,
}

impl StartOptions {
    /// Options for `paths`, the session bus and the system bus.
    #[must_use]
    pub fn new(paths: Paths) -> Self {
        Self {
            paths,
            bus: Bus::Session,
            logind: Logind::SystemBus,
        }
    }

    /// Serves on the bus at `address` instead of the session bus.
    #[must_use]
    pub fn with_bus_address(mut self, address: impl Into<String>) -> Self {
        self.bus = Bus::Address(address.into());
        self
    }

    /// Looks for logind at `logind`.
    #[must_use]
    pub fn with_logind(mut self, logind: Logind) -> Self {
        self.logind = logind;
        self
    }
}

/// A started daemon: serving and owning its bus name.
#[derive(Debug)]
pub struct RunningDaemon {
    connection: zbus::Connection,
    state: Arc<DaemonState>,
    tasks: Vec<JoinHandle<()>>,
    watcher: ConfigWatcher,
    _instance: InstanceLock,
}

/// Starts the daemon: everything is ready and the bus name is owned when this returns.
///
/// # Errors
/// [`Error`] naming what could not be set up; nothing keeps running on error.
pub async fn start(options: StartOptions) -> Result<RunningDaemon, Error> {
    let paths = &options.paths;
    paths.create_dirs()?;
    let instance = InstanceLock::acquire(&paths.lock_file())?;
    let config = Config::load(&paths.config_file, paths.config_explicit)?;
    let (watcher, config_rx) =
        ConfigWatcher::spawn(paths.config_file.clone(), paths.config_explicit, config)?;
    let store = Store::open(&paths.store_db(), &paths.volumes_dir()).await?;
    let custody = Arc::new(Custody::new(paths.key_file()));
    let sync = Arc::new(SyncCoordinator::new(store.clone(), Arc::clone(&custody)));
    let activity = Activity::new();
    let social = Arc::new(Social::new(
        store.clone(),
        Arc::clone(&custody),
        Arc::clone(&sync),
    ));
    let state = Arc::new(DaemonState::new(
        store.clone(),
        Arc::clone(&custody),
        config_rx.clone(),
        activity.clone(),
        Arc::clone(&sync),
        Arc::clone(&social),
        crate::process::uid(),
    ));

    let builder = match &options.bus {
        Bus::Session => zbus::connection::Builder::session(),
        Bus::Address(address) => zbus::connection::Builder::address(address.as_str()),
    };
    let connection = builder.build().await.map_err(Error::Bus)?;
    service::serve_at(&connection, &state)
        .await
        .map_err(Error::Bus)?;
    // Objects are served before the name is taken, so an activating caller is answered.
    let reply = connection
        .request_name_with_flags(BUS_NAME, RequestNameFlags::DO_NOT_QUEUE)
        .await;
    match reply {
        Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => {}
        Ok(_) | Err(zbus::Error::NameTaken) => return Err(Error::NameTaken),
        Err(error) => return Err(Error::Bus(error)),
    }

    let mut tasks = service::spawn_signal_forwarders(&connection, &state);
    tasks.push(tokio::spawn(run_idle_lock(
        Arc::clone(&custody),
        config_rx.clone(),
        activity,
    )));
    tasks.push(tokio::spawn(crate::social::events::run(
        social,
        Arc::clone(&custody),
    )));
    tasks.push(tokio::spawn(run_schedule(
        Arc::clone(&sync),
        config_rx.clone(),
    )));
    tasks.push(tokio::spawn(forget_sessions_on_lock(
        custody.subscribe(),
        Arc::clone(sync.links()),
    )));
    match &options.logind {
        Logind::SystemBus => tasks.push(tokio::spawn(logind::watch_system_bus(
            Arc::clone(&custody),
            config_rx,
        ))),
        Logind::Address(address) => {
            match zbus::connection::Builder::address(address.as_str())
                .build()
                .await
            {
                Ok(system) => tasks.push(tokio::spawn(logind::watch(
                    system,
                    Arc::clone(&custody),
                    config_rx,
                    crate::process::uid(),
                ))),
                Err(error) => tracing::debug!(%error, "no logind bus"),
            }
        }
        Logind::Off => {}
    }
    tracing::info!(name = BUS_NAME, "serving");
    Ok(RunningDaemon {
        connection,
        state,
        tasks,
        watcher,
        _instance: instance,
    })
}

impl RunningDaemon {
    /// The shared state (tests look inside).
    #[must_use]
    pub fn state(&self) -> &Arc<DaemonState> {
        &self.state
    }

    /// The outcome of configuration reloads.
    #[must_use]
    pub fn config_reloads(
        &self,
    ) -> tokio::sync::watch::Receiver<crate::config::watch::ReloadStatus> {
        self.watcher.status()
    }

    /// Stops: gives up the bus name so no new call arrives, locks (the keys are wiped once
    /// calls still running finish), stops the background tasks and closes the store.
    pub async fn shutdown(self) {
        if let Err(error) = self.connection.release_name(BUS_NAME).await {
            tracing::debug!(%error, "cannot release the bus name");
        }
        self.state.custody.lock(LockReason::Shutdown);
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
        service::unserve(&self.connection).await;
        self.state.store.close().await;
        drop(self.state);
        // Calls still running keep the connection until they answer; do not wait forever.
        if tokio::time::timeout(CLOSE_GRACE, self.connection.graceful_shutdown())
            .await
            .is_err()
        {
            tracing::warn!("calls still running at shutdown were abandoned");
        }
        tracing::info!("stopped");
    }
}

/// Drops every relay session when the daemon locks: a locked daemon holds no bearer tokens.
async fn forget_sessions_on_lock(
    mut events: tokio::sync::broadcast::Receiver<crate::custody::LockEvent>,
    links: Arc<crate::relay_links::RelayLinks>,
) {
    loop {
        match events.recv().await {
            Ok(event) if event.is_locked() => links.forget_all(),
            Ok(_) => {}
            // Missed events may have included a lock: forgetting is always safe.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => links.forget_all(),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
