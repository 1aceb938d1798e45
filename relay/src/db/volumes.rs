//! Volumes: the commit rule for uploads, listings, deletion.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::error::{Unique, unique_violation};
use super::row::DbRow;
use super::{Db, DbError, Precondition, SqliteDb, base64url, id_text, to_i64};

/// One volume's current revision, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VolumeRow {
    /// The volume's id (chosen by the owner's client).
    pub volume_id: Uuid,
    /// The owning account.
    pub owner_id: Uuid,
    /// The volume type (never changes).
    pub vtype: String,
    /// The current revision.
    pub revision: u64,
    /// The key epoch of the current revision; uploads under an older epoch are fenced.
    pub key_epoch: u64,
    /// Bytes of the stored object (column `padded_size`).
    pub size: u64,
    /// Where the ciphertext is in the object store.
    pub object_key: String,
    /// SHA-256 of the stored object, as the object store's description records it. (Rows
    /// written by development builds before uploads were hashed once hold a BLAKE2b-256 here;
    /// nothing reads this column back.)
    pub digest: [u8; 32],
    /// The owner tag of the revision.
    pub owner_tag: Vec<u8>,
    /// The owner's wrapped volume key. Only for the owner: a grantee never gets it.
    pub owner_key: Vec<u8>,
    /// Grantee tags of the revision, by grantee id. Each grantee gets only its own.
    pub grantee_tags: BTreeMap<Uuid, Vec<u8>>,
    /// Time of the last commit, unix seconds.
    pub updated_at: i64,
}

/// How the reader of a volume relates to it, with what only that reader gets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VolumeAccess {
    /// The reader owns the volume.
    Owner,
    /// The reader holds a grant on it.
    Grantee {
        /// The grantee's key block (HPKE envelope from the owner).
        key_block: Vec<u8>,
        /// The key epoch the key block is for.
        key_epoch: u64,
        /// The grantee's tag on the current revision, if the owner wrote one.
        tag: Option<Vec<u8>>,
    },
}

/// An upload to commit with [`Db::commit_volume`], after its object was stored and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeCommit {
    /// The volume.
    pub volume_id: Uuid,
    /// The uploader, who must be (or become) the owner.
    pub owner_id: Uuid,
    /// The volume type.
    pub vtype: String,
    /// The new revision: 1 for [`Precondition::Create`], the expected revision + 1 for
    /// [`Precondition::Replace`].
    pub new_revision: u64,
    /// The precondition.
    pub expected: Precondition,
    /// The key epoch of the new revision.
    pub key_epoch: u64,
    /// Bytes of the new object.
    pub size: u64,
    /// Where the new object is; must differ from every other volume's and from the replaced
    /// one's.
    pub object_key: String,
    /// SHA-256 of the new object, as the object store computed it while storing it.
    pub digest: [u8; 32],
    /// The owner tag.
    pub owner_tag: Vec<u8>,
    /// The owner's wrapped volume key.
    pub owner_key: Vec<u8>,
    /// Grantee tags by grantee id.
    pub grantee_tags: BTreeMap<Uuid, Vec<u8>>,
    /// The owner's storage quota in bytes.
    pub quota_bytes: u64,
    /// Unix seconds.
    pub now: i64,
}

/// The result of a successful [`Db::commit_volume`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitOutcome {
    /// The object of the replaced revision, already queued for purging (delete it from the
    /// object store, then call [`Db::purge_done`]).
    pub replaced_object: Option<String>,
}

/// The parts of the stored revision a commit checks.
struct Current {
    owner_id: Uuid,
    vtype: String,
    revision: u64,
    key_epoch: u64,
    padded_size: i64,
    object_key: String,
}

impl Current {
    fn from_row(row: &impl DbRow) -> Result<Self, DbError> {
        Ok(Self {
            owner_id: row.get_uuid("owner_id")?,
            vtype: row.get_string("vtype")?,
            revision: row.get_u64("revision")?,
            key_epoch: row.get_u64("key_epoch")?,
            padded_size: row.get_i64("padded_size")?,
            object_key: row.get_string("object_key")?,
        })
    }
}

/// What a transaction attempt came to.
pub(super) enum Attempt<T> {
    Done(T),
    /// A concurrent writer changed the row between the read and the compare-and-swap.
    Lost,
}

