//! Writing back what became of a message, and when a failed one is tried again.

use std::time::{Duration, Instant};

use shared::domain::now;
use shared::store::outbox;

/// Runs one bookkeeping statement for message `id` until the database takes it, retrying
/// with backoff while it fails, until `deadline`: a database outage must cost neither a
/// duplicate (a sent message left claimed is sent again once its lease runs out) nor a
/// wait for the lease (an untried message left claimed).
pub(crate) async fn settle<F, Fut>(
    deadline: Instant,
    what: &str,
    id: i64,
    mut statement: F,
) -> Result<(), shared::store::db::DbError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), shared::store::db::DbError>>,
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

/// What became of one message, to be written back to the outbox.
pub(crate) enum Outcome {
    Delivered,
    Failed {
        error: String,
        retry_at: i64,
        give_up: bool,
    },
}

impl Outcome {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivery",
            Outcome::Failed { .. } => "failure",
        }
    }

    pub(crate) async fn record(
        &self,
        db: &shared::Db,
        id: i64,
        worker: &str,
    ) -> Result<(), shared::store::db::DbError> {
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
pub(crate) fn backoff(base: i64, attempts: i64) -> i64 {
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
