//! `/reset-password`: the page behind e-mailed password links (GET shows the form, POST
//! saves the password).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, RequestPayloadExt, Response};
use serde::Deserialize;
use shared::AppState;
use shared::app::password_links::{self, PasswordSet};
use shared::web::pages::{self, PasswordPageKind};

#[derive(Debug, Default, Deserialize)]
struct PasswordForm {
    token: Option<String>,
    password: Option<String>,
}

/// One invocation: the whole answer to one request (rate limits and compression are the
/// runtime's, `shared::web::runtime::run_http`).
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let query_token = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("token"))
        .map(str::to_string);
    match *req.method() {
        Method::GET | Method::HEAD => {
            match password_links::check_password_link(state, query_token.as_deref()).await {
                Ok((user, _)) => pages::password_form_page(
                    page_kind(user.has_password()),
                    query_token.as_deref().unwrap_or_default(),
                    None,
                    StatusCode::OK,
                ),
                Err(e) => pages::password_link_error_page(e),
            }
        }
        Method::POST => {
            let form: PasswordForm = req.payload().ok().flatten().unwrap_or_default();
            let token = form.token.filter(|t| !t.is_empty()).or(query_token);
            let outcome =
                password_links::set_password_with_link(state, token.as_deref(), form.password);
            match outcome.await {
                Ok(PasswordSet::Saved { first_password }) => {
                    pages::password_saved_page(first_password)
                }
                // The link stays usable: show the form again with the reason.
                Ok(PasswordSet::Refused {
                    message,
                    has_password,
                }) => pages::password_form_page(
                    page_kind(has_password),
                    token.as_deref().unwrap_or_default(),
                    Some(&message),
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                Err(e) => pages::password_link_error_page(e),
            }
        }
        _ => pages::method_not_allowed_page(),
    }
}

fn page_kind(has_password: bool) -> PasswordPageKind {
    if has_password {
        PasswordPageKind::Reset
    } else {
        PasswordPageKind::Set
    }
}
