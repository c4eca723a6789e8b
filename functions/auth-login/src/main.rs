//! `/api/v1/auth/login`: log in (POST), who am I (GET), change own password (PUT),
//! request a password-reset e-mail (PATCH).

use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use shared::auth::{self, LinkBase};
use shared::http::{ApiError, no_content, ok_json, required_json_body, respond};
use shared::jwt::TokenType;
use shared::{AppState, passwords};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    passwords::warm_up();
    shared::runtime::run_http(|state, req| async move { respond(handle(state, req).await) }).await
}

async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    match *req.method() {
        Method::POST => {
            let body = required_json_body(&req)?;
            Ok(ok_json(&auth::login(state, &body).await?))
        }
        Method::GET => {
            let caller = auth::authenticate(state, req.headers(), Some(TokenType::Access)).await?;
            Ok(ok_json(&auth::profile(state, caller.user).await?))
        }
        Method::PUT => {
            let body = required_json_body(&req)?;
            let caller = auth::authenticate(state, req.headers(), Some(TokenType::Access)).await?;
            auth::change_password(state, &caller.user, &body).await?;
            Ok(no_content())
        }
        Method::PATCH => {
            let body = required_json_body(&req)?;
            auth::request_password_reset(state, &LinkBase::from_headers(req.headers()), &body)
                .await?;
            Ok(no_content())
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}
