//! `/reset-password` in-process: `reset_password::handle` with events recorded from the
//! project's emulator (tests/events), against a throwaway SQLite database. The expected
//! pages are the contract's (sections 3, 5 and 6) as tests/test_password_pages.py asserts
//! them.

mod common;

use common::*;
use lambda_http::{Body, Response};
use shared::domain::links::PasswordLinkKind::{Reset, Set};
use shared::domain::links::ResolveLink;
use shared::domain::now;
use shared::testing::{
    PASSWORD_LINK, TestApp, USER_PASSWORD, assert_invalid_page, assert_method_not_allowed_page,
    assert_page, assert_server_error_page, body_text, link_token,
};

const SET_TITLE: &str = "Set your password";
const RESET_TITLE: &str = "Reset your password";
const NOT_SET: &str = "Your password is not set";

/// Opens the link `token`: the 200 password form titled `title`, with the token in it.
async fn assert_link_opens(app: &TestApp, token: &str, title: &str) -> Response<Body> {
    let resp = call(app, get_page(token)).await;
    assert_password_form(&resp, 200, title, token, None);
    resp
}

/// The link `token` is refused with `reason`, opened and posted with a new password alike.
async fn assert_link_refused(app: &TestApp, token: &str, reason: &str) {
    assert_invalid_page(&call(app, get_page(token)).await, reason);
    let resp = call(app, post_page(Some(token), Some("new-password-1"))).await;
    assert_invalid_page(&resp, reason);
}

// ------------------------------------------------------------------ missing and bad tokens

#[tokio::test]
async fn without_a_token_the_page_is_invalid_data() {
    let app = TestApp::new().await;
    for query in ["", "token=", "other=1"] {
        assert_invalid_page(&call(&app, get_query(query)).await, NO_TOKEN);
    }
    for token in [None, Some("")] {
        let resp = call(&app, post_page(token, Some("something"))).await;
        assert_invalid_page(&resp, NO_TOKEN);
    }
}

#[tokio::test]
async fn malformed_tokens_are_invalid_and_never_reflected() {
    let app = TestApp::new().await;
    let tokens = [
        "abc",
        "a.b",
        "...",
        "not-base64!!.also-not",
        "<script>alert(1)</script>",
        "\"><script>alert(1)</script>.x",
    ];
    for token in tokens {
        let get = call(&app, get_query(&format!("token={}", urlencode(token)))).await;
        let post = call(&app, post_page(Some(token), Some("a-password"))).await;
        for resp in [get, post] {
            assert_invalid_page(&resp, INVALID);
            assert!(!body_text(&resp).to_lowercase().contains("<script>"));
        }
    }
}

#[tokio::test]
async fn a_tampered_signature_or_payload_is_invalid() {
    let app = TestApp::new().await;
    let victim = app.user_without_password("victim").await;
    let attacker = app.user_without_password("attacker").await;
    let token = password_token(&app, &attacker, Set, now(), None);
    let (payload, signature) = token.split_once('.').unwrap();
    let i = signature.len() / 2;
    let flipped = if &signature[i..=i] == "A" { "B" } else { "A" };
    let bad_signature = format!(
        "{payload}.{}{flipped}{}",
        &signature[..i],
        &signature[i + 1..]
    );
    let victims = password_token(&app, &victim, Set, now(), None);
    let forged = format!("{}.{signature}", victims.split_once('.').unwrap().0);
    for bad in [&bad_signature, &forged] {
        assert_link_refused(&app, bad, INVALID).await;
    }
    for user in ["victim", "attacker"] {
        assert!(app.find_user(user).await.unwrap().password_hash.is_none());
        assert_eq!(app.login(user, "x").await, Err(NOT_SET.into()));
    }
    // the genuine link still works
    assert_link_opens(&app, &token, SET_TITLE).await;
}

#[tokio::test]
async fn links_signed_otherwise_or_for_nobody_are_invalid() {
    let app = TestApp::new().await;
    let user = app.user_without_password("carol").await;
    let link = shared::domain::links::PasswordLink {
        user_id: user.id.0,
        counter: user.password_link_counter,
        kind: Set,
        issued_at: now(),
    };
    let other_secret =
        shared::domain::links::LinkSigner::new("not-the-secret").sign_password(&link);
    let resolve_purpose = app.links.sign_resolve(&ResolveLink {
        admin_id: user.id.0,
        form_id: user.password_link_counter,
        issued_at: now(),
    });
    let nobody = shared::domain::links::PasswordLink {
        user_id: 2_000_000_000,
        ..link.clone()
    };
    let nobody = app.links.sign_password(&nobody);
    for token in [&other_secret, &resolve_purpose, &nobody] {
        assert_link_refused(&app, token, INVALID).await;
    }
    assert!(
        app.find_user("carol")
            .await
            .unwrap()
            .password_hash
            .is_none()
    );
}

