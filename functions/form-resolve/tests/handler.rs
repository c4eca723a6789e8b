//! `PUT /api/v1/form/resolve` in-process: `form_resolve::handle` with events recorded from
//! the project's emulator (tests/events), against a throwaway SQLite database. The expected
//! answers are the contract's (sections 1, 2, 4 and 6) as tests/test_forms.py asserts them.

use form_resolve::handle;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::domain::jwt::TokenType;
use shared::domain::now;
use shared::testing::messages::*;
use shared::testing::{
    Event, TestApp, assert_body_required, assert_json, assert_message, assert_methods_not_allowed,
    assert_refusals, body_json, form_fields,
};

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

/// A form of `username`'s ([`form_fields`] with `changes`), created the way `POST /form`
/// does (its "new form" e-mails included: tests compare the outbox from a mark on).
async fn form_of(app: &TestApp, username: &str, changes: &Value) -> i64 {
    app.create_form(username, &form_fields(changes)).await
}

#[tokio::test]
async fn an_admin_resolves_a_form_and_the_submitter_is_emailed_once() {
    let app = TestApp::new().await;
    app.named_user("rita", "Rita", Some("Resolved")).await;
    app.admin("adm").await;
    let id = form_of(
        &app,
        "rita",
        &json!({"payment_method": "cheque", "amount": "77.1"}),
    )
    .await;
    let before = app.stored_form(id).await.unwrap();
    assert_eq!(before["resolved_at"], Value::Null);
    let since = app.outbox_max_id().await;
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
    assert_eq!(app.stored_form(id).await.unwrap(), expected);

    let mails = app.mails_since(since).await;
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
    let since = app.outbox_max_id().await;
    for admin in ["adm", "root"] {
        let resp = call(&app, put_id(&app, admin, &json!(id))).await;
        assert_message(&resp, 400, &format!("Form {id} is already resolved"));
    }
    assert!(app.mails_since(since).await.is_empty());
    assert_eq!(app.stored_form(id).await.unwrap(), first);
}

#[tokio::test]
async fn a_missing_form_is_400() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let id = form_of(&app, "alice", &json!({})).await;
    let resp = call(&app, put_id(&app, "root", &json!(id + 1))).await;
    assert_message(&resp, 400, &format!("Form {} does not exist", id + 1));
    app.delete_form("alice", id).await;
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
    app.set_admin("demoted", false).await;
    let since = app.outbox_max_id().await;
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
    assert_eq!(
        app.stored_form(id).await.unwrap()["resolved_at"],
        Value::Null
    );
    assert!(app.mails_since(since).await.is_empty());
    // admin status is read live: promoted again, the same token works
    app.set_admin("demoted", true).await;
    let resp = call(&app, put_id(&app, "demoted", &json!(id))).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn token_refusals_of_section_2() {
    let app = TestApp::new().await;
    let refusals = app.authentication_refusals(Some(TokenType::Access));
    let req = event("resolve_put.json").with("body", r#"{"id": 1}"#);
    assert_refusals(|req| call(&app, req), &req, &refusals).await;
}

#[tokio::test]
async fn a_body_is_required_before_authentication() {
    let app = TestApp::new().await;
    let root = app.access_token("root");
    let put = event("resolve_put.json");
    assert_body_required(|req| call(&app, req), &put, &root, r#"{"id": 1}"#, "id=1").await;
}

#[tokio::test]
async fn other_methods_are_405() {
    let app = TestApp::new().await;
    let get = event("resolve_get.json").request();
    assert_message(&call(&app, get).await, 405, METHOD_NOT_ALLOWED);
    let req = event("resolve_put.json")
        .with("token", app.access_token("root"))
        .with("body", r#"{"id": 1}"#);
    let methods = ["GET", "POST", "PATCH", "DELETE"];
    assert_methods_not_allowed(|req| call(&app, req), &req, &methods).await;
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
    assert_eq!(body_json(&resp), app.stored_form(id).await.unwrap());
    assert!(body_json(&resp)["resolved_at"].is_i64());
}

#[tokio::test]
async fn concurrent_resolves_exactly_one_wins_and_one_email_goes_out() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let id = form_of(&app, "alice", &json!({})).await;
    let since = app.outbox_max_id().await;
    let put = || call(&app, put_id(&app, "root", &json!(id)));
    let (a, b, c, d, e, f) = tokio::join!(put(), put(), put(), put(), put(), put());
    let responses = [a, b, c, d, e, f];
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 400, 400, 400, 400, 400]);
    for resp in responses.iter().filter(|r| r.status() == 400) {
        assert_message(resp, 400, &format!("Form {id} is already resolved"));
    }
    let mails = app.mails_since(since).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to_address, "alice@example.test");
}
