//! `/api/v1/auth/login` in-process: `auth_login::handle` with events recorded from the
//! project's emulator (tests/events), against a throwaway SQLite database. The expected
//! answers are the contract's (sections 1-3) as tests/test_auth.py asserts them.

use auth_login::handle;
use lambda_http::http::header;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::app::auth::{self, Caller};
use shared::domain::jwt::TokenType;
use shared::domain::links::PasswordLinkKind;
use shared::domain::now;
use shared::testing::messages::*;
use shared::testing::{
    Event, PASSWORD_LINK, PUBLIC_HOST, ROOT_PASSWORD, TestApp, USER_PASSWORD, assert_body_required,
    assert_json, assert_message, assert_methods_not_allowed, assert_no_content, assert_refusals,
    body_json, button_link, decode_jwt, form_fields, header_refusals, link_token, sorted_keys,
};

const INVALID_CREDENTIALS: &str = "Invalid credentials";
const RESET_SUBJECT: &str = "BriefThreat password reset";

fn event(name: &str) -> Event {
    Event::fixture(env!("CARGO_MANIFEST_DIR"), name)
}

/// `POST /api/v1/auth/login` as python-requests sends it (`json=`).
fn post(body: &Value) -> Request {
    event("login_post.json")
        .with("body", body.to_string())
        .request()
}

fn credentials(username: &str, password: &str) -> Request {
    post(&json!({"username": username, "password": password}))
}

fn whoami(token: &str) -> Request {
    event("login_get.json").with("token", token).request()
}

fn put(token: &str, body: &Value) -> Request {
    event("login_put.json")
        .with("token", token)
        .with("body", body.to_string())
        .request()
}

fn patch(body: &Value) -> Request {
    event("login_patch.json")
        .with("body", body.to_string())
        .request()
}

async fn call(app: &TestApp, req: Request) -> Response<Body> {
    handle(app, req).await
}

/// The status of a login with these credentials.
async fn login_status(app: &TestApp, username: &str, password: &str) -> u16 {
    call(app, credentials(username, password))
        .await
        .status()
        .as_u16()
}

/// A successful login's answer: 200, and the username its access token names.
async fn logged_in_as(app: &TestApp, req: Request) -> String {
    let resp = call(app, req).await;
    assert_eq!(resp.status(), 200);
    let token = body_json(&resp)["access_token"]
        .as_str()
        .expect("an access token")
        .to_string();
    app.claims(&token).identity
}

// ------------------------------------------------------------------------ POST: log in

#[tokio::test]
async fn login_returns_exactly_an_access_and_a_refresh_token() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let before = now();
    let resp = call(&app, credentials("alice", USER_PASSWORD)).await;
    let after = now();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let body = body_json(&resp);
    assert_eq!(sorted_keys(&body), ["access_token", "refresh_token"]);

    let mut jtis = Vec::new();
    for (field, kind, lifetime) in [
        ("access_token", "access", 900),
        ("refresh_token", "refresh", 30 * 24 * 3600),
    ] {
        let token = body[field].as_str().unwrap();
        let (header, claims) = decode_jwt(token);
        assert_eq!(header, json!({"typ": "JWT", "alg": "HS256"}));
        let names = sorted_keys(&claims);
        let expected: &[&str] = if kind == "access" {
            &["exp", "fresh", "iat", "identity", "jti", "nbf", "type"]
        } else {
            &["exp", "iat", "identity", "jti", "nbf", "type"]
        };
        assert_eq!(names, expected, "{kind}");
        assert_eq!(claims["type"], kind);
        assert_eq!(claims["identity"], "alice");
        let iat = claims["iat"].as_i64().unwrap();
        assert!((before..=after).contains(&iat));
        assert_eq!(claims["nbf"], iat);
        assert_eq!(claims["exp"], iat + lifetime);
        if kind == "access" {
            assert_eq!(claims["fresh"], false);
        }
        // and it verifies with the deployment's key
        assert_eq!(app.claims(token).identity, "alice");
        jtis.push(claims["jti"].as_str().unwrap().to_string());
    }
    assert_ne!(jtis[0], jtis[1]);
}

#[tokio::test]
async fn login_as_root_with_root_password() {
    let app = TestApp::new().await;
    let req = credentials("root", ROOT_PASSWORD);
    assert_eq!(logged_in_as(&app, req).await, "root");
}

