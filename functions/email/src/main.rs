//! The `email` function: drains the outbox. Each invocation claims due messages (safe with
//! several instances at once), sends them over the configured transport, and marks each
//! delivered, to be retried with exponential backoff and jitter, or dead (after
//! `EMAIL_MAX_ATTEMPTS`, or at once when the server refuses it permanently). A message
//! is marked delivered only after the server accepted it; over SMTP a few messages of a
//! batch are on their way at once, each on its own connection.
//!
//! Event: `{}` drains; `{"retry_dead": [ids]}` / `{"dismiss_dead": [ids]}` deal with dead
//! letters (an empty list means all of them).

mod transport;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};
use shared::AppState;
use shared::db::now;
use shared::outbox::{self, OutboxMessage};

use crate::transport::{CHECK_TIMEOUT, CONNECT_TIMEOUT, SEND_TIMEOUT, SendError, Transport};

/// How many messages one claim takes, and how long one invocation keeps starting sends.
const BATCH: i64 = 100;
const TIME_BUDGET: Duration = Duration::from_secs(20);
/// How long a claim holds before another worker may take the message over.
const LEASE_SECONDS: i64 = 120;
/// The longest one send can take: check a parked connection, open a new one if it is gone,
/// then send.
const LONGEST_SEND: u64 =
    CHECK_TIMEOUT.as_secs() + CONNECT_TIMEOUT.as_secs() + SEND_TIMEOUT.as_secs();
/// Until when (from the start of the invocation) the bookkeeping of a sent or untried
/// message is retried while the database does not answer: a message already sent is then
/// marked delivered once the database is back, instead of going out again after its lease.
const SETTLE_WITHIN: Duration = Duration::from_secs(100);
/// One statement may wait this long for a connection.
const LONGEST_STATEMENT: u64 = shared::db::ACQUIRE_TIMEOUT.as_secs();
/// The function's timeout in template.yaml.
const LAMBDA_TIMEOUT_SECONDS: u64 = 120;
// No send starts after the budget and none outlives its timeouts; bookkeeping retries stop
// before any claim of this invocation (taken after it started) runs out, so a message is
// never sent twice while its worker lives; and one run ends within the Lambda timeout.
const _: () = assert!(TIME_BUDGET.as_secs() + LONGEST_SEND < SETTLE_WITHIN.as_secs());
const _: () = assert!(SETTLE_WITHIN.as_secs() + LONGEST_STATEMENT < LEASE_SECONDS as u64);
const _: () = assert!(SETTLE_WITHIN.as_secs() + LONGEST_STATEMENT < LAMBDA_TIMEOUT_SECONDS);

#[derive(Debug, Default, Deserialize)]
struct Event {
    #[serde(default)]
    retry_dead: Option<Vec<i64>>,
    #[serde(default)]
    dismiss_dead: Option<Vec<i64>>,
}

#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
struct Report {
    delivered: u64,
    retrying: u64,
    dead: u64,
    retried_dead: u64,
    dismissed_dead: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::init_process();
    let state = shared::runtime::state_or_exit().await;
    let transport: &'static Transport = match Transport::from_config(&state.config).await {
        Ok(t) => Box::leak(Box::new(t)),
        Err(message) => shared::runtime::exit_with(message),
    };
    let worker: &'static str = Box::leak(shared::jwt::random_id().into_boxed_str());
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let event: Event = serde_json::from_value(event.payload).unwrap_or_default();
            handle(state, transport, worker, event).await
        },
    ))
    .await
}

async fn handle(
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

/// What the senders of one batch share: the messages not yet taken, and whether to stop
/// taking them (`Some(retry_at)`: the transport is down; `Some(now)`: out of time).
struct Queue {
    messages: VecDeque<OutboxMessage>,
    stop: Option<i64>,
}

/// Sends one claimed batch with `transport.concurrency()` senders, then gives back what
/// was not tried. True when draining should stop (transport down or out of time).
async fn send_batch(
    state: &'static AppState,
    transport: &'static Transport,
    worker: &'static str,
    batch: Vec<OutboxMessage>,
    started: Instant,
    report: &mut Report,
) -> Result<bool, Error> {
    let senders = transport.concurrency().min(batch.len()).max(1);
    let queue = Arc::new(Mutex::new(Queue {
        messages: batch.into(),
        stop: None,
    }));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..senders {
        let queue = Arc::clone(&queue);
        tasks.spawn(sender(state, transport, worker, queue, started));
    }
    let mut first_error = None;
    let settle_by = started + SETTLE_WITHIN;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(sent)) => {
                report.delivered += sent.delivered;
                report.retrying += sent.retrying;
                report.dead += sent.dead;
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(Error::from(e));
            }
            Err(e) => {
                first_error.get_or_insert(Error::from(e));
            }
        }
    }
    if let Some(e) = first_error {
        // what is left stays claimed until the lease runs out, then is taken over
        return Err(e);
    }
    let (left, stop) = {
        let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut queue.messages), queue.stop)
    };
    // A transport that is down fails every message alike: the rest go back untried and
    // the backoff spaces out the next attempts; out of time, or after the database failed,
    // they are due at once (given back as soon as the database answers again).
    let retry_at = stop.unwrap_or_else(now);
    for untried in left {
        settle(settle_by, "release", untried.id, || {
            outbox::release(&state.db, untried.id, worker, retry_at)
        })
        .await?;
    }
    Ok(stop.is_some())
}

