//! The local store: a SQLite database (`store.sqlite3`, WAL) and a directory of volume
//! ciphertext files. It holds **only ciphertext and wrapped keys**: volume files are sealed
//! volumes, each row carries the owner-wrapped volume key and owner tag, and nothing here can
//! be read without the master secret.
//!
//! # Schema (`daemon/migrations/`)
//!
//! - `relays`: one row per relay (current origin, identity origin, generation, pin, next pin,
//!   name, account).
//! - `volumes`: one row per volume type: id, revision, key epoch, plaintext size, sealed length,
//!   digest, owner-wrapped key, owner tag, file name, update time, tombstone flag.
//! - `volume_sync`: per (volume, relay): the last revision known at that relay, the state
//!   (`synced` / `pending` / `conflict`) and the last error.
//!
//! # The commit rule
//!
//! A revision's ciphertext is streamed into a staged file, fsynced and renamed to its final
//! name, and only then does one transaction point the row at it (compare-and-swap on the
//! revision the writer started from). The replaced file is deleted after the commit. A crash at
//! any point leaves at most an orphan file, which [`Store::open`] sweeps; no row ever names a
//! missing or partial file. Reads check the file against the row (length, digest, header and
//! owner tag) and report any mismatch as [`StoreError::Tampered`].
//!
//! # API for the sync engine
//!
//! - Relays: [`Store::relays`], [`Store::relay`], [`Store::add_relay`],
//!   [`Store::update_relay`], [`Store::move_relay`], [`Store::remove_relay`].
//! - What to do: [`Store::volume_statuses`] lists every volume (tombstones and the `manifest`
//!   included) with its per-relay state; a relay whose row is `pending` needs a push (or, for
//!   a tombstone, a delete) with `If-Match: remote_revision` (or `If-None-Match: *` when it is
//!   `None`).
//! - Push: [`Store::open_ciphertext`] opens the file of a record for streaming upload (the file
//!   stays readable even if a newer revision replaces it meanwhile); then
//!   [`Store::mark_pushed`], or [`Store::mark_conflict`] on `409 revision_conflict`, or
//!   [`Store::mark_error`] for a failure worth showing. After a relay deleted a tombstoned
//!   volume: [`Store::mark_removed_at`], which forgets the volume once no relay needs it.
//! - Pull: [`Store::install_download`] streams a revision from the relay into a staged file,
//!   checks header, digest, owner tag, wrapped key and the whole AEAD stream, refuses a revision
//!   or epoch regression, and commits with a compare-and-swap on the local revision the engine
//!   based its decision on.
//! - Local writes (the Volumes interface): [`Store::stage`] + [`Store::commit_local`],
//!   [`Store::mark_deleted`], and reads with [`Store::open_verified_blocking`].

mod error;
pub mod files;
mod install;
mod model;
mod relays;
mod verify;
mod volumes;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Row as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use error::StoreError;
pub use files::StagedFile;
pub use install::IncomingRevision;
pub use model::{
    NewRelay, NewRevision, RelayRecord, RelaySync, RelayUpdate, VolumeRecord, VolumeStatus,
};

use files::VolumeFiles;
pub(crate) use verify::header_bytes;

/// How long a connection waits for the database's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pooled connections (readers run beside the writer under WAL).
const MAX_CONNECTIONS: u32 = 4;

/// The local store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: SqlitePool,
    files: VolumeFiles,
    /// Writing transactions take turns inside the process (SQLite has one write lock).
    writer: tokio::sync::Mutex<()>,
    /// Held by whoever reads the owner manifest in order to write its successor (sync rounds
    /// and social changes), so that neither writes over the other's change.
    manifest: tokio::sync::Mutex<()>,
}

impl Store {
    /// The lock around every read-modify-write of the owner manifest.
    pub async fn manifest_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.manifest.lock().await
    }

    /// Opens (creating if needed) the database at `db_path` and the volume directory
    /// `volumes_dir` (which must exist), applies migrations and sweeps orphan files.
    ///
    /// # Errors
    /// [`StoreError::Database`], [`StoreError::Migration`] or [`StoreError::Io`].
    pub async fn open(db_path: &Path, volumes_dir: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(db_path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(StoreError::Migration)?;
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                files: VolumeFiles::new(volumes_dir.to_path_buf()),
                writer: tokio::sync::Mutex::new(()),
                manifest: tokio::sync::Mutex::new(()),
            }),
        };
        let swept = store.sweep_orphans().await?;
        if swept > 0 {
            tracing::info!(files = swept, "swept orphan volume files");
        }
        Ok(store)
    }

    /// Closes the database.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    /// The directory of volume files (also where encrypted spools of piped input go).
    #[must_use]
    pub fn volumes_dir(&self) -> &Path {
        self.files().dir()
    }

    fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }

    fn files(&self) -> &VolumeFiles {
        &self.inner.files
    }

    /// Deletes files no row refers to. Only safe while nothing is being staged (at open).
    async fn sweep_orphans(&self) -> Result<usize, StoreError> {
        let rows = sqlx::query("SELECT file_name FROM volumes")
            .fetch_all(self.pool())
            .await?;
        let referenced = rows
            .iter()
            .map(|row| row.try_get::<String, _>("file_name"))
            .collect::<Result<HashSet<_>, _>>()?;
        let files = self.files().clone();
        blocking(move || {
            files.sweep(&referenced).map_err(|source| StoreError::Io {
                action: "sweep",
                path: files.dir().to_path_buf(),
                source,
            })
        })
        .await
    }
}

/// Runs blocking file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
}

/// The current time, unix seconds.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A count, revision or size as SQL `INTEGER`.
fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::InvalidInput(format!("{what} is out of range")))
}

/// A stored `INTEGER` that must not be negative.
fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is negative")))
}

#[cfg(test)]
mod tests;
