//! Helpers of the password page tests: the recorded events (tests/events), password links
//! signed with the test `FLASK_SECRET`, and exact checks of the HTML pages (contract
//! section 5).

use lambda_http::{Body, Request, Response};
use shared::app::mail::LinkBase;
use shared::domain::links::{PasswordLink, PasswordLinkKind};
use shared::domain::user::User;
use shared::testing::{Event, PASSWORD_LINK, TestApp, assert_page, body_text, link_token};

pub const SAVED: &str = "Your new password has been saved successfully.";
pub const SAVED_FIRST: &str = "Your new password has been saved successfully. You may now log in.";
pub const USED: &str = "This token has already been used";
pub const INVALID: &str = "This token is invalid";
pub const EXPIRED: &str = "This token has expired";
pub const NO_TOKEN: &str = "No token provided";
pub const ENTER_PASSWORD: &str = "Please enter a password.";

pub fn event(name: &str) -> Event {
    Event::fixture(env!("CARGO_MANIFEST_DIR"), name)
}

pub async fn call(app: &TestApp, req: Request) -> Response<Body> {
    reset_password::handle(app, req).await
}

/// `GET /reset-password?token=<token>`: the e-mailed link opened in a browser.
pub fn get_page(token: &str) -> Request {
    event("page_get.json").with("token", token).request()
}

/// `GET /reset-password?<raw query>`.
pub fn get_query(raw_query: &str) -> Request {
    event("page_get.json")
        .with("token", "")
        .query(raw_query)
        .request()
}

/// `POST /reset-password`, form-encoded `token` and `password` (each only when given).
pub fn post_page(token: Option<&str>, password: Option<&str>) -> Request {
    event("page_post.json")
        .with("body", form_body(token, password))
        .request()
}

/// `application/x-www-form-urlencoded` text of the fields given.
pub fn form_body(token: Option<&str>, password: Option<&str>) -> String {
    let fields = [("token", token), ("password", password)];
    let pairs: Vec<String> = fields
        .iter()
        .filter_map(|(name, value)| value.map(|v| format!("{name}={}", urlencode(v))))
        .collect();
    pairs.join("&")
}

pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A password link for `user` as the API signs it (current counter unless `counter`).
pub fn password_token(
    app: &TestApp,
    user: &User,
    kind: PasswordLinkKind,
    issued_at: i64,
    counter: Option<i64>,
) -> String {
    app.links.sign_password(&PasswordLink {
        user_id: user.id.0,
        counter: counter.unwrap_or(user.password_link_counter),
        kind,
        issued_at,
    })
}

/// Requests a reset e-mail the way `PATCH /auth/login` does; the token of its link.
pub async fn request_reset(app: &TestApp, username: &str) -> String {
    let base = LinkBase {
        scheme: "http".into(),
    };
    shared::app::accounts::request_password_reset(app, &base, username)
        .await
        .expect("reset requested");
    let user = app.find_user(username).await.unwrap();
    let mails = app.mail_to(&user.email).await;
    let mail = mails.last().expect("the reset e-mail");
    assert_eq!(mail.subject, "BriefThreat password reset");
    link_token(mail, PASSWORD_LINK)
}

/// The set/reset password form, exactly: title, label, the hidden token, the password
/// field (described by the error when there is one), the Save button; never cached.
#[track_caller]
pub fn assert_password_form(
    resp: &Response<Body>,
    status: u16,
    title: &str,
    token: &str,
    error: Option<&str>,
) {
    let paragraphs: Vec<&str> = error.into_iter().collect();
    assert_page(resp, status, title, &paragraphs);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let html = body_text(resp);
    let label = if title == "Set your password" {
        "Password"
    } else {
        "New password"
    };
    let described = match error {
        Some(message) => {
            let alert =
                format!("<p class=\"error\" id=\"password-error\" role=\"alert\">{message}</p>");
            assert!(html.contains(&alert), "{alert} in {html}");
            " aria-describedby=\"password-error\" aria-invalid=\"true\""
        }
        None => "",
    };
    let form = format!(
        "<form method=\"post\">\n<input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
         <label for=\"password\">{label}</label>\n<input type=\"password\" name=\"password\" \
         id=\"password\" autocomplete=\"new-password\" required{described}>\n\
         <button type=\"submit\">Save</button>\n</form>\n"
    );
    assert!(html.contains(&form), "expected\n{form}\nin\n{html}");
    assert_eq!(html.matches("<form").count(), 1);
    assert_eq!(html.matches("<input").count(), 2);
}
