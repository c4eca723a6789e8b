//! `PUT /api/v1/form/resolve` in-process: `form_resolve::handle` with events recorded from
//! the project's emulator (tests/events), against a throwaway SQLite database. The expected
//! answers are the contract's (sections 1, 2, 4 and 6) as tests/test_forms.py asserts them.

use form_resolve::handle;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::domain::now;
use shared::testing::{Event, TestApp, UserSpec, assert_json, assert_message, body_json};

const NO_INPUT: &str = "No input data provided";
const METHOD_NOT_ALLOWED: &str = "The method is not allowed for the requested URL.";
const ADMIN_REQUIRED: &str = "This endpoint requires admin status";
const MISSING: &str = "Missing data for required field.";
const NOT_INTEGER: &str = "Not a valid integer.";
const NOT_NULL: &str = "Field may not be null.";

fn event(name: &str) -> Event {
    Event::fixture(env!("CARGO_MANIFEST_DIR"), name)
}

/// `PUT /api/v1/form/resolve` as python-requests sends it (`json=`), with a raw body.
fn put(token: &str, text: &str) -> Request {
    event("resolve_put.json")
        .with("token", token)
        .with("body", text)
        .request()
}

fn put_id(app: &TestApp, username: &str, id: &Value) -> Request {
    put(
        &app.access_token(username),
        &json!({ "id": id }).to_string(),
    )
}

async fn call(app: &TestApp, req: Request) -> Response<Body> {
    handle(app, req).await
}

/// A form of `username`'s, created the way `POST /form` does (its "new form" e-mails
/// included: tests compare the outbox from a point on, `mails_since`).
async fn form_of(app: &TestApp, username: &str, changes: &Value) -> i64 {
    let mut body = json!({"time": 1711302900, "customer_name": "Jane Customer",
        "course": "Course K", "payment_method": "cash", "amount": "123.99", "receipt": "R-1"});
    for (key, value) in changes.as_object().unwrap() {
        body[key] = value.clone();
    }
    app.create_form(username, &body).await
}

/// The form as its submitter's listing would show it (`forms::find`).
async fn stored(app: &TestApp, id: i64) -> Option<Value> {
    let form = shared::store::forms::find(&app.db.pool, shared::domain::form::FormId(id))
        .await
        .expect("find");
    form.map(|f| serde_json::to_value(f).unwrap())
}

async fn outbox_max_id(app: &TestApp) -> i64 {
    app.outbox().await.iter().map(|m| m.id).max().unwrap_or(0)
}

async fn mails_since(app: &TestApp, since: i64) -> Vec<shared::domain::outbox::OutboxMessage> {
    let mut mails = app.outbox().await;
    mails.retain(|m| m.id > since);
    mails
}

#[tokio::test]
async fn an_admin_resolves_a_form_and_the_submitter_is_emailed_once() {
    let app = TestApp::new().await;
    let spec = UserSpec {
        first_name: "Rita",
        last_name: Some("Resolved"),
        ..UserSpec::new("rita")
    };
    app.create_user(spec).await;
    app.admin("adm").await;
    let id = form_of(
        &app,
        "rita",
        &json!({"payment_method": "cheque", "amount": "77.1"}),
    )
    .await;
    let before = stored(&app, id).await.unwrap();
    assert_eq!(before["resolved_at"], Value::Null);
    let since = outbox_max_id(&app).await;
    let t0 = now();
    let resp = call(&app, put_id(&app, "adm", &json!(id))).await;
    let t1 = now();
    assert_eq!(resp.status(), 200);
    let form = body_json(&resp);
    let resolved_at = form["resolved_at"]
        .as_i64()
        .expect("resolved_at is an integer");
    assert!(
        (t0..=t1).contains(&resolved_at),
        "{resolved_at} not in {t0}..={t1}"
    );
    let mut expected = before.clone();
    expected["resolved_at"] = json!(resolved_at);
    assert_json(&resp, 200, &expected);
    assert_eq!(stored(&app, id).await.unwrap(), expected);

    let mails = mails_since(&app, since).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.to_address, "rita@example.test");
    assert_eq!(mail.subject, format!("Form no. {id}"));
    let text = &mail.text_body;
    assert!(text.to_lowercase().contains("resolved"), "{text}");
    assert!(text.contains("Cheque") && text.contains("€77.10"), "{text}");
    for part in [&mail.text_body, &mail.html_body] {
        assert!(!part.contains("/resolve?token=") && !part.contains("/reset-password"));
    }
}

#[tokio::test]
async fn a_second_resolve_is_400_and_sends_nothing() {
    let app = TestApp::new().await;
    app.user("alice").await;
    app.admin("adm").await;
    let id = form_of(&app, "alice", &json!({})).await;
    let first = body_json(&call(&app, put_id(&app, "adm", &json!(id))).await);
    let since = outbox_max_id(&app).await;
    for admin in ["adm", "root"] {
        let resp = call(&app, put_id(&app, admin, &json!(id))).await;
        assert_message(&resp, 400, &format!("Form {id} is already resolved"));
    }
    assert!(mails_since(&app, since).await.is_empty());
    assert_eq!(stored(&app, id).await.unwrap(), first);
}

#[tokio::test]
async fn a_missing_form_is_400() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let id = form_of(&app, "alice", &json!({})).await;
    let resp = call(&app, put_id(&app, "root", &json!(id + 1))).await;
    assert_message(&resp, 400, &format!("Form {} does not exist", id + 1));
    shared::app::forms::delete(
        &app,
        &app.caller("alice").await,
        shared::domain::form::FormId(id),
    )
    .await
    .unwrap();
    let resp = call(&app, put_id(&app, "root", &json!(id))).await;
    assert_message(&resp, 400, &format!("Form {id} does not exist"));
}

