//! Link tokens: each side of a friendship registers the hash of the token under which it
//! accepts mail from the other. A row records the hash and whose mailbox it opens (the account
//! that registered it); the relay counts and checks them, and stores no pair: nothing says who
//! may post under a token.

use uuid::Uuid;

use super::row::DbRow;
use super::{Db, DbError, id_text, to_i64};

/// What [`Db::add_link`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkAdded {
    /// The hash now opens the owner's mailbox.
    Added,
    /// The owner had registered this hash already; nothing changed.
    Existing,
    /// The owner holds as many links as it may; nothing was stored.
    LimitReached,
}

impl Db {
    /// Registers `token_hash` as opening the mailbox of `owner_id`, unless the owner holds
    /// `max_per_owner` links already. Registering a hash the owner holds is
    /// [`LinkAdded::Existing`], also at the limit.
    ///
    /// # Errors
    /// [`DbError::NotFound`] if the account does not exist; [`DbError::InvalidInput`] for a
    /// limit beyond `i64::MAX`; [`DbError::Database`].
    pub async fn add_link(
        &self,
        owner_id: Uuid,
        token_hash: &[u8],
        max_per_owner: u64,
        now: i64,
    ) -> Result<LinkAdded, DbError> {
        let owner = id_text(owner_id);
        let max = to_i64(max_per_owner, "link limit out of range")?;
        with_tx!(self, |tx| {
            // A no-op write that checks the account exists and, on PostgreSQL, locks its row:
            // two registrations by one account then count in turn and cannot both pass the
            // limit. (SQLite writers take turns anyway.)
            let exists =
                sqlx::query("UPDATE accounts SET storage_bytes = storage_bytes WHERE user_id = $1")
                    .bind(&owner)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if exists == 0 {
                return Err(DbError::NotFound);
            }
            let held = sqlx::query(
                "SELECT COUNT(*) AS n, COUNT(CASE WHEN token_hash = $2 THEN 1 END) AS same \
                 FROM links WHERE owner_id = $1",
            )
            .bind(&owner)
            .bind(token_hash)
            .fetch_one(&mut *tx)
            .await?;
            if held.get_i64("same")? > 0 {
                return Ok(LinkAdded::Existing);
            }
            if held.get_i64("n")? >= max {
                return Ok(LinkAdded::LimitReached);
            }
            sqlx::query("INSERT INTO links (owner_id, token_hash, created_at) VALUES ($1, $2, $3)")
                .bind(&owner)
                .bind(token_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(LinkAdded::Added)
    }

    /// Whether `token_hash` opens the mailbox of `recipient` (that account registered it).
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn link_opens(&self, recipient: Uuid, token_hash: &[u8]) -> Result<bool, DbError> {
        let owner = id_text(recipient);
        Ok(with_pool!(self, |pool| {
            sqlx::query("SELECT created_at FROM links WHERE owner_id = $1 AND token_hash = $2")
                .bind(&owner)
                .bind(token_hash)
                .fetch_optional(pool)
                .await?
                .is_some()
        }))
    }

    /// Drops `owner_id`'s registration of `token_hash`; `false` if that account had not
    /// registered it (whether another account did is neither told nor touched).
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn delete_link(&self, owner_id: Uuid, token_hash: &[u8]) -> Result<bool, DbError> {
        let owner = id_text(owner_id);
        let deleted = with_writer!(self, |pool| {
            sqlx::query("DELETE FROM links WHERE owner_id = $1 AND token_hash = $2")
                .bind(&owner)
                .bind(token_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    /// How many link tokens are registered, over all accounts.
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
