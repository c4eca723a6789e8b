//! `POST /api/v1/auth/register` in-process: `auth_register::handle` with events recorded
//! from the project's emulator (tests/events), against a throwaway SQLite database. The
//! expected answers are the contract's (sections 1-3, 6) as tests/test_auth.py asserts them.

use auth_register::handle;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::domain::jwt::TokenType;
use shared::domain::links::PasswordLinkKind;
use shared::domain::now;
use shared::testing::messages::*;
use shared::testing::{
    Event, PASSWORD_LINK, TestApp, assert_body_required, assert_json, assert_message,
    assert_methods_not_allowed, assert_no_content, assert_refusals, json_with, link_token,
};

const CONTROL: &str = "Must not contain control characters.";
const REGISTRATION_SUBJECT: &str = "BriefThreat registration";

fn event() -> Event {
    Event::fixture(env!("CARGO_MANIFEST_DIR"), "register_post.json")
}

fn register(token: &str, body: &Value) -> Request {
    event()
        .with("token", token)
        .with("body", body.to_string())
        .request()
}

fn body(username: &str) -> Value {
    json!({
        "username": username,
        "email": format!("{}@example.test", username.to_lowercase()),
        "first_name": "Test",
        "last_name": "User",
        "is_admin": false,
    })
}

async fn call(app: &TestApp, req: Request) -> Response<Body> {
    handle(app, req).await
}

/// Registers as root.
async fn as_root(app: &TestApp, body: &Value) -> Response<Body> {
    call(app, register(&app.access_token("root"), body)).await
}

#[tokio::test]
async fn register_creates_a_user_without_password_and_emails_a_set_password_link() {
    let app = TestApp::new().await;
    let before = now();
    let mut new = body("alan");
    new["first_name"] = json!("Alan");
    new["last_name"] = json!("Turing");
    assert_no_content(&as_root(&app, &new).await);
    let after = now();

    let user = app.find_user("alan").await.expect("the user");
    assert_eq!(user.email, "alan@example.test");
    assert_eq!(
        (user.first_name.as_str(), user.last_name.as_deref()),
        ("Alan", Some("Turing"))
    );
    assert!(!user.has_password());
    assert!(!user.is_admin);
    assert!((before..=after).contains(&user.registration_time));

    let mails = app.outbox().await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.to_address, "alan@example.test");
    assert_eq!(mail.to_name, "Alan Turing");
    assert_eq!(mail.subject, REGISTRATION_SUBJECT);
    let token = link_token(mail, PASSWORD_LINK);
    let signed = app.links.verify_password(&token).unwrap();
    assert_eq!(
        (signed.user_id, signed.counter, signed.kind),
        (user.id.0, 0, PasswordLinkKind::Set)
    );
}

#[tokio::test]
async fn register_without_last_name_null_or_missing() {
    let app = TestApp::new().await;
    for (name, last_name) in [("plato", Some(Value::Null)), ("homer", None)] {
        let mut new = body(name);
        new["first_name"] = json!("Plato");
        match last_name {
            Some(v) => new["last_name"] = v,
            None => {
                new.as_object_mut().unwrap().remove("last_name");
            }
        }
        assert_no_content(&as_root(&app, &new).await);
        assert_eq!(app.find_user(name).await.unwrap().last_name, None);
        let mail = app.mail_to(&format!("{name}@example.test")).await.remove(0);
        assert_eq!(mail.to_name, "Plato");
    }
}

#[tokio::test]
async fn register_an_admin_and_lower_case_the_email_domain() {
    let app = TestApp::new().await;
    let mut new = body("boss");
    new["is_admin"] = json!(true);
    new["email"] = json!("Mixed.Case_Boss@Example.ORG");
    assert_no_content(&as_root(&app, &new).await);
    let user = app.find_user("boss").await.unwrap();
    assert!(user.is_admin);
    assert_eq!(user.email, "Mixed.Case_Boss@example.org");
    assert_eq!(app.mail_to("Mixed.Case_Boss@example.org").await.len(), 1);
}

#[tokio::test]
async fn register_accepts_values_at_the_length_limits() {
    let app = TestApp::new().await;
    let username = "u".repeat(128);
    let new = json!({
        "username": username,
        "email": format!("{}@{}.example.test", "x".repeat(60), "d".repeat(54)),
        "first_name": "F".repeat(64),
        "last_name": "L".repeat(64),
        "is_admin": "yes",
    });
    assert_eq!(new["email"].as_str().unwrap().len(), 128);
    assert_no_content(&as_root(&app, &new).await);
    let user = app.find_user(&username).await.unwrap();
    assert_eq!(user.first_name, "F".repeat(64));
    assert!(
        user.is_admin,
        "\"yes\" is a boolean the old service accepted"
    );
}

