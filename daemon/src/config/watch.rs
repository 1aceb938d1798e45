//! Hot reload: watches the configuration file and publishes every valid new version.
//!
//! The watch is on the file's **directory**, not the file: editors that save by writing a new
//! file and renaming it over the old one replace the inode a file watch would follow. Events
//! are debounced briefly, so a file written in several steps is read once it is complete. An
//! invalid edit is logged and the previous configuration stays in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::Config;

/// How long the directory must be quiet before the file is read again.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch configuration directory {dir}: {source}")]
pub struct WatchError {
    dir: PathBuf,
    source: notify::Error,
}

/// What the last reload attempt did (for status and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadStatus {
    /// Reload attempts so far (valid or not).
    pub attempts: u64,
    /// The error of the last attempt, if it failed.
    pub last_error: Option<String>,
}

/// A running watch; dropping it stops watching.
#[derive(Debug)]
pub struct ConfigWatcher {
    _watcher: RecommendedWatcher,
    task: JoinHandle<()>,
    status: watch::Receiver<ReloadStatus>,
}

impl ConfigWatcher {
    /// Starts watching `path` (whose directory must exist) and returns the watcher and the
    /// channel that carries `initial` and then every valid new version. When `must_exist`, a
    /// deleted file is an error that keeps the old configuration; otherwise it means the
    /// defaults. Must be called inside a Tokio runtime. Changes made after this returns are
    /// seen.
    ///
    /// # Errors
    /// [`WatchError`] if the directory cannot be watched.
    pub fn spawn(
        path: PathBuf,
        must_exist: bool,
        initial: Config,
    ) -> Result<(Self, watch::Receiver<Arc<Config>>), WatchError> {
        let dir = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let file_name = path.file_name().map(ToOwned::to_owned);
        let (events_tx, events_rx) = mpsc::unbounded_channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let relevant = match &event {
                    Ok(event) => event
                        .paths
                        .iter()
                        .any(|p| p.file_name() == file_name.as_deref()),
                    // Overflowed or failed watches may have hidden a change: read again.
                    Err(_) => true,
                };
                if relevant {
                    // The receiver is gone only when the daemon is stopping.
                    let _ = events_tx.send(());
                }
            })
            .map_err(|source| WatchError {
                dir: dir.clone(),
                source,
            })?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|source| WatchError {
                dir: dir.clone(),
                source,
            })?;
        let (config_tx, config_rx) = watch::channel(Arc::new(initial));
        let (status_tx, status_rx) = watch::channel(ReloadStatus::default());
        let task = tokio::spawn(reload_loop(
            path, must_exist, events_rx, config_tx, status_tx,
        ));
        Ok((
            Self {
                _watcher: watcher,
                task,
                status: status_rx,
            },
            config_rx,
        ))
    }

    /// The outcome of reload attempts.
    #[must_use]
    pub fn status(&self) -> watch::Receiver<ReloadStatus> {
        self.status.clone()
    }
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn reload_loop(
    path: PathBuf,
    must_exist: bool,
    mut events: mpsc::UnboundedReceiver<()>,
    config: watch::Sender<Arc<Config>>,
    status: watch::Sender<ReloadStatus>,
) {
    while events.recv().await.is_some() {
        loop {
            match tokio::time::timeout(DEBOUNCE, events.recv()).await {
                Ok(Some(())) => {}
                Ok(None) => return,
                Err(_quiet) => break,
            }
        }
        let outcome = Config::load(&path, must_exist);
        let last_error = match outcome {
            Ok(new) => {
                let changed = config.send_if_modified(|current| {
                    if **current == new {
                        false
                    } else {
                        *current = Arc::new(new);
                        true
                    }
                });
                if changed {
                    tracing::info!(path = %path.display(), "configuration reloaded");
                }
                None
            }
            Err(error) => {
                tracing::warn!(%error, "configuration change ignored; the previous configuration stays in force");
                Some(error.to_string())
            }
        };
        status.send_modify(|s| {
            s.attempts += 1;
            s.last_error = last_error;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(20);

    async fn next_attempt(status: &mut watch::Receiver<ReloadStatus>) -> ReloadStatus {
        tokio::time::timeout(WAIT, status.changed())
            .await
            .expect("a reload attempt in time")
            .expect("watcher alive");
        status.borrow_and_update().clone()
    }

    #[tokio::test]
    async fn applies_valid_edits_and_keeps_the_old_config_on_invalid_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plogd.toml");
        std::fs::write(&path, "[sync]\ninterval = \"15m\"\n").expect("write");
        let initial = Config::load(&path, false).expect("load");
        let (watcher, mut config) =
            ConfigWatcher::spawn(path.clone(), false, initial).expect("watch");
        let mut status = watcher.status();

        // Written in place.
        std::fs::write(&path, "[sync]\ninterval = \"5m\"\n").expect("write");
        tokio::time::timeout(WAIT, config.changed())
            .await
            .expect("reload in time")
            .expect("alive");
        assert_eq!(
            config.borrow_and_update().sync.interval,
            Duration::from_secs(300)
        );

        // An invalid edit: logged, old configuration kept.
        status.borrow_and_update();
        std::fs::write(&path, "[sync]\nintervall = \"1m\"\n").expect("write");
        let outcome = next_attempt(&mut status).await;
        assert!(
            outcome
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("intervall")),
            "{outcome:?}"
        );
        assert!(!config.has_changed().expect("alive"));
        assert_eq!(config.borrow().sync.interval, Duration::from_secs(300));

        // Saved the way editors do: a new file renamed over the old one.
        let tmp = dir.path().join(".plogd.toml.swp");
        std::fs::write(&tmp, "[lock]\nidle_timeout = \"1m\"\n").expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
        tokio::time::timeout(WAIT, config.changed())
            .await
            .expect("reload in time")
            .expect("alive");
        let current = config.borrow_and_update().clone();
        assert_eq!(current.lock.idle_timeout, Duration::from_secs(60));
        assert_eq!(current.sync.interval, Duration::from_secs(900));
    }
}
