//! Who is calling, read from the request's headers.

use futures_util::future::BoxFuture;
use lambda_http::Request;
use lambda_http::http::header::AUTHORIZATION;
use lambda_http::http::{HeaderMap, Method};
use serde_json::{Map, Value};

use crate::AppState;
use crate::app::auth::{self, Caller};
use crate::app::mail::LinkBase;
use crate::domain::jwt::TokenType;
use crate::domain::refusal::Refusal;
use crate::web::http::{ApiError, required_json_body};

/// The `Bearer` token of a request.
pub fn bearer(headers: &HeaderMap) -> Result<&str, Refusal> {
    // An empty header counts as absent, as in the old service (`if not auth_header`).
    let value = headers
        .get(AUTHORIZATION)
        .filter(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace))
        .ok_or(Refusal::MissingAuthorization)?;
    let value = value.to_str().map_err(|_| Refusal::BadAuthorization)?;
    let mut parts = value.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("Bearer"), Some(token), None) => Ok(token),
        _ => Err(Refusal::BadAuthorization),
    }
}

/// The caller, with a token of the `wanted` kind (either kind when `None`).
pub fn caller<'a>(
    state: &'a AppState,
    headers: &'a HeaderMap,
    wanted: Option<TokenType>,
) -> BoxFuture<'a, Result<Caller, ApiError>> {
    Box::pin(async move { Ok(auth::authenticate(state, bearer(headers)?, wanted).await?) })
}

/// The caller, with an access token of a user who is currently an admin.
pub fn admin<'a>(
    state: &'a AppState,
    headers: &'a HeaderMap,
) -> BoxFuture<'a, Result<Caller, ApiError>> {
    Box::pin(async move { Ok(auth::authenticate_admin(state, bearer(headers)?).await?) })
}

/// The JSON body of an admin's request to an endpoint that answers only `method`,
/// checked in the contract's order: the method (405), the body (400), the token (401/422).
pub fn admin_json<'a>(
    state: &'a AppState,
    req: &'a Request,
    method: Method,
) -> BoxFuture<'a, Result<Map<String, Value>, ApiError>> {
    Box::pin(async move {
        if req.method() != method {
            return Err(ApiError::MethodNotAllowed);
        }
        let body = required_json_body(req)?;
        admin(state, req.headers()).await?;
        Ok(body)
    })
}

/// `X-Forwarded-Proto` from the proxy in front (nginx, API Gateway), else plain http.
pub fn link_base(headers: &HeaderMap) -> LinkBase {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let scheme = match forwarded.as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    LinkBase {
        scheme: scheme.into(),
    }
}