#[tokio::test]
async fn login_as_the_app_sends_it() {
    // `//api/v1/auth/login`, `application/json; charset=utf-8`, recorded as the emulator
    // passes the mobile app's request on.
    let app = TestApp::new().await;
    app.user("alice").await;
    let req = event("login_post_app.json")
        .with(
            "body",
            json!({"username": "alice", "password": USER_PASSWORD}).to_string(),
        )
        .request();
    assert_eq!(req.uri().path(), "//api/v1/auth/login");
    let resp = call(&app, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        body_json(&resp).as_object().unwrap().len(),
        2,
        "an access and a refresh token"
    );
}

#[tokio::test]
async fn login_usernames_compare_case_insensitively_and_extra_keys_are_ignored() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let req = post(&json!({"username": "ALICE", "password": USER_PASSWORD, "extra": [1]}));
    // the token names the user as stored
    assert_eq!(logged_in_as(&app, req).await, "alice");
}

#[tokio::test]
async fn login_refusals() {
    let app = TestApp::new().await;
    app.user("alice").await;
    app.user_without_password("newbie").await;
    let cases = [
        ("ghost", "whatever", 401, INVALID_CREDENTIALS),
        (
            "alice",
            "correct horse battery staplex",
            401,
            INVALID_CREDENTIALS,
        ),
        ("alice", "", 401, INVALID_CREDENTIALS),
        ("alice ", USER_PASSWORD, 401, INVALID_CREDENTIALS),
        // exactly at the length limit: valid, so the answer is about credentials
        (&"a".repeat(128), "x", 401, INVALID_CREDENTIALS),
        ("newbie", "anything", 400, "Your password is not set"),
        ("newbie", "", 400, "Your password is not set"),
    ];
    for (username, password, status, message) in cases {
        let resp = call(&app, credentials(username, password)).await;
        assert_message(&resp, status, message);
    }
}

