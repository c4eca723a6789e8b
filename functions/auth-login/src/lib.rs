//! `/api/v1/auth/login`: log in (POST), who am I (GET), change own password (PUT),
//! request a password-reset e-mail (PATCH).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::AppState;
use shared::app::{accounts, auth as sessions};
use shared::domain::jwt::TokenType;
use shared::web::http::{ApiError, no_content, ok_json, required_json_body, respond};
use shared::web::{auth, requests};

/// One invocation: the whole answer to one request (rate limits and compression are the
/// runtime's, `shared::web::runtime::run_http`).
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    respond(answer(state, req).await)
}

async fn answer(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    match *req.method() {
        Method::POST => {
            let body = required_json_body(&req)?;
            let credentials = requests::credentials(&body)?;
            Ok(ok_json(&sessions::login(state, credentials).await?))
        }
        Method::GET => {
            let token = auth::bearer(req.headers())?;
            Ok(ok_json(&sessions::whoami(state, token).await?))
        }
        Method::PUT => {
            let body = required_json_body(&req)?;
            let caller = auth::caller(state, req.headers(), Some(TokenType::Access)).await?;
            let password = requests::new_password(&body)?;
            sessions::change_password(state, &caller.user, password).await?;
            Ok(no_content())
        }
        Method::PATCH => {
            let body = required_json_body(&req)?;
            let username = requests::username(&body)?;
            let base = auth::link_base(req.headers());
            accounts::request_password_reset(state, &base, &username).await?;
            Ok(no_content())
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}
