//! The scheduled cleanup: what the database no longer needs.

use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::AppState;
use crate::store::db::DbError;
use crate::store::{outbox, revoked};

/// How many rows each table lost.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Removed {
    pub revoked_tokens: u64,
    pub delivered_emails: u64,
}

/// Deletes expired revoked-token records and delivered e-mails older than
/// `OUTBOX_RETENTION`. Dead letters stay until someone retries or dismisses them.
pub fn run<'a>(state: &'a AppState, now: i64) -> BoxFuture<'a, Result<Removed, DbError>> {
    Box::pin(async move {
        let retained_since = now - state.config.cleanup.outbox_retention;
        Ok(Removed {
            revoked_tokens: revoked::delete_expired(&state.db.pool, now).await?,
            delivered_emails: outbox::delete_delivered_before(&state.db, retained_since).await?,
        })
    })
}