#[tokio::test]
async fn login_validation_errors_report_every_field() {
    let app = TestApp::new().await;
    let cases = [
        (
            json!({"username": "someone"}),
            json!({"password": [MISSING]}),
        ),
        (json!({"password": "x"}), json!({"username": [MISSING]})),
        (
            json!({"username": 5, "password": "x"}),
            json!({"username": [NOT_STRING]}),
        ),
        (
            json!({"username": "someone", "password": 5}),
            json!({"password": [NOT_STRING]}),
        ),
        (
            json!({"username": ["a"], "password": {"a": 1}}),
            json!({"username": [NOT_STRING], "password": [NOT_STRING]}),
        ),
        (
            json!({"username": null, "password": "x"}),
            json!({"username": [NOT_NULL]}),
        ),
        (
            json!({"username": "a".repeat(129), "password": "x"}),
            json!({"username": ["Longer than maximum length 128."]}),
        ),
        (
            json!({"username": 5}),
            json!({"username": [NOT_STRING], "password": [MISSING]}),
        ),
        (
            json!({"unknown": 1}),
            json!({"username": [MISSING], "password": [MISSING]}),
        ),
        // a truthy value that is no object: validated as an empty one
        (
            json!([1]),
            json!({"username": [MISSING], "password": [MISSING]}),
        ),
        (
            json!("x"),
            json!({"username": [MISSING], "password": [MISSING]}),
        ),
    ];
    for (body, errors) in cases {
        let resp = call(&app, post(&body)).await;
        assert_json(&resp, 422, &errors);
    }
    // a number too large for a float is valid JSON: the field's 422, not a 400
    let req = event("login_post.json")
        .with("body", r#"{"username": 1e400}"#)
        .request();
    assert_json(
        &call(&app, req).await,
        422,
        &json!({"username": [NOT_STRING], "password": [MISSING]}),
    );
}

// ------------------------------------------------------------------------ body rules

#[tokio::test]
async fn a_body_is_required_before_authentication() {
    let app = TestApp::new().await;
    let token = app.access_token("root");
    let json = r#"{"username": "root", "password": "x"}"#;
    let form = "username=root&password=x";
    for fixture in ["login_post.json", "login_put.json", "login_patch.json"] {
        assert_body_required(|req| call(&app, req), &event(fixture), &token, json, form).await;
    }
}

#[tokio::test]
async fn malformed_json_is_a_400_with_the_parser_message() {
    let app = TestApp::new().await;
    let token = app.access_token("root");
    for fixture in ["login_post.json", "login_put.json", "login_patch.json"] {
        let req = event(fixture)
            .with("token", token.as_str())
            .with("body", r#"{"username": "#)
            .request();
        assert_message(&call(&app, req).await, 400, &truncated_json(13));
    }
}

#[tokio::test]
async fn other_methods_are_405() {
    let app = TestApp::new().await;
    let req = event("login_get.json").with("token", app.access_token("root"));
    let methods = ["DELETE", "HEAD", "OPTIONS"];
    assert_methods_not_allowed(|req| call(&app, req), &req, &methods).await;
}

// ------------------------------------------------------------------------ GET: who am I

#[tokio::test]
async fn whoami_has_exactly_the_eight_keys() {
    let app = TestApp::new().await;
    let ada = app.named_user("ada", "Ada", Some("Lovelace")).await;
    let resp = call(&app, whoami(&app.access_token("ada"))).await;
    assert_json(
        &resp,
        200,
        &json!({
            "id": ada.id,
            "username": "ada",
            "email": "ada@example.test",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "is_admin": false,
            "registration_time": ada.registration_time,
            "forms": [],
        }),
    );
}

#[tokio::test]
async fn whoami_of_root_an_admin_without_last_name_and_with_forms() {
    let app = TestApp::new().await;
    let root = app.find_user("root").await.unwrap();
    let form = form_fields(&json!({}));
    let first = app.create_form("root", &form).await;
    let second = app.create_form("root", &form).await;
    let resp = call(&app, whoami(&app.access_token("root"))).await;
    assert_json(
        &resp,
        200,
        &json!({
            "id": root.id,
            "username": "root",
            "email": "root@example.test",
            "first_name": "Administrator",
            "last_name": null,
            "is_admin": true,
            "registration_time": root.registration_time,
            "forms": [first, second],
        }),
    );
    assert!(first < second);
}

#[tokio::test]
async fn whoami_with_a_token_forged_with_the_right_secret() {
    // the positive control of the forged-token refusals below
    let app = TestApp::new().await;
    app.user("alice").await;
    let token = app.forge_jwt(
        &json!({"typ": "JWT", "alg": "HS256"}),
        &app.standard_claims("alice"),
        None,
    );
    let resp = call(&app, whoami(&token)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body_json(&resp)["username"], "alice");
}

#[tokio::test]
async fn whoami_refuses_missing_and_malformed_authorization() {
    let app = TestApp::new().await;
    let refusals = header_refusals();
    assert_refusals(|req| call(&app, req), &event("login_get.json"), &refusals).await;
}

#[tokio::test]
async fn whoami_refuses_every_bad_token_with_the_contract_message() {
    let app = TestApp::new().await;
    let refusals = app.token_refusals(Some(TokenType::Access));
    assert_refusals(|req| call(&app, req), &event("login_get.json"), &refusals).await;
}

#[tokio::test]
async fn whoami_refuses_a_revoked_token_and_only_that_one() {
    let app = TestApp::new().await;
    let alice = app.user("alice").await;
    let revoked = app.access_token("alice");
    let other = app.access_token("alice");
    let caller = Caller {
        claims: app.claims(&revoked),
        user: alice,
    };
    auth::revoke(&app, &caller).await.unwrap();
    assert_message(
        &call(&app, whoami(&revoked)).await,
        401,
        "Token has been revoked",
    );
    assert_eq!(call(&app, whoami(&other)).await.status(), 200);
}

#[tokio::test]
async fn whoami_reads_the_admin_flag_live() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let token = app.access_token("alice");
    assert_eq!(
        body_json(&call(&app, whoami(&token)).await)["is_admin"],
        false
    );
    app.set_admin("alice", true).await;
    assert_eq!(
        body_json(&call(&app, whoami(&token)).await)["is_admin"],
        true
    );
}

// ------------------------------------------------------------------------ PUT: own password

#[tokio::test]
async fn change_password_then_only_the_new_one_works_and_the_token_stays_valid() {
    let app = TestApp::new().await;
    let before = app.user("alice").await;
    let token = app.access_token("alice");
    let resp = call(&app, put(&token, &json!({"password": "a brand new one"}))).await;
    assert_no_content(&resp);
    assert_message(
        &call(&app, credentials("alice", USER_PASSWORD)).await,
        401,
        INVALID_CREDENTIALS,
    );
    assert_eq!(login_status(&app, "alice", "a brand new one").await, 200);
    assert_eq!(call(&app, whoami(&token)).await.status(), 200);
    // outstanding password links die with the change
    let after = app.find_user("alice").await.unwrap();
    assert_eq!(
        after.password_link_counter,
        before.password_link_counter + 1
    );
}

#[tokio::test]
async fn change_password_validation_leaves_the_password_alone() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let token = app.access_token("alice");
    let cases = [
        (
            json!({"password": 12345678}),
            json!({"password": [NOT_STRING]}),
        ),
        (
            json!({"password": ["a"]}),
            json!({"password": [NOT_STRING]}),
        ),
        (json!({"password": null}), json!({"password": [NOT_NULL]})),
        (json!({"pass": "x"}), json!({"password": [MISSING]})),
        (
            json!({"password": ""}),
            json!({"password": ["Shorter than minimum length 1."]}),
        ),
        (
            json!({"password": "p".repeat(1025)}),
            json!({"password": ["Longer than maximum length 1024."]}),
        ),
    ];
    for (body, errors) in cases {
        assert_json(&call(&app, put(&token, &body)).await, 422, &errors);
    }
    assert_eq!(login_status(&app, "alice", USER_PASSWORD).await, 200);
}

