//! One claimed batch: `transport.concurrency()` senders take its messages one at a time,
//! each message built and sent on a task of its own, and write back what became of each;
//! what was not tried is given back.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lambda_runtime::Error;
use shared::AppState;
use shared::domain::now;
use shared::domain::outbox::OutboxMessage;
use shared::store::outbox;

use crate::drain::{Report, SETTLE_WITHIN, TIME_BUDGET};
use crate::settle::{Outcome, backoff, settle};
use crate::transport::{SendError, Transport};

/// What the senders of one batch share: the messages not yet taken, and whether to stop
/// taking them (`Some(retry_at)`: the transport is down; `Some(now)`: out of time).
struct Queue {
    messages: VecDeque<OutboxMessage>,
    stop: Option<i64>,
}

/// Sends one claimed batch with `transport.concurrency()` senders, then gives back what
/// was not tried. True when draining should stop (transport down or out of time).
pub(crate) async fn send_batch(
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

/// One sender: takes messages off the queue one at a time until it is empty or stopped.
async fn sender(
    state: &'static AppState,
    transport: &'static Transport,
    worker: &'static str,
    queue: Arc<Mutex<Queue>>,
    started: Instant,
) -> Result<Report, shared::store::db::DbError> {
    let mut report = Report::default();
    while let Some(message) = take_next(&queue, started) {
        let id = message.id;
        let outcome = send_one(state, transport, &queue, message, &mut report).await;
        let record = || outcome.record(&state.db, id, worker);
        if record().await.is_err() {
            // The database is gone: send nothing more that could not be recorded; what is
            // left goes back, due at once, when it answers again.
            stop_at(&queue, now());
            settle(started + SETTLE_WITHIN, outcome.name(), id, record).await?;
        }
    }
    Ok(report)
}

/// The next message of the queue; `None` when it is empty or stopped (out of time stops
/// it here, for every sender).
fn take_next(queue: &Mutex<Queue>, started: Instant) -> Option<OutboxMessage> {
    let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
    if queue.stop.is_none() && started.elapsed() >= TIME_BUDGET {
        queue.stop = Some(now());
    }
    if queue.stop.is_some() {
        return None;
    }
    queue.messages.pop_front()
}

/// Stops every sender of the batch; the first reason (and its retry time) wins.
fn stop_at(queue: &Mutex<Queue>, retry_at: i64) {
    let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
    queue.stop.get_or_insert(retry_at);
}

/// Builds and sends one message and says what became of it, counted in `report`; a
/// transport that is down stops the batch.
async fn send_one(
    state: &'static AppState,
    transport: &'static Transport,
    queue: &Mutex<Queue>,
    message: OutboxMessage,
    report: &mut Report,
) -> Outcome {
    let (id, attempts) = (message.id, message.attempts + 1);
    // On a task of its own, so that nothing in building or sending one message, even a
    // panic, can leave it claimed or hold up the rest of the batch.
    let sent = tokio::spawn(async move { transport.send(&state.config, &message).await })
        .await
        .unwrap_or_else(|e| Err(SendError::Permanent(format!("sending failed: {e}"))));
    let error = match sent {
        Ok(()) => {
            report.delivered += 1;
            return Outcome::Delivered;
        }
        Err(error) => error,
    };
    let give_up =
        matches!(error, SendError::Permanent(_)) || attempts >= state.config.email.max_attempts;
    let retry_at = now() + backoff(state.config.email.retry_base, attempts);
    tracing::warn!(id, attempts, give_up, %error, "e-mail not delivered");
    if give_up {
        report.dead += 1;
    } else {
        report.retrying += 1;
    }
    if matches!(error, SendError::Unavailable(_)) {
        stop_at(queue, retry_at);
    }
    Outcome::Failed {
        error: error.to_string(),
        retry_at,
        give_up,
    }
}
