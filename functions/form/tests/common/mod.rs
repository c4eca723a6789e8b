//! Helpers of the form handler tests: the recorded events (tests/events), the request
//! bodies and the expected JSON of contract section 4, and the e-mails a request queued.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::testing::{Event, TestApp, body_json, json_with};

pub use shared::testing::messages::*;

pub const TOO_BIG: &str = "Must be less than 100000000000000.";
pub const INPUT_FIELDS: [&str; 6] = [
    "time",
    "customer_name",
    "course",
    "payment_method",
    "amount",
    "receipt",
];

pub fn bad_time() -> Value {
    json!({"_schema": ["time must be a valid Unix timestamp"]})
}

pub fn not_exist(id: i64) -> String {
    format!("Form {id} does not exist")
}

pub fn event(name: &str) -> Event {
    Event::fixture(env!("CARGO_MANIFEST_DIR"), name)
}

/// A recorded event with a bearer token and a raw JSON text as its body.
pub fn with_json(fixture: &str, token: &str, text: &str) -> Request {
    event(fixture)
        .with("token", token)
        .with("body", text)
        .request()
}

/// A recorded event as `username` (a fresh access token) with `body` as its JSON body.
pub fn as_user(app: &TestApp, fixture: &str, username: &str, body: &Value) -> Request {
    with_json(fixture, &app.access_token(username), &body.to_string())
}

pub async fn call(app: &TestApp, req: Request) -> Response<Body> {
    form::handle(app, req).await
}

/// The six input fields, as the app sends them.
pub fn form_body() -> Value {
    json!({
        "time": 1711302900,
        "customer_name": "Jane Customer",
        "course": "Advanced Basket Weaving",
        "payment_method": "cash",
        "amount": 123.99,
        "receipt": "R-0001",
    })
}

/// `form_body()` with some members replaced.
pub fn form_with(changes: &Value) -> Value {
    json_with(&form_body(), changes)
}

/// The contract's 9-key JSON of a form created from `body`.
pub fn expected_form(id: i64, submitter: &str, body: &Value, amount: &str) -> Value {
    json!({
        "id": id,
        "submitter": submitter,
        "time": body["time"],
        "customer_name": body["customer_name"],
        "course": body["course"],
        "payment_method": body["payment_method"],
        "amount": amount,
        "receipt": body["receipt"],
        "resolved_at": null,
    })
}

/// `GET /api/v1/form` as `username`: must be a 200; its JSON array.
pub async fn list(app: &TestApp, username: &str) -> Value {
    let req = event("form_get.json")
        .with("token", app.access_token(username))
        .request();
    let resp = call(app, req).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.body());
    body_json(&resp)
}

/// One form as root (an admin) lists it, `None` when it is gone.
pub async fn get_form(app: &TestApp, id: i64) -> Option<Value> {
    let forms = list(app, "root").await;
    forms
        .as_array()
        .expect("a list")
        .iter()
        .find(|f| f["id"] == id)
        .cloned()
}

/// Creates a form through the handler as `username`; its id.
pub async fn create(app: &TestApp, username: &str, body: &Value) -> i64 {
    let resp = call(app, as_user(app, "form_post.json", username, body)).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.body());
    body_json(&resp)["id"].as_i64().expect("an id")
}

/// Addresses of the current admins, sorted.
pub async fn admin_emails(app: &TestApp) -> Vec<String> {
    let mut emails: Vec<String> = shared::store::users::admins(&app.db.pool)
        .await
        .expect("admins")
        .into_iter()
        .map(|u| u.email)
        .collect();
    emails.sort();
    emails
}
