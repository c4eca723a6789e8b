//! Every path no other function claims: the logo the e-mails point at, and the
//! contract's 404s (JSON under `/api/v1`, an HTML page elsewhere).

use lambda_http::{Body, Request, Response};
use shared::AppState;
use shared::web::pages;

/// One invocation: the whole answer to one request (no rate limit: no endpoint of the
/// API, `shared::web::runtime::run_http_unlimited`).
pub async fn handle(_state: &AppState, req: Request) -> Response<Body> {
    pages::fallback(req.method(), req.uri().path(), req.uri().query())
}
