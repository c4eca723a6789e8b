//! The e-mail outbox: rows written in the same transaction as the change that causes
//! them, already rendered. The `email` function delivers them.

use sqlx::AnyConnection;

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
