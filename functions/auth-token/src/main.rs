//! `/api/v1/auth/token`: a new access token for a refresh token (POST), log out (DELETE).

use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use serde_json::json;
use shared::AppState;
use shared::auth;
use shared::http::{ApiError, no_content, ok_json, respond};
use shared::jwt::TokenType;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::run_http(|state, req| async move { respond(handle(state, req).await) }).await
}

async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    match *req.method() {
        Method::POST => {
            let caller = auth::authenticate(state, req.headers(), Some(TokenType::Refresh)).await?;
            Ok(ok_json(
                &json!({ "access_token": auth::refresh(state, &caller)? }),
            ))
        }
        Method::DELETE => {
            let caller = auth::authenticate(state, req.headers(), None).await?;
            auth::revoke(state, &caller).await?;
            Ok(no_content())
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}
