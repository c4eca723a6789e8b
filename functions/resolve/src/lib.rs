//! `GET /resolve?token=`: the one-click resolve link e-mailed to each admin.

use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::AppState;
use shared::app::resolve;
use shared::web::{auth, pages};

/// One invocation: the whole answer to one request (rate limits and compression are the
/// runtime's, `shared::web::runtime::run_http`).
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return pages::method_not_allowed_page();
    }
    let token = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("token"))
        .map(str::to_string);
    let base = auth::link_base(req.headers());
    match resolve::resolve_from_link(state, &base, token.as_deref()).await {
        Ok((form, submitter)) => pages::form_resolved_page(form.id.0, &submitter.full_name()),
        Err(error) => pages::resolve_link_error_page(error),
    }
}