#[tokio::test]
async fn reset_links_expire_after_the_reset_window() {
    let app = TestApp::new().await;
    let user = app.user("dave").await;
    let window = app.config.links.reset_window;
    let fresh = password_token(&app, &user, Reset, now() - 60, None);
    assert_link_opens(&app, &fresh, RESET_TITLE).await;
    let expired = password_token(&app, &user, Reset, now() - window - 60, None);
    assert_link_refused(&app, &expired, EXPIRED).await;
    assert_eq!(app.login("dave", USER_PASSWORD).await, Ok(()));
}

#[tokio::test]
async fn set_links_have_their_own_longer_window() {
    let app = TestApp::new().await;
    let user = app.user_without_password("erin").await;
    let (reset_window, setup_window) =
        (app.config.links.reset_window, app.config.links.setup_window);
    assert!(setup_window > reset_window + 600);
    let older = password_token(&app, &user, Set, now() - reset_window - 600, None);
    assert_link_opens(&app, &older, SET_TITLE).await;
    // a reset link of the same age has expired
    let reset = password_token(&app, &user, Reset, now() - reset_window - 600, None);
    assert_invalid_page(&call(&app, get_page(&reset)).await, EXPIRED);
    let expired = password_token(&app, &user, Set, now() - setup_window - 60, None);
    assert_link_refused(&app, &expired, EXPIRED).await;
    assert_eq!(app.login("erin", "x").await, Err(NOT_SET.into()));
}

#[tokio::test]
async fn a_link_with_an_old_counter_is_used() {
    let app = TestApp::new().await;
    let user = app.user("frank").await;
    let old = password_token(
        &app,
        &user,
        Reset,
        now(),
        Some(user.password_link_counter - 1),
    );
    assert_invalid_page(&call(&app, get_page(&old)).await, USED);
}

// ------------------------------------------------------------------ set-password flow

/// A fresh app whose root has no password: the registration e-mail with a set link.
async fn app_with_root_link() -> (TestApp, String) {
    let app = TestApp::with_vars(&[("ROOT_PASSWORD", "")]).await;
    let mails = app.mail_to("root@example.test").await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].subject, "BriefThreat registration");
    let token = link_token(&mails[0], PASSWORD_LINK);
    (app, token)
}

#[tokio::test]
async fn the_emailed_set_link_shows_the_set_password_form() {
    let (app, token) = app_with_root_link().await;
    let resp = assert_link_opens(&app, &token, SET_TITLE).await;
    assert!(!body_text(&resp).contains(RESET_TITLE));
    // HEAD is served as GET is
    let head = event("page_get.json")
        .with("token", token.as_str())
        .method("HEAD");
    assert_password_form(
        &call(&app, head.request()).await,
        200,
        SET_TITLE,
        &token,
        None,
    );
}

#[tokio::test]
async fn setting_a_first_password_through_the_link() {
    let (app, token) = app_with_root_link().await;
    for password in [None, Some("")] {
        let resp = call(&app, post_page(Some(&token), password)).await;
        assert_password_form(&resp, 422, SET_TITLE, &token, Some(ENTER_PASSWORD));
        // the link stays usable
        assert_link_opens(&app, &token, SET_TITLE).await;
    }
    assert_eq!(app.login("root", "x").await, Err(NOT_SET.into()));
    let resp = call(&app, post_page(Some(&token), Some("first password ü&=+"))).await;
    assert_page(&resp, 200, "Password saved", &[SAVED_FIRST]);
    assert_eq!(app.login("root", "first password ü&=+").await, Ok(()));
    // the link is used up
    assert_link_refused(&app, &token, USED).await;
    assert_eq!(app.login("root", "first password ü&=+").await, Ok(()));
}

#[tokio::test]
async fn the_form_posts_back_to_the_link_url_itself() {
    let app = TestApp::new().await;
    let first = app.user_without_password("gina").await;
    let second = app.user_without_password("hank").await;
    // the token in the query string and in the form
    let token = password_token(&app, &first, Set, now(), None);
    let req = event("page_post_link.json")
        .with("token", token.as_str())
        .with("body", form_body(Some(&token), Some("pw-gina-1")));
    assert_page(
        &call(&app, req.request()).await,
        200,
        "Password saved",
        &[SAVED_FIRST],
    );
    assert_eq!(app.login("gina", "pw-gina-1").await, Ok(()));
    // only in the query string (an empty form field counts as none)
    let token = password_token(&app, &second, Set, now(), None);
    let req = event("page_post_link.json")
        .with("token", token.as_str())
        .with("body", form_body(Some(""), Some("pw-hank-1")));
    assert_page(
        &call(&app, req.request()).await,
        200,
        "Password saved",
        &[SAVED_FIRST],
    );
    assert_eq!(app.login("hank", "pw-hank-1").await, Ok(()));
}

