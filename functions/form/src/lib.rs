//! `/api/v1/form`: list (GET), submit (POST), edit (PATCH) and delete (DELETE) payment forms.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use shared::AppState;
use shared::app::forms;
use shared::domain::jwt::TokenType;
use shared::web::http::{
    ApiError, JsonArray, no_content, ok_json, ok_json_text, raw_body, required_json_body, respond,
};
use shared::web::{auth, requests};

/// One invocation: the whole answer to one request (rate limits and compression are the
/// runtime's, `shared::web::runtime::run_http`).
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    respond(answer(state, req).await)
}

async fn answer(state: &AppState, req: Request) -> Result<Response<Body>, ApiError> {
    let access = Some(TokenType::Access);
    match *req.method() {
        Method::GET => {
            let token = auth::bearer(req.headers())?;
            let list = forms::list(state, token, Box::<JsonArray>::default()).await?;
            Ok(ok_json_text(list))
        }
        Method::POST => {
            let body = required_json_body(&req)?;
            let caller = auth::caller(state, req.headers(), access).await?;
            let new = requests::new_form(&body, raw_body(&req))?;
            let base = auth::link_base(req.headers());
            let id = forms::create(state, &base, &caller, new).await?;
            Ok(ok_json(&json!({ "id": id })))
        }
        Method::PATCH => {
            let body = required_json_body(&req)?;
            let caller = auth::caller(state, req.headers(), access).await?;
            let (id, patch) = requests::form_patch(&body, raw_body(&req))?;
            let base = auth::link_base(req.headers());
            match forms::update(state, &base, &caller, id, patch).await? {
                Some(previous) => Ok(ok_json(&previous)),
                None => Ok(no_content()),
            }
        }
        Method::DELETE => {
            let body = required_json_body(&req)?;
            let caller = auth::caller(state, req.headers(), access).await?;
            let id = requests::form_id(&body)?;
            Ok(ok_json(&forms::delete(state, &caller, id).await?))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}
