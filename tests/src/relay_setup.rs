//! The start of a relay test: a real `nats-server` and a relay on it, and the pair of tests
//! that tells one story on SQLite and on PostgreSQL. Either skips (returning early) where its
//! `nats-server` or PostgreSQL is not available, as [`NatsServer::start_or_skip`] and
//! [`crate::postgres::test_database_or_skip`] do.

use crate::nats::NatsServer;
use crate::relay::{Database, RelayOptions, TestRelay};

/// A `nats-server` and a relay on SQLite with the config `overrides` (`(config key, TOML
/// value)`); `None` where `nats-server` is not installed.
///
/// Bind the pair as `(_nats, relay)`: the server must outlive the relay, and bindings are
/// dropped in reverse order, so the relay stops first.
///
/// # Panics
/// If the relay does not start (see [`TestRelay::start`]).
pub async fn sqlite_relay_or_skip(overrides: &[(&str, &str)]) -> Option<(NatsServer, TestRelay)> {
    let nats = NatsServer::start_or_skip().await?;
    let mut options = RelayOptions::new(nats.url(), Database::Sqlite);
    options.overrides.extend(
        overrides
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
    );
    let relay = TestRelay::start(options).await;
    Some((nats, relay))
}

/// Declares two tests, `$sqlite` and `$postgres`, that run `$story(&NatsServer, Database)`
/// on a fresh `nats-server` with a SQLite relay database and with a PostgreSQL one. Each
/// returns early where its servers are not available; the PostgreSQL test drops its database
/// afterwards.
///
/// ```no_run
/// use plog_tests::nats::NatsServer;
/// use plog_tests::relay::Database;
///
/// async fn story(_nats: &NatsServer, _database: Database) { /* … */ }
/// plog_tests::on_sqlite_and_postgres!(story => story_on_sqlite, story_on_postgres);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! on_sqlite_and_postgres {
    ($story:path => $sqlite:ident, $postgres:ident) => {
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            let Some(nats) = $crate::nats::NatsServer::start_or_skip().await else {
                return;
            };
            $story(&nats, $crate::relay::Database::Sqlite).await;
        }

        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            let Some(nats) = $crate::nats::NatsServer::start_or_skip().await else {
                return;
            };
            let Some(db) = $crate::postgres::test_database_or_skip().await else {
                return;
            };
            $story(
                &nats,
                $crate::relay::Database::Postgres(db.url().to_owned()),
            )
            .await;
            db.cleanup().await.expect("the test database is dropped");
        }
    };
}
