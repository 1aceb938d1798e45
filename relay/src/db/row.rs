//! Reading columns the same way from rows of either engine.

use sqlx::Row as _;
use uuid::Uuid;

use super::DbError;

/// A result row of either engine, read by column name with the few types the schema uses.
pub(crate) trait DbRow {
    fn get_i64(&self, column: &str) -> Result<i64, DbError>;
    fn get_opt_i64(&self, column: &str) -> Result<Option<i64>, DbError>;
    fn get_string(&self, column: &str) -> Result<String, DbError>;
    fn get_opt_string(&self, column: &str) -> Result<Option<String>, DbError>;
    fn get_bytes(&self, column: &str) -> Result<Vec<u8>, DbError>;
    fn get_opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, DbError>;
    fn get_bool(&self, column: &str) -> Result<bool, DbError>;

    /// A `BIGINT` that must not be negative.
    fn get_u64(&self, column: &str) -> Result<u64, DbError> {
        let value = self.get_i64(column)?;
        u64::try_from(value).map_err(|_| DbError::Corrupt(format!("{column} is negative")))
    }

    /// A nullable `BIGINT` that must not be negative.
    fn get_opt_u64(&self, column: &str) -> Result<Option<u64>, DbError> {
        self.get_opt_i64(column)?
            .map(|value| {
                u64::try_from(value).map_err(|_| DbError::Corrupt(format!("{column} is negative")))
            })
            .transpose()
    }

    /// An id stored as hyphenated text.
    fn get_uuid(&self, column: &str) -> Result<Uuid, DbError> {
        let text = self.get_string(column)?;
        Uuid::parse_str(&text).map_err(|_| DbError::Corrupt(format!("{column} is not a UUID")))
    }

    /// A 32-byte value (public key, digest, secret).
    fn get_array32(&self, column: &str) -> Result<[u8; 32], DbError> {
        let bytes = self.get_bytes(column)?;
        <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| DbError::Corrupt(format!("{column} is not 32 bytes long")))
    }
}

macro_rules! impl_db_row {
    ($($row:ty),+) => {$(
        impl DbRow for $row {
            fn get_i64(&self, column: &str) -> Result<i64, DbError> {
                Ok(self.try_get(column)?)
            }
            fn get_opt_i64(&self, column: &str) -> Result<Option<i64>, DbError> {
                Ok(self.try_get(column)?)
            }
            fn get_string(&self, column: &str) -> Result<String, DbError> {
                Ok(self.try_get(column)?)
            }
            fn get_opt_string(&self, column: &str) -> Result<Option<String>, DbError> {
                Ok(self.try_get(column)?)
            }
            fn get_bytes(&self, column: &str) -> Result<Vec<u8>, DbError> {
                Ok(self.try_get(column)?)
            }
            fn get_opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, DbError> {
                Ok(self.try_get(column)?)
            }
            fn get_bool(&self, column: &str) -> Result<bool, DbError> {
                Ok(self.try_get(column)?)
            }
        }
    )+};
}

impl_db_row!(sqlx::sqlite::SqliteRow, sqlx::postgres::PgRow);
