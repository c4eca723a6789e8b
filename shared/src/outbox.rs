//! The e-mail outbox: rows written in the same transaction as the change that causes
//! them, already rendered. The `email` function delivers them.

use sqlx::{AnyConnection, AssertSqlSafe};

use crate::db::DbError;
use crate::email_templates::RenderedEmail;

pub const PENDING: i64 = 0;
pub const DELIVERED: i64 = 1;
pub const DEAD: i64 = 2;
pub const DISMISSED: i64 = 3;

pub async fn enqueue(
    conn: &mut AnyConnection,
    email: &RenderedEmail,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO email_outbox (to_address, to_name, subject, text_body, html_body, \
         created_at, status, attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
    )
    .bind(&email.to_address)
    .bind(&email.to_name)
    .bind(&email.subject)
    .bind(&email.text)
    .bind(&email.html)
    .bind(now)
    .bind(PENDING)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A message claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxMessage {
    pub id: i64,
    pub to_address: String,
    pub to_name: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: i64,
    pub attempts: i64,
}

/// Claims up to `limit` due messages for `worker` until `now + lease`. Portable and safe
/// with several workers: the rows are taken by one conditional update, which a row only
/// passes while nobody holds it, so two workers never both win one; a worker that dies
/// loses its claim when the lease runs out. Three statements whatever the batch size.
pub async fn claim_due(
    db: &crate::Db,
    worker: &str,
    now: i64,
    lease: i64,
    limit: i64,
) -> Result<Vec<OutboxMessage>, DbError> {
    let candidates: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM email_outbox WHERE status = 0 AND next_attempt_at <= ? \
         AND (claim_expires_at IS NULL OR claim_expires_at < ?) ORDER BY id LIMIT ?",
    )
    .bind(now)
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    // Only `?` placeholders are spliced in: the SQL text is safe, every value is bound.
    let ids = vec!["?"; candidates.len()].join(", ");
    let claim = format!(
        "UPDATE email_outbox SET claimed_by = ?, claim_expires_at = ? WHERE id IN ({ids}) \
         AND status = 0 AND (claim_expires_at IS NULL OR claim_expires_at < ?)"
    );
    let mut query = sqlx::query(AssertSqlSafe(claim))
        .bind(worker)
        .bind(now + lease);
    for id in &candidates {
        query = query.bind(*id);
    }
    if query.bind(now).execute(&db.pool).await?.rows_affected() == 0 {
        return Ok(Vec::new());
    }
    // The rows this claim won: held by `worker` until exactly `now + lease`.
    let fetch = format!(
        "SELECT id, to_address, to_name, subject, text_body, html_body, created_at, attempts \
         FROM email_outbox WHERE id IN ({ids}) AND claimed_by = ? AND claim_expires_at = ? \
         AND status = 0 ORDER BY id"
    );
    let mut query = sqlx::query_as::<_, OutboxMessage>(AssertSqlSafe(fetch));
    for id in &candidates {
        query = query.bind(*id);
    }
    Ok(query
        .bind(worker)
        .bind(now + lease)
        .fetch_all(&db.pool)
        .await?)
}

pub async fn mark_delivered(
    db: &crate::Db,
    id: i64,
    worker: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE email_outbox SET status = ?, delivered_at = ?, attempts = attempts + 1, \
         claimed_by = NULL, claim_expires_at = NULL, last_error = NULL \
         WHERE id = ? AND claimed_by = ?",
    )
    .bind(DELIVERED)
    .bind(now)
    .bind(id)
    .bind(worker)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Records a failed attempt: retried at `retry_at`, or a dead letter when `give_up`.
pub async fn mark_failed(
    db: &crate::Db,
    id: i64,
    worker: &str,
    error: &str,
    retry_at: i64,
    give_up: bool,
) -> Result<(), DbError> {
    let error: String = error.chars().take(2000).collect();
    sqlx::query(
        "UPDATE email_outbox SET status = ?, attempts = attempts + 1, next_attempt_at = ?, \
         last_error = ?, claimed_by = NULL, claim_expires_at = NULL \
         WHERE id = ? AND claimed_by = ?",
    )
    .bind(if give_up { DEAD } else { PENDING })
    .bind(retry_at)
    .bind(error)
    .bind(id)
    .bind(worker)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Dead letters back into the queue (all of them when `ids` is empty), attempts reset.
pub async fn retry_dead(db: &crate::Db, ids: &[i64], now: i64) -> Result<u64, DbError> {
    change_dead(db, ids, "UPDATE email_outbox SET status = 0, attempts = 0, next_attempt_at = ? WHERE status = 2 AND (id = ? OR ? = 0)", now).await
}

/// Dead letters dealt with by hand: kept for the record, no longer reported by /health.
pub async fn dismiss_dead(db: &crate::Db, ids: &[i64], now: i64) -> Result<u64, DbError> {
    change_dead(db, ids, "UPDATE email_outbox SET status = 3, next_attempt_at = ? WHERE status = 2 AND (id = ? OR ? = 0)", now).await
}

async fn change_dead(
    db: &crate::Db,
    ids: &[i64],
    sql: &'static str,
    now: i64,
) -> Result<u64, DbError> {
    // `? = 0` selects every dead letter when no id is given
    let targets: Vec<i64> = if ids.is_empty() {
        vec![0]
    } else {
        ids.to_vec()
    };
    let mut changed = 0;
    for id in targets {
        changed += sqlx::query(sql)
            .bind(now)
            .bind(id)
            .bind(if ids.is_empty() { 0 } else { 1 })
            .execute(&db.pool)
            .await?
            .rows_affected();
    }
    Ok(changed)
}

/// Gives a claimed message back untried, to be picked up again at `retry_at`.
pub async fn release(db: &crate::Db, id: i64, worker: &str, retry_at: i64) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE email_outbox SET next_attempt_at = ?, claimed_by = NULL, claim_expires_at = NULL \
         WHERE id = ? AND claimed_by = ?",
    )
    .bind(retry_at)
    .bind(id)
    .bind(worker)
    .execute(&db.pool)
    .await?;
    Ok(())
}
