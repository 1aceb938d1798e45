//! Accounts: registration, activation, handles, session epochs, deletion.

use uuid::Uuid;

use super::error::{Unique, unique_violation};
use super::row::DbRow;
use super::{AccountKind, Db, DbError, id_text};

/// A registration, as [`Db::create_account`] stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// The new account's id (random, chosen by the relay).
    pub user_id: Uuid,
    /// System or friend.
    pub kind: AccountKind,
    /// The per-relay identity public key (X25519).
    pub public_key: [u8; 32],
    /// The handle asked for; held back (pending) until activation. Stored lowercase.
    pub handle: Option<String>,
    /// Unix seconds.
    pub now: i64,
}

/// One account row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Account {
    /// The account's id.
    pub user_id: Uuid,
    /// System or friend.
    pub kind: AccountKind,
    /// The per-relay identity public key.
    pub public_key: [u8; 32],
    /// The public handle (lowercase); only activated accounts have one.
    pub handle: Option<String>,
    /// The handle asked for at registration, until activation.
    pub pending_handle: Option<String>,
    /// Whether the account proved possession of its key (first successful challenge).
    pub activated: bool,
    /// Registration time, unix seconds.
    pub created_at: i64,
    /// Last activity, unix seconds.
    pub last_seen_at: Option<i64>,
    /// Bytes of volume objects the account owns.
    pub storage_bytes: u64,
    /// The per-user session epoch ("log out everywhere" bumps it).
    pub session_epoch: u64,
    /// Whether strangers may post friend requests found by handle (mail setting; true for a
    /// new account).
    pub handle_requests: bool,
}

impl Account {
    fn from_row(row: &impl DbRow) -> Result<Self, DbError> {
        let kind = match row.get_string("kind")?.as_str() {
            "system" => AccountKind::System,
            "friend" => AccountKind::Friend,
            other => return Err(DbError::Corrupt(format!("unknown account kind `{other}`"))),
        };
        Ok(Self {
            user_id: row.get_uuid("user_id")?,
            kind,
            public_key: row.get_array32("public_key")?,
            handle: row.get_opt_string("handle")?,
            pending_handle: row.get_opt_string("pending_handle")?,
            activated: row.get_bool("activated")?,
            created_at: row.get_i64("created_at")?,
            last_seen_at: row.get_opt_i64("last_seen_at")?,
            storage_bytes: row.get_u64("storage_bytes")?,
            session_epoch: row.get_u64("session_epoch")?,
            handle_requests: row.get_bool("handle_requests")?,
        })
    }
}

/// The stored form of a handle, refusing the empty one.
fn normalize_handle(handle: &str) -> Result<String, DbError> {
    if handle.is_empty() {
        return Err(DbError::InvalidInput("empty handle"));
    }
    Ok(handle.to_lowercase())
}

impl Db {
    /// Registers an unactivated account. A requested handle is kept as pending (invisible to
    /// lookups) until [`Db::activate`].
    ///
    /// # Errors
    /// [`DbError::AccountExists`] if the public key (or id) is registered already;
    /// [`DbError::HandleTaken`] if an activated account holds the requested handle.
    pub async fn create_account(&self, new: &NewAccount) -> Result<Account, DbError> {
        let user_id = id_text(new.user_id);
        let pending = new.handle.as_deref().map(normalize_handle).transpose()?;
        if let Some(handle) = &pending
            && self.account_by_handle(handle).await?.is_some()
        {
            return Err(DbError::HandleTaken);
        }
        let inserted = with_writer!(self, |pool| {
            sqlx::query(
                "INSERT INTO accounts (user_id, kind, public_key, pending_handle, activated, \
                 created_at, storage_bytes, session_epoch) \
                 VALUES ($1, $2, $3, $4, FALSE, $5, 0, 0)",
            )
            .bind(&user_id)
            .bind(new.kind.as_str())
            .bind(new.public_key.as_slice())
            .bind(pending.as_deref())
            .bind(new.now)
            .execute(pool)
            .await
            .map(|_| ())
        });
        match inserted {
            Ok(_) => {}
            Err(e) => {
                return Err(match unique_violation(&e) {
                    Some(Unique::PublicKey | Unique::AccountId) => DbError::AccountExists,
                    _ => e.into(),
                });
            }
        }
        Ok(Account {
            user_id: new.user_id,
            kind: new.kind,
            public_key: new.public_key,
            handle: None,
            pending_handle: pending,
            activated: false,
            created_at: new.now,
            last_seen_at: None,
            storage_bytes: 0,
            session_epoch: 0,
            handle_requests: true,
        })
    }

