//! Volume rows: local commits, tombstones, listings and the per-relay sync bookkeeping.

use std::collections::BTreeMap;

use plog_ipc_schema::VolumeType;
use plog_ipc_schema::dbus::volumes::SyncState;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row as _, Sqlite, Transaction};
use uuid::Uuid;

use super::files::StagedFile;
use super::model::{relay_sync_from_row, sync_state_text, volume_from_row};
use super::{
    NewRevision, Store, StoreError, VolumeRecord, VolumeStatus, blocking, now, to_i64, to_u64,
};

/// `SELECT` of every volume column, followed by `$tail` (a literal, so the SQL stays static).
macro_rules! select_volumes {
    ($tail:literal) => {
        concat!(
            "SELECT id, vtype, revision, key_epoch, plaintext_size, sealed_len, digest, ",
            "owner_key, owner_tag, file_name, updated_at, deleted FROM volumes ",
            $tail
        )
    };
}

impl Store {
    /// Every volume (tombstones and `manifest` included), by type.
    ///
    /// # Errors
    /// [`StoreError::Database`] or [`StoreError::Corrupt`].
    pub async fn volumes(&self) -> Result<Vec<VolumeRecord>, StoreError> {
        let rows: Vec<SqliteRow> = sqlx::query(select_volumes!("ORDER BY vtype"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(volume_from_row).collect()
    }

    /// The volume of type `vtype` (possibly a tombstone).
    ///
    /// # Errors
    /// [`StoreError::Database`] or [`StoreError::Corrupt`].
    pub async fn volume_by_type(
        &self,
        vtype: &VolumeType,
    ) -> Result<Option<VolumeRecord>, StoreError> {
        let row = sqlx::query(select_volumes!("WHERE vtype = $1"))
            .bind(vtype.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(volume_from_row).transpose()
    }

    /// The volume with id `id` (possibly a tombstone).
    ///
    /// # Errors
    /// [`StoreError::Database`] or [`StoreError::Corrupt`].
    pub async fn volume(&self, id: Uuid) -> Result<Option<VolumeRecord>, StoreError> {
        let row = sqlx::query(select_volumes!("WHERE id = $1"))
            .bind(id.hyphenated().to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(volume_from_row).transpose()
    }

    /// Every volume with its per-relay sync bookkeeping, by type.
    ///
    /// # Errors
    /// [`StoreError::Database`] or [`StoreError::Corrupt`].
    pub async fn volume_statuses(&self) -> Result<Vec<VolumeStatus>, StoreError> {
        let volumes = self.volumes().await?;
        let rows: Vec<SqliteRow> = sqlx::query(
            "SELECT volume_id, relay, remote_revision, state, last_error, \
             updated_at AS sync_updated_at FROM volume_sync ORDER BY relay",
        )
        .fetch_all(self.pool())
        .await?;
        let mut by_volume: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for row in &rows {
            let id: String = row.try_get("volume_id")?;
            by_volume
                .entry(id)
                .or_default()
                .push(relay_sync_from_row(row)?);
        }
        Ok(volumes
            .into_iter()
            .map(|volume| {
                let relays = by_volume
                    .remove(&volume.id.hyphenated().to_string())
                    .unwrap_or_default();
                VolumeStatus { volume, relays }
            })
            .collect())
    }

    /// The highest revision of volume `id` any relay is known to hold (0 if none).
    ///
    /// # Errors
    /// Database errors.
    pub async fn highest_remote_revision(&self, id: Uuid) -> Result<u64, StoreError> {
        let highest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(remote_revision) FROM volume_sync WHERE volume_id = $1")
                .bind(id.hyphenated().to_string())
                .fetch_one(self.pool())
                .await?;
        highest.map_or(Ok(0), |revision| to_u64(revision, "remote revision"))
    }

    /// A new staged file for a revision's ciphertext (deleted on drop unless committed).
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn stage(&self) -> Result<StagedFile, StoreError> {
        self.files().stage().map_err(|source| StoreError::Io {
            action: "create a staged file in",
            path: self.files().dir().to_path_buf(),
            source,
        })
    }

    /// Stores a revision written here: publishes `staged` (the complete sealed volume) and
    /// points the volume's row at it in one transaction, provided the volume is still at
    /// `base` (`None`: no volume of that type exists). The new revision is `base + 1`, or
    /// `base` itself when that revision was never pushed (see
    /// [`Store::highest_remote_revision`]). A tombstone is revived. Every relay is
    /// marked pending. The replaced file is deleted afterwards.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the volume changed since `base` was read;
    /// [`StoreError::InvalidInput`] if `staged` is empty or the revision does not follow
    /// `base`; database and I/O errors.
    pub async fn commit_local(
        &self,
        staged: StagedFile,
        new: NewRevision,
        base: Option<u64>,
    ) -> Result<VolumeRecord, StoreError> {
        // A revision no relay has seen yet is replaced under its own number: relays take
        // `If-Match: r` only with revision r + 1, so numbers must not run ahead of them.
        let follows = match base {
            None => new.revision == 1,
            Some(base) => new.revision == base + 1 || new.revision == base,
        };
        if !follows {
            return Err(StoreError::InvalidInput(format!(
                "revision {} does not follow {base:?}",
                new.revision
            )));
        }
        self.commit(staged, new, base, None).await
    }

    /// Publishes `staged` and commits `new` if the volume of that type is at `base`. With
    /// `synced_at`, the revision came from that relay: it is marked synced there and pending
    /// at the relays that do not have it yet; otherwise pending everywhere.
    pub(crate) async fn commit(
        &self,
        staged: StagedFile,
        new: NewRevision,
        base: Option<u64>,
        synced_at: Option<&str>,
    ) -> Result<VolumeRecord, StoreError> {
        let sealed_len = staged.len();
        if staged.is_empty() {
            return Err(StoreError::InvalidInput("empty volume file".to_owned()));
        }
        let files = self.files().clone();
        let (id, revision) = (new.id, new.revision);
        let file_name = blocking(move || {
            files
                .publish(staged, id, revision)
                .map_err(|source| StoreError::Io {
                    action: "publish a volume file in",
                    path: files.dir().to_path_buf(),
                    source,
                })
        })
        .await?;
        let outcome = self
            .commit_row(&new, base, sealed_len, &file_name, synced_at)
            .await;
        match outcome {
            Ok((record, replaced)) => {
                if let Some(old) = replaced {
                    self.remove_files(vec![old]).await;
                }
                Ok(record)
            }
            Err(error) => {
                self.remove_files(vec![file_name]).await;
                Err(error)
            }
        }
    }

    async fn commit_row(
        &self,
        new: &NewRevision,
        base: Option<u64>,
        sealed_len: u64,
        file_name: &str,
        synced_at: Option<&str>,
    ) -> Result<(VolumeRecord, Option<String>), StoreError> {
        let now = to_i64(now(), "time")?;
        let id = new.id.hyphenated().to_string();
        let _turn = self.inner.writer.lock().await;
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let current = sqlx::query(select_volumes!("WHERE vtype = $1"))
            .bind(new.vtype.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(volume_from_row)
            .transpose()?;
        let changed = || {
            StoreError::Conflict(format!(
                "volume {} changed while this revision was written; try again",
                new.vtype
            ))
        };
        let replaced = match (&current, base) {
            (None, None) => None,
            (Some(current), Some(base)) if current.revision == base && current.id == new.id => {
                Some(current.file_name.clone())
            }
            _ => return Err(changed()),
        };
        let values = (
            to_i64(new.revision, "revision")?,
            to_i64(new.key_epoch, "key epoch")?,
            to_i64(new.plaintext_size, "plaintext size")?,
            to_i64(sealed_len, "sealed length")?,
        );
        if replaced.is_some() {
            sqlx::query(
                "UPDATE volumes SET revision = $2, key_epoch = $3, plaintext_size = $4, \
                 sealed_len = $5, digest = $6, owner_key = $7, owner_tag = $8, file_name = $9, \
                 updated_at = $10, deleted = 0 WHERE id = $1",
            )
            .bind(&id)
            .bind(values.0)
            .bind(values.1)
            .bind(values.2)
            .bind(values.3)
            .bind(new.digest.as_slice())
            .bind(new.owner_key.as_slice())
            .bind(new.owner_tag.as_slice())
            .bind(file_name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO volumes (id, vtype, revision, key_epoch, plaintext_size, sealed_len, \
                 digest, owner_key, owner_tag, file_name, updated_at, deleted) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)",
            )
            .bind(&id)
            .bind(new.vtype.as_str())
            .bind(values.0)
            .bind(values.1)
            .bind(values.2)
            .bind(values.3)
            .bind(new.digest.as_slice())
            .bind(new.owner_key.as_slice())
            .bind(new.owner_tag.as_slice())
            .bind(file_name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        Self::ensure_sync_rows(&mut tx, &id, now).await?;
        match synced_at {
            None => {
                sqlx::query(
                    "UPDATE volume_sync SET state = 'pending', updated_at = $2 \
                     WHERE volume_id = $1 AND state <> 'conflict'",
                )
                .bind(&id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            Some(relay) => {
                sqlx::query(
                    "UPDATE volume_sync SET remote_revision = $3, state = 'synced', \
                     last_error = NULL, updated_at = $4 WHERE volume_id = $1 AND relay = $2",
                )
                .bind(&id)
                .bind(relay)
                .bind(values.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE volume_sync SET state = 'pending', updated_at = $3 \
                     WHERE volume_id = $1 AND state = 'synced' \
                     AND (remote_revision IS NULL OR remote_revision < $2)",
                )
                .bind(&id)
                .bind(values.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        let row = sqlx::query(select_volumes!("WHERE id = $1"))
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
        let record = volume_from_row(&row)?;
        tx.commit().await?;
        Ok((record, replaced))
    }

    /// Marks the volume of type `vtype` deleted (a tombstone the sync engine applies at the
    /// relays). With no relay to tell, the volume is forgotten at once.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if there is no such (live) volume.
    pub async fn mark_deleted(&self, vtype: &VolumeType) -> Result<(), StoreError> {
        let now = to_i64(now(), "time")?;
        let files = {
            let _turn = self.inner.writer.lock().await;
            let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
            let id: Option<String> =
                sqlx::query_scalar("SELECT id FROM volumes WHERE vtype = $1 AND deleted = 0")
                    .bind(vtype.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(id) = id else {
                return Err(StoreError::NotFound(format!("no volume of type {vtype}")));
            };
            sqlx::query("UPDATE volumes SET deleted = 1, updated_at = $2 WHERE id = $1")
                .bind(&id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            Self::ensure_sync_rows(&mut tx, &id, now).await?;
            sqlx::query(
                "UPDATE volume_sync SET state = 'pending', updated_at = $2 WHERE volume_id = $1",
            )
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let files = Self::forget_settled_tombstones(&mut tx).await?;
            tx.commit().await?;
            files
        };
        self.remove_files(files).await;
        Ok(())
    }

    /// Records that `relay` now holds `revision` of volume `id`: synced if that is still the
    /// local revision, else it stays pending (with the new base for `If-Match`).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if there is no bookkeeping row for the pair.
    pub async fn mark_pushed(
        &self,
        id: Uuid,
        relay: &str,
        revision: u64,
    ) -> Result<(), StoreError> {
        let now = to_i64(now(), "time")?;
        let revision = to_i64(revision, "revision")?;
        let _turn = self.inner.writer.lock().await;
        let done = sqlx::query(
            "UPDATE volume_sync SET remote_revision = $3, last_error = NULL, updated_at = $4, \
             state = CASE WHEN (SELECT revision FROM volumes WHERE id = $1) = $3 \
             AND (SELECT deleted FROM volumes WHERE id = $1) = 0 THEN 'synced' ELSE 'pending' END \
             WHERE volume_id = $1 AND relay = $2",
        )
        .bind(id.hyphenated().to_string())
        .bind(relay)
        .bind(revision)
        .bind(now)
        .execute(self.pool())
        .await?;
        Self::expect_one(done.rows_affected(), id, relay)
    }

    /// Records a conflict at `relay`: the relay is at `remote_revision` and it is not ours.
    /// Nothing is overwritten; the state stays `conflict` until resolved.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if there is no bookkeeping row for the pair.
    pub async fn mark_conflict(
        &self,
        id: Uuid,
        relay: &str,
        remote_revision: u64,
        message: &str,
    ) -> Result<(), StoreError> {
        let now = to_i64(now(), "time")?;
        let _turn = self.inner.writer.lock().await;
        let done = sqlx::query(
            "UPDATE volume_sync SET state = 'conflict', last_error = $3, updated_at = $4 \
             WHERE volume_id = $1 AND relay = $2",
        )
        .bind(id.hyphenated().to_string())
        .bind(relay)
        .bind(format!("relay is at revision {remote_revision}: {message}"))
        .bind(now)
        .execute(self.pool())
        .await?;
        Self::expect_one(done.rows_affected(), id, relay)
    }

    /// Records an error for the pair (state unchanged).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if there is no bookkeeping row for the pair.
    pub async fn mark_error(&self, id: Uuid, relay: &str, message: &str) -> Result<(), StoreError> {
        let now = to_i64(now(), "time")?;
        let _turn = self.inner.writer.lock().await;
        let done = sqlx::query(
            "UPDATE volume_sync SET last_error = $3, updated_at = $4 \
             WHERE volume_id = $1 AND relay = $2",
        )
        .bind(id.hyphenated().to_string())
        .bind(relay)
        .bind(message)
        .bind(now)
        .execute(self.pool())
        .await?;
        Self::expect_one(done.rows_affected(), id, relay)
    }

    /// Records that `relay` deleted tombstoned volume `id`. Once no relay needs the tombstone
    /// any more, the volume and its file are forgotten.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the volume is not a tombstone (it was revived meanwhile).
    pub async fn mark_removed_at(&self, id: Uuid, relay: &str) -> Result<(), StoreError> {
        let files = {
            let _turn = self.inner.writer.lock().await;
            let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
            let deleted: Option<i64> =
                sqlx::query_scalar("SELECT deleted FROM volumes WHERE id = $1")
                    .bind(id.hyphenated().to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
            match deleted {
                None => return Ok(()),
                Some(0) => {
                    return Err(StoreError::Conflict(format!(
                        "volume {id} was written again after it was removed"
                    )));
                }
                Some(_) => {}
            }
            sqlx::query("DELETE FROM volume_sync WHERE volume_id = $1 AND relay = $2")
                .bind(id.hyphenated().to_string())
                .bind(relay)
                .execute(&mut *tx)
                .await?;
            let files = Self::forget_settled_tombstones(&mut tx).await?;
            tx.commit().await?;
            files
        };
        self.remove_files(files).await;
        Ok(())
    }

    /// Opens a record's ciphertext file for streaming (upload), after checking its length.
    ///
    /// # Errors
    /// [`StoreError::Tampered`] if the file is missing or has the wrong length.
    pub async fn open_ciphertext(
        &self,
        record: &VolumeRecord,
    ) -> Result<tokio::fs::File, StoreError> {
        let path = self.files().path(&record.file_name);
        let tampered = |reason: String| StoreError::Tampered {
            vtype: record.vtype.to_string(),
            reason,
        };
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| tampered(format!("its file cannot be opened: {e}")))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| tampered(format!("its file cannot be read: {e}")))?
            .len();
        if len != record.sealed_len {
            return Err(tampered(format!(
                "its file has {len} bytes, the store expects {}",
                record.sealed_len
            )));
        }
        Ok(file)
    }

    /// The header bytes of a record's ciphertext (what owner and grantee tags cover; its
    /// stream nonce makes it impossible to rebuild from the record alone).
    ///
    /// # Errors
    /// [`StoreError::Tampered`] if the file is missing, short or its header incomplete.
    pub async fn stored_header(&self, record: &VolumeRecord) -> Result<Vec<u8>, StoreError> {
        use tokio::io::AsyncReadExt as _;
        let file = self.open_ciphertext(record).await?;
        let mut prefix = Vec::with_capacity(512);
        file.take(512)
            .read_to_end(&mut prefix)
            .await
            .map_err(|e| StoreError::Tampered {
                vtype: record.vtype.to_string(),
                reason: format!("its file cannot be read: {e}"),
            })?;
        super::header_bytes(&prefix)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| StoreError::Tampered {
                vtype: record.vtype.to_string(),
                reason: "its file has an incomplete header".to_owned(),
            })
    }

    /// Adds a pending bookkeeping row for every relay that has none for volume `id`.
    async fn ensure_sync_rows(
        tx: &mut Transaction<'_, Sqlite>,
        id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO volume_sync (volume_id, relay, remote_revision, state, updated_at) \
             SELECT $1, origin, NULL, $2, $3 FROM relays WHERE true \
             ON CONFLICT (volume_id, relay) DO NOTHING",
        )
        .bind(id)
        .bind(sync_state_text(SyncState::Pending))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Deletes tombstones with no bookkeeping row left; returns their file names.
    pub(crate) async fn forget_settled_tombstones(
        tx: &mut Transaction<'_, Sqlite>,
    ) -> Result<Vec<String>, StoreError> {
        let names: Vec<String> = sqlx::query_scalar(
            "DELETE FROM volumes WHERE deleted = 1 \
             AND NOT EXISTS (SELECT 1 FROM volume_sync WHERE volume_id = volumes.id) \
             RETURNING file_name",
        )
        .fetch_all(&mut **tx)
        .await?;
        Ok(names)
    }

    /// Deletes files no row refers to any more (best effort: a failure leaves an orphan that
    /// the next start sweeps).
    pub(crate) async fn remove_files(&self, names: Vec<String>) {
        if names.is_empty() {
            return;
        }
        let files = self.files().clone();
        let outcome = tokio::task::spawn_blocking(move || {
            for name in names {
                if let Err(error) = files.remove(&name) {
                    tracing::warn!(%error, file = %name, "cannot delete a replaced volume file; it will be swept at the next start");
                }
            }
        })
        .await;
        if let Err(error) = outcome {
            tracing::warn!(%error, "volume file cleanup task failed");
        }
    }

    fn expect_one(affected: u64, id: Uuid, relay: &str) -> Result<(), StoreError> {
        if affected == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!(
                "no sync record for volume {id} at relay {relay}"
            )))
        }
    }
}