/// Runs one bookkeeping statement for message `id` until the database takes it, retrying
/// with backoff while it fails, until `deadline`: a database outage must cost neither a
/// duplicate (a sent message left claimed is sent again once its lease runs out) nor a
/// wait for the lease (an untried message left claimed).
async fn settle<F, Fut>(
    deadline: Instant,
    what: &str,
    id: i64,
    mut statement: F,
) -> Result<(), shared::db::DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), shared::db::DbError>>,
{
    let mut pause = Duration::from_millis(100);
    loop {
        match statement().await {
            Ok(()) => return Ok(()),
            Err(error) if Instant::now() + pause < deadline => {
                tracing::warn!(id, %error, "e-mail {what} not recorded, retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(error) => return Err(error),
        }
    }
}

/// One sender: takes messages off the queue one at a time until it is empty or stopped.
async fn sender(
    state: &'static AppState,
    transport: &'static Transport,
    worker: &'static str,
    queue: Arc<Mutex<Queue>>,
    started: Instant,
) -> Result<Report, shared::db::DbError> {
    let mut report = Report::default();
    let stop_at = |retry_at: i64| {
        let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.stop.get_or_insert(retry_at);
    };
    loop {
        let message = {
            let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.stop.is_none() && started.elapsed() >= TIME_BUDGET {
                queue.stop = Some(now());
            }
            if queue.stop.is_some() {
                break;
            }
            match queue.messages.pop_front() {
                Some(message) => message,
                None => break,
            }
        };
        let (id, attempts) = (message.id, message.attempts + 1);
        // On a task of its own, so that nothing in building or sending one message, even a
        // panic, can leave it claimed or hold up the rest of the batch.
        let sent = tokio::spawn(async move { transport.send(&state.config, &message).await })
            .await
            .unwrap_or_else(|e| Err(SendError::Permanent(format!("sending failed: {e}"))));
        let outcome = match sent {
            Ok(()) => {
                report.delivered += 1;
                Outcome::Delivered
            }
            Err(error) => {
                let give_up = matches!(error, SendError::Permanent(_))
                    || attempts >= state.config.email_max_attempts;
                let retry_at = now() + backoff(state.config.email_retry_base, attempts);
                tracing::warn!(id, attempts, give_up, %error, "e-mail not delivered");
                if give_up {
                    report.dead += 1;
                } else {
                    report.retrying += 1;
                }
                if matches!(error, SendError::Unavailable(_)) {
                    stop_at(retry_at);
                }
                Outcome::Failed {
                    error: error.to_string(),
                    retry_at,
                    give_up,
                }
            }
        };
        let record = || outcome.record(&state.db, id, worker);
        if record().await.is_err() {
            // The database is gone: send nothing more that could not be recorded; what is
            // left goes back, due at once, when it answers again.
            stop_at(now());
            settle(started + SETTLE_WITHIN, outcome.name(), id, record).await?;
        }
    }
    Ok(report)
}

/// What became of one message, to be written back to the outbox.
enum Outcome {
    Delivered,
    Failed {
        error: String,
        retry_at: i64,
        give_up: bool,
    },
}

impl Outcome {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivery",
            Outcome::Failed { .. } => "failure",
        }
    }

    async fn record(
        &self,
        db: &shared::Db,
        id: i64,
        worker: &str,
    ) -> Result<(), shared::db::DbError> {
        match self {
            Outcome::Delivered => outbox::mark_delivered(db, id, worker, now()).await,
            Outcome::Failed {
                error,
                retry_at,
                give_up,
            } => outbox::mark_failed(db, id, worker, error, *retry_at, *give_up).await,
        }
    }
}

/// `base × 2^(attempts−1)` seconds, capped at an hour, with ±50% jitter so that messages
/// that failed together do not all come back together.
fn backoff(base: i64, attempts: i64) -> i64 {
    let exponent = (attempts - 1).clamp(0, 20) as u32;
    let delay = base.saturating_mul(1 << exponent).min(3600);
    let mut byte = [0u8; 1];
    let jitter = match getrandom::fill(&mut byte) {
        Ok(()) => f64::from(byte[0]) / 255.0,
        Err(_) => 0.5,
    };
    ((delay as f64) * (0.5 + jitter)).round().max(1.0) as i64
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_and_is_capped() {
        for _ in 0..50 {
            let first = backoff(10, 1);
            assert!((5..=15).contains(&first), "{first}");
            let fourth = backoff(10, 4);
            assert!((40..=120).contains(&fourth), "{fourth}");
            assert!(backoff(10, 60) <= 5400);
        }
    }
}
