//! `GET /health` in-process: `health::handle` with an event recorded from the project's
//! emulator (tests/events), against a throwaway SQLite database. The expected answers are
//! the contract's (section 7) as tests/test_foundation.py asserts them.

use lambda_http::http::header;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::domain::now;
use shared::store::outbox;
use shared::testing::{
    Event, TestApp, assert_methods_not_allowed, body_json, form_fields, sorted_keys,
};

fn event() -> Event {
    Event::fixture(env!("CARGO_MANIFEST_DIR"), "health_get.json")
}

fn get() -> Request {
    event().request()
}

async fn call(app: &TestApp, req: Request) -> Response<Body> {
    health::handle(app, req).await
}

/// The answer's status and JSON body, after checking the shape every answer has: the
/// four keys (and `redis` when configured), two results with their timestamps, and the
/// `status` agreeing with the HTTP status.
fn checked(resp: &Response<Body>, redis: bool) -> (u16, Value) {
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let body = body_json(resp);
    let mut expected = vec!["hostname", "results", "status", "timestamp"];
    if redis {
        expected.insert(1, "redis");
    }
    assert_eq!(sorted_keys(&body), expected);
    assert_eq!(body["hostname"], health::hostname());
    assert!(body["timestamp"].is_f64());
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let mut all = results.clone();
    if redis {
        all.push(body["redis"].clone());
    }
    for result in &all {
        assert_eq!(
            sorted_keys(result),
            ["checker", "expires", "output", "passed", "timestamp"]
        );
        let at = result["timestamp"].as_f64().unwrap();
        assert!((at - now() as f64).abs() < 10.0);
        assert_eq!(result["expires"].as_f64().unwrap(), at + 27.0);
    }
    let status = resp.status().as_u16();
    let expected = if status == 200 { "success" } else { "failure" };
    assert_eq!(body["status"], expected);
    (status, body)
}

/// One `GET /health`: its status is `status` and its `results`, without the timestamps,
/// are `expected` (after the [`checked`] shape; no Redis configured).
async fn assert_health(app: &TestApp, status: u16, expected: Value) {
    let (actual, body) = checked(&call(app, get()).await, false);
    assert_eq!(actual, status);
    assert_eq!(results(&body), expected);
}

/// The two `results` without their timestamps: `db_ok` passed ("database ok") or not
/// ("database unreachable"), then `tasks_ok` with its figures.
fn expected_results(db_ok: bool, tasks_ok: bool, succeeded: i64, failed: &[i64]) -> Value {
    let db_output = if db_ok {
        "database ok"
    } else {
        "database unreachable"
    };
    json!([
        {"checker": "db_ok", "passed": db_ok, "output": db_output},
        {"checker": "tasks_ok", "passed": tasks_ok,
         "output": {"succeeded": succeeded, "failed": failed}},
    ])
}

/// `results` without the timestamps: what a monitor compares.
fn results(body: &Value) -> Value {
    let strip =
        |r: &Value| json!({"checker": r["checker"], "passed": r["passed"], "output": r["output"]});
    Value::Array(
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(strip)
            .collect(),
    )
}

#[tokio::test]
async fn healthy() {
    let app = TestApp::new().await;
    assert_health(&app, 200, expected_results(true, true, 0, &[])).await;
}

#[tokio::test]
async fn head_and_leading_slashes_answer_the_same() {
    let app = TestApp::new().await;
    for req in [event().method("HEAD"), event().path("//health")] {
        assert_eq!(checked(&call(&app, req.request()).await, false).0, 200);
    }
}

#[tokio::test]
async fn delivered_mail_counts_and_a_dead_letter_fails_until_dismissed() {
    let app = TestApp::new().await;
    app.admin("boss").await;
    // one "new form" e-mail per admin: two, waiting (reading them leaves them claimable)
    app.create_form("root", &form_fields(&json!({}))).await;
    assert_eq!(app.outbox().await.len(), 2);
    let worker = "health-test";
    let claimed = outbox::claim_due(&app.db, worker, now(), 60, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    outbox::mark_delivered(&app.db, claimed[0].id, worker, now())
        .await
        .unwrap();
    outbox::mark_failed(
        &app.db,
        claimed[1].id,
        worker,
        "550 no such user",
        now(),
        true,
    )
    .await
    .unwrap();

    let expected = expected_results(true, false, 1, &[claimed[1].id]);
    assert_health(&app, 500, expected).await;

    outbox::dismiss_dead(&app.db, &[claimed[1].id], now())
        .await
        .unwrap();
    assert_health(&app, 200, expected_results(true, true, 1, &[])).await;
}

#[tokio::test]
async fn database_down_is_a_500() {
    let app = TestApp::new().await;
    app.db.pool.close().await;
    assert_health(&app, 500, expected_results(false, false, 0, &[])).await;
}

#[tokio::test]
async fn redis_is_reported_beside_the_results_and_counts() {
    // nothing listens on port 1: the connection is refused at once
    let app = TestApp::with_vars(&[("REDIS_URL", "redis://127.0.0.1:1/")]).await;
    let (status, body) = checked(&call(&app, get()).await, true);
    assert_eq!(status, 500);
    assert_eq!(
        json!({"checker": body["redis"]["checker"], "passed": body["redis"]["passed"],
               "output": body["redis"]["output"]}),
        json!({"checker": "redis_ok", "passed": false,
               "output": "redis unreachable: rate limits are not enforced"})
    );
    // the old service's two results are untouched by it
    assert_eq!(body["results"][0]["passed"], true);
    assert_eq!(body["results"][1]["passed"], true);
}

#[tokio::test]
async fn other_methods_are_405() {
    let app = TestApp::new().await;
    let methods = ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
    assert_methods_not_allowed(|req| call(&app, req), &event(), &methods).await;
}
