//! `plog sync`: one sync round, returning when it is finished; a failed round is a failure.
//!
//! On a terminal the round's `SyncProgress` signals drive a progress bar (all relays summed).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clap::Args;
use futures_util::StreamExt as _;
use plog_ipc_schema::dbus::sync::SyncReport;

use crate::GlobalArgs;
use crate::daemon::{Daemon, block_on, call, parse_reply};
use crate::error::Error;
use crate::output;
use crate::progress::{self, Bar, REVEAL_AFTER};

/// Arguments of `plog sync` (none yet).
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct SyncArgs {}

const METHOD: &str = "Sync.SyncNow";

pub(crate) fn run(_args: &SyncArgs, global: &GlobalArgs) -> Result<(), Error> {
    let show_progress = progress::wanted(global.json);
    let bar = Bar::items("sync", show_progress);
    let result = block_on(async {
        let sync = Daemon::connect().await?.sync().await?;
        if !show_progress {
            return call(METHOD, sync.sync_now()).await;
        }
        let mut signals = sync
            .receive_sync_progress()
            .await
            .map_err(|source| Error::Bus {
                method: "subscribing to Sync.SyncProgress",
                source,
            })?;
        let round = call(METHOD, sync.sync_now());
        tokio::pin!(round);
        let mut tally = Tally::default();
        let mut ticks = tokio::time::interval(REVEAL_AFTER);
        loop {
            tokio::select! {
                result = &mut round => break result,
                Some(signal) = signals.next() => {
                    // A malformed signal only costs the bar an update.
                    if let Ok(args) = signal.args() {
                        let (done, total) = tally.update(args.relay(), *args.done(), *args.total());
                        bar.set(done, total, &format!("sync {}", args.relay()));
                    }
                }
                _ = ticks.tick() => bar.reveal_if_due(),
            }
        }
    });
    bar.finish();
    let json = result?;
    let report: SyncReport = parse_reply(METHOD, &json)?;
    if global.json {
        output::print_daemon_json(METHOD, &json)
    } else {
        output::print(&render(&report))
    }
}

/// Progress per relay, summed over all relays of the round.
#[derive(Debug, Default)]
struct Tally {
    relays: BTreeMap<String, (u64, u64)>,
}

impl Tally {
    /// Records `done` of `total` at `relay`; returns the sums.
    fn update(&mut self, relay: &str, done: u64, total: u64) -> (u64, u64) {
        self.relays.insert(relay.to_owned(), (done, total));
        self.relays
            .values()
            .fold((0, 0), |(d, t), (done, total)| (d + done, t + total))
    }
}

/// The outcome of a round for people.
fn render(report: &SyncReport) -> String {
    let mut text = format!(
        "Sync finished: {} pushed, {} pulled.\n",
        report.pushed, report.pulled
    );
    for conflict in &report.conflicts {
        let _ = writeln!(
            text,
            "conflict: {} at {} (here revision {}, there {})",
            conflict.name.as_str(),
            conflict.relay,
            conflict.local_revision,
            conflict.remote_revision
        );
    }
    for failure in &report.failures {
        let _ = writeln!(text, "failed: {}: {}", failure.relay, failure.message);
    }
    text
}

#[cfg(test)]
mod tests {
    use plog_ipc_schema::VolumeType;
    use plog_ipc_schema::dbus::sync::{RelayFailure, SyncConflict};
    use uuid::Uuid;

    use super::*;

    #[test]
    fn progress_is_summed_over_relays() {
        let mut tally = Tally::default();
        assert_eq!(tally.update("https://a", 1, 4), (1, 4));
        assert_eq!(tally.update("https://b", 0, 2), (1, 6));
        assert_eq!(tally.update("https://a", 4, 4), (4, 6));
    }

    #[test]
    fn reports_for_people() {
        let mut report = SyncReport {
            ok: true,
            pushed: 2,
            pulled: 1,
            ..SyncReport::default()
        };
        assert_eq!(render(&report), "Sync finished: 2 pushed, 1 pulled.\n");
        report.conflicts.push(SyncConflict {
            id: Uuid::from_u128(1),
            name: VolumeType::parse("front").expect("vtype"),
            relay: "https://a".to_owned(),
            local_revision: 3,
            remote_revision: 4,
        });
        report.failures.push(RelayFailure {
            relay: "https://b".to_owned(),
            message: "connection refused".to_owned(),
        });
        let text = render(&report);
        assert!(text.contains("conflict: front at https://a (here revision 3, there 4)\n"));
        assert!(
            text.ends_with("failed: https://b: connection refused\n"),
            "{text}"
        );
    }
}
