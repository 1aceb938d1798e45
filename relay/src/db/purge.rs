//! The purge queue: objects to delete from the object store, recorded in the same transaction
//! that stops referencing them, so a crash never loses one.
//!
//! A purger loops: [`Db::purge_batch`] → delete each object (idempotently: a missing object is
//! fine) → [`Db::purge_done`].

use super::row::DbRow;
use super::{Db, DbError};

/// Deletes the queue entries named in a JSON array of strings (`$1`): SQLite, PostgreSQL.
const PURGE_DONE_SQL: [&str; 2] = [
    "DELETE FROM purge_queue WHERE object_key IN (SELECT value FROM json_each($1))",
    "DELETE FROM purge_queue WHERE object_key IN \
     (SELECT jsonb_array_elements_text($1::jsonb))",
];

impl Db {
    /// Queues an object for deletion (for example an upload whose commit failed, or an orphan
    /// found by cleanup). An object a volume still points at is not queued. Idempotent.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn enqueue_purge(&self, object_key: &str, now: i64) -> Result<(), DbError> {
        with_writer!(self, |pool| {
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
    /// again are skipped, never returned (object keys are unique per upload, so this guards
    /// only against a hand-edited database).
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn purge_batch(&self, limit: u32) -> Result<Vec<String>, DbError> {
        with_pool!(self, |pool| {
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

    /// Removes objects from the queue once they are deleted from the object store, in one
    /// statement.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn purge_done(&self, object_keys: &[String]) -> Result<(), DbError> {
        if object_keys.is_empty() {
            return Ok(());
        }
        // The keys travel as one JSON array parameter: both engines expand it in SQL, so the
        // statement does not depend on the batch size.
        let keys =
            serde_json::to_string(object_keys).map_err(|_| DbError::InvalidInput("object keys"))?;
        let sql = match self {
            Db::Sqlite(_) => PURGE_DONE_SQL[0],
            Db::Postgres(_) => PURGE_DONE_SQL[1],
        };
        with_writer!(self, |pool| {
            sqlx::query(sql).bind(&keys).execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }

    /// How many objects wait in the queue (for metrics); entries naming a live object do not
    /// count.
    ///
    /// # Errors
    /// [`DbError::Database`].
    pub async fn purge_pending(&self) -> Result<u64, DbError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "SELECT COUNT(*) AS n FROM purge_queue q \
                 WHERE NOT EXISTS (SELECT 1 FROM volumes v WHERE v.object_key = q.object_key)",
            )
            .fetch_one(pool)
            .await?
            .get_u64("n")
        })
    }
}
