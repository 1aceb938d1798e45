//! One sync round at a time: `SyncNow` and the schedule either start a round or join the one
//! running, and everyone gets the same outcome. Progress and outcomes are published as
//! [`SyncEvent`]s, which the D-Bus service turns into `SyncProgress` / `SyncFinished` signals.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use plog_ipc_schema::dbus::sync::SyncReport;
use tokio::sync::{broadcast, watch};

use super::{RoundResult, SyncContext, SyncError, run_round};
use crate::config::Config;
use crate::custody::{Custody, CustodyError};
use crate::relay_links::RelayLinks;
use crate::store::Store;

/// How a failed round failed, for the D-Bus error it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The keys were not available.
    Locked,
    /// No identity.
    NotInitialized,
    /// Relays unreachable.
    Network,
    /// Conflicts found.
    Conflict,
    /// Anything else.
    Failed,
}

/// The outcome of a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundOutcome {
    /// The report (also for failed rounds).
    pub report: SyncReport,
    /// Why it failed, if it did.
    pub failure: Option<(FailureKind, String)>,
}

/// What the coordinator announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// Progress at one relay.
    Progress {
        /// The relay.
        relay: String,
        /// Volumes transferred.
        done: u64,
        /// Volumes to transfer.
        total: u64,
    },
    /// A round finished.
    Finished(RoundOutcome),
}

#[derive(Debug, Default)]
struct State {
    running: Option<broadcast::Sender<RoundOutcome>>,
    last_finished_at: Option<u64>,
    last_error: Option<String>,
}

/// Runs sync rounds one at a time.
#[derive(Debug)]
pub struct SyncCoordinator {
    store: Store,
    custody: Arc<Custody>,
    links: Arc<RelayLinks>,
    state: Mutex<State>,
    events: broadcast::Sender<SyncEvent>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl SyncCoordinator {
    /// A coordinator over `store` with keys from `custody`.
    #[must_use]
    pub fn new(store: Store, custody: Arc<Custody>) -> Self {
        let (events, _) = broadcast::channel(256);
        Self {
            store,
            links: Arc::new(RelayLinks::new(Arc::clone(&custody))),
            custody,
            state: Mutex::new(State::default()),
            events,
        }
    }

    /// The relay clients, shared with the D-Bus methods.
    #[must_use]
    pub fn links(&self) -> &Arc<RelayLinks> {
        &self.links
    }

    /// Progress and outcomes from now on.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.events.subscribe()
    }

