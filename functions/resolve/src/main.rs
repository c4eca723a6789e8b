//! `GET /resolve?token=`: the handler is `resolve::handle` (src/lib.rs).

use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::web::runtime::run_http(resolve::handle).await
}
