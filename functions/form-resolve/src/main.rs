//! `PUT /api/v1/form/resolve`: the handler is `form_resolve::handle` (src/lib.rs).

use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::web::runtime::run_http(form_resolve::handle).await
}
