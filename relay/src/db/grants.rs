//! Grants: who may fetch which volume, with their key blocks.

use plog_ipc_schema::vtype::VolumeType;
use uuid::Uuid;

use super::error::foreign_key_violation;
use super::row::DbRow;
use super::volumes::{Attempt, decode_tags, encode_tags};
use super::{Db, DbError, id_text, to_i64};

/// How often a grant change is tried again after a concurrent writer changed the volume's
/// tags between its read and its compare-and-swap (each retry sees the winner's write).
const TAG_RETRIES: usize = 8;

/// The parts of a volume row a grant change reads.
struct TagState {
    owner_id: Uuid,
    vtype: String,
    revision: u64,
    key_epoch: u64,
    /// Matched by the compare-and-swap too: a revision number can come back after the volume
    /// was deleted and created again.
    object_key: String,
    /// `grantee_tags` as stored, compared verbatim by the compare-and-swap.
    tags_text: String,
}

impl TagState {
    fn from_row(row: &impl DbRow) -> Result<Self, DbError> {
        Ok(Self {
            owner_id: row.get_uuid("owner_id")?,
            vtype: row.get_string("vtype")?,
            revision: row.get_u64("revision")?,
            key_epoch: row.get_u64("key_epoch")?,
            object_key: row.get_string("object_key")?,
            tags_text: row.get_string("grantee_tags")?,
        })
    }
}

const TAG_STATE_SQL: &str = "SELECT owner_id, vtype, revision, key_epoch, object_key, \
                             grantee_tags FROM volumes WHERE volume_id = $1";

