//! `PUT /api/v1/form/resolve`: an admin marks a form resolved; its submitter is e-mailed.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shared::AppState;
use shared::app::resolve;
use shared::web::http::{ApiError, ok_json, respond};
use shared::web::{auth, requests};

/// One invocation: the whole answer to one request (rate limits and compression are the
/// runtime's, `shared::web::runtime::run_http`).
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    respond(answer(state, req).await)
}

async fn answer(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let body = auth::admin_json(state, &req, Method::PUT).await?;
    let id = requests::form_id(&body)?;
    let (form, _) = resolve::resolve(state, &auth::link_base(req.headers()), id).await?;
    Ok(ok_json(&form))
}
