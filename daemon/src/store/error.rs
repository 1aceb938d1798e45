//! Errors of the local store.

use std::path::PathBuf;

/// Why a store operation failed. Messages name volumes by type and relays by origin; they
/// never contain key material or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("local store database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("cannot update the local store schema: {0}")]
    Migration(sqlx::migrate::MigrateError),
    /// A file operation failed.
    #[error("cannot {action} {path}: {source}", path = path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A stored value is invalid (the database was edited or damaged).
    #[error("the local store is damaged: {0}")]
    Corrupt(String),
    /// A volume file does not match its row, or fails authentication.
    #[error("stored volume {vtype} is damaged or was altered: {reason}")]
    Tampered {
        /// The volume type.
        vtype: String,
        /// What did not match.
        reason: String,
    },
    /// A received revision failed its checks before anything was stored.
    #[error("received revision of volume {vtype} refused: {reason}")]
    Refused {
        /// The volume type.
        vtype: String,
        /// Why.
        reason: String,
    },
    /// No such volume or relay.
    #[error("{0}")]
    NotFound(String),
    /// Something exists already, or changed since the caller looked.
    #[error("{0}")]
    Conflict(String),
    /// A received revision is older than the local one.
    #[error(
        "volume {vtype}: received revision {received} is older than the local revision {local}; refused"
    )]
    RevisionRegression {
        /// The volume type.
        vtype: String,
        /// The local revision.
        local: u64,
        /// The received revision.
        received: u64,
    },
    /// A received revision uses an older key epoch than the local one.
    #[error(
        "volume {vtype}: received key epoch {received} is older than the local epoch {local}; refused"
    )]
    EpochRegression {
        /// The volume type.
        vtype: String,
        /// The local epoch.
        local: u64,
        /// The received epoch.
        received: u64,
    },
    /// A value given by the caller is out of range.
    #[error("{0}")]
    InvalidInput(String),
    /// A worker task died.
    #[error("internal failure: {0}")]
    Internal(String),
}
