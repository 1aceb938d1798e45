//! Link tokens: each side registers the hash of the token under which it accepts mail from
//! the other. The relay counts and checks them; it stores no pair.

use super::row::DbRow;
use super::{Db, DbError};

impl Db {
    /// Registers a link token hash; `false` if it was registered already.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn add_link(&self, token_hash: &[u8], now: i64) -> Result<bool, DbError> {
        let inserted = with_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO links (token_hash, created_at) VALUES ($1, $2) \
                 ON CONFLICT (token_hash) DO NOTHING",
            )
            .bind(token_hash)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(inserted > 0)
    }

    /// Whether the link token hash is registered.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn link_exists(&self, token_hash: &[u8]) -> Result<bool, DbError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query("SELECT token_hash FROM links WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_optional(pool)
                .await?
                .is_some()
        }))
    }

    /// Removes a link token hash; `false` if it was not registered.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn delete_link(&self, token_hash: &[u8]) -> Result<bool, DbError> {
        let deleted = with_writer!(self, |pool| {
            sqlx::query("DELETE FROM links WHERE token_hash = $1")
                .bind(token_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    /// How many link tokens are registered.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn link_count(&self) -> Result<u64, DbError> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT COUNT(*) AS n FROM links")
                .fetch_one(pool)
                .await?
                .get_u64("n")
        })
    }
}
