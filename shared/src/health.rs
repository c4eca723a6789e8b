//! `GET /health` (contract section 7): the database and the e-mail outbox, then Redis
//! when one is configured (rate limits are not enforced while it is down).

use serde_json::{Value, json};

use crate::AppState;
use crate::db::now;
use crate::ratelimit::CHECK_BUDGET;

/// How long a monitor may cache a result, seconds.
const RESULT_TTL: f64 = 27.0;

#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    pub passed: bool,
    pub body: Value,
}

/// Outbox figures: messages delivered, and ids of dead letters nobody has dealt with.
pub async fn outbox_summary(state: &AppState) -> Result<(i64, Vec<i64>), sqlx::Error> {
    let delivered: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM email_outbox WHERE status = 1")
        .fetch_one(&state.db.pool)
        .await?;
    let failed: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM email_outbox WHERE status = 2 ORDER BY id")
            .fetch_all(&state.db.pool)
            .await?;
    Ok((delivered, failed))
}

pub async fn check(state: &AppState, hostname: &str) -> HealthReport {
    let started = unix_time_f64();
    let db_ok = match state.db.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "health: database check failed");
            false
        }
    };
    let db_result = json!({
        "checker": "db_ok",
        "passed": db_ok,
        "output": if db_ok { "database ok".to_string() } else { "database unreachable".to_string() },
        "timestamp": started,
        "expires": started + RESULT_TTL,
    });

    let (tasks_ok, tasks_output) = match outbox_summary(state).await {
        Ok((succeeded, failed)) => (
            failed.is_empty(),
            json!({"succeeded": succeeded, "failed": failed}),
        ),
        Err(e) => {
            tracing::error!(error = %e, "health: outbox check failed");
            (false, json!({"succeeded": 0, "failed": []}))
        }
    };
    let tasks_time = unix_time_f64();
    let tasks_result = json!({
        "checker": "tasks_ok",
        "passed": tasks_ok,
        "output": tasks_output,
        "timestamp": tasks_time,
        "expires": tasks_time + RESULT_TTL,
    });

    let mut results = vec![db_result, tasks_result];
    let mut passed = db_ok && tasks_ok;
    if let Some(redis) = &state.redis {
        let checked_at = unix_time_f64();
        let redis_ok = match tokio::time::timeout(CHECK_BUDGET, redis.ping()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "health: Redis check failed");
                false
            }
            Err(_) => {
                tracing::error!("health: Redis did not answer in time");
                false
            }
        };
        passed &= redis_ok;
        results.push(json!({
            "checker": "redis_ok",
            "passed": redis_ok,
            "output": if redis_ok { "redis ok" } else { "redis unreachable: rate limits are not enforced" },
            "timestamp": checked_at,
            "expires": checked_at + RESULT_TTL,
        }));
    }

    HealthReport {
        passed,
        body: json!({
            "hostname": hostname,
            "status": if passed { "success" } else { "failure" },
            "timestamp": unix_time_f64(),
            "results": results,
        }),
    }
}

fn unix_time_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(now() as f64)
}
