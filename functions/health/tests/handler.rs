//! `GET /health` in-process: `health::handle` with an event recorded from the project's
//! emulator (tests/events), against a throwaway SQLite database. The expected answers are
//! the contract's (section 7) as tests/test_foundation.py asserts them.

use lambda_http::http::header;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::domain::now;
use shared::store::outbox;
use shared::testing::{Event, TestApp, assert_message, body_json};

const METHOD_NOT_ALLOWED: &str = "The method is not allowed for the requested URL.";

fn get() -> Request {
    Event::fixture(env!("CARGO_MANIFEST_DIR"), "health_get.json").request()
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
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    let mut expected = vec!["hostname", "results", "status", "timestamp"];
    if redis {
        expected.insert(1, "redis");
    }
    assert_eq!(keys, expected);
    assert_eq!(body["hostname"], health::hostname());
    assert!(body["timestamp"].is_f64());
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    let mut all = results.clone();
    if redis {
        all.push(body["redis"].clone());
    }
    for result in &all {
        let mut keys: Vec<&str> = result
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
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
    let (status, body) = checked(&call(&app, get()).await, false);
    assert_eq!(status, 200);
    assert_eq!(
        results(&body),
        json!([
            {"checker": "db_ok", "passed": true, "output": "database ok"},
            {"checker": "tasks_ok", "passed": true, "output": {"succeeded": 0, "failed": []}},
        ])
    );
}

#[tokio::test]
async fn head_and_leading_slashes_answer_the_same() {
    let app = TestApp::new().await;
    let head = Event::fixture(env!("CARGO_MANIFEST_DIR"), "health_get.json")
        .method("HEAD")
        .request();
    assert_eq!(checked(&call(&app, head).await, false).0, 200);
    let slashes = Event::fixture(env!("CARGO_MANIFEST_DIR"), "health_get.json")
        .path("//health")
        .request();
    assert_eq!(checked(&call(&app, slashes).await, false).0, 200);
}

#[tokio::test]
async fn delivered_mail_counts_and_a_dead_letter_fails_until_dismissed() {
    let app = TestApp::new().await;
    let form = json!({"time": 1711302900, "customer_name": "C", "course": "K",
                      "payment_method": "cash", "amount": "1.00", "receipt": "R"});
    app.admin("boss").await;
    app.create_form("root", &form).await; // one "new form" e-mail per admin: two
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

    let (status, body) = checked(&call(&app, get()).await, false);
    assert_eq!(status, 500);
    assert_eq!(
        results(&body),
        json!([
            {"checker": "db_ok", "passed": true, "output": "database ok"},
            {"checker": "tasks_ok", "passed": false,
             "output": {"succeeded": 1, "failed": [claimed[1].id]}},
        ])
    );

    outbox::dismiss_dead(&app.db, &[claimed[1].id], now())
        .await
        .unwrap();
    let (status, body) = checked(&call(&app, get()).await, false);
    assert_eq!(status, 200);
    assert_eq!(
        body["results"][1]["output"],
        json!({"succeeded": 1, "failed": []})
    );
}

#[tokio::test]
async fn database_down_is_a_500() {
    let app = TestApp::new().await;
    app.db.pool.close().await;
    let (status, body) = checked(&call(&app, get()).await, false);
    assert_eq!(status, 500);
    assert_eq!(
        results(&body),
        json!([
            {"checker": "db_ok", "passed": false, "output": "database unreachable"},
            {"checker": "tasks_ok", "passed": false, "output": {"succeeded": 0, "failed": []}},
        ])
    );
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
    for method in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        let req = Event::fixture(env!("CARGO_MANIFEST_DIR"), "health_get.json")
            .method(method)
            .request();
        assert_message(&call(&app, req).await, 405, METHOD_NOT_ALLOWED);
    }
}
