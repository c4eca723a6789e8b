//! `POST /api/v1/auth/register`: an admin creates a user, who is e-mailed a set-password link.

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
    let body = auth::admin_json(state, &req, Method::POST).await?;
    let registration = requests::registration(&body)?;
    accounts::register(state, &auth::link_base(req.headers()), registration).await?;
    Ok(no_content())
}
