//! Locking after a period without calls.
//!
//! Every served method call touches [`Activity`]; [`run_idle_lock`] locks the custody once the
//! configured `lock.idle_timeout` has passed since the last touch. The timeout is read from the
//! live configuration, so an edit takes effect at once. Time is Tokio's, so tests can pause it.

use std::sync::Arc;

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::{Custody, LockReason};
use crate::config::Config;

/// The time of the last served call.
#[derive(Debug, Clone)]
pub struct Activity(Arc<watch::Sender<Instant>>);

impl Activity {
    /// A tracker whose last activity is now.
    #[must_use]
    pub fn new() -> Self {
        Self(Arc::new(watch::Sender::new(Instant::now())))
    }

    /// Records activity now.
    pub fn touch(&self) {
        self.0.send_replace(Instant::now());
    }

    /// Follows the time of the last activity.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<Instant> {
        self.0.subscribe()
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// Locks `custody` after the configured idle time. Returns when the configuration or
/// activity channel closes (the daemon is stopping).
pub async fn run_idle_lock(
    custody: Arc<Custody>,
    mut config: watch::Receiver<Arc<Config>>,
    activity: Activity,
) {
    let mut last = activity.subscribe();
    let mut lock_events = custody.subscribe();
    loop {
        let timeout = config.borrow_and_update().lock.idle_lock();
        let deadline = match timeout {
            Some(timeout) if !custody.is_locked() => Some(*last.borrow_and_update() + timeout),
            _ => None,
        };
        let sleep = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {
                // A call may have landed at the very deadline; the next turn re-reads it.
                if timeout.is_some_and(|t| Instant::now() >= *last.borrow() + t) {
                    custody.lock(LockReason::Idle);
                }
            }
            changed = last.changed() => if changed.is_err() { return },
            changed = config.changed() => if changed.is_err() { return },
            event = lock_events.recv() => {
                if let Err(broadcast::error::RecvError::Closed) = event {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custody::LockEvent;
    use plog_crypto::keyfile::KdfParams;
    use std::time::Duration;
    use zeroize::Zeroizing;

    fn config_with_idle(secs: u64) -> Arc<Config> {
        let mut config = Config::default();
        config.lock.idle_timeout = Duration::from_secs(secs);
        Arc::new(config)
    }

    #[tokio::test(start_paused = true)]
    async fn locks_after_the_idle_time_and_activity_postpones_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let custody = Arc::new(Custody::new(dir.path().join("identity.key")));
        custody
            .init(
                Zeroizing::new(b"pw".to_vec()),
                KdfParams::INSECURE_FOR_TESTS,
            )
            .await
            .expect("init");
        let (config_tx, config_rx) = watch::channel(config_with_idle(600));
        let activity = Activity::new();
        let mut events = custody.subscribe();
        let task = tokio::spawn(run_idle_lock(
            Arc::clone(&custody),
            config_rx,
            activity.clone(),
        ));

        tokio::time::sleep(Duration::from_secs(599)).await;
        assert!(!custody.is_locked(), "not yet idle long enough");
        activity.touch();
        tokio::time::sleep(Duration::from_secs(599)).await;
        assert!(!custody.is_locked(), "activity restarted the clock");

        // A shorter timeout from a configuration reload applies to the current idle period.
        config_tx.send_replace(config_with_idle(60));
        let event = events.recv().await.expect("event");
        assert_eq!(event, LockEvent::Locked(LockReason::Idle));
        assert!(custody.is_locked());
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn zero_means_never() {
        let dir = tempfile::tempdir().expect("tempdir");
        let custody = Arc::new(Custody::new(dir.path().join("identity.key")));
        custody
            .init(
                Zeroizing::new(b"pw".to_vec()),
                KdfParams::INSECURE_FOR_TESTS,
            )
            .await
            .expect("init");
        let (config_tx, config_rx) = watch::channel(config_with_idle(0));
        let task = tokio::spawn(run_idle_lock(
            Arc::clone(&custody),
            config_rx,
            Activity::new(),
        ));
        tokio::time::sleep(Duration::from_secs(30 * 24 * 3600)).await;
        assert!(!custody.is_locked());
        drop(config_tx);
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("the task ends with the configuration channel")
            .expect("no panic");
    }
}
