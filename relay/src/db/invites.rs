//! Invites: registered by locator hash; the relay never sees the secret.

use uuid::Uuid;

use super::error::{Unique, foreign_key_violation, unique_violation};
use super::row::DbRow;
use super::{Db, DbError, id_text, to_i64};

/// An invite to register with [`Db::create_invite`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvite {
    /// Hash of the invite's locator.
    pub locator_hash: Vec<u8>,
    /// The inviting account.
    pub owner_id: Uuid,
    /// Expiry, unix seconds.
    pub expires_at: i64,
    /// How many times it may be redeemed.
    pub uses: u64,
    /// Unix seconds.
    pub now: i64,
}

/// One invite.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Invite {
    /// Hash of the invite's locator.
    pub locator_hash: Vec<u8>,
    /// The inviting account.
    pub owner_id: Uuid,
    /// Expiry, unix seconds.
    pub expires_at: i64,
    /// Redemptions left.
    pub uses_left: u64,
    /// Registration time, unix seconds.
    pub created_at: i64,
}

impl Invite {
    fn from_row(row: &impl DbRow) -> Result<Self, DbError> {
        Ok(Self {
            locator_hash: row.get_bytes("locator_hash")?,
            owner_id: row.get_uuid("owner_id")?,
            expires_at: row.get_i64("expires_at")?,
            uses_left: row.get_u64("uses_left")?,
            created_at: row.get_i64("created_at")?,
        })
    }
}

impl Db {
    /// Registers an invite.
    ///
    /// # Errors
    /// [`DbError::InviteExists`] if the locator hash is registered already;
    /// [`DbError::NotFound`] if the owner does not exist.
    pub async fn create_invite(&self, invite: &NewInvite) -> Result<(), DbError> {
        let owner_id = id_text(invite.owner_id);
        let uses = to_i64(invite.uses, "invite uses out of range")?;
        let inserted = with_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO invites (locator_hash, owner_id, expires_at, uses_left, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&invite.locator_hash)
            .bind(&owner_id)
            .bind(invite.expires_at)
            .bind(uses)
            .bind(invite.now)
            .execute(pool)
            .await
            .map(|_| ())
        });
        match inserted {
            Ok(()) => Ok(()),
            Err(e) if unique_violation(&e) == Some(Unique::InviteLocator) => {
                Err(DbError::InviteExists)
            }
            Err(e) if foreign_key_violation(&e) => Err(DbError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// The invite, if it is still usable at `now` (not expired, uses left).
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn invite(&self, locator_hash: &[u8], now: i64) -> Result<Option<Invite>, DbError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "SELECT * FROM invites \
                 WHERE locator_hash = $1 AND expires_at > $2 AND uses_left > 0",
            )
            .bind(locator_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
            .map(|row| Invite::from_row(&row))
            .transpose()
        })
    }

    /// Uses the invite once (atomically) and returns it with the uses left afterwards.
    ///
    /// # Errors
    /// [`DbError::NotFound`] if the invite does not exist, expired or is used up.
    pub async fn consume_invite(&self, locator_hash: &[u8], now: i64) -> Result<Invite, DbError> {
        with_writer!(self, |pool| {
            sqlx::query(
                "UPDATE invites SET uses_left = uses_left - 1 \
                 WHERE locator_hash = $1 AND expires_at > $2 AND uses_left > 0 \
                 RETURNING *",
            )
            .bind(locator_hash)
            .bind(now)
            .fetch_optional(pool)
            .await?
            .map(|row| Invite::from_row(&row))
            .transpose()?
            .ok_or(DbError::NotFound)
        })
    }

    /// Gives back one use of an invite, after a redemption whose delivery failed. Nothing
    /// happens if the invite was withdrawn meanwhile.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn restore_invite_use(&self, locator_hash: &[u8]) -> Result<(), DbError> {
        with_writer!(self, |pool| {
            sqlx::query("UPDATE invites SET uses_left = uses_left + 1 WHERE locator_hash = $1")
                .bind(locator_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The invites of `owner_id`, usable or not, oldest first.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn invites_of(&self, owner_id: Uuid) -> Result<Vec<Invite>, DbError> {
        let owner_id = id_text(owner_id);
        with_pool!(self, |pool| {
            sqlx::query(
                "SELECT * FROM invites WHERE owner_id = $1 ORDER BY created_at, locator_hash",
            )
            .bind(&owner_id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(Invite::from_row)
            .collect()
        })
    }

    /// Deletes an invite of `owner_id`.
    ///
    /// # Errors
    /// [`DbError::NotFound`] if `owner_id` has no invite with this locator hash.
    pub async fn delete_invite(&self, locator_hash: &[u8], owner_id: Uuid) -> Result<(), DbError> {
        let owner_id = id_text(owner_id);
        let deleted = with_writer!(self, |pool| {
            sqlx::query("DELETE FROM invites WHERE locator_hash = $1 AND owner_id = $2")
                .bind(locator_hash)
                .bind(&owner_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if deleted == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    /// Withdraws a live (not expired, not used up at `now`) invite of `owner_id` by its
    /// invite id: the UUID made of the first 16 bytes of its locator hash.
    ///
    /// # Errors
    /// [`DbError::NotFound`] if `owner_id` has no live invite with this id.
    pub async fn delete_live_invite(
        &self,
        invite_id: Uuid,
        owner_id: Uuid,
        now: i64,
    ) -> Result<(), DbError> {
        let owner_id = id_text(owner_id);
        let prefix = invite_id.as_bytes().to_vec();
        // `substr` cuts a BLOB (SQLite) and a BYTEA (PostgreSQL) alike, by bytes.
        let deleted = with_writer!(self, |pool| {
            sqlx::query(
                "DELETE FROM invites WHERE owner_id = $1 AND substr(locator_hash, 1, 16) = $2 \
                 AND expires_at > $3 AND uses_left > 0",
            )
            .bind(&owner_id)
            .bind(&prefix)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if deleted == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    /// The invites of `owner_id` still usable at `now` (not expired, uses left), oldest
    /// first.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn live_invites_of(&self, owner_id: Uuid, now: i64) -> Result<Vec<Invite>, DbError> {
        let owner_id = id_text(owner_id);
        with_pool!(self, |pool| {
            sqlx::query(
                "SELECT * FROM invites WHERE owner_id = $1 AND expires_at > $2 AND uses_left > 0 \
                 ORDER BY created_at, locator_hash",
            )
            .bind(&owner_id)
            .bind(now)
            .fetch_all(pool)
            .await?
            .iter()
            .map(Invite::from_row)
            .collect()
        })
    }

    /// Deletes the invites expired or used up at `now`; returns how many.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn delete_spent_invites(&self, now: i64) -> Result<u64, DbError> {
        Ok(with_writer!(self, |pool| {
            sqlx::query("DELETE FROM invites WHERE expires_at <= $1 OR uses_left <= 0")
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}