const CURRENT_SQL: &str = "SELECT owner_id, vtype, revision, key_epoch, padded_size, object_key \
                           FROM volumes WHERE volume_id = $1";

impl VolumeRow {
    fn from_row(row: &impl DbRow) -> Result<Self, DbError> {
        Ok(Self {
            volume_id: row.get_uuid("volume_id")?,
            owner_id: row.get_uuid("owner_id")?,
            vtype: row.get_string("vtype")?,
            revision: row.get_u64("revision")?,
            key_epoch: row.get_u64("key_epoch")?,
            size: row.get_u64("padded_size")?,
            object_key: row.get_string("object_key")?,
            digest: row.get_array32("digest")?,
            owner_tag: row.get_bytes("owner_tag")?,
            owner_key: row.get_bytes("owner_key")?,
            grantee_tags: decode_tags(&row.get_string("grantee_tags")?)?,
            updated_at: row.get_i64("updated_at")?,
        })
    }

    /// The row and the reader's role, from a row of `volumes` joined with the reader's grant
    /// (`grant_key_block`, `grant_key_epoch`, NULL without a grant). `None` if the reader is
    /// neither the owner nor a grantee.
    fn with_role(row: &impl DbRow, reader: Uuid) -> Result<Option<(Self, VolumeAccess)>, DbError> {
        let volume = Self::from_row(row)?;
        if volume.owner_id == reader {
            return Ok(Some((volume, VolumeAccess::Owner)));
        }
        let Some(key_block) = row.get_opt_bytes("grant_key_block")? else {
            return Ok(None);
        };
        let key_epoch = row
            .get_opt_i64("grant_key_epoch")?
            .and_then(|epoch| u64::try_from(epoch).ok())
            .ok_or_else(|| DbError::Corrupt("grant key_epoch".to_owned()))?;
        let tag = volume.grantee_tags.get(&reader).cloned();
        Ok(Some((
            volume,
            VolumeAccess::Grantee {
                key_block,
                key_epoch,
                tag,
            },
        )))
    }
}

/// The columns a commit writes, in the order of `bind_revision!`'s `$1` to `$12`.
macro_rules! volume_columns {
    () => {
        "(volume_id, owner_id, vtype, revision, key_epoch, padded_size, object_key, digest, \
         owner_tag, owner_key, grantee_tags, updated_at)"
    };
}

/// The compare-and-swap that moves a volume to a new revision: `$1`-`$12` as bound by
/// `bind_revision!`, then the current revision, size and object key (`$13`-`$15`). The size
/// and object key are matched too: a revision number can come back after the volume was
/// deleted and created again.
macro_rules! update_revision_sql {
    () => {
        "UPDATE volumes SET revision = $4, key_epoch = $5, padded_size = $6, object_key = $7, \
         digest = $8, owner_tag = $9, owner_key = $10, grantee_tags = $11, updated_at = $12 \
         WHERE volume_id = $1 AND owner_id = $2 AND vtype = $3 \
         AND revision = $13 AND padded_size = $14 AND object_key = $15 AND key_epoch <= $5"
    };
}

/// Binds `$1`-`$12` of a commit's statement: the new revision's values, in the order of
/// `volume_columns!`.
macro_rules! bind_revision {
    ($query:expr, $commit:expr, $values:expr) => {
        $query
            .bind(&$values.volume_id)
            .bind(&$values.owner_id)
            .bind(&$commit.vtype)
            .bind($values.new_revision)
            .bind($values.key_epoch)
            .bind($values.size)
            .bind(&$commit.object_key)
            .bind($commit.digest.as_slice())
            .bind(&$commit.owner_tag)
            .bind(&$commit.owner_key)
            .bind(&$values.tags)
            .bind($commit.now)
    };
}

/// The checked values of a commit, as SQL binds them.
struct CommitValues {
    new_revision: i64,
    key_epoch: i64,
    size: i64,
    quota: i64,
    tags: String,
    volume_id: String,
    owner_id: String,
}

