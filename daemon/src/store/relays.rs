//! Relay rows: add, read, update, move, remove.

use plog_ipc_schema::dbus::relays::RelayAccount;
use sqlx::sqlite::SqliteRow;

use super::model::relay_from_row;
use super::{NewRelay, RelayRecord, RelayUpdate, Store, StoreError, now, to_i64};

/// `SELECT` of every relay column, followed by `$tail` (a literal, so the SQL stays static).
macro_rules! select_relays {
    ($tail:literal) => {
        concat!(
            "SELECT origin, identity_origin, generation, pin, next_pin, name, ",
            "account_user_id, account_kind, account_handle, added_at FROM relays ",
            $tail
        )
    };
}

fn account_columns(
    account: Option<&RelayAccount>,
) -> (Option<String>, Option<&str>, Option<String>) {
    match account {
        None => (None, None, None),
        Some(account) => (
            Some(account.user_id.hyphenated().to_string()),
            Some(account.kind.as_str()),
            account.handle.as_ref().map(|h| h.as_str().to_owned()),
        ),
    }
}

impl Store {
    /// Every relay, by origin.
    ///
    /// # Errors
    /// [`StoreError::Database`] or [`StoreError::Corrupt`].
    pub async fn relays(&self) -> Result<Vec<RelayRecord>, StoreError> {
        let rows: Vec<SqliteRow> = sqlx::query(select_relays!("ORDER BY origin"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(relay_from_row).collect()
    }

    /// The relay at `origin`, if configured.
    ///
    /// # Errors
    /// [`StoreError::Database`] or [`StoreError::Corrupt`].
    pub async fn relay(&self, origin: &str) -> Result<Option<RelayRecord>, StoreError> {
        let row = sqlx::query(select_relays!("WHERE origin = $1"))
            .bind(origin)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(relay_from_row).transpose()
    }

    /// Adds a relay (identity origin = origin, generation 0) and marks every volume pending
    /// there.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the origin is configured already.
    pub async fn add_relay(&self, relay: NewRelay) -> Result<RelayRecord, StoreError> {
        let now = to_i64(now(), "time")?;
        let (user_id, kind, handle) = account_columns(relay.account.as_ref());
        let _turn = self.inner.writer.lock().await;
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let inserted = sqlx::query(
            "INSERT INTO relays (origin, identity_origin, generation, pin, name, \
             account_user_id, account_kind, account_handle, added_at) \
             VALUES ($1, $1, 0, $2, $3, $4, $5, $6, $7) ON CONFLICT (origin) DO NOTHING",
        )
        .bind(&relay.origin)
        .bind(relay.pin.to_string())
        .bind(&relay.name)
        .bind(user_id)
        .bind(kind)
        .bind(handle)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "relay {} is configured already",
                relay.origin
            )));
        }
        sqlx::query(
            "INSERT INTO volume_sync (volume_id, relay, remote_revision, state, updated_at) \
             SELECT id, $1, NULL, 'pending', $2 FROM volumes",
        )
        .bind(&relay.origin)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(select_relays!("WHERE origin = $1"))
            .bind(&relay.origin)
            .fetch_one(&mut *tx)
            .await?;
        let record = relay_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    /// Applies `update` to the relay at `origin`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if it is not configured.
    pub async fn update_relay(
        &self,
        origin: &str,
        update: RelayUpdate,
    ) -> Result<RelayRecord, StoreError> {
        let _turn = self.inner.writer.lock().await;
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(select_relays!("WHERE origin = $1"))
            .bind(origin)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no relay {origin} is configured")))?;
        let mut record = relay_from_row(&row)?;
        if let Some(pin) = update.pin {
            record.pin = pin;
        }
        if let Some(next_pin) = update.next_pin {
            record.next_pin = next_pin;
        }
        if let Some(name) = update.name {
            record.name = name;
        }
        if let Some(account) = update.account {
            record.account = account;
        }
        if let Some(generation) = update.generation {
            record.generation = generation;
        }
        let (user_id, kind, handle) = account_columns(record.account.as_ref());
        sqlx::query(
            "UPDATE relays SET pin = $2, next_pin = $3, name = $4, account_user_id = $5, \
             account_kind = $6, account_handle = $7, generation = $8 WHERE origin = $1",
        )
        .bind(origin)
        .bind(record.pin.to_string())
        .bind(record.next_pin.map(|p| p.to_string()))
        .bind(&record.name)
        .bind(user_id)
        .bind(kind)
        .bind(handle)
        .bind(i64::from(record.generation))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Forgets the account at `origin` after it was deleted there, together with everything
    /// the sync bookkeeping believed that relay held: every live volume becomes pending there
    /// with no remote revision (so a later account starts from nothing, instead of taking the
    /// empty relay for a rollback), and tombstones no longer wait for that relay.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if the relay is not configured.
    pub async fn forget_relay_account(&self, origin: &str) -> Result<RelayRecord, StoreError> {
        let now = to_i64(now(), "time")?;
        let (record, removed_files) = {
            let _turn = self.inner.writer.lock().await;
            let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
            let cleared = sqlx::query(
                "UPDATE relays SET account_user_id = NULL, account_kind = NULL, \
                 account_handle = NULL WHERE origin = $1",
            )
            .bind(origin)
            .execute(&mut *tx)
            .await?;
            if cleared.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!(
                    "no relay {origin} is configured"
                )));
            }
            sqlx::query(
                "DELETE FROM volume_sync WHERE relay = $1 \
                 AND volume_id IN (SELECT id FROM volumes WHERE deleted = 1)",
            )
            .bind(origin)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE volume_sync SET remote_revision = NULL, state = 'pending', \
                 last_error = NULL, updated_at = $2 WHERE relay = $1",
            )
            .bind(origin)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let files = Self::forget_settled_tombstones(&mut tx).await?;
            let row = sqlx::query(select_relays!("WHERE origin = $1"))
                .bind(origin)
                .fetch_one(&mut *tx)
                .await?;
            let record = relay_from_row(&row)?;
            tx.commit().await?;
            (record, files)
        };
        self.remove_files(removed_files).await;
        Ok(record)
    }

    /// Re-points the relay at `old` to origin `new`; the identity origin (and so the key)
    /// stays, and the sync bookkeeping follows.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if `old` is not configured, [`StoreError::Conflict`] if `new`
    /// is.
    pub async fn move_relay(&self, old: &str, new: &str) -> Result<RelayRecord, StoreError> {
        let _turn = self.inner.writer.lock().await;
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let taken = sqlx::query("SELECT 1 FROM relays WHERE origin = $1")
            .bind(new)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "relay {new} is configured already"
            )));
        }
        let moved = sqlx::query("UPDATE relays SET origin = $2 WHERE origin = $1")
            .bind(old)
            .bind(new)
            .execute(&mut *tx)
            .await?;
        if moved.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "no relay {old} is configured"
            )));
        }
        let row = sqlx::query(select_relays!("WHERE origin = $1"))
            .bind(new)
            .fetch_one(&mut *tx)
            .await?;
        let record = relay_from_row(&row)?;
        tx.commit().await?;
        Ok(record)
    }

    /// Forgets the relay at `origin` and its sync bookkeeping (its data stays on the relay).
    /// Tombstones that no remaining relay needs are forgotten too.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] if it is not configured.
    pub async fn remove_relay(&self, origin: &str) -> Result<(), StoreError> {
        let removed_files = {
            let _turn = self.inner.writer.lock().await;
            let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
            let removed = sqlx::query("DELETE FROM relays WHERE origin = $1")
                .bind(origin)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!(
                    "no relay {origin} is configured"
                )));
            }
            let files = Self::forget_settled_tombstones(&mut tx).await?;
            tx.commit().await?;
            files
        };
        self.remove_files(removed_files).await;
        Ok(())
    }
}