#[tokio::test]
async fn register_validation_errors() {
    let app = TestApp::new().await;
    let with = |changes: Value| json_with(&body("valid"), &changes);
    let cases = [
        (
            with(json!({"is_admin": "maybe"})),
            json!({"is_admin": [NOT_BOOLEAN]}),
        ),
        (
            json!({"last_name": "Only"}),
            json!({"username": [MISSING], "email": [MISSING], "is_admin": [MISSING],
                   "first_name": [MISSING]}),
        ),
        (
            json!({"username": 1, "email": 2, "first_name": 3, "last_name": 4, "is_admin": "maybe"}),
            json!({"username": [NOT_STRING], "email": [NOT_STRING], "first_name": [NOT_STRING],
                   "last_name": [NOT_STRING], "is_admin": [NOT_BOOLEAN]}),
        ),
        (
            with(json!({"username": "u".repeat(129)})),
            json!({"username": ["Longer than maximum length 128."]}),
        ),
        (
            with(json!({"first_name": "f".repeat(65)})),
            json!({"first_name": ["Longer than maximum length 64."]}),
        ),
        (
            with(json!({"last_name": "l".repeat(65)})),
            json!({"last_name": ["Longer than maximum length 64."]}),
        ),
        (
            with(json!({"email": format!("{}@{}.example.test", "x".repeat(60), "d".repeat(55))})),
            json!({"email": ["Longer than maximum length 128."]}),
        ),
        (
            with(json!({"username": null})),
            json!({"username": [NOT_NULL]}),
        ),
        (with(json!({"email": null})), json!({"email": [NOT_NULL]})),
        (
            with(json!({"first_name": null})),
            json!({"first_name": [NOT_NULL]}),
        ),
        (
            with(json!({"is_admin": null})),
            json!({"is_admin": [NOT_NULL]}),
        ),
        (
            with(json!({"username": "a\r\nb", "first_name": "Eve\u{0}", "last_name": "x\ty"})),
            json!({"username": [CONTROL], "first_name": [CONTROL], "last_name": [CONTROL]}),
        ),
        // a whole-object error hides every field error
        (
            with(json!({"email": "not-an-email", "is_admin": "maybe"})),
            json!({"_schema": ["The email address is not valid. It must have exactly one @-sign."]}),
        ),
        (
            with(json!({"email": "two@at@example.test"})),
            json!({"_schema": ["The email address is not valid. It must have exactly one @-sign."]}),
        ),
        (
            with(json!({"email": "@example.test"})),
            json!({"_schema": ["There must be something before the @-sign."]}),
        ),
        (
            with(json!({"email": "nobody@"})),
            json!({"_schema": ["There must be something after the @-sign."]}),
        ),
        (
            with(json!({"email": ".dot@example.test"})),
            json!({"_schema": ["The email address contains a period in an invalid position."]}),
        ),
    ];
    for (new, errors) in cases {
        assert_json(&as_root(&app, &new).await, 422, &errors);
    }
    assert!(app.find_user("valid").await.is_none());
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn register_refuses_duplicates_case_insensitively() {
    let app = TestApp::new().await;
    assert_no_content(&as_root(&app, &body("Dup")).await);
    for name in ["Dup", "DUP", "dup"] {
        let mut again = body(name);
        again["email"] = json!(format!("other-{name}@example.test"));
        assert_message(
            &as_root(&app, &again).await,
            400,
            &format!("User {name} already exists"),
        );
    }
    for email in ["dup@example.test", "DUP@example.test", "dup@EXAMPLE.TEST"] {
        let mut again = body("other");
        again["email"] = json!(email);
        let shown = email.replace("EXAMPLE.TEST", "example.test");
        assert_message(
            &as_root(&app, &again).await,
            400,
            &format!("A user with email {shown} already exists"),
        );
    }
    assert!(app.find_user("other").await.is_none());
    assert_eq!(
        app.outbox().await.len(),
        1,
        "only the first registration's e-mail"
    );
    // validation comes before the duplicate checks
    let mut again = body("Dup");
    again["is_admin"] = json!("maybe");
    assert_json(
        &as_root(&app, &again).await,
        422,
        &json!({"is_admin": [NOT_BOOLEAN]}),
    );
}

#[tokio::test]
async fn register_requires_an_admin_read_live() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let token = app.access_token("alice");
    assert_message(
        &call(&app, register(&token, &body("new1"))).await,
        401,
        ADMIN_REQUIRED,
    );
    // the admin check comes before validation
    assert_message(
        &call(&app, register(&token, &json!({"username": 5}))).await,
        401,
        ADMIN_REQUIRED,
    );
    assert!(app.find_user("new1").await.is_none());
    assert!(app.outbox().await.is_empty());
    // promoted: the same token works at once; demoted: refused at once
    app.set_admin("alice", true).await;
    assert_no_content(&call(&app, register(&token, &body("new2"))).await);
    app.set_admin("alice", false).await;
    assert_message(
        &call(&app, register(&token, &body("new3"))).await,
        401,
        ADMIN_REQUIRED,
    );
}

#[tokio::test]
async fn register_authentication_refusals() {
    let app = TestApp::new().await;
    let refusals = app.authentication_refusals(Some(TokenType::Access));
    // the token is checked before validation: the same answers to an invalid body
    for body in [body("x"), json!({"username": 5})] {
        let req = event().with("body", body.to_string());
        assert_refusals(|req| call(&app, req), &req, &refusals).await;
    }
    assert!(app.find_user("x").await.is_none());
}

#[tokio::test]
async fn register_needs_a_body_before_anything_else() {
    let app = TestApp::new().await;
    let root = app.access_token("root");
    let json = r#"{"username": "x", "is_admin": true}"#;
    let form = "username=x&is_admin=true";
    assert_body_required(|req| call(&app, req), &event(), &root, json, form).await;
}

#[tokio::test]
async fn register_other_methods_are_405() {
    let app = TestApp::new().await;
    let req = event()
        .with("token", app.access_token("root"))
        .with("body", body("x").to_string());
    let methods = ["GET", "DELETE", "PUT", "PATCH", "HEAD"];
    assert_methods_not_allowed(|req| call(&app, req), &req, &methods).await;
    let req = event()
        .with("token", app.access_token("root"))
        .with("body", "")
        .path("//api/v1/auth/register")
        .method("DELETE")
        .without_body()
        .request();
    assert_message(&call(&app, req).await, 405, METHOD_NOT_ALLOWED);
    assert!(app.find_user("x").await.is_none());
}