#[tokio::test]
async fn validation_errors_are_422() {
    let app = TestApp::new().await;
    let root = app.access_token("root");
    let cases = [
        (r#"{"id": "x"}"#, json!({"id": [NOT_INTEGER]})),
        (r#"{"id": true}"#, json!({"id": [NOT_INTEGER]})),
        (r#"{"id": 1.5}"#, json!({"id": [NOT_INTEGER]})),
        (r#"{"foo": 1}"#, json!({"id": [MISSING]})),
        (r#"{"id": null}"#, json!({"id": [NOT_NULL]})),
    ];
    for (text, expected) in cases {
        assert_json(&call(&app, put(&root, text)).await, 422, &expected);
    }
}

#[tokio::test]
async fn only_admins_resolve_and_that_is_checked_before_validation() {
    let app = TestApp::new().await;
    app.user("alice").await;
    app.admin("demoted").await;
    let id = form_of(&app, "alice", &json!({})).await;
    let demoted = app.find_user("demoted").await.unwrap();
    shared::store::users::set_admin(&app.db.pool, demoted.id, false)
        .await
        .unwrap();
    let since = outbox_max_id(&app).await;
    for user in ["alice", "demoted"] {
        assert_message(
            &call(&app, put_id(&app, user, &json!(id))).await,
            401,
            ADMIN_REQUIRED,
        );
        assert_message(
            &call(&app, put_id(&app, user, &json!("x"))).await,
            401,
            ADMIN_REQUIRED,
        );
    }
    assert_eq!(stored(&app, id).await.unwrap()["resolved_at"], Value::Null);
    assert!(mails_since(&app, since).await.is_empty());
    // admin status is read live: promoted again, the same token works
    shared::store::users::set_admin(&app.db.pool, demoted.id, true)
        .await
        .unwrap();
    let resp = call(&app, put_id(&app, "demoted", &json!(id))).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn token_refusals_of_section_2() {
    let app = TestApp::new().await;
    let body = r#"{"id": 1}"#;
    let anonymous = event("resolve_put.json")
        .with("token", "")
        .with("body", body)
        .without_header("authorization");
    assert_message(
        &call(&app, anonymous.request()).await,
        401,
        "Missing Authorization Header",
    );
    let refresh = app.refresh_token("root");
    assert_message(
        &call(&app, put(&refresh, body)).await,
        422,
        "Only access tokens are allowed",
    );
    assert_message(
        &call(&app, put("abc", body)).await,
        422,
        "Not enough segments",
    );
    let bad = app.forge_jwt(
        &json!({"typ": "JWT", "alg": "HS256"}),
        &app.standard_claims("root"),
        Some("other"),
    );
    assert_message(
        &call(&app, put(&bad, body)).await,
        422,
        "Signature verification failed",
    );
}

#[tokio::test]
async fn a_body_is_required_before_authentication() {
    let app = TestApp::new().await;
    let root = app.access_token("root");
    for text in ["{}", "[]", "null", "false", "0", "\"\""] {
        for token in [root.as_str(), "not-a-jwt"] {
            assert_message(&call(&app, put(token, text)).await, 400, NO_INPUT);
        }
        let anonymous = event("resolve_put.json")
            .with("token", "")
            .with("body", text)
            .without_header("authorization");
        assert_message(&call(&app, anonymous.request()).await, 400, NO_INPUT);
    }
    let absent = event("resolve_put.json")
        .with("token", root.as_str())
        .with("body", "");
    assert_message(
        &call(&app, absent.without_body().request()).await,
        400,
        NO_INPUT,
    );
    let text_plain = event("resolve_put.json")
        .with("token", root.as_str())
        .with("body", r#"{"id": 1}"#)
        .header("content-type", "text/plain");
    assert_message(&call(&app, text_plain.request()).await, 400, NO_INPUT);
    assert_message(
        &call(&app, put(&root, r#"{"id": "#)).await,
        400,
        "Failed to decode JSON object: EOF while parsing a value at line 1 column 7",
    );
}

#[tokio::test]
async fn other_methods_are_405() {
    let app = TestApp::new().await;
    let get = event("resolve_get.json").request();
    assert_message(&call(&app, get).await, 405, METHOD_NOT_ALLOWED);
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        let req = event("resolve_put.json")
            .with("token", app.access_token("root"))
            .with("body", r#"{"id": 1}"#)
            .method(method);
        assert_message(&call(&app, req.request()).await, 405, METHOD_NOT_ALLOWED);
    }
}

#[tokio::test]
async fn the_app_sends_a_double_slash_and_ids_as_digit_strings() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let id = form_of(&app, "alice", &json!({})).await;
    let req = event("resolve_put_app.json")
        .with("token", app.access_token("root"))
        .with("body", json!({"id": id.to_string()}).to_string());
    let resp = call(&app, req.request()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body_json(&resp), stored(&app, id).await.unwrap());
    assert!(body_json(&resp)["resolved_at"].is_i64());
}

#[tokio::test]
async fn concurrent_resolves_exactly_one_wins_and_one_email_goes_out() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let id = form_of(&app, "alice", &json!({})).await;
    let since = outbox_max_id(&app).await;
    let put = || call(&app, put_id(&app, "root", &json!(id)));
    let (a, b, c, d, e, f) = tokio::join!(put(), put(), put(), put(), put(), put());
    let responses = [a, b, c, d, e, f];
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 400, 400, 400, 400, 400]);
    for resp in responses.iter().filter(|r| r.status() == 400) {
        assert_message(resp, 400, &format!("Form {id} is already resolved"));
    }
    let mails = mails_since(&app, since).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to_address, "alice@example.test");
}
