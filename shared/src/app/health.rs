//! `GET /health` (contract section 7): `results` holds exactly the old service's two
//! checks, the database and the e-mail outbox, because monitors compare it as a list of
//! two. Redis, when one is configured, is reported under a top-level key of its own and
//! still counts for the status (rate limits are not enforced while it is down).
//!
//! Every check has a deadline, and the checks run side by side: a monitor gets its answer
//! within [`ANSWER_WITHIN`] even while the database is down, instead of after the pool's
//! acquire timeout.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::AppState;
use crate::domain::now;
use crate::store::outbox;
use crate::store::ratelimit::CHECK_BUDGET;

/// How long a monitor may cache a result, seconds.
const RESULT_TTL: f64 = 27.0;
/// The longest `/health` takes, whatever is down.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// The database's share of it: both of its queries together.
const DATABASE_BUDGET: Duration = Duration::from_millis(1500);
const _: () = assert!(DATABASE_BUDGET.as_millis() < ANSWER_WITHIN.as_millis());
const _: () = assert!(CHECK_BUDGET.as_millis() < ANSWER_WITHIN.as_millis());

#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    pub passed: bool,
    pub body: Value,
}

/// What the database told us within its budget.
enum DatabaseCheck {
    Up {
        delivered: i64,
        failed: Vec<i64>,
    },
    /// Answered `SELECT 1`, but the outbox query failed.
    OutboxUnreadable,
    Down,
}

async fn check_database(state: &AppState) -> DatabaseCheck {
    let checks = async {
        if let Err(e) = state.db.ping().await {
            tracing::error!(error = %e, "health: database check failed");
            return DatabaseCheck::Down;
        }
        match outbox::summary(&state.db).await {
            Ok((delivered, failed)) => DatabaseCheck::Up { delivered, failed },
            Err(e) => {
                tracing::error!(error = %e, "health: outbox check failed");
                DatabaseCheck::OutboxUnreadable
            }
        }
    };
    tokio::time::timeout(DATABASE_BUDGET, checks)
        .await
        .unwrap_or_else(|_| {
            tracing::error!(budget = ?DATABASE_BUDGET, "health: database did not answer in time");
            DatabaseCheck::Down
        })
}

async fn check_redis(redis: &crate::store::ratelimit::Redis) -> bool {
    match tokio::time::timeout(CHECK_BUDGET, redis.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "health: Redis check failed");
            false
        }
        Err(_) => {
            tracing::error!("health: Redis did not answer in time");
            false
        }
    }
}

pub fn check<'a>(state: &'a AppState, hostname: &'a str) -> BoxFuture<'a, HealthReport> {
    Box::pin(async move {
        let started = unix_time_f64();
        let redis = async {
            match &state.redis {
                Some(redis) => Some(check_redis(redis).await),
                None => None,
            }
        };
        let (database, redis_ok) = tokio::join!(check_database(state), redis);
        let checked = unix_time_f64();

        let db_ok = !matches!(database, DatabaseCheck::Down);
        let (tasks_ok, tasks_output) = match database {
            DatabaseCheck::Up { delivered, failed } => (
                failed.is_empty(),
                json!({"succeeded": delivered, "failed": failed}),
            ),
            DatabaseCheck::OutboxUnreadable | DatabaseCheck::Down => {
                (false, json!({"succeeded": 0, "failed": []}))
            }
        };
        let results = [
            result(
                "db_ok",
                db_ok,
                json!(if db_ok {
                    "database ok"
                } else {
                    "database unreachable"
                }),
                started,
            ),
            result("tasks_ok", tasks_ok, tasks_output, checked),
        ];
        let mut passed = db_ok && tasks_ok;
        let mut body = json!({
            "hostname": hostname,
            "timestamp": unix_time_f64(),
            "results": results,
        });
        if let Some(redis_ok) = redis_ok {
            passed &= redis_ok;
            body["redis"] = result(
                "redis_ok",
                redis_ok,
                json!(if redis_ok {
                    "redis ok"
                } else {
                    "redis unreachable: rate limits are not enforced"
                }),
                checked,
            );
        }
        body["status"] = json!(if passed { "success" } else { "failure" });
        HealthReport { passed, body }
    })
}

fn result(checker: &str, passed: bool, output: Value, at: f64) -> Value {
    json!({
        "checker": checker,
        "passed": passed,
        "output": output,
        "timestamp": at,
        "expires": at + RESULT_TTL,
    })
}

fn unix_time_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(now() as f64)
}
