//! Every path no other function claims: the logo the e-mails point at, and the
//! contract's 404s (JSON under `/api/v1`, an HTML page elsewhere).

use lambda_http::{Body, Error, Request, Response};
use shared::{AppState, pages};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::run_http_unlimited(|state, req| async move { handle(state, req) }).await
}

fn handle(_state: &AppState, req: Request) -> Response<Body> {
    pages::fallback(req.method(), req.uri().path(), req.uri().query())
}