#[tokio::test]
async fn change_password_needs_an_access_token() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let req = event("login_put.json").with("body", json!({"password": "new"}).to_string());
    let refusals = app.authentication_refusals(Some(TokenType::Access));
    assert_refusals(|req| call(&app, req), &req, &refusals).await;
    assert_eq!(login_status(&app, "alice", USER_PASSWORD).await, 200);
}

// ------------------------------------------------------------------------ PATCH: reset e-mail

#[tokio::test]
async fn reset_request_queues_the_reset_email_and_kills_older_links() {
    let app = TestApp::new().await;
    let grace = app.named_user("grace", "Grace", Some("Hopper")).await;
    let resp = call(&app, patch(&json!({"username": "grace"}))).await;
    assert_no_content(&resp);
    let mails = app.mail_to("grace@example.test").await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.subject, RESET_SUBJECT);
    assert_eq!(mail.to_name, "Grace Hopper");
    let signed = app
        .links
        .verify_password(&link_token(mail, PASSWORD_LINK))
        .expect("a valid password link");
    assert_eq!(signed.user_id, grace.id.0);
    assert_eq!(signed.kind, PasswordLinkKind::Reset);
    // the counter moved on: every earlier link is dead
    assert_eq!(signed.counter, grace.password_link_counter + 1);
    assert_eq!(
        app.find_user("grace").await.unwrap().password_link_counter,
        signed.counter
    );
}

#[tokio::test]
async fn reset_links_ignore_the_host_header_and_follow_the_forwarded_scheme() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let req = event("login_patch.json")
        .with("body", r#"{"username": "alice"}"#)
        .header("host", "evil.example")
        .header("x-forwarded-proto", "https")
        .request();
    assert_no_content(&call(&app, req).await);
    let mail = app.mail_to("alice@example.test").await.remove(0);
    let link = button_link(&mail);
    assert!(
        link.starts_with(&format!("https://{PUBLIC_HOST}/reset-password?token=")),
        "{link}"
    );
    assert!(!mail.html_body.contains("evil.example"));
}

#[tokio::test]
async fn reset_request_refusals() {
    let app = TestApp::new().await;
    app.user_without_password("newbie").await;
    assert_message(
        &call(&app, patch(&json!({"username": "ghost"}))).await,
        400,
        "User ghost does not exist",
    );
    assert_message(
        &call(&app, patch(&json!({"username": "newbie"}))).await,
        400,
        "User newbie's password has not been set",
    );
    for (body, errors) in [
        (json!({"username": 5}), json!({"username": [NOT_STRING]})),
        (json!({"username": null}), json!({"username": [NOT_NULL]})),
        (json!({"user": "x"}), json!({"username": [MISSING]})),
    ] {
        assert_json(&call(&app, patch(&body)).await, 422, &errors);
    }
    assert!(app.outbox().await.is_empty(), "no e-mail for a refusal");
}