/// Replaces a volume's grantee tags (`$4`) if the revision (`$3`, with its object key `$6`)
/// and the tags (`$5`) are still those read; the number of rows changed (0 or 1).
const SWAP_TAGS_SQL: &str = "UPDATE volumes SET grantee_tags = $4 \
                             WHERE volume_id = $1 AND owner_id = $2 AND revision = $3 \
                             AND grantee_tags = $5 AND object_key = $6";

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

    /// Stores a grant and, in the same transaction, puts the grantee's `tag` on the volume's
    /// current revision (replacing an earlier tag of that grantee), only if that revision is
    /// still `revision`. Returns the key epoch of the revision. An existing grant keeps its
    /// creation time.
    ///
    /// The grantee can then read the revision at once, without waiting for the owner's next
    /// upload to carry its tag.
    ///
    /// # Errors
    /// - [`DbError::NotFound`]: the volume does not exist, `owner_id` does not own it, or the
    ///   grantee is not an activated account;
    /// - [`DbError::InvalidInput`]: the owner grants to itself, or the volume's type is never
    ///   shared (`manifest`);
    /// - [`DbError::RevisionConflict`]: the volume is no longer at `revision` (`current` is the
    ///   revision it is at);
    /// - [`DbError::EpochFenced`]: `key_epoch` is older than the volume's.
    pub async fn put_grant_with_tag(
        &self,
        grant: &NewGrant,
        revision: u64,
        tag: &[u8],
    ) -> Result<u64, DbError> {
        if grant.grantee_id == grant.owner_id {
            return Err(DbError::InvalidInput("an owner cannot grant to itself"));
        }
        let volume_id = id_text(grant.volume_id);
        let owner_id = id_text(grant.owner_id);
        let grantee_id = id_text(grant.grantee_id);
        let key_epoch = to_i64(grant.key_epoch, "key epoch out of range")?;
        let expected_revision = to_i64(revision, "revision out of range")?;
        for _ in 0..TAG_RETRIES {
            let attempt = with_tx!(self, |tx| {
                let current = sqlx::query(TAG_STATE_SQL)
                    .bind(&volume_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| TagState::from_row(&row))
                    .transpose()?;
                let Some(current) = current.filter(|c| c.owner_id == grant.owner_id) else {
                    return Err(DbError::NotFound);
                };
                if !VolumeType::parse(&current.vtype).is_ok_and(|vtype| vtype.is_grantable()) {
                    return Err(DbError::InvalidInput("this volume type is never shared"));
                }
                if current.revision != revision {
                    return Err(DbError::RevisionConflict {
                        current: Some(current.revision),
                    });
                }
                if grant.key_epoch < current.key_epoch {
                    return Err(DbError::EpochFenced {
                        current: current.key_epoch,
                    });
                }
                let stored = sqlx::query(
                    "INSERT INTO grants (volume_id, grantee_id, key_block, key_epoch, created_at) \
                     SELECT $1, user_id, $3, $4, $5 FROM accounts \
                     WHERE user_id = $2 AND activated \
                     ON CONFLICT (volume_id, grantee_id) \
                     DO UPDATE SET key_block = excluded.key_block, key_epoch = excluded.key_epoch",
                )
                .bind(&volume_id)
                .bind(&grantee_id)
                .bind(&grant.key_block)
                .bind(key_epoch)
                .bind(grant.now)
                .execute(&mut *tx)
                .await;
                match stored {
                    Ok(done) if done.rows_affected() == 0 => return Err(DbError::NotFound),
                    Ok(_) => {}
                    // The volume was deleted meanwhile, or the grantee's account.
                    Err(e) if foreign_key_violation(&e) => return Err(DbError::NotFound),
                    Err(e) => return Err(e.into()),
                }
                let mut tags = decode_tags(&current.tags_text)?;
                tags.insert(grant.grantee_id, tag.to_vec());
                let swapped = sqlx::query(SWAP_TAGS_SQL)
                    .bind(&volume_id)
                    .bind(&owner_id)
                    .bind(expected_revision)
                    .bind(encode_tags(&tags)?)
                    .bind(&current.tags_text)
                    .bind(&current.object_key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if swapped == 0 {
                    Attempt::Lost
                } else {
                    tx.commit().await?;
                    Attempt::Done(current.key_epoch)
                }
            });
            if let Attempt::Done(epoch) = attempt {
                return Ok(epoch);
            }
        }
        Err(DbError::RevisionConflict { current: None })
    }

    /// Deletes the grant of `grantee_id` on a volume of `owner_id` and, in the same
    /// transaction, the grantee's tag on the current revision.
    ///
    /// # Errors
    /// [`DbError::NotFound`] if there is no such grant or `owner_id` does not own the volume.
    pub async fn delete_grant(
        &self,
        volume_id: Uuid,
        owner_id: Uuid,
        grantee_id: Uuid,
    ) -> Result<(), DbError> {
        let volume = id_text(volume_id);
        let owner = id_text(owner_id);
        let grantee = id_text(grantee_id);
        for _ in 0..TAG_RETRIES {
            let attempt = with_tx!(self, |tx| {
                let current = sqlx::query(TAG_STATE_SQL)
                    .bind(&volume)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| TagState::from_row(&row))
                    .transpose()?;
                let Some(current) = current.filter(|c| c.owner_id == owner_id) else {
                    return Err(DbError::NotFound);
                };
                let deleted =
                    sqlx::query("DELETE FROM grants WHERE volume_id = $1 AND grantee_id = $2")
                        .bind(&volume)
                        .bind(&grantee)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                if deleted == 0 {
                    return Err(DbError::NotFound);
                }
                let mut tags = decode_tags(&current.tags_text)?;
                let swapped = if tags.remove(&grantee_id).is_some() {
                    sqlx::query(SWAP_TAGS_SQL)
                        .bind(&volume)
                        .bind(&owner)
                        .bind(to_i64(current.revision, "revision out of range")?)
                        .bind(encode_tags(&tags)?)
                        .bind(&current.tags_text)
                        .bind(&current.object_key)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                } else {
                    1
                };
                if swapped == 0 {
                    Attempt::Lost
                } else {
                    tx.commit().await?;
                    Attempt::Done(())
                }
            });
            if let Attempt::Done(()) = attempt {
                return Ok(());
            }
        }
        Err(DbError::RevisionConflict { current: None })
    }

    /// The accounts holding a grant on `volume_id`, ordered by id; empty for a volume without
    /// grants or one that does not exist. For notifying readers, not for access checks.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn grantee_ids(&self, volume_id: Uuid) -> Result<Vec<Uuid>, DbError> {
        let id = id_text(volume_id);
        with_pool!(self, |pool| {
            sqlx::query("SELECT grantee_id FROM grants WHERE volume_id = $1 ORDER BY grantee_id")
                .bind(&id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| row.get_uuid("grantee_id"))
                .collect()
        })
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
