//! `GET /resolve?token=` in-process: `resolve::handle` with events recorded from the
//! project's emulator (tests/events), against a throwaway SQLite database. The expected
//! pages are the contract's (sections 4-6) as tests/test_resolve_page.py asserts them.

mod common;

use common::*;
use serde_json::{Value, json};
use shared::domain::links::{PasswordLink, PasswordLinkKind, ResolveLink};
use shared::domain::now;
use shared::testing::{
    TestApp, assert_invalid_page, assert_method_not_allowed_page, assert_page,
    assert_server_error_page, body_text,
};

const NOT_ADMIN: &str = "This link was sent to a user who is no longer an administrator";
const ADMIN_GONE: &str = "This link was sent to an administrator who no longer exists";

fn resolved_texts(form_id: i64, submitter: &str) -> [String; 2] {
    [
        format!("Form no. {form_id} was resolved successfully."),
        format!("The submitter ({submitter}) has been notified."),
    ]
}

#[track_caller]
fn assert_resolved(resp: &lambda_http::Response<lambda_http::Body>, form_id: i64, submitter: &str) {
    let [first, second] = resolved_texts(form_id, submitter);
    assert_page(resp, 200, "Form resolved", &[&first, &second]);
}

#[track_caller]
fn assert_not_resolved(resp: &lambda_http::Response<lambda_http::Body>, message: &str) {
    assert_page(resp, 400, "Form not resolved", &[message]);
}

/// Alice's form and the token of the link admin `adm` got for it.
async fn form_with_link(app: &TestApp) -> (i64, String) {
    let since = app.outbox_max_id().await;
    let id = new_form(app, "alice").await;
    (id, resolve_token(app, since, id, "adm@example.test").await)
}

async fn app_with_alice_and_adm() -> TestApp {
    let app = TestApp::new().await;
    app.named_user("alice", "Sally", Some("Submitter")).await;
    app.admin("adm").await;
    app
}

// ------------------------------------------------------------------ success

#[tokio::test]
async fn the_link_resolves_the_form_and_notifies_the_submitter() {
    let app = app_with_alice_and_adm().await;
    let (id, token) = form_with_link(&app).await;
    let before = app.stored_form(id).await.unwrap();
    assert_eq!(before["resolved_at"], Value::Null);
    let since = app.outbox_max_id().await;
    let t0 = now();
    let resp = call(&app, open(&token)).await;
    let t1 = now();
    assert_resolved(&resp, id, "Sally Submitter");
    let after = app.stored_form(id).await.unwrap();
    let resolved_at = after["resolved_at"].as_i64().expect("resolved");
    assert!((t0..=t1).contains(&resolved_at));
    let mut expected = before.clone();
    expected["resolved_at"] = json!(resolved_at);
    assert_eq!(after, expected);
    let mails = app.mails_since(since).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to_address, "alice@example.test");
    assert_eq!(mails[0].subject, format!("Form no. {id}"));
    let text = &mails[0].text_body;
    assert!(
        text.to_lowercase().contains("resolved") && text.contains("€12.50"),
        "{text}"
    );
    assert!(text.contains("Cash"), "{text}");
    assert!(!mails[0].html_body.contains("/resolve?token=") && !text.contains("/resolve?token="));
}

#[tokio::test]
async fn a_submitter_without_last_name_is_named_by_first_name() {
    let app = TestApp::new().await;
    app.named_user("mono", "Mononym", None).await;
    let since = app.outbox_max_id().await;
    let id = new_form(&app, "mono").await;
    let token = resolve_token(&app, since, id, "root@example.test").await;
    assert_resolved(&call(&app, open(&token)).await, id, "Mononym");
}

