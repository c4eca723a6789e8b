//! Helpers of the resolve page tests: the recorded events (tests/events), the links the
//! "new form" e-mails carry, and exact checks of the HTML pages (contract section 5).

#![allow(dead_code)]

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::domain::outbox::OutboxMessage;
use shared::testing::{Event, TestApp, body_text, first_link};

pub const RESOLVE_PREFIX: &str = "http://bt.example.test/resolve?token=";

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

/// A form of `username`'s, created the way `POST /form` does: one "new form" e-mail
/// with a resolve link per admin.
pub async fn new_form(app: &TestApp, username: &str) -> i64 {
    let body = json!({"time": 1711302900, "customer_name": "Jane Customer",
        "course": "Course K", "payment_method": "cash", "amount": "12.5", "receipt": "R-1"});
    app.create_form(username, &body).await
}

/// The resolve token of the one "Form no. <id>" e-mail to `address` after `since`.
pub async fn link_token(app: &TestApp, since: i64, form_id: i64, address: &str) -> String {
    let subject = format!("Form no. {form_id}");
    let mails: Vec<OutboxMessage> = mails_since(app, since)
        .await
        .into_iter()
        .filter(|m| m.to_address == address && m.subject == subject)
        .collect();
    assert_eq!(mails.len(), 1, "one form e-mail to {address}: {mails:?}");
    let html = &mails[0].html_body;
    let start = html.find(RESOLVE_PREFIX).expect("a resolve link");
    let link = first_link(&html[start..]).expect("a link");
    assert!(
        mails[0].text_body.contains(&link),
        "the same link in the text part"
    );
    link[RESOLVE_PREFIX.len()..].to_string()
}

pub async fn outbox_max_id(app: &TestApp) -> i64 {
    app.outbox().await.iter().map(|m| m.id).max().unwrap_or(0)
}

pub async fn mails_since(app: &TestApp, since: i64) -> Vec<OutboxMessage> {
    let mut mails = app.outbox().await;
    mails.retain(|m| m.id > since);
    mails
}

/// The form as stored (its contract JSON), `None` when it is gone.
pub async fn stored(app: &TestApp, id: i64) -> Option<Value> {
    let form = shared::store::forms::find(&app.db.pool, shared::domain::form::FormId(id))
        .await
        .expect("find");
    form.map(|f| serde_json::to_value(f).unwrap())
}

pub async fn set_admin(app: &TestApp, username: &str, is_admin: bool) {
    let user = app.find_user(username).await.expect("the user");
    shared::store::users::set_admin(&app.db.pool, user.id, is_admin)
        .await
        .expect("set admin");
}

/// Exactly this status; an HTML page of the contract's kind (`text/html`, no referrer, no
/// sniffing) titled `title` (`<title>` and `<h1>`), whose paragraphs are exactly
/// `paragraphs`, in order.
#[track_caller]
pub fn assert_page(resp: &Response<Body>, status: u16, title: &str, paragraphs: &[&str]) {
    let html = body_text(resp);
    assert_eq!(resp.status().as_u16(), status, "status; page: {html}");
    let headers = resp.headers();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert_eq!(
        between(html, "<title>", "</title>"),
        [format!("{title} - BriefThreat")]
    );
    assert_eq!(between(html, "<h1>", "</h1>"), [title]);
    assert_eq!(paragraphs_of(html), paragraphs, "paragraphs of {html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained: {html}"
    );
}

/// 422 "Invalid data" with the reason (contract section 5).
#[track_caller]
pub fn assert_invalid(resp: &Response<Body>, reason: &str) {
    assert_page(resp, 422, "Invalid data", &[reason]);
}

/// The text of every `<p ...>...</p>` of a page, entities decoded.
pub fn paragraphs_of(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<p") {
        let after = &rest[start + 2..];
        if !after.starts_with('>') && !after.starts_with(' ') {
            rest = after;
            continue;
        }
        let open_end = after.find('>').expect("a closed tag");
        let inner = &after[open_end + 1..];
        let close = inner.find("</p>").expect("a closed paragraph");
        out.push(unescape(&inner[..close]));
        rest = &inner[close + 4..];
    }
    out
}

fn between(html: &str, open: &str, close: &str) -> Vec<String> {
    html.split(open)
        .skip(1)
        .map(|part| unescape(part.split(close).next().unwrap_or_default()))
        .collect()
}

pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}
