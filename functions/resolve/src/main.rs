//! `GET /resolve?token=`: the one-click resolve link e-mailed to each admin.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use shared::AppState;
use shared::auth::LinkBase;
use shared::forms::{self, ResolveError, ResolveLinkError, ResolveRefusal};
use shared::pages;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::run_http(|state, req| async move { handle(state, req).await }).await
}

async fn handle(state: &AppState, req: Request) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return pages::page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            &["The method is not allowed for the requested URL."],
        );
    }
    let token = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("token"))
        .map(str::to_string);
    let base = LinkBase::from_headers(req.headers());
    match forms::resolve_from_link(state, &base, token.as_deref()).await {
        Ok((form, submitter)) => pages::form_resolved_page(form.id, &submitter.full_name()),
        Err(ResolveLinkError::Link(reason)) => pages::invalid_data_page(&reason.to_string()),
        Err(ResolveLinkError::Resolve(ResolveError::Refused(ResolveRefusal::Missing(id)))) => {
            pages::resolve_error_page(
                StatusCode::BAD_REQUEST,
                &format!("Form {id} does not exist. It may have been deleted."),
            )
        }
        Err(ResolveLinkError::Resolve(ResolveError::Refused(ResolveRefusal::AlreadyResolved(
            id,
        )))) => pages::resolve_error_page(
            StatusCode::BAD_REQUEST,
            &format!("Form {id} has already been resolved."),
        ),
        Err(ResolveLinkError::Resolve(ResolveError::Internal(e))) => {
            tracing::error!(error = %e, "resolve link failed");
            pages::page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                &["Something went wrong on our side. Please try again later."],
            )
        }
    }
}
