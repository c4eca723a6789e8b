//! `/api/v1/auth/token` in-process: `auth_token::handle` with events recorded from the
//! project's emulator (tests/events), against a throwaway SQLite database. The expected
//! answers are the contract's (sections 2-3) as tests/test_auth.py asserts them.

use auth_token::handle;
use lambda_http::http::header;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::app::auth;
use shared::domain::jwt::TokenType;
use shared::domain::now;
use shared::testing::{
    Event, TestApp, assert_message, assert_methods_not_allowed, assert_no_content, assert_refusals,
    body_json, decode_jwt,
};

const REVOKED: &str = "Token has been revoked";

fn event(name: &str) -> Event {
    Event::fixture(env!("CARGO_MANIFEST_DIR"), name)
}

fn refresh(token: &str) -> Request {
    event("token_post.json").with("token", token).request()
}

fn logout(token: &str) -> Request {
    event("token_delete.json").with("token", token).request()
}

/// Every refusal of contract section 2 for `fixture`, wanting a token of kind `wanted`.
async fn assert_token_refusals(app: &TestApp, fixture: &str, wanted: Option<TokenType>) {
    let refusals = app.authentication_refusals(wanted);
    assert_refusals(|req| call(app, req), &event(fixture), &refusals).await;
}

async fn call(app: &TestApp, req: Request) -> Response<Body> {
    handle(app, req).await
}

/// Whether an access token still authenticates (what every access endpoint checks).
async fn access_works(app: &TestApp, token: &str) -> Result<(), String> {
    auth::authenticate(app, token, Some(TokenType::Access))
        .await
        .map(|_| ())
        .map_err(|e| shared::web::http::ApiError::from(e).to_string())
}

// ------------------------------------------------------------------------ POST: refresh

#[tokio::test]
async fn refresh_gives_exactly_a_new_access_token() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let refresh_token = app.refresh_token("alice");
    let before = now();
    let resp = call(&app, refresh(&refresh_token)).await;
    let after = now();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    let body = body_json(&resp);
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let access = body["access_token"].as_str().unwrap();
    let (head, claims) = decode_jwt(access);
    assert_eq!(head, json!({"typ": "JWT", "alg": "HS256"}));
    let iat = claims["iat"].as_i64().unwrap();
    assert!((before..=after).contains(&iat));
    assert_eq!(
        claims,
        json!({"iat": iat, "nbf": iat, "exp": iat + 900, "jti": claims["jti"],
               "identity": "alice", "type": "access", "fresh": false})
    );
    assert_ne!(claims["jti"], decode_jwt(&refresh_token).1["jti"]);
    assert_eq!(access_works(&app, access).await, Ok(()));
}

#[tokio::test]
async fn refresh_token_is_not_rotated() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let refresh_token = app.refresh_token("alice");
    let first = body_json(&call(&app, refresh(&refresh_token)).await)["access_token"].clone();
    let second = body_json(&call(&app, refresh(&refresh_token)).await)["access_token"].clone();
    let jti = |t: &serde_json::Value| decode_jwt(t.as_str().unwrap()).1["jti"].clone();
    assert_ne!(jti(&first), jti(&second));
    assert_eq!(access_works(&app, first.as_str().unwrap()).await, Ok(()));
    assert_eq!(access_works(&app, second.as_str().unwrap()).await, Ok(()));
}

#[tokio::test]
async fn refresh_refusals() {
    let app = TestApp::new().await;
    assert_token_refusals(&app, "token_post.json", Some(TokenType::Refresh)).await;
}

// ------------------------------------------------------------------------ DELETE: log out

#[tokio::test]
async fn logout_revokes_exactly_the_access_token() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let (mine, mine_refresh) = (app.access_token("alice"), app.refresh_token("alice"));
    let other = app.access_token("alice");
    assert_no_content(&call(&app, logout(&mine)).await);
    assert_eq!(
        access_works(&app, &mine).await,
        Err(format!("unauthorized: {REVOKED}"))
    );
    assert_message(&call(&app, logout(&mine)).await, 401, REVOKED);
    // everything else still works
    assert_eq!(access_works(&app, &other).await, Ok(()));
    assert_eq!(call(&app, refresh(&mine_refresh)).await.status(), 200);
}

#[tokio::test]
async fn logout_revokes_exactly_the_refresh_token() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let (mine, access) = (app.refresh_token("alice"), app.access_token("alice"));
    let other = app.refresh_token("alice");
    assert_no_content(&call(&app, logout(&mine)).await);
    assert_message(&call(&app, refresh(&mine)).await, 401, REVOKED);
    assert_message(&call(&app, logout(&mine)).await, 401, REVOKED);
    assert_eq!(access_works(&app, &access).await, Ok(()));
    assert_eq!(call(&app, refresh(&other)).await.status(), 200);
}

#[tokio::test]
async fn logout_with_both_tokens_like_the_app() {
    let app = TestApp::new().await;
    app.user("alice").await;
    let (access, refresh_token) = (app.access_token("alice"), app.refresh_token("alice"));
    assert_no_content(&call(&app, logout(&access)).await);
    assert_no_content(&call(&app, logout(&refresh_token)).await);
    assert_eq!(
        access_works(&app, &access).await,
        Err(format!("unauthorized: {REVOKED}"))
    );
    assert_message(&call(&app, refresh(&refresh_token)).await, 401, REVOKED);
}

#[tokio::test]
async fn logout_refusals() {
    let app = TestApp::new().await;
    assert_token_refusals(&app, "token_delete.json", None).await;
}

#[tokio::test]
async fn other_methods_are_405() {
    let app = TestApp::new().await;
    let req = event("token_post.json").with("token", app.refresh_token("root"));
    let methods = ["GET", "PUT", "PATCH", "HEAD"];
    assert_methods_not_allowed(|req| call(&app, req), &req, &methods).await;
}