#[tokio::test]
async fn each_admin_gets_a_working_link_of_their_own_and_only_one_click_resolves() {
    let app = app_with_alice_and_adm().await;
    app.admin("adm2").await;
    let since = app.outbox_max_id().await;
    let id = new_form(&app, "alice").await;
    let mut tokens = Vec::new();
    for address in ["adm@example.test", "adm2@example.test", "root@example.test"] {
        tokens.push(resolve_token(&app, since, id, address).await);
    }
    assert!(tokens[0] != tokens[1] && tokens[1] != tokens[2] && tokens[0] != tokens[2]);
    let clicks = app.outbox_max_id().await;
    assert_resolved(&call(&app, open(&tokens[1])).await, id, "Sally Submitter");
    let resolved_at = app.stored_form(id).await.unwrap()["resolved_at"].clone();
    let already = format!("Form {id} has already been resolved.");
    for token in [&tokens[0], &tokens[2], &tokens[1]] {
        let resp = call(&app, open(token)).await;
        assert_not_resolved(&resp, &already);
        assert!(!body_text(&resp).contains("Form resolved"));
    }
    assert_eq!(
        app.stored_form(id).await.unwrap()["resolved_at"],
        resolved_at
    );
    assert_eq!(app.mails_since(clicks).await.len(), 1);
}

#[tokio::test]
async fn after_a_resolve_through_the_api_the_link_says_already_resolved() {
    let app = app_with_alice_and_adm().await;
    let (id, token) = form_with_link(&app).await;
    app.resolve_form(id).await;
    let since = app.outbox_max_id().await;
    let resp = call(&app, open(&token)).await;
    assert_not_resolved(&resp, &format!("Form {id} has already been resolved."));
    assert!(app.mails_since(since).await.is_empty());
}

#[tokio::test]
async fn the_link_of_a_deleted_form() {
    let app = app_with_alice_and_adm().await;
    let (id, token) = form_with_link(&app).await;
    app.delete_form("alice", id).await;
    let since = app.outbox_max_id().await;
    let resp = call(&app, open(&token)).await;
    assert_not_resolved(
        &resp,
        &format!("Form {id} does not exist. It may have been deleted."),
    );
    assert!(app.mails_since(since).await.is_empty());
}

#[tokio::test]
async fn concurrent_clicks_resolve_once() {
    let app = app_with_alice_and_adm().await;
    let (id, token) = form_with_link(&app).await;
    let since = app.outbox_max_id().await;
    let click = || call(&app, open(&token));
    let (a, b, c, d) = tokio::join!(click(), click(), click(), click());
    let mut statuses: Vec<u16> = [&a, &b, &c, &d]
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [200, 400, 400, 400]);
    for resp in [&a, &b, &c, &d].into_iter().filter(|r| r.status() == 400) {
        assert_not_resolved(resp, &format!("Form {id} has already been resolved."));
    }
    assert_eq!(app.mails_since(since).await.len(), 1);
}

#[tokio::test]
async fn the_link_needs_no_authorization_and_ignores_a_bad_one() {
    let app = app_with_alice_and_adm().await;
    let (id, token) = form_with_link(&app).await;
    let req = event("page_get.json")
        .with("token", token.as_str())
        .header("authorization", "Bearer garbage");
    assert_resolved(&call(&app, req.request()).await, id, "Sally Submitter");
}

#[tokio::test]
async fn a_double_slash_and_https_work_alike() {
    let app = app_with_alice_and_adm().await;
    let (id, token) = form_with_link(&app).await;
    let req = event("page_get.json")
        .with("token", token.as_str())
        .path("//resolve")
        .header("x-forwarded-proto", "https");
    assert_resolved(&call(&app, req.request()).await, id, "Sally Submitter");
    let mails = app.mail_to("alice@example.test").await;
    assert!(
        mails[0]
            .html_body
            .contains("https://bt.example.test/static/logo.png")
    );
}

// ------------------------------------------------------------------ refusals

#[tokio::test]
async fn a_missing_token_is_invalid_data() {
    let app = TestApp::new().await;
    for query in ["", "token=", "other=1"] {
        assert_invalid_page(&call(&app, open_query(query)).await, "No token provided");
    }
}

#[tokio::test]
async fn garbage_tokens_are_invalid_data() {
    let app = TestApp::new().await;
    let long = "x".repeat(2000);
    let tokens = [
        "abc",
        "abc.def",
        "a.b.c",
        "....",
        "eyJhIjoxfQ.AAAA",
        long.as_str(),
    ];
    for token in tokens {
        assert_invalid_page(&call(&app, open(token)).await, "This token is invalid");
    }
    for query in ["token=%2500", "token=%3Cscript%3Ealert(1)%3C%2Fscript%3E"] {
        let resp = call(&app, open_query(query)).await;
        assert_invalid_page(&resp, "This token is invalid");
        assert!(!body_text(&resp).contains("<script>"));
    }
}

