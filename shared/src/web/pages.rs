//! The small self-contained HTML pages (contract section 5) and the static logo.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Response};

use crate::app::error::AppError;
use crate::app::password_links::PasswordPageError;
use crate::app::resolve::ResolveLinkError;
pub use crate::domain::html::escape;
use crate::domain::refusal::Refusal;
use crate::web::http::{ApiError, html_response, normalized_path};

/// A whole page in the BriefThreat look; `body` is already-escaped HTML.
pub fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - BriefThreat</title>
<style>
body{{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f5f8;color:#1d2733}}
main{{max-width:28rem;margin:3rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 2px 12px rgba(0,0,0,.08)}}
h1{{font-size:1.5rem;margin:0 0 1rem;color:#17324d}}
.brand{{font-weight:700;letter-spacing:.04em;color:#c0392b;margin-bottom:1.5rem}}
label{{display:block;font-weight:600;margin:.75rem 0 .25rem}}
input[type=password]{{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #9aa5b1;border-radius:6px;font-size:1rem}}
button{{margin-top:1rem;padding:.6rem 1.4rem;border:0;border-radius:6px;background:#17324d;color:#fff;font-size:1rem;cursor:pointer}}
button:focus,input:focus{{outline:3px solid #f0b429;outline-offset:2px}}
.error{{color:#a61b1b}}
</style>
</head>
<body>
<main>
<div class="brand" aria-hidden="true">BriefThreat</div>
<h1>{title}</h1>
{body}
</main>
</body>
</html>
"#,
        title = escape(title),
    )
}

pub fn page(status: StatusCode, title: &str, paragraphs: &[&str]) -> Response<Body> {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>\n", escape(p)))
        .collect();
    html_response(status, layout(title, &body))
}

/// 405, for a page that only answers GET (and HEAD), or GET and POST.
pub fn method_not_allowed_page() -> Response<Body> {
    page(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed",
        &["The method is not allowed for the requested URL."],
    )
}

/// 500: the cause goes to the log, never to the page.
pub fn internal_error_page(cause: &AppError) -> Response<Body> {
    tracing::error!(cause = %crate::web::http::causes(cause), "page request failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal Server Error",
        &["Something went wrong on our side. Please try again later."],
    )
}

/// The page for a resolve link that did not resolve its form.
pub fn resolve_link_error_page(error: ResolveLinkError) -> Response<Body> {
    let message = match error {
        ResolveLinkError::Link(reason) => return invalid_data_page(&reason.to_string()),
        ResolveLinkError::Resolve(AppError::Refused(Refusal::NoSuchForm(id))) => {
            format!("Form {id} does not exist. It may have been deleted.")
        }
        ResolveLinkError::Resolve(AppError::Refused(Refusal::AlreadyResolved(id))) => {
            format!("Form {id} has already been resolved.")
        }
        ResolveLinkError::Resolve(other) => return internal_error_page(&other),
    };
    resolve_error_page(StatusCode::BAD_REQUEST, &message)
}

/// The page for a password link that cannot be used.
pub fn password_link_error_page(error: PasswordPageError) -> Response<Body> {
    match error {
        PasswordPageError::Refused(reason) => invalid_data_page(&reason.to_string()),
        PasswordPageError::Internal(e) => internal_error_page(&e),
    }
}

pub fn not_found_page() -> Response<Body> {
    page(
        StatusCode::NOT_FOUND,
        "Not Found",
        &["The requested URL was not found on the server."],
    )
}

/// Which password page a valid password link shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordPageKind {
    /// The account has no password yet.
    Set,
    /// The account already has a password.
    Reset,
}

impl PasswordPageKind {
    pub fn title(self) -> &'static str {
        match self {
            PasswordPageKind::Set => "Set your password",
            PasswordPageKind::Reset => "Reset your password",
        }
    }
}

/// 422 "Invalid data" with the reason, e.g. `No token provided`.
pub fn invalid_data_page(reason: &str) -> Response<Body> {
    page(StatusCode::UNPROCESSABLE_ENTITY, "Invalid data", &[reason])
}

/// The set/reset password form. It posts `token` and `password` back to the page's own
/// URL; `error` (e.g. a missing password) is announced to assistive technology.
pub fn password_form_page(
    kind: PasswordPageKind,
    token: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response<Body> {
    let (error_html, described_by) = match error {
        Some(message) => (
            format!(
                "<p class=\"error\" id=\"password-error\" role=\"alert\">{}</p>\n",
                escape(message)
            ),
            " aria-describedby=\"password-error\" aria-invalid=\"true\"",
        ),
        None => (String::new(), ""),
    };
    let label = match kind {
        PasswordPageKind::Set => "Password",
        PasswordPageKind::Reset => "New password",
    };
    let body = format!(
        r#"{error_html}<form method="post">
<input type="hidden" name="token" value="{token}">
<label for="password">{label}</label>
<input type="password" name="password" id="password" autocomplete="new-password" required{described_by}>
<button type="submit">Save</button>
</form>
"#,
        token = escape(token),
    );
    let mut resp = html_response(status, layout(kind.title(), &body));
    // The page carries a live token: keep it out of caches.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// 200 "Password saved"; a first password also says the user may now log in.
pub fn password_saved_page(first_password: bool) -> Response<Body> {
    let text = if first_password {
        "Your new password has been saved successfully. You may now log in."
    } else {
        "Your new password has been saved successfully."
    };
    page(StatusCode::OK, "Password saved", &[text])
}

/// A resolve link that could not resolve its form, e.g. 400
/// "Form 7 does not exist. It may have been deleted.".
pub fn resolve_error_page(status: StatusCode, message: &str) -> Response<Body> {
    page(status, "Form not resolved", &[message])
}

/// 200 "Form resolved" after a resolve link did its work.
pub fn form_resolved_page(form_id: i64, submitter_full_name: &str) -> Response<Body> {
    page(
        StatusCode::OK,
        "Form resolved",
        &[
            &format!("Form no. {form_id} was resolved successfully."),
            &format!("The submitter ({submitter_full_name}) has been notified."),
        ],
    )
}

pub const LOGO_SVG: &str = include_str!("../../assets/logo.svg");
pub const LOGO_PNG: &[u8] = include_bytes!("../../assets/logo.png");

fn asset(content_type: &'static str, body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    resp
}

fn redirect(location: &str) -> Response<Body> {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
    if let Ok(value) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, value);
    }
    resp
}

/// Everything no other function claims: the logo, else the contract's 404s.
/// `query` is the raw query string, kept across the redirect below.
pub fn fallback(method: &Method, path: &str, query: Option<&str>) -> Response<Body> {
    // The router maps each path with up to three leading slashes; a longer run of slashes
    // lands here and is sent on to the single-slash path (308 keeps the method and body).
    if path.starts_with("////") {
        let target = match query {
            Some(q) if !q.is_empty() => format!("{}?{q}", normalized_path(path)),
            _ => normalized_path(path),
        };
        return redirect(&target);
    }
    let path = normalized_path(path);
    let readable = method == Method::GET || method == Method::HEAD;
    match path.as_str() {
        "/static/logo.svg" if readable => asset("image/svg+xml", Body::Text(LOGO_SVG.into())),
        "/static/logo.png" if readable => asset("image/png", Body::Binary(LOGO_PNG.to_vec())),
        p if p == "/api/v1" || p.starts_with("/api/v1/") => ApiError::NotFound.into_response(),
        _ => not_found_page(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"
        );
    }

    #[test]
    fn long_runs_of_slashes_redirect_to_the_single_slash_path() {
        let resp = fallback(&Method::POST, "////api/v1/auth/login", Some("a=1"));
        assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(resp.headers()[header::LOCATION], "/api/v1/auth/login?a=1");
    }

    #[test]
    fn fallback_splits_api_and_pages() {
        let api = fallback(&Method::GET, "//api/v1/nope", None);
        assert_eq!(api.status(), StatusCode::NOT_FOUND);
        assert_eq!(api.headers()[header::CONTENT_TYPE], "application/json");
        let page = fallback(&Method::GET, "/nope", None);
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        assert!(
            page.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(
            fallback(&Method::GET, "/static/logo.svg", None).status(),
            StatusCode::OK
        );
    }

    fn text(resp: &Response<Body>) -> &str {
        match resp.body() {
            Body::Text(t) => t,
            _ => panic!("not a text body"),
        }
    }

    fn title_of(html: &str) -> &str {
        let start = html.find("<h1>").unwrap() + 4;
        &html[start..start + html[start..].find("</h1>").unwrap()]
    }

    fn assert_html(resp: &Response<Body>) {
        assert!(
            resp.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(resp.headers()[header::REFERRER_POLICY], "no-referrer");
        assert!(text(resp).contains("<html lang=\"en\">"));
    }

    #[test]
    fn invalid_data() {
        let resp = invalid_data_page("This token has already been used");
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_html(&resp);
        let html = text(&resp);
        assert_eq!(title_of(html), "Invalid data");
        assert!(html.contains("<title>Invalid data - BriefThreat</title>"));
        assert!(html.contains("<p>This token has already been used</p>"));
        assert!(text(&invalid_data_page("<x>")).contains("<p>&lt;x&gt;</p>"));
    }

    #[test]
    fn password_forms() {
        let resp = password_form_page(PasswordPageKind::Set, "a.b-c_d", None, StatusCode::OK);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_html(&resp);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        let html = text(&resp);
        assert_eq!(title_of(html), "Set your password");
        assert!(html.contains("<form method=\"post\">"));
        assert!(!html.contains("action="));
        assert!(html.contains("<input type=\"hidden\" name=\"token\" value=\"a.b-c_d\">"));
        assert!(html.contains("<label for=\"password\">"));
        assert!(html.contains(
            "<input type=\"password\" name=\"password\" id=\"password\" \
             autocomplete=\"new-password\" required>"
        ));
        assert!(html.contains("<button type=\"submit\">Save</button>"));
        assert!(!html.contains("role=\"alert\""));

        let resp = password_form_page(
            PasswordPageKind::Reset,
            "\"><script>",
            Some("Missing <password>"),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = text(&resp);
        assert_eq!(title_of(html), "Reset your password");
        assert!(html.contains("<title>Reset your password - BriefThreat</title>"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("name=\"token\" value=\"&quot;&gt;&lt;script&gt;\""));
        assert!(html.contains(
            "<p class=\"error\" id=\"password-error\" role=\"alert\">Missing &lt;password&gt;</p>"
        ));
        assert!(html.contains("aria-describedby=\"password-error\""));
    }

    #[test]
    fn password_saved() {
        let resp = password_saved_page(false);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_html(&resp);
        let html = text(&resp);
        assert_eq!(title_of(html), "Password saved");
        assert!(html.contains("<p>Your new password has been saved successfully.</p>"));
        let html = text(&password_saved_page(true)).to_string();
        assert!(
            html.contains(
                "<p>Your new password has been saved successfully. You may now log in.</p>"
            )
        );
    }

    #[test]
    fn resolve_pages() {
        let resp = resolve_error_page(
            StatusCode::BAD_REQUEST,
            "Form 7 does not exist. It may have been deleted.",
        );
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_html(&resp);
        let html = text(&resp);
        assert_eq!(title_of(html), "Form not resolved");
        assert!(html.contains("<p>Form 7 does not exist. It may have been deleted.</p>"));

        let resp = form_resolved_page(7, "Alice Martin");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_html(&resp);
        let html = text(&resp);
        assert_eq!(title_of(html), "Form resolved");
        assert!(html.contains("<p>Form no. 7 was resolved successfully.</p>"));
        assert!(html.contains("<p>The submitter (Alice Martin) has been notified.</p>"));
        let html = text(&form_resolved_page(8, "<b>O'Neil</b>")).to_string();
        assert!(
            html.contains(
                "<p>The submitter (&lt;b&gt;O&#x27;Neil&lt;/b&gt;) has been notified.</p>"
            )
        );
    }
}
