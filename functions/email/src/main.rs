//! The `email` function: drains the outbox. Each invocation claims due messages (safe with
//! several instances at once), sends them over the configured transport, and marks each
//! delivered, to be retried with exponential backoff and jitter, or dead (after
//! `EMAIL_MAX_ATTEMPTS`, or at once when the server refuses it permanently).
//!
//! Event: `{}` drains; `{"retry_dead": [ids]}` / `{"dismiss_dead": [ids]}` deal with dead
//! letters (an empty list means all of them).

mod transport;

use std::time::{Duration, Instant};

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};
use shared::db::now;
use shared::{AppState, outbox};

use crate::transport::{SendError, Transport};

/// How many messages one claim takes, and how long one invocation keeps draining.
const BATCH: i64 = 50;
const TIME_BUDGET: Duration = Duration::from_secs(20);
/// How long a claim holds before another worker may take the message over.
const LEASE_SECONDS: i64 = 120;

#[derive(Debug, Default, Deserialize)]
struct Event {
    #[serde(default)]
    retry_dead: Option<Vec<i64>>,
    #[serde(default)]
    dismiss_dead: Option<Vec<i64>>,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
struct Report {
    delivered: u64,
    retrying: u64,
    dead: u64,
    retried_dead: u64,
    dismissed_dead: u64,
}

#[tokio::main]
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
    state: &AppState,
    transport: &Transport,
    worker: &str,
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

/// Sends due messages until none is left or the time budget is spent.
async fn drain(
    state: &AppState,
    transport: &Transport,
    worker: &str,
    report: &mut Report,
) -> Result<(), Error> {
    let started = Instant::now();
    while started.elapsed() < TIME_BUDGET {
        let batch = outbox::claim_due(&state.db, worker, now(), LEASE_SECONDS, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        let mut batch = batch.into_iter();
        while let Some(message) = batch.next() {
            match transport.send(&state.config, &message).await {
                Ok(()) => {
                    outbox::mark_delivered(&state.db, message.id, worker, now()).await?;
                    report.delivered += 1;
                }
                Err(error) => {
                    let attempts = message.attempts + 1;
                    let give_up = matches!(error, SendError::Permanent(_))
                        || attempts >= state.config.email_max_attempts;
                    let retry_at = now() + backoff(state.config.email_retry_base, attempts);
                    tracing::warn!(id = message.id, attempts, give_up, %error, "e-mail not delivered");
                    outbox::mark_failed(
                        &state.db,
                        message.id,
                        worker,
                        &error.to_string(),
                        retry_at,
                        give_up,
                    )
                    .await?;
                    if give_up {
                        report.dead += 1;
                    } else {
                        report.retrying += 1;
                    }
                    // A transport that is down fails every message alike: give the rest
                    // back untried and let the backoff space out the next attempts.
                    if matches!(error, SendError::Unavailable(_)) {
                        for untried in batch {
                            outbox::release(&state.db, untried.id, worker, retry_at).await?;
                        }
                        return Ok(());
                    }
                }
            }
        }
    }
    Ok(())
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
