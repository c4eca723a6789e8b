//! `POST /api/v1/auth/register`: an admin creates a user, who is e-mailed a set-password link.

use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use shared::AppState;
use shared::auth::{self, LinkBase};
use shared::http::{ApiError, no_content, required_json_body, respond};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::run_http(|state, req| async move { respond(handle(state, req).await) }).await
}

async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let body = required_json_body(&req)?;
    auth::authenticate_admin(state, req.headers()).await?;
    auth::register(state, &LinkBase::from_headers(req.headers()), &body).await?;
    Ok(no_content())
}