    /// The account `user_id`, activated or not.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn account(&self, user_id: Uuid) -> Result<Option<Account>, DbError> {
        let id = id_text(user_id);
        with_pool!(self, |pool| {
            sqlx::query("SELECT * FROM accounts WHERE user_id = $1")
                .bind(&id)
                .fetch_optional(pool)
                .await?
                .map(|row| Account::from_row(&row))
                .transpose()
        })
    }

    /// The account `user_id` together with the relay-wide session epoch, in one query: what
    /// every authenticated request checks.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn account_and_relay_epoch(
        &self,
        user_id: Uuid,
    ) -> Result<(Option<Account>, u64), DbError> {
        let id = id_text(user_id);
        let (account, epoch) = with_pool!(self, |pool| {
            // The outer join keeps the epoch row when the account is gone.
            let row = sqlx::query(
                "SELECT a.*, s.number AS relay_session_epoch \
                 FROM (SELECT 1 AS one) AS anchor \
                 LEFT JOIN accounts a ON a.user_id = $1 \
                 LEFT JOIN relay_state s ON s.key = $2",
            )
            .bind(&id)
            .bind(super::state::SESSION_EPOCH)
            .fetch_one(pool)
            .await?;
            let epoch = row.get_opt_u64("relay_session_epoch")?;
            let account = if row.get_opt_string("user_id")?.is_some() {
                Some(Account::from_row(&row)?)
            } else {
                None
            };
            (account, epoch)
        });
        Ok((account, epoch.unwrap_or(0)))
    }

    /// The account holding `public_key`, activated or not (how a restored installation finds
    /// its account).
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn account_by_public_key(
        &self,
        public_key: &[u8; 32],
    ) -> Result<Option<Account>, DbError> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT * FROM accounts WHERE public_key = $1")
                .bind(public_key.as_slice())
                .fetch_optional(pool)
                .await?
                .map(|row| Account::from_row(&row))
                .transpose()
        })
    }

    /// The activated account holding `handle` (compared lowercase). Pending handles of
    /// unactivated accounts are never found.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn account_by_handle(&self, handle: &str) -> Result<Option<Account>, DbError> {
        let handle = handle.to_lowercase();
        with_pool!(self, |pool| {
            sqlx::query("SELECT * FROM accounts WHERE handle = $1 AND activated")
                .bind(&handle)
                .fetch_optional(pool)
                .await?
                .map(|row| Account::from_row(&row))
                .transpose()
        })
    }

    /// Activates the account after its first successful challenge, moving the pending handle
    /// to the public one and recording `now` as the last activity. Activating an activated
    /// account changes nothing.
    ///
    /// If another account took the pending handle meanwhile, the account is activated without
    /// a handle: the returned account then has neither `handle` nor `pending_handle`, and the
    /// loss is logged. (The caller can tell by comparing with the `pending_handle` it read.)
    ///
    /// # Errors
    /// [`DbError::NotFound`] if the account does not exist.
    pub async fn activate(&self, user_id: Uuid, now: i64) -> Result<Account, DbError> {
        let id = id_text(user_id);
        let account = self.account(user_id).await?.ok_or(DbError::NotFound)?;
        if account.activated {
            return Ok(account);
        }
        let with_handle = with_writer!(self, |pool| {
            sqlx::query(
                "UPDATE accounts SET activated = TRUE, handle = pending_handle, \
                 pending_handle = NULL, last_seen_at = $2 WHERE user_id = $1 AND NOT activated",
            )
            .bind(&id)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        });
        match with_handle {
            Ok(()) => {}
            Err(e) if unique_violation(&e) == Some(Unique::Handle) => {
                with_writer!(self, |pool| {
                    sqlx::query(
                        "UPDATE accounts SET activated = TRUE, pending_handle = NULL, \
                         last_seen_at = $2 WHERE user_id = $1 AND NOT activated",
                    )
                    .bind(&id)
                    .bind(now)
                    .execute(pool)
                    .await
                    .map(|_| ())
                })?;
                tracing::info!(
                    %user_id,
                    "account activated without its requested handle: another account took it"
                );
            }
            Err(e) => return Err(e.into()),
        }
        self.account(user_id).await?.ok_or(DbError::NotFound)
    }

    /// Sets (`Some`, stored lowercase) or removes (`None`) the handle of an activated account.
    ///
    /// # Errors
    /// [`DbError::HandleTaken`] if another account holds it; [`DbError::NotFound`] if the
    /// account does not exist or is not activated; [`DbError::InvalidInput`] for an empty
    /// handle.
    pub async fn set_handle(&self, user_id: Uuid, handle: Option<&str>) -> Result<(), DbError> {
        let id = id_text(user_id);
        let handle = handle.map(normalize_handle).transpose()?;
        let updated = with_writer!(self, |pool| {
            sqlx::query("UPDATE accounts SET handle = $2 WHERE user_id = $1 AND activated")
                .bind(&id)
                .bind(handle.as_deref())
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        });
        match updated {
            Ok(0) => Err(DbError::NotFound),
            Ok(_) => Ok(()),
            Err(e) if unique_violation(&e) == Some(Unique::Handle) => Err(DbError::HandleTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets whether the account accepts friend requests by handle (its mail setting).
    ///
    /// # Errors
    /// [`DbError::NotFound`] if the account does not exist.
    pub async fn set_handle_requests(&self, user_id: Uuid, accept: bool) -> Result<(), DbError> {
        let id = id_text(user_id);
        let updated = with_writer!(self, |pool| {
            sqlx::query("UPDATE accounts SET handle_requests = $2 WHERE user_id = $1")
                .bind(&id)
                .bind(accept)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    /// Records activity of the account at `now`.
    ///
    /// # Errors
    /// [`DbError::NotFound`] if the account does not exist.
    pub async fn touch(&self, user_id: Uuid, now: i64) -> Result<(), DbError> {
        let id = id_text(user_id);
        let updated = with_writer!(self, |pool| {
            sqlx::query("UPDATE accounts SET last_seen_at = $2 WHERE user_id = $1")
                .bind(&id)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if updated == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    /// Moves the account's session epoch one step ("log out everywhere") and returns the new
    /// epoch; sessions issued under an older epoch are invalid.
    ///
    /// # Errors
    /// [`DbError::NotFound`] if the account does not exist.
    pub async fn bump_user_session_epoch(&self, user_id: Uuid) -> Result<u64, DbError> {
        let id = id_text(user_id);
        let row = with_writer!(self, |pool| {
            sqlx::query(
                "UPDATE accounts SET session_epoch = session_epoch + 1 WHERE user_id = $1 \
                 RETURNING session_epoch",
            )
            .bind(&id)
            .fetch_optional(pool)
            .await?
            .map(|row| row.get_u64("session_epoch"))
            .transpose()?
        });
        row.ok_or(DbError::NotFound)
    }

    /// Deletes the account and everything of it, in one transaction: writes a tombstone,
    /// queues the objects of all its volumes for purging, removes its tags from other owners'
    /// volumes and deletes the account row, whose deletion cascades to its volumes, the grants
    /// on them, the grants it holds and its invites.
    ///
    /// # Errors
    /// [`DbError::NotFound`] if the account does not exist.
    pub async fn delete_account(&self, user_id: Uuid, now: i64) -> Result<(), DbError> {
        let id = id_text(user_id);
        // The id is hyphenated hex, so it holds no LIKE wildcard.
        let tag_pattern = format!("%\"{id}\"%");
        with_tx!(self, |tx| {
            // A no-op write: checks existence and, on PostgreSQL, locks the row first, as every
            // commit does. A commit racing this deletion lands before (and its object is
            // queued below) or finds the account gone.
            let exists =
                sqlx::query("UPDATE accounts SET storage_bytes = storage_bytes WHERE user_id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if exists == 0 {
                return Err(DbError::NotFound);
            }
            sqlx::query(
                "INSERT INTO tombstones (user_id, deleted_at) VALUES ($1, $2) \
                 ON CONFLICT (user_id) DO UPDATE SET deleted_at = excluded.deleted_at",
            )
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO purge_queue (object_key, enqueued_at) \
                 SELECT object_key, $2 FROM volumes WHERE owner_id = $1 \
                 ON CONFLICT (object_key) DO NOTHING",
            )
            .bind(&id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let tagged = sqlx::query(
                "SELECT volume_id, grantee_tags FROM volumes \
                 WHERE owner_id <> $1 AND grantee_tags LIKE $2",
            )
            .bind(&id)
            .bind(&tag_pattern)
            .fetch_all(&mut *tx)
            .await?;
            for row in &tagged {
                let volume_id = row.get_string("volume_id")?;
                let mut tags = super::volumes::decode_tags(&row.get_string("grantee_tags")?)?;
                if tags.remove(&user_id).is_some() {
                    sqlx::query("UPDATE volumes SET grantee_tags = $2 WHERE volume_id = $1")
                        .bind(&volume_id)
                        .bind(super::volumes::encode_tags(&tags)?)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            sqlx::query("DELETE FROM accounts WHERE user_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes the accounts never activated that registered before `cutoff` (unix seconds),
    /// queueing any objects they own for purging (an unactivated account cannot upload, so
    /// there should be none; they are queued with `cutoff` as their time); returns how many
    /// accounts were deleted.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn delete_unactivated_before(&self, cutoff: i64) -> Result<u64, DbError> {
        let deleted = with_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO purge_queue (object_key, enqueued_at) \
                 SELECT v.object_key, $1 FROM volumes v \
                 JOIN accounts a ON a.user_id = v.owner_id \
                 WHERE NOT a.activated AND a.created_at < $1 \
                 ON CONFLICT (object_key) DO NOTHING",
            )
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
            let deleted =
                sqlx::query("DELETE FROM accounts WHERE NOT activated AND created_at < $1")
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            tx.commit().await?;
            deleted
        });
        Ok(deleted)
    }

    /// When the account `user_id` was deleted (unix seconds), if it was.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn tombstone(&self, user_id: Uuid) -> Result<Option<i64>, DbError> {
        let id = id_text(user_id);
        with_pool!(self, |pool| {
            sqlx::query("SELECT deleted_at FROM tombstones WHERE user_id = $1")
                .bind(&id)
                .fetch_optional(pool)
                .await?
                .map(|row| row.get_i64("deleted_at"))
                .transpose()
        })
    }
}
