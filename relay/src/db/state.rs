//! Relay-wide state: the session epoch and the relay secret.

use super::row::DbRow;
use super::{Db, DbError};

/// `relay_state` key of the relay-wide session epoch (in `number`).
pub(super) const SESSION_EPOCH: &str = "session_epoch";
/// `relay_state` key of the relay secret (in `value`).
const RELAY_SECRET: &str = "relay_secret";

impl Db {
    /// The relay-wide session epoch (0 until first bumped); sessions issued under an older
    /// epoch are invalid.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn relay_session_epoch(&self) -> Result<u64, DbError> {
        let epoch = with_pool!(self, |pool| {
            sqlx::query("SELECT number FROM relay_state WHERE key = $1")
                .bind(SESSION_EPOCH)
                .fetch_optional(pool)
                .await?
                .map(|row| row.get_u64("number"))
                .transpose()?
        });
        Ok(epoch.unwrap_or(0))
    }

    /// Moves the relay-wide session epoch one step ("invalidate all sessions") and returns the
    /// new epoch. Atomic: concurrent bumps each get their own step.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn bump_relay_session_epoch(&self) -> Result<u64, DbError> {
        with_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO relay_state (key, number) VALUES ($1, 1) \
                 ON CONFLICT (key) DO UPDATE SET number = relay_state.number + 1 \
                 RETURNING number",
            )
            .bind(SESSION_EPOCH)
            .fetch_one(pool)
            .await?
            .get_u64("number")
        })
    }

    /// The relay secret (seed of the pseudo-keys for unknown accounts): stores `candidate` if
    /// no secret is stored yet, then returns the stored one. Relay instances racing on one
    /// database all get the same secret. The caller generates `candidate` from a CSPRNG.
    ///
    /// # Errors
    /// [`DbError::Database`]; [`DbError::Corrupt`] if the stored secret is not 32 bytes.
    pub async fn relay_secret_or_insert(&self, candidate: [u8; 32]) -> Result<[u8; 32], DbError> {
        with_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO relay_state (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(RELAY_SECRET)
            .bind(candidate.as_slice())
            .execute(pool)
            .await?;
            sqlx::query("SELECT value FROM relay_state WHERE key = $1")
                .bind(RELAY_SECRET)
                .fetch_one(pool)
                .await?
                .get_array32("value")
        })
    }
}