/// [`Db::commit_volume`] on PostgreSQL: one read-committed transaction; the account row's
/// lock orders concurrent commits of one owner, the compare-and-swap on the volume row
/// catches a concurrent commit of the same volume.
async fn commit_postgres(
    pool: &sqlx::PgPool,
    commit: &VolumeCommit,
    values: &CommitValues,
) -> Result<Attempt<CommitOutcome>, DbError> {
    let mut tx = pool.begin().await?;
    let attempt = {
        let current = sqlx::query(CURRENT_SQL)
            .bind(&values.volume_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| Current::from_row(&row))
            .transpose()?;
        let replaced = check(commit, current.as_ref())?;
        let delta = values.size - replaced.map_or(0, |current| current.padded_size);

        // Account first, then volume: the same lock order as every other writer.
        let charged = sqlx::query(
            "UPDATE accounts SET storage_bytes = storage_bytes + $2 \
             WHERE user_id = $1 AND ($2 <= 0 OR storage_bytes + $2 <= $3)",
        )
        .bind(&values.owner_id)
        .bind(delta)
        .bind(values.quota)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if charged == 0 {
            // A writer that won a race meanwhile makes this a conflict, not a quota matter
            // (the delta above came from the revision it replaced).
            let now_current = sqlx::query(CURRENT_SQL)
                .bind(&values.volume_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| Current::from_row(&row))
                .transpose()?;
            if now_current.as_ref().map(|c| (c.revision, c.padded_size))
                != current.as_ref().map(|c| (c.revision, c.padded_size))
            {
                check(commit, now_current.as_ref())?;
                return Err(DbError::RevisionConflict {
                    current: now_current.map(|c| c.revision),
                });
            }
            let used = sqlx::query("SELECT storage_bytes FROM accounts WHERE user_id = $1")
                .bind(&values.owner_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| row.get_u64("storage_bytes"))
                .transpose()?;
            return Err(match used {
                Some(used) => DbError::QuotaExceeded {
                    used,
                    quota: commit.quota_bytes,
                },
                None => DbError::NotFound,
            });
        }

        let written = match replaced {
            None => bind_revision!(
                sqlx::query(concat!(
                    "INSERT INTO volumes ",
                    volume_columns!(),
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                )),
                commit,
                values
            )
            .execute(&mut *tx)
            .await
            .map(|done| done.rows_affected()),
            Some(current) => bind_revision!(sqlx::query(update_revision_sql!()), commit, values)
                .bind(to_i64(current.revision, "revision out of range")?)
                .bind(current.padded_size)
                .bind(&current.object_key)
                .execute(&mut *tx)
                .await
                .map(|done| done.rows_affected()),
        };
        match written {
            Ok(0) => Attempt::Lost,
            Ok(_) => {
                let replaced_object = replaced.map(|current| current.object_key.clone());
                if let Some(object_key) = &replaced_object {
                    sqlx::query(
                        "INSERT INTO purge_queue (object_key, enqueued_at) VALUES ($1, $2) \
                         ON CONFLICT (object_key) DO NOTHING",
                    )
                    .bind(object_key)
                    .bind(commit.now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Attempt::Done(CommitOutcome { replaced_object })
            }
            Err(e) => match unique_violation(&e) {
                // Created concurrently by another writer.
                Some(Unique::VolumeId) => Attempt::Lost,
                Some(Unique::ObjectKey) => {
                    return Err(DbError::InvalidInput("the object key is in use"));
                }
                _ => return Err(e.into()),
            },
        }
    };
    Ok(attempt)
}

/// [`Db::commit_volume`] on SQLite. The current row is read first (readers do not queue under
/// WAL); then, in the process's write turn, one statement inserts the volume or moves it by
/// compare-and-swap on everything that was read, with the quota in its WHERE clause, while
/// triggers charge the size difference and queue the replaced object
/// (`migrations/sqlite/0002_commit_triggers.sql`). A statement that matched nothing is
/// explained afterwards, outside the write turn.
async fn commit_sqlite(
    sqlite: &SqliteDb,
    commit: &VolumeCommit,
    values: &CommitValues,
) -> Result<Attempt<CommitOutcome>, DbError> {
    let pool = sqlite.pool();
    let read_current = async || -> Result<Option<Current>, DbError> {
        sqlx::query(CURRENT_SQL)
            .bind(&values.volume_id)
            .fetch_optional(pool)
            .await?
            .map(|row| Current::from_row(&row))
            .transpose()
    };
    let current = read_current().await?;
    let replaced = check(commit, current.as_ref())?;
    let delta = values.size - replaced.map_or(0, |current| current.padded_size);
    let written = {
        let _turn = sqlite.write_turn().await;
        match replaced {
            None => bind_revision!(
                sqlx::query(concat!(
                    "INSERT INTO volumes ",
                    volume_columns!(),
                    " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
                     WHERE EXISTS (SELECT 1 FROM accounts WHERE user_id = $2 \
                     AND ($13 <= 0 OR storage_bytes + $13 <= $14))"
                )),
                commit,
                values
            )
            .bind(delta)
            .bind(values.quota)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()),
            Some(current) => bind_revision!(
                sqlx::query(concat!(
                    update_revision_sql!(),
                    " AND EXISTS (SELECT 1 FROM accounts WHERE user_id = $2 \
                     AND ($16 <= 0 OR storage_bytes + $16 <= $17))"
                )),
                commit,
                values
            )
            .bind(to_i64(current.revision, "revision out of range")?)
            .bind(current.padded_size)
            .bind(&current.object_key)
            .bind(delta)
            .bind(values.quota)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()),
        }
    };
    match written {
        Ok(0) => {
            // Either a concurrent writer moved the row (a conflict), or the quota refused.
            let key = |c: &Current| (c.revision, c.padded_size, c.object_key.clone());
            let now_current = read_current().await?;
            if now_current.as_ref().map(key) != current.as_ref().map(key) {
                return Ok(Attempt::Lost);
            }
            let used = sqlx::query("SELECT storage_bytes FROM accounts WHERE user_id = $1")
                .bind(&values.owner_id)
                .fetch_optional(pool)
                .await?
                .map(|row| row.get_u64("storage_bytes"))
                .transpose()?;
            Err(match used {
                Some(used) => DbError::QuotaExceeded {
                    used,
                    quota: commit.quota_bytes,
                },
                None => DbError::NotFound,
            })
        }
        Ok(_) => Ok(Attempt::Done(CommitOutcome {
            replaced_object: replaced.map(|current| current.object_key.clone()),
        })),
        Err(e) => match unique_violation(&e) {
            // Created concurrently by another writer.
            Some(Unique::VolumeId) => Ok(Attempt::Lost),
            Some(Unique::ObjectKey) => Err(DbError::InvalidInput("the object key is in use")),
            _ => Err(e.into()),
        },
    }
}

