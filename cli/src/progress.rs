//! Progress bars for long transfers and sync rounds, on stderr.
//!
//! A bar appears only when a person can see it (stderr is a terminal and `--json` is off) and
//! only once the work has taken longer than [`REVEAL_AFTER`], so quick commands print nothing
//! but their result.

use std::io::{self, IsTerminal};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long work runs before its bar is shown.
pub(crate) const REVEAL_AFTER: Duration = Duration::from_secs(1);

/// Whether bars may be drawn at all for this command.
pub(crate) fn wanted(json: bool) -> bool {
    !json && io::stderr().is_terminal()
}

/// A bar that stays hidden until it has existed for [`REVEAL_AFTER`]. Cloning shares the bar.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    bar: ProgressBar,
    started: Instant,
    enabled: bool,
    revealed: Arc<AtomicBool>,
}

impl Bar {
    /// A bar for a byte transfer of `total` bytes (unknown: a counter without a bar).
    pub(crate) fn bytes(label: &str, total: Option<u64>, enabled: bool) -> Self {
        let template = if total.is_some() {
            "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta}"
        } else {
            "{msg} {spinner} {bytes} {bytes_per_sec}"
        };
        Self::new(label, total, template, enabled)
    }

    /// A bar counting items (volumes of a sync round).
    pub(crate) fn items(label: &str, enabled: bool) -> Self {
        Self::new(label, Some(0), "{msg} {wide_bar} {pos}/{len}", enabled)
    }

    /// A bar that is never shown.
    pub(crate) fn hidden() -> Self {
        Self::new("", None, "{msg}", false)
    }

    fn new(label: &str, total: Option<u64>, template: &str, enabled: bool) -> Self {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
        // The templates are constants; should one ever fail to parse, the default style is
        // still a working bar.
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_message(label.to_owned());
        Self {
            bar,
            started: Instant::now(),
            enabled,
            revealed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Counts `n` more units done.
    pub(crate) fn advance(&self, n: u64) {
        self.bar.inc(n);
        self.reveal_if_due();
    }

    /// Sets the position, the total and the message at once.
    pub(crate) fn set(&self, position: u64, total: u64, message: &str) {
        self.bar.set_length(total);
        self.bar.set_position(position);
        self.bar.set_message(message.to_owned());
        self.reveal_if_due();
    }

    /// Shows the bar if it is allowed and has been running long enough.
    pub(crate) fn reveal_if_due(&self) {
        if self.enabled
            && self.started.elapsed() >= REVEAL_AFTER
            && !self.revealed.swap(true, Ordering::Relaxed)
        {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar.enable_steady_tick(Duration::from_millis(200));
        }
    }

    /// Whether the bar has been drawn.
    #[cfg(test)]
    pub(crate) fn is_revealed(&self) -> bool {
        self.revealed.load(Ordering::Relaxed)
    }

    /// Removes the bar from the terminal.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_bars_are_never_revealed() {
        let bar = Bar::bytes("put", Some(10), false);
        bar.advance(10);
        assert!(!bar.is_revealed());
        bar.finish();
    }

    #[test]
    fn bars_wait_before_they_appear() {
        let bar = Bar::bytes("get", None, true);
        bar.advance(1);
        assert!(!bar.is_revealed(), "revealed at once");
        let late = Bar {
            started: Instant::now()
                .checked_sub(REVEAL_AFTER)
                .expect("the clock is past one second"),
            ..Bar::items("sync", true)
        };
        late.set(1, 2, "relay");
        assert!(late.is_revealed());
        late.finish();
        bar.finish();
    }
}
