//! `PUT /api/v1/form/resolve`: an admin marks a form resolved; its submitter is e-mailed.

use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use shared::AppState;
use shared::auth::{self, LinkBase};
use shared::forms;
use shared::http::{ApiError, ok_json, required_json_body, respond};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::run_http(|state, req| async move { respond(handle(state, req).await) }).await
}

async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::PUT {
        return Err(ApiError::MethodNotAllowed);
    }
    let body = required_json_body(&req)?;
    auth::authenticate_admin(state, req.headers()).await?;
    let base = LinkBase::from_headers(req.headers());
    Ok(ok_json(
        &forms::resolve_from_api(state, &base, &body).await?,
    ))
}
