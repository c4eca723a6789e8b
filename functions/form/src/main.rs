//! `/api/v1/form`: list (GET), submit (POST), edit (PATCH) and delete (DELETE) payment forms.

use lambda_http::http::Method;
use lambda_http::{Body, Error, Request, Response};
use serde_json::json;
use shared::AppState;
use shared::auth::{self, LinkBase};
use shared::forms;
use shared::http::{ApiError, no_content, ok_json, raw_body, required_json_body, respond};
use shared::jwt::TokenType;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::run_http(|state, req| async move { respond(handle(state, req).await) }).await
}

async fn handle(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let access = Some(TokenType::Access);
    match *req.method() {
        Method::GET => {
            let caller = auth::authenticate(state, req.headers(), access).await?;
            Ok(ok_json(&forms::list(state, &caller).await?))
        }
        Method::POST => {
            let body = required_json_body(&req)?;
            let caller = auth::authenticate(state, req.headers(), access).await?;
            let base = LinkBase::from_headers(req.headers());
            let id = forms::create(state, &base, &caller, &body, raw_body(&req)).await?;
            Ok(ok_json(&json!({ "id": id })))
        }
        Method::PATCH => {
            let body = required_json_body(&req)?;
            let caller = auth::authenticate(state, req.headers(), access).await?;
            let base = LinkBase::from_headers(req.headers());
            match forms::update(state, &base, &caller, &body, raw_body(&req)).await? {
                Some(previous) => Ok(ok_json(&previous)),
                None => Ok(no_content()),
            }
        }
        Method::DELETE => {
            let body = required_json_body(&req)?;
            let caller = auth::authenticate(state, req.headers(), access).await?;
            Ok(ok_json(&forms::delete(state, &caller, &body).await?))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}
