//! The e-mail outbox: rows written in the same transaction as the change that causes
//! them, already rendered. The `email` function delivers them.

use sqlx::{AnyConnection, AssertSqlSafe};

use crate::domain::email_templates::RenderedEmail;
use crate::domain::outbox::{OutboxMessage, OutboxStatus};
use crate::store::db::DbError;

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
    .bind(OutboxStatus::Pending.code())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The columns of a [`MessageRow`].
const MESSAGE_COLUMNS: &str =
    "id, to_address, to_name, subject, text_body, html_body, created_at, attempts";

/// A message as `claim_due` and `pending` read it.
#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    to_address: String,
    to_name: String,
    subject: String,
    text_body: String,
    html_body: String,
    created_at: i64,
    attempts: i64,
}

impl From<MessageRow> for OutboxMessage {
    fn from(r: MessageRow) -> Self {
        OutboxMessage {
            id: r.id,
            to_address: r.to_address,
            to_name: r.to_name,
            subject: r.subject,
            text_body: r.text_body,
            html_body: r.html_body,
            created_at: r.created_at,
            attempts: r.attempts,
        }
    }
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
        "SELECT id FROM email_outbox WHERE status = ? AND next_attempt_at <= ? \
         AND (claim_expires_at IS NULL OR claim_expires_at < ?) ORDER BY id LIMIT ?",
    )
    .bind(OutboxStatus::Pending.code())
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
         AND status = ? AND (claim_expires_at IS NULL OR claim_expires_at < ?)"
    );
    let mut query = sqlx::query(AssertSqlSafe(claim))
        .bind(worker)
        .bind(now + lease);
    for id in &candidates {
        query = query.bind(*id);
    }
    let query = query.bind(OutboxStatus::Pending.code()).bind(now);
    if query.execute(&db.pool).await?.rows_affected() == 0 {
        return Ok(Vec::new());
    }
    // The rows this claim won: held by `worker` until exactly `now + lease`.
    let fetch = format!(
        "SELECT {MESSAGE_COLUMNS} FROM email_outbox WHERE id IN ({ids}) AND claimed_by = ? \
         AND claim_expires_at = ? AND status = ? ORDER BY id"
    );
    let mut query = sqlx::query_as::<_, MessageRow>(AssertSqlSafe(fetch));
    for id in &candidates {
        query = query.bind(*id);
    }
    let rows = query
        .bind(worker)
        .bind(now + lease)
        .bind(OutboxStatus::Pending.code())
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(OutboxMessage::from).collect())
}

/// Every pending message, oldest first, whether due or not and whether claimed or not;
/// read only (nothing is claimed): for looking at the queue, not for delivering it.
pub async fn pending(db: &crate::Db) -> Result<Vec<OutboxMessage>, DbError> {
    let pending =
        format!("SELECT {MESSAGE_COLUMNS} FROM email_outbox WHERE status = ? ORDER BY id");
    let rows = sqlx::query_as::<_, MessageRow>(AssertSqlSafe(pending))
        .bind(OutboxStatus::Pending.code())
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(OutboxMessage::from).collect())
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
    .bind(OutboxStatus::Delivered.code())
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
    .bind(
        if give_up {
            OutboxStatus::Dead
        } else {
            OutboxStatus::Pending
        }
        .code(),
    )
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
    let sql = "UPDATE email_outbox SET status = ?, attempts = 0, next_attempt_at = ? \
               WHERE status = ? AND (id = ? OR ? = 0)";
    change_dead(db, ids, sql, OutboxStatus::Pending, now).await
}

/// Dead letters dealt with by hand: kept for the record, no longer reported by /health.
pub async fn dismiss_dead(db: &crate::Db, ids: &[i64], now: i64) -> Result<u64, DbError> {
    let sql = "UPDATE email_outbox SET status = ?, next_attempt_at = ? \
               WHERE status = ? AND (id = ? OR ? = 0)";
    change_dead(db, ids, sql, OutboxStatus::Dismissed, now).await
}

async fn change_dead(
    db: &crate::Db,
    ids: &[i64],
    sql: &'static str,
    to: OutboxStatus,
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
            .bind(to.code())
            .bind(now)
            .bind(OutboxStatus::Dead.code())
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

/// `/health`'s figures: how many messages were delivered, and the dead letters' ids.
pub async fn summary(db: &crate::Db) -> Result<(i64, Vec<i64>), DbError> {
    let delivered: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM email_outbox WHERE status = ?")
        .bind(OutboxStatus::Delivered.code())
        .fetch_one(&db.pool)
        .await?;
    let dead: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM email_outbox WHERE status = ? ORDER BY id")
            .bind(OutboxStatus::Dead.code())
            .fetch_all(&db.pool)
            .await?;
    Ok((delivered, dead))
}

/// Forgets messages delivered before `before`; how many.
pub async fn delete_delivered_before(db: &crate::Db, before: i64) -> Result<u64, DbError> {
    Ok(
        sqlx::query("DELETE FROM email_outbox WHERE status = ? AND delivered_at < ?")
            .bind(OutboxStatus::Delivered.code())
            .bind(before)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}
