//! `PATCH /api/v1/auth/access` in-process: `auth_access::handle` with an event recorded
//! from the project's emulator (tests/events), against a throwaway SQLite database. The
//! expected answers are the contract's (sections 1-3) as tests/test_auth.py asserts them.

use auth_access::handle;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::testing::{Event, TestApp, assert_json, assert_message, assert_no_content};

const ADMIN_REQUIRED: &str = "This endpoint requires admin status";
const METHOD_NOT_ALLOWED: &str = "The method is not allowed for the requested URL.";
const NO_INPUT: &str = "No input data provided";
const MISSING: &str = "Missing data for required field.";
const NOT_STRING: &str = "Not a valid string.";
const NOT_BOOLEAN: &str = "Not a valid boolean.";
const NOT_NULL: &str = "Field may not be null.";

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
    assert_message(
        &call(
            &app,
            patch(&alice, &json!({"username": "alice", "is_admin": true})),
        )
        .await,
        401,
        ADMIN_REQUIRED,
    );
    // the admin check comes before validation
    assert_message(
        &call(&app, patch(&alice, &json!({"username": 5}))).await,
        401,
        ADMIN_REQUIRED,
    );
    assert!(!is_admin(&app, "alice").await);

    // a demotion applies to the demoted admin's very next request
    let boss = app.access_token("boss");
    assert_no_content(&as_root(&app, &json!({"username": "boss", "is_admin": false})).await);
    assert_message(
        &call(
            &app,
            patch(&boss, &json!({"username": "boss", "is_admin": true})),
        )
        .await,
        401,
        ADMIN_REQUIRED,
    );
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
    let promote = json!({"username": "alice", "is_admin": true});
    let anonymous = event()
        .with("token", "")
        .with("body", promote.to_string())
        .without_header("authorization")
        .request();
    assert_message(
        &call(&app, anonymous).await,
        401,
        "Missing Authorization Header",
    );
    assert_message(
        &call(&app, patch(&app.refresh_token("root"), &promote)).await,
        422,
        "Only access tokens are allowed",
    );
    assert_message(
        &call(&app, patch("abc", &promote)).await,
        422,
        "Not enough segments",
    );
    assert!(!is_admin(&app, "alice").await);
}

#[tokio::test]
async fn a_body_is_required_before_authentication() {
    let app = TestApp::new().await;
    let root = app.access_token("root");
    let bodies: [(Option<&str>, Option<&str>); 9] = [
        (Some("{}"), Some("application/json")),
        (Some("[]"), Some("application/json")),
        (Some("null"), Some("application/json")),
        (Some("false"), Some("application/json")),
        (Some("0"), Some("application/json")),
        (Some("\"\""), Some("application/json")),
        (None, None),
        (
            Some(r#"{"username": "root", "is_admin": true}"#),
            Some("text/plain"),
        ),
        (
            Some("username=root&is_admin=true"),
            Some("application/x-www-form-urlencoded"),
        ),
    ];
    for token in [Some(root.as_str()), None, Some("abc")] {
        for (text, content_type) in bodies {
            let mut e = event()
                .with("token", token.unwrap_or_default())
                .with("body", "");
            if token.is_none() {
                e = e.without_header("authorization");
            }
            e = match text {
                Some(t) => e.body(t),
                None => e.without_body(),
            };
            e = match content_type {
                Some(ct) => e.header("content-type", ct),
                None => e.without_header("content-type"),
            };
            assert_message(&call(&app, e.request()).await, 400, NO_INPUT);
        }
    }
    let req = event()
        .with("token", root.as_str())
        .with("body", r#"{"username": "#)
        .request();
    assert_message(
        &call(&app, req).await,
        400,
        "Failed to decode JSON object: EOF while parsing a value at line 1 column 13",
    );
}

#[tokio::test]
async fn other_methods_are_405() {
    let app = TestApp::new().await;
    app.user("alice").await;
    for method in ["GET", "POST", "PUT", "DELETE", "HEAD"] {
        let req = event()
            .with("token", app.access_token("root"))
            .with(
                "body",
                json!({"username": "alice", "is_admin": true}).to_string(),
            )
            .method(method)
            .request();
        assert_message(&call(&app, req).await, 405, METHOD_NOT_ALLOWED);
    }
    assert!(!is_admin(&app, "alice").await);
}