#[tokio::test]
async fn a_tampered_token_is_invalid_and_resolves_nothing() {
    let app = app_with_alice_and_adm().await;
    let (id, token) = form_with_link(&app).await;
    let since = app.outbox_max_id().await;
    let flip = |i: usize| {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let tampered = [
        flip(token.len() - 3),
        flip(2),
        format!("{token}x"),
        token[..token.len() - 1].to_string(),
    ];
    for bad in &tampered {
        assert_invalid_page(&call(&app, open(bad)).await, "This token is invalid");
    }
    assert_eq!(
        app.stored_form(id).await.unwrap()["resolved_at"],
        Value::Null
    );
    assert!(app.mails_since(since).await.is_empty());
    assert_resolved(&call(&app, open(&token)).await, id, "Sally Submitter");
}

#[tokio::test]
async fn tokens_signed_otherwise_are_invalid() {
    let app = app_with_alice_and_adm().await;
    let (id, _) = form_with_link(&app).await;
    let adm = app.find_user("adm").await.unwrap();
    let link = ResolveLink {
        admin_id: adm.id.0,
        form_id: id,
        issued_at: now(),
    };
    let other_secret = shared::domain::links::LinkSigner::new("not-the-secret").sign_resolve(&link);
    let password_link = app.links.sign_password(&PasswordLink {
        user_id: adm.id.0,
        counter: adm.password_link_counter,
        kind: PasswordLinkKind::Reset,
        issued_at: now(),
    });
    for token in [other_secret, password_link] {
        assert_invalid_page(&call(&app, open(&token)).await, "This token is invalid");
    }
    assert_eq!(
        app.stored_form(id).await.unwrap()["resolved_at"],
        Value::Null
    );
    // positive control: the same link signed with FLASK_SECRET works
    let genuine = app.links.sign_resolve(&link);
    assert_resolved(&call(&app, open(&genuine)).await, id, "Sally Submitter");
}

#[tokio::test]
async fn the_link_of_a_demoted_admin_is_invalid_until_promoted_again() {
    let app = app_with_alice_and_adm().await;
    let (id, token) = form_with_link(&app).await;
    app.set_admin("adm", false).await;
    let since = app.outbox_max_id().await;
    assert_invalid_page(&call(&app, open(&token)).await, NOT_ADMIN);
    assert_eq!(
        app.stored_form(id).await.unwrap()["resolved_at"],
        Value::Null
    );
    assert!(app.mails_since(since).await.is_empty());
    app.set_admin("adm", true).await;
    assert_resolved(&call(&app, open(&token)).await, id, "Sally Submitter");
}

#[tokio::test]
async fn the_link_of_an_admin_who_no_longer_exists_is_invalid() {
    let app = app_with_alice_and_adm().await;
    let (id, _) = form_with_link(&app).await;
    let token = app.links.sign_resolve(&ResolveLink {
        admin_id: 1_000_000,
        form_id: id,
        issued_at: now(),
    });
    assert_invalid_page(&call(&app, open(&token)).await, ADMIN_GONE);
    assert_eq!(
        app.stored_form(id).await.unwrap()["resolved_at"],
        Value::Null
    );
}

#[tokio::test]
async fn methods_other_than_get_and_head_are_405_pages() {
    let app = app_with_alice_and_adm().await;
    let (id, token) = form_with_link(&app).await;
    let post = event("page_post.json").with("token", token.as_str());
    assert_method_not_allowed_page(&call(&app, post.request()).await);
    for method in ["PUT", "DELETE", "PATCH", "OPTIONS"] {
        let req = event("page_get.json")
            .with("token", token.as_str())
            .method(method);
        assert_method_not_allowed_page(&call(&app, req.request()).await);
    }
    assert_eq!(
        app.stored_form(id).await.unwrap()["resolved_at"],
        Value::Null
    );
    // HEAD is served as GET is
    let head = event("page_get.json")
        .with("token", token.as_str())
        .method("HEAD");
    assert_resolved(&call(&app, head.request()).await, id, "Sally Submitter");
}

#[tokio::test]
async fn a_database_failure_is_a_500_page_without_the_cause() {
    let app = app_with_alice_and_adm().await;
    let (_, token) = form_with_link(&app).await;
    app.db.pool.close().await;
    assert_server_error_page(&call(&app, open(&token)).await);
}
