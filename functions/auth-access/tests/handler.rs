//! `PATCH /api/v1/auth/access` in-process: `auth_access::handle` with an event recorded
//! from the project's emulator (tests/events), against a throwaway SQLite database. The
//! expected answers are the contract's (sections 1-3) as tests/test_auth.py asserts them.

use auth_access::handle;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::domain::jwt::TokenType;
use shared::testing::messages::*;
use shared::testing::{
    Event, TestApp, assert_body_required, assert_json, assert_message, assert_methods_not_allowed,
    assert_no_content, assert_refusals,
};

fn event() -> Event {
    Event::fixture(env!("CARGO_MANIFEST_DIR"), "access_patch.json")
}

fn patch(token: &str, body: &Value) -> Request {
    event()
        .with("token", token)
        .with("body", body.to_string())
        .request()
}

async fn call(app: &TestApp, req: Request) -> Response<Body> {
    handle(app, req).await
}

async fn as_root(app: &TestApp, body: &Value) -> Response<Body> {
    call(app, patch(&app.access_token("root"), body)).await
}

async fn is_admin(app: &TestApp, username: &str) -> bool {
    app.find_user(username).await.unwrap().is_admin
}

/// `PATCH` with `token` and `body` is refused: the caller is no admin (now).
async fn assert_admin_required(app: &TestApp, token: &str, body: &Value) {
    assert_message(&call(app, patch(token, body)).await, 401, ADMIN_REQUIRED);
}

#[tokio::test]
async fn promote_and_demote() {
    let app = TestApp::new().await;
    app.user("alice").await;
    assert_no_content(&as_root(&app, &json!({"username": "alice", "is_admin": true})).await);
    assert!(is_admin(&app, "alice").await);
    // usernames compare case-insensitively; the old service's boolean spellings count
    assert_no_content(&as_root(&app, &json!({"username": "ALICE", "is_admin": "false"})).await);
    assert!(!is_admin(&app, "alice").await);
    assert_no_content(&as_root(&app, &json!({"username": "alice", "is_admin": 1})).await);
    assert!(is_admin(&app, "alice").await);
}

#[tokio::test]
async fn without_is_admin_nothing_changes() {
    let app = TestApp::new().await;
    app.admin("boss").await;
    assert_no_content(&as_root(&app, &json!({"username": "boss"})).await);
    assert!(is_admin(&app, "boss").await);
}

#[tokio::test]
async fn unknown_user() {
    let app = TestApp::new().await;
    assert_message(
        &as_root(&app, &json!({"username": "ghost", "is_admin": true})).await,
        400,
        "User 'ghost' does not exist",
    );
}

#[tokio::test]
async fn validation_comes_before_existence() {
    // "someone" does not exist: validation (422) comes first
    let app = TestApp::new().await;
    app.user("alice").await;
    let cases = [
        (
            json!({"username": "someone", "is_admin": null}),
            json!({"is_admin": [NOT_NULL]}),
        ),
        (
            json!({"username": "someone", "is_admin": "maybe"}),
            json!({"is_admin": [NOT_BOOLEAN]}),
        ),
        (json!({"is_admin": true}), json!({"username": [MISSING]})),
        (
            json!({"username": 7, "is_admin": [true]}),
            json!({"username": [NOT_STRING], "is_admin": [NOT_BOOLEAN]}),
        ),
        (json!({"username": null}), json!({"username": [NOT_NULL]})),
        (
            json!({"username": "alice", "is_admin": null}),
            json!({"is_admin": [NOT_NULL]}),
        ),
        (
            json!({"username": "alice", "is_admin": 2}),
            json!({"is_admin": [NOT_BOOLEAN]}),
        ),
    ];
    for (body, errors) in cases {
        assert_json(&as_root(&app, &body).await, 422, &errors);
    }
    assert!(
        !is_admin(&app, "alice").await,
        "a refused request changes nothing"
    );
}

#[tokio::test]
async fn requires_an_admin_read_live() {
    let app = TestApp::new().await;
    app.user("alice").await;
    app.admin("boss").await;
    let alice = app.access_token("alice");
    assert_admin_required(
        &app,
        &alice,
        &json!({"username": "alice", "is_admin": true}),
    )
    .await;
    // the admin check comes before validation
    assert_admin_required(&app, &alice, &json!({"username": 5})).await;
    assert!(!is_admin(&app, "alice").await);

    // a demotion applies to the demoted admin's very next request
    let boss = app.access_token("boss");
    assert_no_content(&as_root(&app, &json!({"username": "boss", "is_admin": false})).await);
    assert_admin_required(&app, &boss, &json!({"username": "boss", "is_admin": true})).await;
    // and a promotion to a token issued before it
    assert_no_content(&as_root(&app, &json!({"username": "alice", "is_admin": true})).await);
    assert_no_content(
        &call(
            &app,
            patch(&alice, &json!({"username": "boss", "is_admin": true})),
        )
        .await,
    );
    assert!(is_admin(&app, "boss").await);
}

#[tokio::test]
async fn authentication_refusals() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let promote = json!({"username": "alice", "is_admin": true}).to_string();
    let refusals = app.authentication_refusals(Some(TokenType::Access));
    let req = event().with("body", promote);
    assert_refusals(|req| call(&app, req), &req, &refusals).await;
    assert!(!is_admin(&app, "alice").await);
}

#[tokio::test]
async fn a_body_is_required_before_authentication() {
    let app = TestApp::new().await;
    let root = app.access_token("root");
    let json = r#"{"username": "root", "is_admin": true}"#;
    let form = "username=root&is_admin=true";
    assert_body_required(|req| call(&app, req), &event(), &root, json, form).await;
}

#[tokio::test]
async fn other_methods_are_405() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let req = event().with("token", app.access_token("root")).with(
        "body",
        json!({"username": "alice", "is_admin": true}).to_string(),
    );
    let methods = ["GET", "POST", "PUT", "DELETE", "HEAD"];
    assert_methods_not_allowed(|req| call(&app, req), &req, &methods).await;
    assert!(!is_admin(&app, "alice").await);
}
