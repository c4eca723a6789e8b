//! Housekeeping for the scheduled `cleanup` function.

use serde::Serialize;

use crate::AppState;
use crate::db::DbError;
use crate::outbox::DELIVERED;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Removed {
    pub revoked_tokens: u64,
    pub delivered_emails: u64,
}

/// Deletes expired revoked-token records and delivered e-mails older than
/// `OUTBOX_RETENTION`. Dead letters stay until someone retries or dismisses them.
pub async fn run(state: &AppState, now: i64) -> Result<Removed, DbError> {
    let revoked_tokens = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < ?")
        .bind(now)
        .execute(&state.db.pool)
        .await?
        .rows_affected();
    let delivered_emails =
        sqlx::query("DELETE FROM email_outbox WHERE status = ? AND delivered_at < ?")
            .bind(DELIVERED)
            .bind(now - state.config.outbox_retention)
            .execute(&state.db.pool)
            .await?
            .rows_affected();
    Ok(Removed {
        revoked_tokens,
        delivered_emails,
    })
}