    /// Whether a round is running.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.lock_state().running.is_some()
    }

    /// When the last round finished, unix seconds.
    #[must_use]
    pub fn last_finished_at(&self) -> Option<u64> {
        self.lock_state().last_finished_at
    }

    /// Why the last round failed, if it did.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        self.lock_state().last_error.clone()
    }

    /// Runs a round, or joins the running one, and returns its outcome.
    pub async fn sync_now(self: &Arc<Self>) -> RoundOutcome {
        let mut outcome = {
            let mut state = self.lock_state();
            match &state.running {
                Some(sender) => sender.subscribe(),
                None => {
                    let (sender, receiver) = broadcast::channel(1);
                    state.running = Some(sender);
                    let this = Arc::clone(self);
                    tokio::spawn(async move { this.round().await });
                    receiver
                }
            }
        };
        match outcome.recv().await {
            Ok(outcome) => outcome,
            Err(e) => RoundOutcome {
                report: SyncReport::default(),
                failure: Some((FailureKind::Failed, format!("the sync round was lost: {e}"))),
            },
        }
    }

    async fn round(self: Arc<Self>) {
        let started_at = now();
        let outcome = match self.custody.keys() {
            Err(error) => RoundOutcome {
                report: SyncReport::default(),
                failure: Some((
                    match error {
                        CustodyError::NotInitialized => FailureKind::NotInitialized,
                        _ => FailureKind::Locked,
                    },
                    error.to_string(),
                )),
            },
            Ok(keys) => match self.store.relays().await {
                Err(error) => RoundOutcome {
                    report: SyncReport::default(),
                    failure: Some((FailureKind::Failed, error.to_string())),
                },
                Ok(relays) => {
                    let events = self.events.clone();
                    let progress = move |relay: &str, done: u64, total: u64| {
                        let _ = events.send(SyncEvent::Progress {
                            relay: relay.to_owned(),
                            done,
                            total,
                        });
                    };
                    let context = SyncContext {
                        store: &self.store,
                        links: &self.links,
                        keys,
                        relays,
                        progress: &progress,
                    };
                    match run_round(context).await {
                        Ok(RoundResult {
                            report,
                            unreachable,
                        }) => {
                            let failure = (!report.ok).then(|| {
                                let kind = if !report.conflicts.is_empty() {
                                    FailureKind::Conflict
                                } else if unreachable {
                                    FailureKind::Network
                                } else {
                                    FailureKind::Failed
                                };
                                (kind, summarise(&report))
                            });
                            RoundOutcome { report, failure }
                        }
                        Err(error) => {
                            let kind = match error {
                                SyncError::Network(_) => FailureKind::Network,
                                SyncError::Conflict(_) => FailureKind::Conflict,
                                _ => FailureKind::Failed,
                            };
                            RoundOutcome {
                                report: SyncReport::default(),
                                failure: Some((kind, error.to_string())),
                            }
                        }
                    }
                }
            },
        };
        let finished_at = now();
        let mut outcome = outcome;
        outcome.report.started_at = started_at;
        outcome.report.finished_at = finished_at;
        outcome.report.ok = outcome.failure.is_none();
        if let Some((_, message)) = &outcome.failure {
            tracing::warn!(%message, "sync round failed");
        }
        let _ = self.events.send(SyncEvent::Finished(outcome.clone()));
        let sender = {
            let mut state = self.lock_state();
            state.last_finished_at = Some(finished_at);
            state.last_error = outcome.failure.as_ref().map(|(_, message)| message.clone());
            state.running.take()
        };
        if let Some(sender) = sender {
            let _ = sender.send(outcome);
        }
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn summarise(report: &SyncReport) -> String {
    let mut parts = Vec::new();
    if !report.conflicts.is_empty() {
        parts.push(format!("{} conflict(s)", report.conflicts.len()));
    }
    for failure in &report.failures {
        parts.push(format!("{}: {}", failure.relay, failure.message));
    }
    if parts.is_empty() {
        "sync round failed".to_owned()
    } else {
        parts.join("; ")
    }
}

/// First wait after a round that could not reach a relay; it doubles after every further
/// failure, up to the configured interval.
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// Runs a round every `sync.interval` while unlocked (a changed interval restarts the wait).
/// After a round that failed to reach a relay, the next one comes sooner: 5 s, then doubling,
/// never later than the interval, each wait spread by ±20 % so that devices that lost the
/// same relay do not all return at once. Returns when the configuration channel closes.
pub async fn run_schedule(coordinator: Arc<SyncCoordinator>, config: watch::Receiver<Arc<Config>>) {
    let locked = {
        let custody = Arc::clone(&coordinator.custody);
        move || custody.is_locked()
    };
    schedule(config, locked, move || {
        let coordinator = Arc::clone(&coordinator);
        async move {
            let outcome = coordinator.sync_now().await;
            matches!(outcome.failure, Some((FailureKind::Network, _)))
        }
    })
    .await;
}

/// The timing of [`run_schedule`], apart from what a round does; `round` says whether it
/// failed in a way worth retrying soon.
async fn schedule<F, Fut>(
    mut config: watch::Receiver<Arc<Config>>,
    is_locked: impl Fn() -> bool,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut retry: Option<Duration> = None;
    loop {
        let interval = config.borrow_and_update().sync.schedule();
        let wait = match (interval, retry) {
            (Some(interval), Some(retry)) => Some(jitter(retry.min(interval))),
            (Some(interval), None) => Some(interval),
            (None, _) => None,
        };
        let sleep = async {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {
                if is_locked() {
                    tracing::debug!("scheduled sync skipped: locked");
                } else if round().await {
                    let next = retry.map_or(FIRST_RETRY, |previous| previous.saturating_mul(2));
                    tracing::info!(retry_in_secs = next.as_secs(), "sync failed; retrying");
                    retry = Some(next);
                } else {
                    retry = None;
                }
            }
            changed = config.changed() => if changed.is_err() { return },
        }
    }
}

/// `wait` spread uniformly over ±20 %, so that waiting clients do not retry in step.
pub(crate) fn jitter(wait: Duration) -> Duration {
    let mut byte = [0u8; 2];
    let random = if getrandom::fill(&mut byte).is_ok() {
        u16::from_le_bytes(byte)
    } else {
        u16::MAX / 2
    };
    // 0.8 + 0.4 * random / 65535
    let factor = 0.8 + 0.4 * f64::from(random) / f64::from(u16::MAX);
    wait.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plog_crypto::keyfile::KdfParams;
    use std::time::Duration;
    use zeroize::Zeroizing;

    async fn setup(dir: &tempfile::TempDir) -> (Arc<SyncCoordinator>, Arc<Custody>) {
        let paths = crate::paths::Paths::under(dir.path());
        paths.create_dirs().expect("dirs");
        let store = Store::open(&paths.store_db(), &paths.volumes_dir())
            .await
            .expect("store");
        let custody = Arc::new(Custody::new(paths.key_file()));
        (
            Arc::new(SyncCoordinator::new(store, Arc::clone(&custody))),
            custody,
        )
    }

    #[tokio::test]
    async fn sync_now_reports_locked_and_unregistered_relays_honestly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (coordinator, custody) = setup(&dir).await;
        let outcome = coordinator.sync_now().await;
        assert_eq!(
            outcome.failure.map(|f| f.0),
            Some(FailureKind::NotInitialized)
        );

        custody
            .init(
                Zeroizing::new(b"pw".to_vec()),
                KdfParams::INSECURE_FOR_TESTS,
            )
            .await
            .expect("init");
        let outcome = coordinator.sync_now().await;
        assert!(
            outcome.report.ok && outcome.failure.is_none(),
            "{outcome:?}"
        );
        assert!(coordinator.last_finished_at().is_some());

        coordinator
            .store
            .add_relay(crate::store::NewRelay {
                origin: "https://relay.example".to_owned(),
                pin: plog_ipc_schema::CertPin::from_digest([1; 32]),
                name: None,
                account: None,
            })
            .await
            .expect("relay");
        let outcome = coordinator.sync_now().await;
        let (kind, message) = outcome.failure.expect("a relay without an account fails");
        assert_eq!(kind, FailureKind::Failed);
        assert!(message.contains("plog register"), "{message}");
        assert!(!outcome.report.ok);
    }

    #[tokio::test(start_paused = true)]
    async fn the_schedule_follows_the_configured_interval() {
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
        let rounds = Arc::new(AtomicU32::new(0));
        let locked = Arc::new(AtomicBool::new(false));
        let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        let mut config = Config::default();
        config.sync.interval = Duration::from_secs(600);
        let (config_tx, config_rx) = watch::channel(Arc::new(config.clone()));
        let task = tokio::spawn(schedule(
            config_rx,
            {
                let locked = Arc::clone(&locked);
                move || locked.load(Ordering::SeqCst)
            },
            {
                let rounds = Arc::clone(&rounds);
                move || {
                    rounds.fetch_add(1, Ordering::SeqCst);
                    let _ = done_tx.send(tokio::time::Instant::now());
                    async { false }
                }
            },
        ));
        let start = tokio::time::Instant::now();

        tokio::time::sleep(Duration::from_secs(599)).await;
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            0,
            "no round before the interval"
        );
        let at = done.recv().await.expect("a scheduled round");
        assert_eq!(at - start, Duration::from_secs(600));

        // A shorter interval from a reload applies from the reload on.
        config.sync.interval = Duration::from_secs(30);
        config_tx.send_replace(Arc::new(config.clone()));
        let reloaded = tokio::time::Instant::now();
        let at = done.recv().await.expect("a round at the new interval");
        assert_eq!(at - reloaded, Duration::from_secs(30));

        // Locked: scheduled rounds are skipped.
        locked.store(true, Ordering::SeqCst);
        let before = rounds.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(95)).await;
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            before,
            "no round while locked"
        );

        // Zero turns the schedule off.
        locked.store(false, Ordering::SeqCst);
        config.sync.interval = Duration::ZERO;
        config_tx.send_replace(Arc::new(config));
        tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), before);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn failed_rounds_are_retried_sooner_with_growing_waits() {
        let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        let mut config = Config::default();
        config.sync.interval = Duration::from_secs(60);
        let (_config_tx, config_rx) = watch::channel(Arc::new(config));
        let failures = Arc::new(std::sync::atomic::AtomicU32::new(3));
        let task = tokio::spawn(schedule(config_rx, || false, {
            let failures = Arc::clone(&failures);
            move || {
                let _ = done_tx.send(tokio::time::Instant::now());
                let failing = failures
                    .fetch_update(
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                        |n| n.checked_sub(1),
                    )
                    .is_ok();
                async move { failing }
            }
        }));
        let mut at = done.recv().await.expect("first round");
        // Three failing rounds: the waits after them are 5, 10 and 20 s, each within ±20 %.
        for expected in [5.0, 10.0, 20.0] {
            let next = done.recv().await.expect("a retry");
            let waited = (next - at).as_secs_f64();
            assert!(
                waited >= expected * 0.8 - 0.01 && waited <= expected * 1.2 + 0.01,
                "waited {waited} s, expected about {expected} s"
            );
            at = next;
        }
        // The round after them succeeded: back to the interval.
        let next = done.recv().await.expect("a scheduled round");
        assert_eq!(next - at, Duration::from_secs(60));
        task.abort();
    }
}
