//! The `revoked_tokens` table: token ids logged out before they expire.

use sqlx::{Any, Executor};

use crate::store::db::DbError;

/// Revokes `jti` until `expires_at`; revoking it twice is not an error.
pub async fn revoke<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    jti: &str,
    expires_at: i64,
) -> Result<(), DbError> {
    let result = sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?)")
        .bind(jti)
        .bind(expires_at)
        .execute(exec)
        .await;
    match result {
        Ok(_) => Ok(()),
        // revoked concurrently by another request: the outcome is the same
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Forgets revocations of tokens that have expired anyway; how many.
pub async fn delete_expired<'c, E: Executor<'c, Database = Any>>(
    exec: E,
    now: i64,
) -> Result<u64, DbError> {
    Ok(
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < ?")
            .bind(now)
            .execute(exec)
            .await?
            .rows_affected(),
    )
}