/// Grantee tags as stored: a JSON object from grantee id to base64url tag.
pub(crate) fn encode_tags(tags: &BTreeMap<Uuid, Vec<u8>>) -> Result<String, DbError> {
    let text: BTreeMap<&Uuid, String> = tags
        .iter()
        .map(|(id, tag)| (id, base64url::encode(tag)))
        .collect();
    serde_json::to_string(&text).map_err(|_| DbError::InvalidInput("grantee tags"))
}

/// Reads stored grantee tags.
pub(crate) fn decode_tags(text: &str) -> Result<BTreeMap<Uuid, Vec<u8>>, DbError> {
    let corrupt = || DbError::Corrupt("grantee_tags".to_owned());
    let text: BTreeMap<Uuid, String> = serde_json::from_str(text).map_err(|_| corrupt())?;
    text.into_iter()
        .map(|(id, tag)| Ok((id, base64url::decode(&tag).ok_or_else(corrupt)?)))
        .collect()
}

/// Checks an upload against the stored revision. `Ok(Some(current))` for a replace that may
/// proceed, `Ok(None)` for a create that may proceed.
fn check<'a>(
    commit: &VolumeCommit,
    current: Option<&'a Current>,
) -> Result<Option<&'a Current>, DbError> {
    match (commit.expected, current) {
        (Precondition::Create, None) => Ok(None),
        // The volume id is taken either way; only its owner may learn the revision.
        (Precondition::Create, Some(current)) => Err(DbError::RevisionConflict {
            current: (current.owner_id == commit.owner_id).then_some(current.revision),
        }),
        (Precondition::Replace { .. }, None) => Err(DbError::NotFound),
        (Precondition::Replace { revision: expected }, Some(current)) => {
            if current.owner_id != commit.owner_id {
                Err(DbError::NotFound)
            } else if current.vtype != commit.vtype {
                Err(DbError::TypeMismatch {
                    stored: current.vtype.clone(),
                })
            } else if current.revision != expected {
                Err(DbError::RevisionConflict {
                    current: Some(current.revision),
                })
            } else if commit.key_epoch < current.key_epoch {
                Err(DbError::EpochFenced {
                    current: current.key_epoch,
                })
            } else if current.object_key == commit.object_key {
                Err(DbError::InvalidInput(
                    "a new revision needs a new object key",
                ))
            } else {
                Ok(Some(current))
            }
        }
    }
}

