//! One invocation of the `email` function: drains the outbox. Each invocation claims due
//! messages (safe with several instances at once), sends them over the configured
//! transport, and marks each delivered, to be retried with exponential backoff and jitter,
//! or dead (after `EMAIL_MAX_ATTEMPTS`, or at once when the server refuses it permanently).
//! A message is marked delivered only after the server accepted it; over SMTP a few
//! messages of a batch are on their way at once, each on its own connection.
//!
//! Event: `{}` drains; `{"retry_dead": [ids]}` / `{"dismiss_dead": [ids]}` deal with dead
//! letters (an empty list means all of them).

use std::time::{Duration, Instant};

use lambda_runtime::Error;
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::domain::now;
use shared::store::outbox;

use crate::batch::send_batch;
use crate::transport::{CHECK_TIMEOUT, CONNECT_TIMEOUT, SEND_TIMEOUT, Transport};

/// How many messages one claim takes, and how long one invocation keeps starting sends.
const BATCH: i64 = 100;
pub(crate) const TIME_BUDGET: Duration = Duration::from_secs(20);
/// How long a claim holds before another worker may take the message over.
const LEASE_SECONDS: i64 = 120;
/// The longest one send can take: check a parked connection, open a new one if it is gone,
/// then send.
const LONGEST_SEND: u64 =
    CHECK_TIMEOUT.as_secs() + CONNECT_TIMEOUT.as_secs() + SEND_TIMEOUT.as_secs();
/// Until when (from the start of the invocation) the bookkeeping of a sent or untried
/// message is retried while the database does not answer: a message already sent is then
/// marked delivered once the database is back, instead of going out again after its lease.
pub(crate) const SETTLE_WITHIN: Duration = Duration::from_secs(100);
/// One statement may wait this long for a connection.
const LONGEST_STATEMENT: u64 = shared::store::db::ACQUIRE_TIMEOUT.as_secs();
/// The function's timeout in template.yaml.
const LAMBDA_TIMEOUT_SECONDS: u64 = 120;
// No send starts after the budget and none outlives its timeouts; bookkeeping retries stop
// before any claim of this invocation (taken after it started) runs out, so a message is
// never sent twice while its worker lives; and one run ends within the Lambda timeout.
const _: () = assert!(TIME_BUDGET.as_secs() + LONGEST_SEND < SETTLE_WITHIN.as_secs());
const _: () = assert!(SETTLE_WITHIN.as_secs() + LONGEST_STATEMENT < LEASE_SECONDS as u64);
const _: () = assert!(SETTLE_WITHIN.as_secs() + LONGEST_STATEMENT < LAMBDA_TIMEOUT_SECONDS);

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Event {
    #[serde(default)]
    retry_dead: Option<Vec<i64>>,
    #[serde(default)]
    dismiss_dead: Option<Vec<i64>>,
}

#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub(crate) struct Report {
    pub(crate) delivered: u64,
    pub(crate) retrying: u64,
    pub(crate) dead: u64,
    retried_dead: u64,
    dismissed_dead: u64,
}

pub(crate) async fn handle(
    state: &'static AppState,
    transport: &'static Transport,
    worker: &'static str,
    event: Event,
) -> Result<Report, Error> {
    let mut report = Report::default();
    if let Some(ids) = &event.retry_dead {
        report.retried_dead = outbox::retry_dead(&state.db, ids, now()).await?;
    }
    if let Some(ids) = &event.dismiss_dead {
        report.dismissed_dead = outbox::dismiss_dead(&state.db, ids, now()).await?;
    }
    drain(state, transport, worker, &mut report).await?;
    if report != Report::default() {
        tracing::info!(?report, "outbox drained");
    }
    Ok(report)
}

/// Sends due messages until none is left, the transport is down, or the time budget is
/// spent.
async fn drain(
    state: &'static AppState,
    transport: &'static Transport,
    worker: &'static str,
    report: &mut Report,
) -> Result<(), Error> {
    let started = Instant::now();
    while started.elapsed() < TIME_BUDGET {
        let batch = outbox::claim_due(&state.db, worker, now(), LEASE_SECONDS, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        if send_batch(state, transport, worker, batch, started, report).await? {
            break;
        }
    }
    Ok(())
}
