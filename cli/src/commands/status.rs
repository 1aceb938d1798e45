//! `plog status`: whether the daemon is unlocked, its relays and the last sync.

use clap::Args;
use plog_ipc_schema::dbus::identity::StatusReport;

use crate::GlobalArgs;
use crate::daemon::{Daemon, block_on, call, parse_reply};
use crate::error::Error;
use crate::output;

/// Arguments of `plog status` (none yet).
#[derive(Debug, Args)]
#[non_exhaustive]
pub struct StatusArgs {}

const METHOD: &str = "Identity.Status";

pub(crate) fn run(_args: &StatusArgs, global: &GlobalArgs) -> Result<(), Error> {
    let json = block_on(async {
        let daemon = Daemon::connect().await?;
        call(METHOD, daemon.identity().await?.status()).await
    })?;
    let report: StatusReport = parse_reply(METHOD, &json)?;
    if global.json {
        output::print_daemon_json(METHOD, &json)
    } else {
        output::print(&render(&report))
    }
}

/// The status as `key value` lines.
pub(crate) fn render(report: &StatusReport) -> String {
    let identity = if report.initialized {
        "initialized".to_owned()
    } else {
        "none yet (run `plog init` or `plog identity restore`)".to_owned()
    };
    let keys = match (report.initialized, report.locked) {
        (false, _) => "-".to_owned(),
        (true, true) => "locked (run `plog unlock`)".to_owned(),
        (true, false) => "unlocked".to_owned(),
    };
    let auto_lock = report.auto_lock_secs.map_or_else(
        || "never".to_owned(),
        |secs| format!("after {} idle", output::duration(secs)),
    );
    let sync = if report.syncing { "running" } else { "idle" };
    let last_sync = report
        .last_sync_at
        .map_or_else(|| "never".to_owned(), output::utc_time);
    let mut lines = vec![
        ("plogd", report.version.clone()),
        ("identity", identity),
        ("keys", keys),
        ("auto-lock", auto_lock),
        ("relays", report.relays.to_string()),
        ("sync", sync.to_owned()),
        ("last sync", last_sync),
    ];
    if let Some(error) = &report.last_sync_error {
        lines.push(("sync error", error.clone()));
    }
    output::fields(&lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let report = StatusReport {
            version: "0.1.0".to_owned(),
            initialized: true,
            locked: false,
            auto_lock_secs: Some(900),
            relays: 2,
            live_relays: 0,
            syncing: false,
            last_sync_at: Some(0),
            last_sync_error: None,
        };
        assert_eq!(
            render(&report),
            "plogd      0.1.0\n\
             identity   initialized\n\
             keys       unlocked\n\
             auto-lock  after 15 min idle\n\
             relays     2\n\
             sync       idle\n\
             last sync  1970-01-01 00:00 UTC\n"
        );
        let fresh = StatusReport {
            initialized: false,
            locked: true,
            auto_lock_secs: None,
            last_sync_at: None,
            live_relays: 0,
            syncing: true,
            ..report
        };
        let text = render(&fresh);
        assert!(
            text.contains("identity   none yet (run `plog init`"),
            "{text}"
        );
        assert!(text.contains("keys       -\n"), "{text}");
        assert!(text.contains("auto-lock  never\n"), "{text}");
        assert!(text.contains("sync       running\n"), "{text}");
        assert!(text.contains("last sync  never\n"), "{text}");
    }
}
