//! Helpers of the resolve page tests: the recorded events (tests/events) and the links the
//! "new form" e-mails carry (contract sections 5 and 6).

use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::testing::{Event, RESOLVE_LINK, TestApp, form_fields, link_token};

pub fn event(name: &str) -> Event {
    Event::fixture(env!("CARGO_MANIFEST_DIR"), name)
}

/// `GET /resolve?token=<token>` as a browser opening the e-mailed link.
pub fn open(token: &str) -> Request {
    event("page_get.json").with("token", token).request()
}

/// `GET /resolve?<raw query>`.
pub fn open_query(raw_query: &str) -> Request {
    event("page_get.json")
        .with("token", "")
        .query(raw_query)
        .request()
}

pub async fn call(app: &TestApp, req: Request) -> Response<Body> {
    resolve::handle(app, req).await
}

/// A form of `username`'s ([`form_fields`]: cash, €12.50), created the way `POST /form`
/// does: one "new form" e-mail with a resolve link per admin.
pub async fn new_form(app: &TestApp, username: &str) -> i64 {
    app.create_form(username, &form_fields(&json!({}))).await
}

/// The resolve token of the one "Form no. <id>" e-mail to `address` after the outbox
/// mark `since`.
pub async fn resolve_token(app: &TestApp, since: i64, form_id: i64, address: &str) -> String {
    let subject = format!("Form no. {form_id}");
    let mut mails = app.mails_since(since).await;
    mails.retain(|m| m.to_address == address && m.subject == subject);
    assert_eq!(mails.len(), 1, "one form e-mail to {address}: {mails:?}");
    link_token(&mails[0], RESOLVE_LINK)
}
