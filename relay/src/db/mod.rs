//! The relay's SQL metadata store (SQLite or PostgreSQL).
//!
//! [`Db`] is one connection pool to either engine. Every query is written once, with `$1, $2…`
//! placeholders (SQLite accepts them too), and runs on either pool; the `with_pool!` and
//! `with_tx!` macros expand a block once per engine, so each copy is type-checked against its
//! own driver. Only runtime queries are used: building the relay needs no database.
//!
//! Conventions on both engines:
//! - ids are hyphenated lowercase UUIDs stored as `TEXT`; the Rust side is [`uuid::Uuid`];
//! - times are unix seconds (`i64`), passed in by the caller (`now`), so tests control them;
//! - sizes, revisions and epochs are `u64` in Rust and `BIGINT` in SQL (at most `i64::MAX`);
//! - handles are stored lowercase;
//! - every operation that changes more than one row is one transaction. Writing transactions
//!   on SQLite take the process's write turn ([`SqliteDb`]) and then start with
//!   `BEGIN IMMEDIATE`, so writers queue instead of failing on a lock upgrade; on PostgreSQL,
//!   concurrent writers are kept apart by compare-and-swap statements (`UPDATE … WHERE revision = $n`) whose affected-row count is
//!   checked, so two relay instances racing on one database cannot both win.
//!
//! The schema lives in `relay/migrations/{sqlite,postgres}/`, applied by [`Db::connect`].

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Runs `$body` with `$pool` bound to the pool of `$db` (`&SqlitePool` or `&PgPool`).
///
/// The body is compiled once per engine. `?` inside it returns from the enclosing function.
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(sqlite) => {
                let $pool = sqlite.pool();
                $body
            }
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Like `with_pool!`, for a body that writes outside a transaction: on SQLite it first takes
/// the process's write turn (see [`SqliteDb`]).
macro_rules! with_writer {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(sqlite) => {
                let _turn = sqlite.write_turn().await;
                let $pool = sqlite.pool();
                $body
            }
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$tx` bound to a fresh writing transaction on `$db`.
///
/// SQLite transactions first take the process's write turn, then start with `BEGIN IMMEDIATE`
/// (take the database's write lock, waiting on the busy timeout for other processes);
/// PostgreSQL ones with a plain `BEGIN` (read committed). The body must call
/// `$tx.commit()`; leaving it any other way (including `?` and `return`) rolls back.
macro_rules! with_tx {
    ($db:expr, |$tx:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(sqlite) => {
                let _turn = sqlite.write_turn().await;
                #[allow(unused_mut)]
                let mut $tx = sqlite.pool().begin_with("BEGIN IMMEDIATE").await?;
                $body
            }
            $crate::db::Db::Postgres(pool) => {
                #[allow(unused_mut)]
                let mut $tx = pool.begin().await?;
                $body
            }
        }
    };
}

mod accounts;
mod base64url;
mod error;
mod grants;
mod invites;
mod links;
mod purge;
mod row;
mod state;
mod volumes;

pub use accounts::{Account, NewAccount};
pub use error::DbError;
pub use grants::{Grant, NewGrant};
pub use invites::{Invite, NewInvite};
pub use links::LinkAdded;
pub use plog_ipc_schema::http::accounts::AccountKind;
pub use plog_ipc_schema::http::headers::Precondition;
pub use volumes::{CommitOutcome, VolumeAccess, VolumeCommit, VolumeRow};

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in a file-backed SQLite pool (readers run in parallel under WAL).
const SQLITE_MAX_CONNECTIONS: u32 = 8;
/// Connections in a PostgreSQL pool.
const POSTGRES_MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a free pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(15);

/// The relay's metadata database: a connection pool to SQLite or PostgreSQL.
///
/// Cloning is cheap (the pools are shared handles). Build one with [`Db::connect`].
#[derive(Debug, Clone)]
pub enum Db {
    /// The embedded default: one SQLite file (WAL mode, foreign keys on).
    Sqlite(SqliteDb),
    /// PostgreSQL, for several relay instances side by side.
    Postgres(PgPool),
}

impl Db {
    /// Connects to the database named by `url` and applies the pending migrations.
    ///
    /// `url` is `sqlite:PATH` (the file is created if missing; `sqlite::memory:` gives a private
    /// in-memory database on a single connection) or `postgres://…` / `postgresql://…`.
    /// Migrations are idempotent: connecting again to a migrated database changes nothing, and
    /// on PostgreSQL concurrent relay instances take turns through an advisory lock.
    ///
    /// # Errors
    /// [`DbError::UnsupportedUrl`] for any other scheme, [`DbError::Database`] if the database
    /// cannot be opened or reached, [`DbError::Migration`] if the schema cannot be brought up to
    /// date (for example a migration file changed after it was applied).
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme {
            "sqlite" => Self::connect_sqlite(url).await,
            "postgres" | "postgresql" => Self::connect_postgres(url).await,
            // Only the scheme goes into the error: the rest may hold a password.
            _ => Err(DbError::UnsupportedUrl {
                scheme: scheme.chars().take(32).collect(),
            }),
        }
    }

    async fn connect_sqlite(url: &str) -> Result<Self, DbError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool_options = if in_memory {
            // Each connection would open its own empty database: keep exactly one, forever.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(SQLITE_MAX_CONNECTIONS)
        };
        let pool = pool_options
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(DbError::Migration)?;
        Ok(Self::Sqlite(SqliteDb {
            pool,
            writer: Arc::new(Mutex::new(())),
        }))
    }

    async fn connect_postgres(url: &str) -> Result<Self, DbError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(POSTGRES_MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(DbError::Migration)?;
        Ok(Self::Postgres(pool))
    }

    /// The engine: `"sqlite"` or `"postgres"`.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Checks that the database answers (for `/readyz`).
    ///
    /// # Errors
    /// [`DbError::Database`] if it does not.
    pub async fn ping(&self) -> Result<(), DbError> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }

    /// Closes the pool: waits for checked-out connections to come back, then closes them all.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await);
    }
}

/// A SQLite connection pool whose writers take turns inside the process.
///
/// SQLite has one write lock per database. Pooled connections that want it at the same time
/// otherwise wait in SQLite's busy handler, which sleeps (1 ms, 2 ms, 5 ms, …) and leaves the
/// lock idle while writers doze; queueing them on an async mutex hands the lock straight from
/// one writer to the next. Readers do not take turns (WAL lets them run beside the writer).
#[derive(Debug, Clone)]
pub struct SqliteDb {
    pool: SqlitePool,
    writer: Arc<Mutex<()>>,
}

impl SqliteDb {
    /// The connection pool.
    #[must_use]
    pub const fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Waits for this process's turn to write; the turn lasts until the guard is dropped.
    pub async fn write_turn(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().await
    }
}

/// Converts a count, size, revision or epoch to SQL `BIGINT`.
fn to_i64(value: u64, what: &'static str) -> Result<i64, DbError> {
    i64::try_from(value).map_err(|_| DbError::InvalidInput(what))
}

/// The text form of an id, as stored.
fn id_text(id: uuid::Uuid) -> String {
    id.hyphenated().to_string()
}