impl Db {
    /// The volume `volume_id`, whoever owns it. Callers serving a request check the reader
    /// with [`Db::volume_access`] instead.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn volume(&self, volume_id: Uuid) -> Result<Option<VolumeRow>, DbError> {
        let id = id_text(volume_id);
        with_pool!(self, |pool| {
            sqlx::query("SELECT * FROM volumes WHERE volume_id = $1")
                .bind(&id)
                .fetch_optional(pool)
                .await?
                .map(|row| VolumeRow::from_row(&row))
                .transpose()
        })
    }

    /// The volume and the reader's role, if `reader` owns it or holds a grant on it; `None`
    /// otherwise, whether or not the volume exists (the relay's second wall).
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn volume_access(
        &self,
        volume_id: Uuid,
        reader: Uuid,
    ) -> Result<Option<(VolumeRow, VolumeAccess)>, DbError> {
        let id = id_text(volume_id);
        let reader_id = id_text(reader);
        with_pool!(self, |pool| {
            match sqlx::query(
                "SELECT v.*, g.key_block AS grant_key_block, g.key_epoch AS grant_key_epoch \
                 FROM volumes v LEFT JOIN grants g \
                 ON g.volume_id = v.volume_id AND g.grantee_id = $2 \
                 WHERE v.volume_id = $1",
            )
            .bind(&id)
            .bind(&reader_id)
            .fetch_optional(pool)
            .await?
            {
                Some(row) => VolumeRow::with_role(&row, reader),
                None => Ok(None),
            }
        })
    }

    /// Every volume `user_id` owns or holds a grant on, with its role, ordered by volume id
    /// (owned ones first).
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn volumes_for(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<(VolumeRow, VolumeAccess)>, DbError> {
        let id = id_text(user_id);
        let mut volumes = Vec::new();
        with_pool!(self, |pool| {
            let owned = sqlx::query("SELECT * FROM volumes WHERE owner_id = $1 ORDER BY volume_id")
                .bind(&id)
                .fetch_all(pool)
                .await?;
            for row in &owned {
                volumes.push((VolumeRow::from_row(row)?, VolumeAccess::Owner));
            }
            let granted = sqlx::query(
                "SELECT v.*, g.key_block AS grant_key_block, g.key_epoch AS grant_key_epoch \
                 FROM grants g JOIN volumes v ON v.volume_id = g.volume_id \
                 WHERE g.grantee_id = $1 ORDER BY v.volume_id",
            )
            .bind(&id)
            .fetch_all(pool)
            .await?;
            for row in &granted {
                volumes.extend(VolumeRow::with_role(row, user_id)?);
            }
        });
        Ok(volumes)
    }

    /// Commits an upload whose object is stored and checked, atomically: checks the
    /// precondition, moves the revision by compare-and-swap, charges the size difference to
    /// the owner's storage and queues the replaced object for purging.
    ///
    /// On SQLite this is one statement (see `migrations/sqlite/0002_commit_triggers.sql`), on
    /// PostgreSQL one transaction.
    ///
    /// # Errors
    /// - [`DbError::RevisionConflict`]: `Create` but the volume exists (`current` is `None`
    ///   unless the caller owns it), or `Replace(r)` but the volume is not at `r`;
    /// - [`DbError::NotFound`]: `Replace` of a volume that does not exist or that the caller
    ///   does not own, or the owner's account does not exist;
    /// - [`DbError::TypeMismatch`]: the volume has another type;
    /// - [`DbError::EpochFenced`]: `key_epoch` is older than the volume's;
    /// - [`DbError::QuotaExceeded`]: the owner's storage would exceed `quota_bytes` (a commit
    ///   that does not grow the storage is always accepted);
    /// - [`DbError::InvalidInput`]: `new_revision` does not follow the precondition, a value
    ///   does not fit SQL `BIGINT`, or the object key is in use (by another volume or by the
    ///   revision being replaced).
    pub async fn commit_volume(&self, commit: &VolumeCommit) -> Result<CommitOutcome, DbError> {
        if commit.expected.new_revision().ok() != Some(commit.new_revision) {
            return Err(DbError::InvalidInput(
                "the new revision must be 1 for a create, the expected revision + 1 otherwise",
            ));
        }
        let values = CommitValues {
            new_revision: to_i64(commit.new_revision, "revision out of range")?,
            key_epoch: to_i64(commit.key_epoch, "key epoch out of range")?,
            size: to_i64(commit.size, "size out of range")?,
            // A quota beyond BIGINT is no quota.
            quota: i64::try_from(commit.quota_bytes).unwrap_or(i64::MAX),
            tags: encode_tags(&commit.grantee_tags)?,
            volume_id: id_text(commit.volume_id),
            owner_id: id_text(commit.owner_id),
        };
        let attempt = match self {
            Db::Sqlite(sqlite) => commit_sqlite(sqlite, commit, &values).await?,
            Db::Postgres(pool) => commit_postgres(pool, commit, &values).await?,
        };
        match attempt {
            Attempt::Done(outcome) => Ok(outcome),
            Attempt::Lost => {
                // Report what the winner left, as a fresh request would see it.
                let current = self.current(&values.volume_id).await?;
                check(commit, current.as_ref())?;
                Err(DbError::RevisionConflict {
                    current: current.map(|current| current.revision),
                })
            }
        }
    }

    async fn current(&self, volume_id: &str) -> Result<Option<Current>, DbError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query(CURRENT_SQL)
                .bind(volume_id)
                .fetch_optional(pool)
                .await?
                .map(|row| Current::from_row(&row))
                .transpose()?
        }))
    }

    /// Deletes a volume of `owner_id` (its grants go with it), credits its size back to the
    /// owner's storage and queues its object for purging, all in one transaction. With
    /// `expected` (`If-Match`), the volume must be at that revision.
    ///
    /// # Errors
    /// [`DbError::NotFound`] if the volume does not exist or `owner_id` does not own it;
    /// [`DbError::RevisionConflict`] if it is not at `expected`.
    pub async fn delete_volume(
        &self,
        volume_id: Uuid,
        owner_id: Uuid,
        expected: Option<u64>,
        now: i64,
    ) -> Result<(), DbError> {
        let id = id_text(volume_id);
        let owner = id_text(owner_id);
        // A concurrent commit may move the revision between the read and the delete; the
        // delete then matches nothing and is tried again on the new revision.
        for _ in 0..8 {
            let attempt = with_tx!(self, |tx| {
                let current = sqlx::query(CURRENT_SQL)
                    .bind(&id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| Current::from_row(&row))
                    .transpose()?;
                let Some(current) = current.filter(|current| current.owner_id == owner_id) else {
                    return Err(DbError::NotFound);
                };
                if expected.is_some_and(|expected| expected != current.revision) {
                    return Err(DbError::RevisionConflict {
                        current: Some(current.revision),
                    });
                }
                sqlx::query(
                    "UPDATE accounts SET storage_bytes = storage_bytes - $2 WHERE user_id = $1",
                )
                .bind(&owner)
                .bind(current.padded_size)
                .execute(&mut *tx)
                .await?;
                let deleted = sqlx::query(
                    "DELETE FROM volumes WHERE volume_id = $1 AND owner_id = $2 \
                     AND revision = $3 AND padded_size = $4 AND object_key = $5",
                )
                .bind(&id)
                .bind(&owner)
                .bind(to_i64(current.revision, "revision out of range")?)
                .bind(current.padded_size)
                .bind(&current.object_key)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if deleted == 0 {
                    Attempt::Lost
                } else {
                    sqlx::query(
                        "INSERT INTO purge_queue (object_key, enqueued_at) VALUES ($1, $2) \
                         ON CONFLICT (object_key) DO NOTHING",
                    )
                    .bind(&current.object_key)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
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

    /// Every object key a volume points at (for finding orphans in the object store).
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn referenced_object_keys(
        &self,
    ) -> Result<std::collections::HashSet<String>, DbError> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT object_key FROM volumes")
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| row.get_string("object_key"))
                .collect()
        })
    }
}
