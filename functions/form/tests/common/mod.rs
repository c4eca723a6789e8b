//! Helpers of the form handler tests: the recorded events (tests/events), the request
//! bodies and the expected JSON of contract section 4, and the e-mails a request queued.

#![allow(dead_code)]

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::domain::outbox::OutboxMessage;
use shared::testing::{Event, TestApp, body_json, first_link};

pub const NO_INPUT: &str = "No input data provided";
pub const METHOD_NOT_ALLOWED: &str = "The method is not allowed for the requested URL.";
pub const MISSING_HEADER: &str = "Missing Authorization Header";
pub const MISSING: &str = "Missing data for required field.";
pub const NOT_STRING: &str = "Not a valid string.";
pub const NOT_INTEGER: &str = "Not a valid integer.";
pub const NOT_NUMBER: &str = "Not a valid number.";
pub const NOT_CHOICE: &str = "Not a valid choice.";
pub const NOT_NULL: &str = "Field may not be null.";
pub const TOO_BIG: &str = "Must be less than 100000000000000.";
pub const INPUT_FIELDS: [&str; 6] = [
    "time",
    "customer_name",
    "course",
    "payment_method",
    "amount",
    "receipt",
];
/// Links in e-mails start with this (`PUBLIC_HOST`, plain http without `X-Forwarded-Proto`).
pub const RESOLVE_PREFIX: &str = "http://bt.example.test/resolve?token=";

pub fn bad_time() -> Value {
    json!({"_schema": ["time must be a valid Unix timestamp"]})
}

pub fn too_long(n: usize) -> String {
    format!("Longer than maximum length {n}.")
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
    let mut body = form_body();
    for (key, value) in changes.as_object().expect("an object") {
        body[key] = value.clone();
    }
    body
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
    let req = with_json(
        "form_post.json",
        &app.access_token(username),
        &body.to_string(),
    );
    let resp = call(app, req).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.body());
    body_json(&resp)["id"].as_i64().expect("an id")
}

/// The highest outbox id so far (0 when empty), for `mails_since`.
pub async fn outbox_max_id(app: &TestApp) -> i64 {
    app.outbox().await.iter().map(|m| m.id).max().unwrap_or(0)
}

/// The e-mails queued after `since`, oldest first.
pub async fn mails_since(app: &TestApp, since: i64) -> Vec<OutboxMessage> {
    let mut mails = app.outbox().await;
    mails.retain(|m| m.id > since);
    mails
}

/// The button link of an e-mail (the first link of its HTML that is no logo).
pub fn mail_link(mail: &OutboxMessage) -> String {
    let html = mail.html_body.replace("/static/logo.png", "");
    let start = html
        .find(RESOLVE_PREFIX)
        .expect("a resolve link in the e-mail");
    first_link(&html[start..]).expect("a link")
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

pub async fn set_admin(app: &TestApp, username: &str, is_admin: bool) {
    let user = app.find_user(username).await.expect("the user");
    shared::store::users::set_admin(&app.db.pool, user.id, is_admin)
        .await
        .expect("set admin");
}

/// Resolves a form the way `PUT /form/resolve` does.
pub async fn resolve(app: &TestApp, id: i64) -> Value {
    let base = shared::app::mail::LinkBase {
        scheme: "http".into(),
    };
    let (form, _) = shared::app::resolve::resolve(app, &base, shared::domain::form::FormId(id))
        .await
        .unwrap_or_else(|e| panic!("cannot resolve form {id}: {e:?}"));
    serde_json::to_value(form).expect("JSON")
}
