//! The purge queue: objects to delete from the object store, recorded in the same transaction
//! that stops referencing them, so a crash never loses one.
//!
//! A purger loops: [`Db::purge_batch`] → delete each object (idempotently: a missing object is
//! fine) → [`Db::purge_done`].

use super::row::DbRow;
use super::{Db, DbError};

impl Db {
    /// Queues an object for deletion (for example an upload whose commit failed, or an orphan
    /// found by cleanup). An object a volume still points at is not queued. Idempotent.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn enqueue_purge(&self, object_key: &str, now: i64) -> Result<(), DbError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO purge_queue (object_key, enqueued_at) \
                 SELECT $1, $2 WHERE NOT EXISTS \
                 (SELECT 1 FROM volumes WHERE object_key = $1) \
                 ON CONFLICT (object_key) DO NOTHING",
            )
            .bind(object_key)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Up to `limit` queued objects, oldest first. Entries naming an object a volume points at
    /// again (a key reused after deletion) are dropped from the queue, never returned.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn purge_batch(&self, limit: u32) -> Result<Vec<String>, DbError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM purge_queue WHERE object_key IN (SELECT object_key FROM volumes)",
            )
            .execute(pool)
            .await?;
            sqlx::query(
                "SELECT object_key FROM purge_queue q \
                 WHERE NOT EXISTS (SELECT 1 FROM volumes v WHERE v.object_key = q.object_key) \
                 ORDER BY enqueued_at, object_key LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| row.get_string("object_key"))
            .collect()
        })
    }

    /// Removes an object from the queue once it is deleted from the object store.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn purge_done(&self, object_key: &str) -> Result<(), DbError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM purge_queue WHERE object_key = $1")
                .bind(object_key)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// How many objects wait in the queue (for metrics).
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn purge_pending(&self) -> Result<u64, DbError> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT COUNT(*) AS n FROM purge_queue")
                .fetch_one(pool)
                .await?
                .get_u64("n")
        })
    }
}
