//! `/api/v1/auth/token`: a new access token for a refresh token (POST), log out (DELETE).

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::AppState;
use shared::app::auth as sessions;
use shared::domain::jwt::TokenType;
use shared::web::auth;
use shared::web::http::{ApiError, no_content, ok_json, respond};

/// One invocation: the whole answer to one request (rate limits and compression are the
/// runtime's, `shared::web::runtime::run_http`).
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    respond(answer(state, req).await)
}

async fn answer(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    match *req.method() {
        Method::POST => {
            let caller = auth::caller(state, req.headers(), Some(TokenType::Refresh)).await?;
            Ok(ok_json(
                &json!({ "access_token": sessions::refresh(state, &caller)? }),
            ))
        }
        Method::DELETE => {
            let caller = auth::caller(state, req.headers(), None).await?;
            sessions::revoke(state, &caller).await?;
            Ok(no_content())
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}