#[tokio::test]
async fn a_password_too_long_is_refused_and_the_link_kept() {
    let app = TestApp::new().await;
    let user = app.user_without_password("ivy").await;
    let token = password_token(&app, &user, Set, now(), None);
    let too_long = "x".repeat(1025);
    let resp = call(&app, post_page(Some(&token), Some(&too_long))).await;
    let message = "The password may be at most 1024 characters long.";
    assert_password_form(&resp, 422, SET_TITLE, &token, Some(message));
    let longest = "x".repeat(1024);
    let resp = call(&app, post_page(Some(&token), Some(&longest))).await;
    assert_page(&resp, 200, "Password saved", &[SAVED_FIRST]);
    assert_eq!(app.login("ivy", &longest).await, Ok(()));
}

// ------------------------------------------------------------------ reset flow

#[tokio::test]
async fn resetting_a_password_through_the_emailed_link() {
    let app = TestApp::new().await;
    app.user("jack").await;
    let token = request_reset(&app, "jack").await;
    let resp = assert_link_opens(&app, &token, RESET_TITLE).await;
    assert!(!body_text(&resp).contains(SET_TITLE));
    for password in [None, Some("")] {
        let resp = call(&app, post_page(Some(&token), password)).await;
        assert_password_form(&resp, 422, RESET_TITLE, &token, Some(ENTER_PASSWORD));
    }
    assert_eq!(app.login("jack", USER_PASSWORD).await, Ok(()));
    let resp = call(&app, post_page(Some(&token), Some("new-password-1"))).await;
    assert_page(&resp, 200, "Password saved", &[SAVED]);
    let invalid = Err("Invalid credentials".to_string());
    assert_eq!(app.login("jack", USER_PASSWORD).await, invalid);
    assert_eq!(app.login("jack", "new-password-1").await, Ok(()));
    assert_invalid_page(&call(&app, get_page(&token)).await, USED);
}

#[tokio::test]
async fn a_newer_link_supersedes_the_older() {
    let app = TestApp::new().await;
    app.user("kim").await;
    let first = request_reset(&app, "kim").await;
    let second = request_reset(&app, "kim").await;
    assert_ne!(first, second);
    assert_link_refused(&app, &first, USED).await;
    assert_eq!(app.login("kim", USER_PASSWORD).await, Ok(()));
    let resp = call(&app, post_page(Some(&second), Some("new-password-2"))).await;
    assert_page(&resp, 200, "Password saved", &[SAVED]);
    assert_eq!(app.login("kim", "new-password-2").await, Ok(()));
}

#[tokio::test]
async fn a_link_issued_before_a_password_change_dies() {
    let app = TestApp::new().await;
    let user = app.user("lee").await;
    let token = request_reset(&app, "lee").await;
    let body = serde_json::json!({ "password": "changed-1" });
    let password = shared::web::requests::new_password(body.as_object().unwrap()).unwrap();
    shared::app::auth::change_password(&app, &user, password)
        .await
        .unwrap();
    assert_link_refused(&app, &token, USED).await;
    assert_eq!(app.login("lee", "changed-1").await, Ok(()));
}

// ------------------------------------------------------------------ other methods, failures

#[tokio::test]
async fn other_methods_are_405_pages() {
    let app = TestApp::new().await;
    let user = app.user_without_password("mo").await;
    let token = password_token(&app, &user, Set, now(), None);
    let put = event("page_put.json").with("token", token.as_str());
    assert_method_not_allowed_page(&call(&app, put.request()).await);
    for method in ["DELETE", "PATCH", "OPTIONS"] {
        let req = event("page_get.json")
            .with("token", token.as_str())
            .method(method);
        assert_method_not_allowed_page(&call(&app, req.request()).await);
    }
    assert_link_opens(&app, &token, SET_TITLE).await;
}

#[tokio::test]
async fn a_database_failure_is_a_500_page_without_the_cause() {
    let app = TestApp::new().await;
    let user = app.user("nat").await;
    let token = password_token(&app, &user, Reset, now(), None);
    app.db.pool.close().await;
    assert_server_error_page(&call(&app, get_page(&token)).await);
    let resp = call(&app, post_page(Some(&token), Some("new-password-1"))).await;
    assert_server_error_page(&resp);
}
