//! `PATCH /api/v1/auth/access`: an admin sets a user's admin flag.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::AppState;
use shared::app::accounts;
use shared::web::http::{ApiError, no_content, respond};
use shared::web::{auth, requests};

/// One invocation: the whole answer to one request (rate limits and compression are the
/// runtime's, `shared::web::runtime::run_http`).
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    respond(answer(state, req).await)
}

async fn answer(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let body = auth::admin_json(state, &req, Method::PATCH).await?;
    accounts::set_access(state, requests::access_change(&body)?).await?;
    Ok(no_content())
}
