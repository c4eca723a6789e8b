//! `/api/v1/form`: the handler is `form::handle` (src/lib.rs).

use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::web::runtime::run_http(form::handle).await
}
