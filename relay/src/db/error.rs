//! The metadata store's errors, and how database errors map to them.

use sqlx::error::ErrorKind;

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The database URL names neither SQLite nor PostgreSQL.
    #[error(
        "unsupported database URL scheme `{scheme}`: use `sqlite:PATH` or `postgres://USER@HOST/DB`"
    )]
    UnsupportedUrl {
        /// The scheme that was given (only the scheme: the rest may hold a password).
        scheme: String,
    },
    /// An account with this public key (or id) is already registered.
    #[error("an account with this public key already exists")]
    AccountExists,
    /// Another account holds the handle.
    #[error("this handle is taken by another account")]
    HandleTaken,
    /// The row does not exist, or the caller may not learn that it exists (a volume asked for
    /// by someone other than its owner).
    #[error("not found")]
    NotFound,
    /// The precondition on the volume's revision does not hold: it exists when it should not,
    /// or its revision is not the one the caller expected.
    #[error("revision conflict: {}", conflict_text(*.current))]
    RevisionConflict {
        /// The stored revision; `None` when the caller may not see it (not the owner).
        current: Option<u64>,
    },
    /// The upload is under a key epoch older than the volume's: a device that missed a key
    /// rotation must fetch the new epoch first.
    #[error("key epoch fenced: the volume is at key epoch {current}")]
    EpochFenced {
        /// The volume's current key epoch.
        current: u64,
    },
    /// A volume's type never changes.
    #[error("volume type mismatch: the volume is of type `{stored}`")]
    TypeMismatch {
        /// The stored type.
        stored: String,
    },
    /// The owner's storage would exceed the quota after this commit.
    #[error("storage quota exceeded: {used} bytes used of {quota}")]
    QuotaExceeded {
        /// Bytes the owner stores now (before the refused commit).
        used: u64,
        /// The quota that applied.
        quota: u64,
    },
    /// An invite with this locator hash already exists.
    #[error("an invite with this locator already exists")]
    InviteExists,
    /// The caller passed a value the store refuses (a bug of the caller, reported as bad input).
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// The database holds a value this version cannot read.
    #[error("unreadable value in the database: {0}")]
    Corrupt(String),
    /// The database failed or could not be reached.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed")]
    Migration(#[source] sqlx::migrate::MigrateError),
}

impl DbError {
    /// Whether the database could not be reached or is overloaded (a retry later may work),
    /// as opposed to refusing the operation or failing on its data.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Database(error) => matches!(
                error,
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            ),
            _ => false,
        }
    }
}

fn conflict_text(current: Option<u64>) -> String {
    match current {
        Some(revision) => format!("the volume is at revision {revision}"),
        None => "the volume already exists".to_owned(),
    }
}

impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

/// A unique constraint of the schema, as reported by either engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unique {
    AccountId,
    PublicKey,
    Handle,
    VolumeId,
    ObjectKey,
    InviteLocator,
    Other,
}

/// Which unique constraint `error` violates, if it is a unique violation.
///
/// PostgreSQL reports the constraint's name (named explicitly in the migration); SQLite reports
/// `UNIQUE constraint failed: table.column` in the message.
pub(crate) fn unique_violation(error: &sqlx::Error) -> Option<Unique> {
    let db_error = error.as_database_error()?;
    if db_error.kind() != ErrorKind::UniqueViolation {
        return None;
    }
    let name = match db_error.constraint() {
        Some(constraint) => match constraint {
            "accounts_pkey" => "accounts.user_id",
            "accounts_public_key_key" => "accounts.public_key",
            "accounts_handle_key" => "accounts.handle",
            "volumes_pkey" => "volumes.volume_id",
            "volumes_object_key_key" => "volumes.object_key",
            "invites_pkey" => "invites.locator_hash",
            _ => "",
        },
        None => db_error
            .message()
            .rsplit_once("failed: ")
            .map_or("", |(_, columns)| columns.trim()),
    };
    Some(match name {
        "accounts.user_id" => Unique::AccountId,
        "accounts.public_key" => Unique::PublicKey,
        "accounts.handle" => Unique::Handle,
        "volumes.volume_id" => Unique::VolumeId,
        "volumes.object_key" => Unique::ObjectKey,
        "invites.locator_hash" => Unique::InviteLocator,
        _ => Unique::Other,
    })
}

/// Whether `error` is a foreign-key violation (a referenced row is missing).
pub(crate) fn foreign_key_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.kind() == ErrorKind::ForeignKeyViolation)
}
