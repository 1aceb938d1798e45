//! Grants: who may fetch which volume, with their key blocks.

use uuid::Uuid;

use super::error::foreign_key_violation;
use super::row::DbRow;
use super::{Db, DbError, id_text, to_i64};

/// A grant to store with [`Db::put_grant`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    /// The volume.
    pub volume_id: Uuid,
    /// The caller, who must own the volume.
    pub owner_id: Uuid,
    /// The account that may fetch the volume.
    pub grantee_id: Uuid,
    /// The grantee's key block for `key_epoch`.
    pub key_block: Vec<u8>,
    /// The key epoch of the key block; not older than the volume's.
    pub key_epoch: u64,
    /// Unix seconds.
    pub now: i64,
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Grant {
    /// The volume.
    pub volume_id: Uuid,
    /// The account that may fetch it.
    pub grantee_id: Uuid,
    /// The grantee's key block.
    pub key_block: Vec<u8>,
    /// The key epoch of the key block.
    pub key_epoch: u64,
    /// When the grant was first stored, unix seconds.
    pub created_at: i64,
}

impl Grant {
    fn from_row(row: &impl DbRow) -> Result<Self, DbError> {
        Ok(Self {
            volume_id: row.get_uuid("volume_id")?,
            grantee_id: row.get_uuid("grantee_id")?,
            key_block: row.get_bytes("key_block")?,
            key_epoch: row.get_u64("key_epoch")?,
            created_at: row.get_i64("created_at")?,
        })
    }
}

impl Db {
    /// Stores the grant, or replaces the key block of an existing one (keeping its creation
    /// time). One statement: the volume's owner and key epoch are checked as it inserts.
    ///
    /// # Errors
    /// [`DbError::NotFound`] if the volume does not exist, `owner_id` does not own it or the
    /// grantee does not exist; [`DbError::EpochFenced`] if `key_epoch` is older than the
    /// volume's; [`DbError::InvalidInput`] if the owner grants to itself.
    pub async fn put_grant(&self, grant: &NewGrant) -> Result<(), DbError> {
        if grant.grantee_id == grant.owner_id {
            return Err(DbError::InvalidInput("an owner cannot grant to itself"));
        }
        let volume_id = id_text(grant.volume_id);
        let owner_id = id_text(grant.owner_id);
        let grantee_id = id_text(grant.grantee_id);
        let key_epoch = to_i64(grant.key_epoch, "key epoch out of range")?;
        let stored = with_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO grants (volume_id, grantee_id, key_block, key_epoch, created_at) \
                 SELECT volume_id, $2, $3, $4, $5 FROM volumes \
                 WHERE volume_id = $1 AND owner_id = $6 AND key_epoch <= $4 \
                 ON CONFLICT (volume_id, grantee_id) \
                 DO UPDATE SET key_block = excluded.key_block, key_epoch = excluded.key_epoch",
            )
            .bind(&volume_id)
            .bind(&grantee_id)
            .bind(&grant.key_block)
            .bind(key_epoch)
            .bind(grant.now)
            .bind(&owner_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        });
        match stored {
            Ok(0) => match self.volume(grant.volume_id).await? {
                Some(volume) if volume.owner_id == grant.owner_id => Err(DbError::EpochFenced {
                    current: volume.key_epoch,
                }),
                _ => Err(DbError::NotFound),
            },
            Ok(_) => Ok(()),
            Err(e) if foreign_key_violation(&e) => Err(DbError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the grant of `grantee_id` on a volume of `owner_id`.
    ///
    /// # Errors
    /// [`DbError::NotFound`] if there is no such grant or `owner_id` does not own the volume.
    pub async fn delete_grant(
        &self,
        volume_id: Uuid,
        owner_id: Uuid,
        grantee_id: Uuid,
    ) -> Result<(), DbError> {
        let volume_id = id_text(volume_id);
        let owner_id = id_text(owner_id);
        let grantee_id = id_text(grantee_id);
        let deleted = with_writer!(self, |pool| {
            sqlx::query(
                "DELETE FROM grants WHERE volume_id = $1 AND grantee_id = $2 \
                 AND EXISTS (SELECT 1 FROM volumes v \
                             WHERE v.volume_id = $1 AND v.owner_id = $3)",
            )
            .bind(&volume_id)
            .bind(&grantee_id)
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

    /// The grants on a volume of `owner_id`, ordered by grantee.
    ///
    /// # Errors
    /// [`DbError::NotFound`] if the volume does not exist or `owner_id` does not own it.
    pub async fn grants(&self, volume_id: Uuid, owner_id: Uuid) -> Result<Vec<Grant>, DbError> {
        match self.volume(volume_id).await? {
            Some(volume) if volume.owner_id == owner_id => {}
            _ => return Err(DbError::NotFound),
        }
        let id = id_text(volume_id);
        with_pool!(self, |pool| {
            sqlx::query("SELECT * FROM grants WHERE volume_id = $1 ORDER BY grantee_id")
                .bind(&id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(Grant::from_row)
                .collect()
        })
    }
}
